//! Misbehaving plugins (TEST FIXTURE `misbehaving`) each end as a tool error within their limits,
//! while calls to a well-behaved plugin keep succeeding.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use warden_tests::fixtures::UNLIMITED;
use warden_tests::{Greeter, Warden, call, install, text_of, tool_names};

/// Generous slack over a limit for a loaded 2-core machine; the point is "bounded", not speed.
const SLACK: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attack_is_contained_while_others_are_served() {
    // One anonymous caller floods the server on purpose: the call limits would refuse it first.
    let warden = Warden::start(UNLIMITED, |dir| {
        install(dir, "sample", "sample");
        install(dir, "misbehaving", "misbehaving");
    })
    .await
    .unwrap();
    let client = Arc::new(warden.client().await.unwrap());

    // A steady stream of well-behaved calls for the whole test.
    let greeter = Greeter::spawn(client.clone(), "Grace", Duration::ZERO);

    // Limits from tests/plugins/misbehaving/plugin.toml: 500 ms, 48 MiB; output cap 1 MiB (server default).
    let cases = [
        ("misbehaving.spin", "exceeded its time limit of 500 ms"),
        ("misbehaving.hog", "exceeded its memory limit of 48 MiB"),
        ("misbehaving.panic", "panicked"),
        ("misbehaving.flood", "exceeds the limit of 1048576 bytes"),
        ("misbehaving.recurse", "overflowed its stack"),
        ("misbehaving.smash", "out-of-bounds memory access"),
    ];
    let attacks = cases.into_iter().map(|(tool, expected)| {
        let client = client.clone();
        async move {
            let started = Instant::now();
            let r = call(&client, tool, json!({})).await.expect("a tool error, not a protocol error");
            (tool, expected, r, started.elapsed())
        }
    });
    // All at once: the attacks run concurrently with each other and with the greeter.
    for (tool, expected, r, elapsed) in spawn_all(attacks).await {
        assert_eq!(r.is_error, Some(true), "{tool}: {r:?}");
        let text = text_of(&r);
        assert!(text.contains(expected), "{tool}: expected {expected:?} in {text:?}");
        assert!(elapsed < Duration::from_millis(500) + SLACK, "{tool} took {elapsed:?}");
    }

    // Let the greeter run a little longer after the attacks, then stop it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let greeted = greeter.stop().await;
    assert_eq!(greeted.bad, 0, "a well-behaved call failed during the attacks: {greeted:?}");
    assert!(greeted.ok > 5, "the greeter barely ran: {greeted:?}");

    // The misbehaving plugin itself still serves its well-behaved tool: nothing survived the traps.
    let r = call(&client, "misbehaving.echo", json!({ "text": "still here" })).await.unwrap();
    assert_eq!(text_of(&r), "still here");
    // Nothing of a trapped call leaks into the log as a host crash.
    assert!(!warden.log().contains("panicked at"), "host panicked:\n{}", warden.log());
}

/// Runs every future as its own task (so they truly run concurrently) and collects the outputs.
async fn spawn_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn nothing_survives_from_one_call_to_the_next() {
    let warden = Warden::start("", |dir| install(dir, "misbehaving", "misbehaving")).await.unwrap();
    let client = warden.client().await.unwrap();
    for secret in ["alice-secret-1", "bob-secret-2", "carol-secret-3"] {
        let r = call(&client, "misbehaving.remember", json!({ "text": secret })).await.unwrap();
        assert_eq!(text_of(&r), "previous=\"\"", "state leaked into the call that stored {secret}");
    }
    // The same holds across a trap: a crashed instance leaves nothing for the next caller either.
    call(&client, "misbehaving.panic", json!({})).await.unwrap();
    let r = call(&client, "misbehaving.remember", json!({ "text": "after-panic" })).await.unwrap();
    assert_eq!(text_of(&r), "previous=\"\"");
}

#[tokio::test]
async fn scattered_writes_are_all_undone_before_the_next_call() {
    // Each call writes a secret into 128 separate pages of a 1 MiB data segment, more dirty
    // regions than one page-map scan of the memory reset reports (32): the reset must go on
    // scanning (vendor/wasmtime) or decommit the rest, never leave a page as the last caller left it.
    let warden = Warden::start("", |dir| install(dir, "misbehaving", "misbehaving")).await.unwrap();
    let client = warden.client().await.unwrap();
    for round in 0..12 {
        let r = call(&client, "misbehaving.scatter", json!({ "text": format!("secret-of-caller-{round}") }))
            .await
            .unwrap();
        assert_eq!(text_of(&r), "changed_pages=0", "round {round}: pages of an earlier call survived");
    }
}

/// A plugin that needs longer to start than its `timeout_ms` (TEST FIXTURE `slow-start`: 1 s
/// against 200 ms) still loads, because `describe` at load gets a floor of 10 s; the floor is for
/// loading only, so each call still ends at the manifest's 200 ms.
#[tokio::test]
async fn describe_at_load_gets_more_time_than_a_call() {
    let warden = Warden::start(UNLIMITED, |dir| {
        install(dir, "sample", "sample");
        install(dir, "slow-start", "slow-start");
    })
    .await
    .unwrap();
    let client = warden.client().await.unwrap();
    let names = tool_names(&client).await.unwrap();
    assert!(names.contains(&"slow-start.hello".to_owned()), "the slow starter was not loaded: {names:?}");
    let ready = warden.readyz().await.unwrap();
    assert_eq!(ready["errors"], json!({}), "a load error was reported: {ready}");

    let started = Instant::now();
    let r = call(&client, "slow-start.hello", json!({})).await.expect("a tool error, not a protocol error");
    assert_eq!(r.is_error, Some(true), "{r:?}");
    assert!(text_of(&r).contains("exceeded its time limit of 200 ms"), "{r:?}");
    assert!(started.elapsed() < Duration::from_millis(200) + SLACK, "the call took {:?}", started.elapsed());
}
