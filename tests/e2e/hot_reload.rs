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
    assert_eq!(tool_names(&client).await.unwrap().len(), 3 + 9);

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
