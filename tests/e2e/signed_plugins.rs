//! Signed plugins: with `require_signatures`, only a plugin whose component and manifest are both
//! signed (with the real `minisign` command) by a trusted key loads; unsigned, wrongly signed and
//! signed-then-modified plugins are refused with the reason, and a tampered update never replaces
//! the working version.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use warden_tests::fixtures::LOCAL_AUTH;
use warden_tests::{Warden, call, component, eventually, text_of, tool_names};

const MANIFEST: &str = "[plugin]\nname = \"sample\"\n[tools.greet]\nscopes = [\"sales:greet\"]\n";

/// A minisign key pair made with `minisign -G` (no password, `-W`).
fn keypair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (public, secret) = (dir.join(format!("{name}.pub")), dir.join(format!("{name}.key")));
    let out = Command::new("minisign")
        .args(["-G", "-W", "-p"])
        .arg(&public)
        .arg("-s")
        .arg(&secret)
        .output()
        .expect("minisign is installed (`make test-deps` installs it)");
    assert!(out.status.success(), "minisign -G: {}", String::from_utf8_lossy(&out.stderr));
    (public, secret)
}

/// `minisign -Sm` over the given files, as the README documents.
fn sign(secret: &Path, files: &[PathBuf]) {
    let out = Command::new("minisign")
        .arg("-S")
        .arg("-s")
        .arg(secret)
        .arg("-m")
        .args(files)
        .output()
        .expect("minisign");
    assert!(out.status.success(), "minisign -S: {}", String::from_utf8_lossy(&out.stderr));
}

/// Writes plugin `stem` (sample component + `manifest`) into `dir`, signed by `secret` if given.
fn stage(dir: &Path, stem: &str, manifest: &str, secret: Option<&Path>) -> (PathBuf, PathBuf) {
    let (wasm, toml) = (dir.join(format!("{stem}.wasm")), dir.join(format!("{stem}.toml")));
    std::fs::copy(component("sample"), &wasm).expect("copy component");
    std::fs::write(&toml, manifest).expect("write manifest");
    if let Some(secret) = secret {
        sign(secret, &[wasm.clone(), toml.clone()]);
    }
    (wasm, toml)
}

#[tokio::test]
async fn only_correctly_signed_plugins_load() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let keys = root.path().join("keys");
    let team_dir = root.path().join("sales");
    std::fs::create_dir_all(&keys)?;
    std::fs::create_dir_all(&team_dir)?;
    let (team_pub, team_key) = keypair(&keys, "team");
    let (_, other_key) = keypair(&keys, "other");

    stage(&team_dir, "good", MANIFEST, Some(&team_key));
    stage(&team_dir, "unsigned", MANIFEST, None);
    stage(&team_dir, "wrongkey", MANIFEST, Some(&other_key));
    // Signed, then the manifest widened: the signature no longer matches.
    let (_, toml) = stage(&team_dir, "tampered", MANIFEST, Some(&team_key));
    std::fs::write(&toml, format!("{MANIFEST}[tools.whoami]\n"))?;
    // Signed, then the component changed by one byte.
    let (wasm, _) = stage(&team_dir, "patched", MANIFEST, Some(&team_key));
    let mut bytes = std::fs::read(&wasm)?;
    if let Some(last) = bytes.last_mut() {
        *last ^= 1;
    }
    std::fs::write(&wasm, bytes)?;
    // Only the component signed.
    let (wasm, toml) = stage(&team_dir, "half", MANIFEST, None);
    sign(&team_key, &[wasm]);
    assert!(toml.exists());

    let config = format!(
        "{LOCAL_AUTH}[[teams]]\nname = \"sales\"\nplugins_dir = {team_dir:?}\nscope_prefix = \"sales:\"\n\
         member_claim = \"groups\"\nmembers = [\"sales-team\"]\nrequire_signatures = true\ntrusted_keys = [\"file:{}\"]\n",
        team_pub.display()
    );
    // The manifest may pin the component's SHA-256: the right pin loads, a wrong one is refused
    // even though both are correctly signed.
    let sum = Command::new("sha256sum").arg(component("sample")).output()?;
    let sha = String::from_utf8(sum.stdout)?.split_whitespace().next().unwrap_or_default().to_owned();
    assert_eq!(sha.len(), 64);
    let pinned = |pin: &str| {
        MANIFEST.replace("name = \"sample\"", &format!("name = \"sample\"\nwasm_sha256 = \"{pin}\""))
    };
    stage(&team_dir, "pinned", &pinned(&sha).replace("\"sample\"", "\"pinned\""), Some(&team_key));
    stage(
        &team_dir,
        "mispinned",
        &pinned(&"0".repeat(64)).replace("\"sample\"", "\"mispinned\""),
        Some(&team_key),
    );
    let warden = Warden::spawn_in(root, &config, |shared| {
        // In the shared directory signatures are not required, but one that does not verify
        // still refuses the plugin.
        stage(shared, "stray", "[tools.greet]\n", Some(&other_key));
    })
    .await?;
    warden.wait_ready(Duration::from_secs(60)).await?;

    let ready = warden.readyz().await?;
    let loaded: Vec<&str> =
        ready["plugins"].as_array().into_iter().flatten().filter_map(|p| p["source"].as_str()).collect();
    assert_eq!(loaded, ["sales/good", "sales/pinned"], "{ready}");
    let error = |s: &str| ready["errors"][s].as_str().unwrap_or_default().to_owned();
    assert!(
        error("sales/unsigned").contains("unsigned") && error("sales/unsigned").contains("minisign -Sm"),
        "{ready}"
    );
    assert!(error("sales/wrongkey").contains("does not verify"), "{ready}");
    assert!(error("sales/tampered").contains("tampered.toml.minisig does not verify"), "{ready}");
    assert!(error("sales/patched").contains("patched.wasm.minisig does not verify"), "{ready}");
    assert!(error("sales/half").contains("half.toml.minisig is missing"), "{ready}");
    assert!(error("sales/mispinned").contains("pins plugin.wasm_sha256"), "{ready}");
    assert!(error("stray").contains("no trusted_keys"), "{ready}");
    // Each refusal is in the log and the audit log with its reason.
    assert!(warden.log().contains("plugin refused"));
    let audit = warden.audit();
    for stem in ["unsigned", "wrongkey", "tampered", "patched", "half"] {
        assert!(
            audit.iter().any(|e| e["event"] == "plugin.refused" && e["plugin"] == format!("sales/{stem}")),
            "no audit line for {stem}"
        );
    }

    let token = warden.local_token_with("alice", "sales:greet", &["groups=[\"sales-team\"]"])?;
    let client = warden.client_with_token(&token).await?;
    assert_eq!(tool_names(&client).await?, ["sales.pinned.greet", "sales.sample.greet"]);
    let greeting = call(&client, "sales.sample.greet", json!({ "name": "Signed" })).await?;
    assert!(text_of(&greeting).contains("Signed"));

    // Tampering with the live plugin: refused, and the signed version keeps serving.
    let live_manifest = warden.root.path().join("sales").join("good.toml");
    std::fs::write(&live_manifest, format!("{MANIFEST}[tools.whoami]\n"))?;
    let refused = eventually(Duration::from_secs(10), || async {
        warden
            .readyz()
            .await
            .is_ok_and(|r| r["errors"]["sales/good"].as_str().is_some_and(|e| e.contains("does not verify")))
    })
    .await;
    assert!(refused, "{}", warden.log());
    assert_eq!(
        tool_names(&client).await?,
        ["sales.pinned.greet", "sales.sample.greet"],
        "the signed version still serves, unchanged"
    );
    assert!(call(&client, "sales.sample.greet", json!({ "name": "Still" })).await.is_ok());
    Ok(())
}
