//! Hot reload: adding, replacing and removing plugin files takes effect without a restart; a
//! broken replacement never replaces the working version; in-flight calls finish on their version.

use std::time::Duration;

use serde_json::json;
use warden_tests::{
    Warden, call, component, eventually, install, install_manifest, install_wasm, text_of, tool_names,
};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn add_replace_break_and_remove() {
    let warden = Warden::start("", |dir| install(dir, "sample", "sample")).await.unwrap();
    let dir = warden.plugins_dir();
    let (client, mut changes) = warden.session_client().await.unwrap();
    assert_eq!(tool_names(&client).await.unwrap().len(), 3);

    // Add: the new tools appear and the session is told.
    install(&dir, "misbehaving", "misbehaving");
    tokio::time::timeout(WAIT, changes.recv()).await.expect("tools/list_changed after adding").unwrap();
    let names = tool_names(&client).await.unwrap();
    assert!(names.contains(&"misbehaving.echo".to_owned()), "{names:?}");

    // Broken replacement (not a component): refused, the old version keeps serving.
    install_wasm(&dir, "sample", b"\0asm but not really");
    assert!(
        eventually(WAIT, || async {
            let ready = warden.readyz().await.unwrap();
            ready["errors"]["sample"]
                .as_str()
                .is_some_and(|e| e.contains("sample.wasm") && e.contains("not a valid WebAssembly component"))
        })
        .await,
        "the refusal must name the file and the reason: {}",
        warden.readyz().await.unwrap()
    );
    let r = call(&client, "sample.greet", json!({ "name": "Old" })).await.unwrap();
    assert_eq!(text_of(&r), "Hello, Old! You are anonymous.");
    assert_eq!(tool_names(&client).await.unwrap().len(), 3 + 10);

    // Restore the real component: the error clears.
    install_wasm(&dir, "sample", &std::fs::read(component("sample")).unwrap());
    assert!(
        eventually(WAIT, || async { warden.readyz().await.unwrap()["errors"].get("sample").is_none() }).await
    );

    // A manifest that lists a tool the component lacks is refused by name; the old one serves on.
    install_manifest(&dir, "sample", "[tools.greet]\n[tools.launch_rockets]\n");
    assert!(
        eventually(WAIT, || async {
            warden.readyz().await.unwrap()["errors"]["sample"]
                .as_str()
                .is_some_and(|e| e.contains("\"launch_rockets\""))
        })
        .await
    );
    assert!(tool_names(&client).await.unwrap().contains(&"sample.whoami".to_owned()));

    // A valid replacement: the manifest now serves only greet (deny by default hides the rest).
    while changes.try_recv().is_ok() {}
    install_manifest(&dir, "sample", "[tools.greet]\nscopes = []\n");
    tokio::time::timeout(WAIT, changes.recv()).await.expect("tools/list_changed after replacing").unwrap();
    let names = tool_names(&client).await.unwrap();
    assert!(
        names.contains(&"sample.greet".to_owned()) && !names.contains(&"sample.whoami".to_owned()),
        "{names:?}"
    );
    let err = call(&client, "sample.whoami", json!({})).await.unwrap_err().to_string();
    assert!(err.contains("unknown tool"), "{err}");

    // Remove: deleting the .wasm takes the plugin away.
    std::fs::remove_file(dir.join("misbehaving.wasm")).unwrap();
    tokio::time::timeout(WAIT, changes.recv()).await.expect("tools/list_changed after removing").unwrap();
    let names = tool_names(&client).await.unwrap();
    assert!(!names.iter().any(|n| n.starts_with("misbehaving.")), "{names:?}");
    assert!(warden.log().contains("plugin removed"), "{}", warden.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_calls_finish_on_the_version_they_started_with() {
    let warden = Warden::start("", |dir| install(dir, "misbehaving", "misbehaving")).await.unwrap();
    let dir = warden.plugins_dir();
    let client = std::sync::Arc::new(warden.client().await.unwrap());

    let slow = {
        let client = client.clone();
        tokio::spawn(async move { call(&client, "misbehaving.work", json!({ "ms": 450 })).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    std::fs::remove_file(dir.join("misbehaving.wasm")).unwrap();
    std::fs::remove_file(dir.join("misbehaving.toml")).unwrap();

    let mut removed_while_running = false;
    let mut gone = false;
    let started = std::time::Instant::now();
    while started.elapsed() < WAIT {
        if tool_names(&client).await.unwrap().is_empty() {
            gone = true;
            removed_while_running = !slow.is_finished();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "the plugin was never removed");
    assert!(removed_while_running, "the removal landed only after the call ended; the test proves nothing");
    let r = slow.await.unwrap().unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    assert_eq!(text_of(&r), "worked 450 ms");
}

/// The load error `readyz` shows for `source`, once it mentions `needle` (the files are written
/// one after the other, so an earlier state may be refused first for another reason).
async fn refusal_of(warden: &Warden, source: &str, needle: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let ready = warden.readyz().await.unwrap();
        let text = ready["errors"][source].as_str().unwrap_or_default().to_owned();
        if text.contains(needle) || started.elapsed() > WAIT {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A plugin claiming a name another one serves (a resource URI, a bare tool name) is refused,
/// naming both, and the first keeps serving; a plugin replacing itself is no collision; once the
/// first is gone, the second loads.
#[tokio::test]
async fn a_plugin_claiming_a_served_name_is_refused_and_the_first_keeps_serving() {
    let bare = |name: &str| format!("[plugin]\nname = \"{name}\"\nbare_names = true\n[tools.greet]\n");
    let warden = Warden::start("", |dir| {
        install(dir, "chatty", "chatty");
        install(dir, "bare1", "sample");
        install_manifest(dir, "bare1", &bare("bare1"));
    })
    .await
    .unwrap();
    let dir = warden.plugins_dir();
    let client = warden.client().await.unwrap();

    // The same resource URI from another plugin (URIs have no namespace).
    let chatty2 =
        "[plugin]\nname = \"chatty2\"\n[tools.flood]\n[resources.\"chatty://secret\"]\nscopes = []\n";
    install_manifest(&dir, "chatty2", chatty2);
    install_wasm(&dir, "chatty2", &std::fs::read(component("chatty")).unwrap());
    let refusal = refusal_of(&warden, "chatty2", "resource").await;
    assert!(
        refusal.contains("resource \"chatty://secret\"") && refusal.contains("already served from chatty"),
        "{refusal}"
    );
    // The same bare tool name.
    install_manifest(&dir, "bare2", &bare("bare2"));
    install_wasm(&dir, "bare2", &std::fs::read(component("sample")).unwrap());
    let refusal = refusal_of(&warden, "bare2", "tool").await;
    assert!(refusal.contains("tool \"greet\"") && refusal.contains("already served from bare1"), "{refusal}");
    let names = tool_names(&client).await.unwrap();
    assert!(!names.iter().any(|n| n.starts_with("chatty2.")), "the refused plugin serves nothing: {names:?}");
    assert_eq!(names.iter().filter(|n| *n == "greet").count(), 1, "{names:?}");

    // Replacing itself is no collision.
    install_manifest(
        &dir,
        "chatty",
        "[plugin]\nname = \"chatty\"\n[tools.slow]\n[resources.\"chatty://secret\"]\nscopes = []\n",
    );
    assert!(
        eventually(WAIT, || async { tool_names(&client).await.unwrap().iter().all(|n| n != "chatty.flood") })
            .await,
        "the new version of chatty serves"
    );
    assert!(warden.readyz().await.unwrap()["errors"].get("chatty").is_none());

    // Once chatty is gone, chatty2 (its files touched) takes the URI.
    std::fs::remove_file(dir.join("chatty.wasm")).unwrap();
    assert!(
        eventually(WAIT, || async {
            !tool_names(&client).await.unwrap().contains(&"chatty.slow".to_owned())
        })
        .await
    );
    install_wasm(&dir, "chatty2", &std::fs::read(component("chatty")).unwrap());
    assert!(
        eventually(WAIT, || async {
            tool_names(&client).await.unwrap().contains(&"chatty2.flood".to_owned())
        })
        .await,
        "{}",
        warden.readyz().await.unwrap()
    );
    assert!(warden.readyz().await.unwrap()["errors"].get("chatty2").is_none());
}
