//! Python plugins (issue 15): components built from source with componentize-py and
//! `sdk/python` (`make plugins`), served end to end to rmcp's MCP client.
//!
//! - `py-sample` (seed 001's tools in Python): identity and scopes exactly as for the Rust sample.
//! - `py-errors` (TEST FIXTURE): an exception, an endless loop, a memory bomb, deep recursion, a
//!   huge result, and opening a file or a socket each end as a clear tool error while another
//!   caller's calls are served.
//!
//! The checks themselves (`serves_seed_001_like_the_rust_sample`, `failures_are_contained`) are
//! shared with `typescript_plugins`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use warden_tests::fixtures::{LOCAL_AUTH, UNLIMITED};
use warden_tests::{Greeter, Warden, call, install, text_of, tool_names};

/// Slack over a limit on a loaded 2-core machine: the point is "bounded", not speed.
const SLACK: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_sample_serves_seed_001s_tools_with_the_callers_identity_and_scopes() -> anyhow::Result<()> {
    serves_seed_001_like_the_rust_sample("py-sample").await
}

/// `plugin` (seed 001's tools in another language) answers as `sample` does, for the same
/// verified identity and scopes. Shared with `typescript_plugins`.
pub(crate) async fn serves_seed_001_like_the_rust_sample(plugin: &str) -> anyhow::Result<()> {
    let warden = Warden::start(LOCAL_AUTH, |dir| {
        install(dir, plugin, plugin);
        install(dir, "sample", "sample");
    })
    .await?;
    let alice = warden.client_with_token(&warden.local_token("alice", "tool:greet tool:whoami")?).await?;
    let narrow = warden.client_with_token(&warden.local_token("bob", "tool:whoami")?).await?;

    let mut names = tool_names(&alice).await?;
    names.sort();
    for tool in ["get_datetime", "greet", "whoami"].map(|t| format!("{plugin}.{t}")) {
        assert!(names.contains(&tool), "{tool} in {names:?}; /readyz: {}", warden.readyz().await?);
    }
    assert!(
        !tool_names(&narrow).await?.iter().any(|n| *n == format!("{plugin}.greet")),
        "greet needs tool:greet"
    );

    // The same answers as the Rust sample's, from the same verified identity.
    let other = call(&alice, &format!("{plugin}.greet"), json!({"name": "Ada"})).await?;
    let rust = call(&alice, "sample.greet", json!({"name": "Ada"})).await?;
    assert_eq!(text_of(&other), "Hello, Ada! You are alice.");
    assert_eq!(text_of(&other), text_of(&rust));
    let me: Value =
        serde_json::from_str(&text_of(&call(&alice, &format!("{plugin}.whoami"), json!({})).await?))?;
    assert_eq!(me["subject"], "alice");
    assert_eq!(me["scopes"], json!(["tool:greet", "tool:whoami"]));
    let now: Value =
        serde_json::from_str(&text_of(&call(&alice, &format!("{plugin}.get_datetime"), json!({})).await?))?;
    assert!(now["utc"].as_str().is_some_and(|s| s.len() == 24 && s.ends_with('Z')), "{now}");

    // The declared schema (from Python type hints, or a TypeScript `input`): a mistyped argument is
    // refused before the plugin runs.
    let bad = call(&alice, &format!("{plugin}.greet"), json!({"name": 7})).await?;
    assert_eq!(bad.is_error, Some(true), "{}", text_of(&bad));
    // InvalidArguments from the tool itself.
    let empty = call(&alice, &format!("{plugin}.greet"), json!({"name": "  "})).await?;
    assert_eq!(empty.is_error, Some(true));
    assert!(text_of(&empty).contains("name must not be empty"), "{}", text_of(&empty));
    // A scope the caller lacks: refused by the host, the plugin never runs.
    let refused = call(&narrow, &format!("{plugin}.greet"), json!({"name": "Ada"})).await;
    assert!(refused.is_err() || refused.as_ref().is_ok_and(|r| r.is_error == Some(true)), "{refused:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_failures_are_contained_as_clear_tool_errors_while_others_are_served() -> anyhow::Result<()> {
    // Limits from tests/plugins/py-errors/plugin.toml: 1500 ms, 64 MiB; output cap 1 MiB (default).
    let cases = [
        ("py-errors.boom", json!({"why": "bad day"}), "RuntimeError: bad day"),
        ("py-errors.picky", json!({"n": 0}), "zero is not interesting"),
        ("py-errors.picky", json!({"n": -1}), "n must be >= 0"),
        ("py-errors.spin", json!({}), "exceeded its time limit of 1500 ms"),
        ("py-errors.hog", json!({}), "exceeded its memory limit of 64 MiB"),
        ("py-errors.recurse", json!({}), "RecursionError"),
        ("py-errors.huge", json!({}), "exceeds the limit of 1048576 bytes"),
        ("py-errors.read_file", json!({}), "FileNotFoundError"),
        ("py-errors.open_socket", json!({}), "gaierror"), // no sockets: the name lookup fails
    ];
    failures_are_contained("py-errors", &cases).await
}

/// Each of `cases` (tool, arguments, expected text) of the fixture `plugin`, run at once, ends as
/// a clear tool error (no trap dump) within its 1500 ms limit, while another caller's greet loop
/// is served without a failure. Shared with `typescript_plugins`.
pub(crate) async fn failures_are_contained(
    plugin: &str,
    cases: &[(&str, Value, &str)],
) -> anyhow::Result<()> {
    let warden = Warden::start(UNLIMITED, |dir| {
        install(dir, plugin, plugin);
        install(dir, "sample", "sample");
    })
    .await?;
    let client = Arc::new(warden.client().await?);

    let greeter = Greeter::spawn(Arc::new(warden.client().await?), "Grace", Duration::from_millis(20));

    let runs = cases.iter().map(|(tool, args, expected)| {
        let client = client.clone();
        async move {
            let started = Instant::now();
            let r = call(&client, tool, args.clone()).await;
            (tool, expected, r, started.elapsed())
        }
    });
    let results = futures::future::join_all(runs).await;
    let summary: Vec<String> =
        results.iter().map(|(t, _, r, d)| format!("{t}: {:?} in {d:?}", r.as_ref().map(text_of))).collect();
    // Shown with --no-capture: how close each case came to its limit.
    eprintln!("{}", summary.join("\n"));
    for (tool, expected, result, took) in results {
        let result = result.map_err(|e| anyhow::anyhow!("{tool}: {e}\n{}", summary.join("\n")))?;
        let text = text_of(&result);
        assert_eq!(result.is_error, Some(true), "{tool}: {text}");
        assert!(text.contains(expected), "{tool}: {text}\n{}", summary.join("\n"));
        assert!(!text.contains("wasm backtrace") && !text.contains("unreachable"), "no trap dump: {text}");
        assert!(took < Duration::from_millis(1500) + SLACK, "{tool} took {took:?}");
    }
    let greeted = greeter.stop().await;
    assert!(greeted.ok >= 3, "other calls were served meanwhile: {greeted:?}");
    assert_eq!(greeted.bad, 0, "no other call failed: {greeted:?}");
    Ok(())
}
