//! The `warden` command line: `check`, `plugins`, and refusing unsafe configurations.

use std::path::Path;
use std::process::{Command, Output};

use warden_tests::{install, install_manifest, warden_binary};

fn warden(args: &[&str], dir: &Path, extra_config: &str) -> Output {
    let config = format!(
        "[server]\ndata_dir = {:?}\n[plugins]\ndir = {:?}\n{extra_config}",
        dir.join("data"),
        dir.join("plugins")
    );
    std::fs::write(dir.join("server.toml"), config).unwrap();
    Command::new(warden_binary())
        .args(args)
        .arg("--config")
        .arg(dir.join("server.toml"))
        .env("WARDEN_LOG", "warn")
        .output()
        .unwrap()
}

fn plugins_dir(root: &Path) -> std::path::PathBuf {
    let dir = root.join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn check_prints_tools_with_scopes_and_succeeds() {
    let root = tempfile::tempdir().unwrap();
    install(&plugins_dir(root.path()), "sample", "sample");
    let out = warden(&["check"], root.path(), "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let greet = stdout
        .lines()
        .find(|l| l.split_whitespace().take(2).eq(["tool", "sample.greet"]))
        .expect("greet row");
    assert!(greet.contains("tool:greet") && greet.contains("16 MiB") && greet.contains("1000 ms"), "{greet}");
    let datetime = stdout
        .lines()
        .find(|l| l.split_whitespace().take(2).eq(["tool", "sample.get_datetime"]))
        .expect("get_datetime row");
    assert!(datetime.split_whitespace().nth(2) == Some("-"), "no scope needed: {datetime}");
}

#[test]
fn check_fails_naming_each_bad_plugin_and_why() {
    let root = tempfile::tempdir().unwrap();
    let dir = plugins_dir(root.path());
    install(&dir, "sample", "sample");
    // Not a component at all.
    install(&dir, "garbage", "sample");
    std::fs::write(dir.join("garbage.wasm"), b"garbage").unwrap();
    // A manifest listing a tool the component does not offer.
    install(&dir, "mismatch", "sample");
    install_manifest(&dir, "mismatch", "[tools.greet]\n[tools.absent_tool]\n");
    // Built against a newer contract.
    install(&dir, "future", "future-contract");
    // Same plugin name as an already-loaded one.
    install(&dir, "sample2", "sample");
    install_manifest(&dir, "sample2", "[plugin]\nname = \"sample\"\n[tools.greet]\n");
    // A .wasm without its manifest.
    std::fs::copy(warden_tests::component("sample"), dir.join("orphan.wasm")).unwrap();

    let out = warden(&["check"], root.path(), "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "check must fail:\n{stderr}");
    let line = |needle: &str| stderr.lines().find(|l| l.contains(needle)).map(str::to_owned);
    let garbage = line("plugin garbage:").expect("garbage reported");
    assert!(
        garbage.contains("garbage.wasm") && garbage.contains("not a valid WebAssembly component"),
        "{garbage}"
    );
    let mismatch = line("plugin mismatch:").expect("mismatch reported");
    assert!(mismatch.contains("\"absent_tool\""), "{mismatch}");
    let future = line("plugin future:").expect("future reported");
    assert!(
        future.contains("warden:plugin/tools@0.9.0")
            && future.contains("warden:plugin/server@0.2.0")
            && future.contains("warden:plugin/tools@0.1.0"),
        "{future}"
    );
    let collision = line("plugin sample2:").expect("collision reported");
    assert!(collision.contains("sample2") && collision.contains("already served from sample"), "{collision}");
    let orphan = line("plugin orphan:").expect("orphan reported");
    assert!(orphan.contains("orphan.toml is missing"), "{orphan}");
    // The good plugin is still listed.
    assert!(String::from_utf8_lossy(&out.stdout).contains("sample.greet"));
}

#[test]
fn plugins_lists_each_source_with_its_status() {
    let root = tempfile::tempdir().unwrap();
    let dir = plugins_dir(root.path());
    install(&dir, "sample", "sample");
    install(&dir, "broken", "sample");
    std::fs::write(dir.join("broken.wasm"), b"nope").unwrap();
    let out = warden(&["plugins"], root.path(), "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.lines().any(|l| l.starts_with("sample") && l.contains("ok, 3 tool(s)")), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("broken") && l.contains("refused")), "{stdout}");
}

#[test]
fn serve_without_auth_on_a_public_bind_refuses_to_start() {
    let root = tempfile::tempdir().unwrap();
    plugins_dir(root.path());
    let out = Command::new(warden_binary())
        .args(["serve"])
        .env("WARDEN__SERVER__BIND", "0.0.0.0:0")
        .env("WARDEN__AUTH__MODE", "none")
        .env("WARDEN__SERVER__DATA_DIR", format!("{:?}", root.path().join("data")))
        .env("WARDEN__PLUGINS__DIR", format!("{:?}", root.path().join("plugins")))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("auth.mode") && stderr.contains("loopback") && stderr.contains("Fix:"),
        "{stderr}"
    );
}

#[test]
fn bad_config_names_the_field() {
    let root = tempfile::tempdir().unwrap();
    plugins_dir(root.path());
    let out = warden(&["check"], root.path(), "[runtime]\nmax_instancez = 3\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("max_instancez"), "{stderr}");
}

#[test]
fn check_lists_http_destinations_and_refuses_one_beyond_the_teams_ceiling() {
    let root = tempfile::tempdir().unwrap();
    let dir = plugins_dir(root.path());
    install(&dir, "userinfo", "userinfo");
    install(&dir, "downstream", "downstream");
    let team_dir = root.path().join("sales");
    std::fs::create_dir_all(&team_dir).unwrap();
    install(&team_dir, "crm", "downstream");
    install_manifest(
        &team_dir,
        "crm",
        "[plugin]\nname = \"crm\"\n[tools.my_records]\nscopes = [\"sales:records\"]\n\
         [http.destinations.api]\nurl = \"https://evil.example.com/v1\"\ncredential = \"exchange\"\naudience = \"https://crm\"\n",
    );
    let team = format!(
        "[[teams]]\nname = \"sales\"\nplugins_dir = {:?}\nscope_prefix = \"sales:\"\nmember_claim = \"org\"\n\
         members = [\"s\"]\nhttp_destinations = [\"https://crm.example.com/api/\"]\n",
        team_dir
    );
    let out = warden(&["check"], root.path(), &team);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "the team's plugin is beyond its ceiling: {stdout}");
    let row = |name: &str| {
        stdout.lines().find(|l| l.split_whitespace().take(2).eq([name, name_plugin(name)])).map(str::to_owned)
    };
    fn name_plugin(destination: &str) -> &'static str {
        if destination == "idp" { "userinfo" } else { "downstream" }
    }
    let idp = row("idp").unwrap_or_else(|| panic!("idp row: {stdout}"));
    assert!(
        idp.contains("GET")
            && idp.contains("https://your-tenant.us.auth0.com/userinfo")
            && idp.ends_with("caller"),
        "{idp}"
    );
    let api = row("api").unwrap_or_else(|| panic!("api row: {stdout}"));
    assert!(api.contains("https://records.example.com/v1") && api.ends_with("exchange"), "{api}");
    assert!(
        stderr.contains("sales/crm")
            && stderr.contains("http.destinations.api.url")
            && stderr.contains("http_destinations"),
        "{stderr}"
    );
}

/// Runs `make` with `args` in `dir`; panics with its output on failure.
fn make(dir: &Path, args: &[&str], env: &[(&str, std::ffi::OsString)]) {
    let mut cmd = Command::new("make");
    cmd.arg("-C").arg(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "make {args:?} in {}:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warden_new_scaffolds_a_plugin_in_each_language_that_builds_checks_and_answers() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let plugins = plugins_dir(root.path());
    let repo = warden_tests::repo_root();
    for lang in ["rust", "python", "typescript"] {
        let name = format!("hello-{lang}");
        let out = Command::new(warden_binary())
            .args(["new", &name, "--lang", lang, "--dir"])
            .arg(&src)
            .output()
            .unwrap();
        assert!(out.status.success(), "warden new: {}", String::from_utf8_lossy(&out.stderr));
        let dir = src.join(&name);
        // The toolchains `make test-deps` installed; for Rust, the plugins workspace's lock file
        // and target directory, so that only the new crate compiles.
        let env: Vec<(&str, std::ffi::OsString)> = match lang {
            "rust" => {
                std::fs::copy(repo.join("plugins/Cargo.lock"), dir.join("Cargo.lock")).unwrap();
                vec![("TARGET_DIR", warden_tests::target_dir().into_os_string())]
            }
            "python" => {
                vec![("COMPONENTIZE_PY", repo.join("target/py/bin/componentize-py").into_os_string())]
            }
            _ => vec![],
        };
        make(&dir, &[], &env);
        make(&dir, &["install", &format!("PLUGIN_DIR={}", plugins.display())], &env);
        // Scaffolding again refuses, and keeps what is there.
        let again = Command::new(warden_binary())
            .args(["new", &name, "--lang", lang, "--dir"])
            .arg(&src)
            .output()
            .unwrap();
        assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("already exists"));
        assert!(dir.join(format!("{name}.wasm")).is_file());
    }

    let out = warden(&["check"], root.path(), "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for lang in ["rust", "python", "typescript"] {
        assert!(
            stdout.lines().any(|l| l.split_whitespace().take(2).eq(["tool", &format!("hello-{lang}.hello")])),
            "{stdout}"
        );
    }

    // Three components new to this server: it compiles each before it is ready (the Python and
    // TypeScript ones take tens of seconds each while the rest of the suite shares the 2 cores).
    let warden = warden_tests::Warden::spawn(warden_tests::fixtures::LOCAL_AUTH, |dir| {
        for entry in std::fs::read_dir(&plugins).unwrap().flatten() {
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    })
    .await
    .unwrap();
    warden.wait_ready(std::time::Duration::from_secs(150)).await.unwrap();
    let alice = warden.client_with_token(&warden.local_token("alice", "").unwrap()).await.unwrap();
    for lang in ["rust", "python", "typescript"] {
        let tool = format!("hello-{lang}.hello");
        let r = warden_tests::call(&alice, &tool, serde_json::json!({ "name": "Ada" })).await.unwrap();
        assert_eq!(warden_tests::text_of(&r), "Hello, Ada! You are alice.", "{tool}");
        let r = warden_tests::call(&alice, &tool, serde_json::json!({ "name": " " })).await.unwrap();
        assert_eq!(r.is_error, Some(true), "{tool}");
        assert!(warden_tests::text_of(&r).contains("name must not be empty"), "{tool}");
    }
}
