//! Limits: per-caller rate (429 with `Retry-After`), per-caller concurrency, slow clients cut off
//! without holding the server, and graceful shutdown that lets in-flight calls finish.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warden_tests::fixtures::LOCAL_AUTH;
use warden_tests::{
    SESSION_PROTOCOL, Warden, call, component, install, install_manifest, install_wasm, manifest_source,
    text_of,
};

/// The misbehaving fixture with a 3 s time limit, so `work` can stay busy long enough.
fn install_slow_worker(dir: &std::path::Path) {
    let manifest = std::fs::read_to_string(manifest_source("misbehaving")).expect("manifest");
    install_manifest(dir, "misbehaving", &manifest.replace("timeout_ms = 500", "timeout_ms = 3000"));
    install_wasm(dir, "misbehaving", &std::fs::read(component("misbehaving")).expect("component"));
}

/// A raw `tools/call` POST (id 7), so the status and headers can be checked.
async fn raw_call(
    warden: &Warden,
    token: &str,
    tool: &str,
    arguments: Value,
) -> anyhow::Result<reqwest::Response> {
    Ok(warden
        .mcp_post()
        .bearer(token)
        .protocol(SESSION_PROTOCOL)
        .jsonrpc(7, "tools/call", json!({ "name": tool, "arguments": arguments }))
        .send()
        .await?)
}

#[tokio::test]
async fn rate_and_concurrency_limits_answer_429_with_retry_after() -> anyhow::Result<()> {
    let config =
        format!("{LOCAL_AUTH}[limits]\ncaller_calls_per_s = 1\ncaller_burst = 3\ncaller_concurrency = 1\n");
    let warden = Warden::start(&config, |dir| {
        install(dir, "sample", "sample");
        install_slow_worker(dir);
    })
    .await?;
    let alice = warden.local_token("alice", "tool:greet")?;
    let bob = warden.local_token("bob", "tool:greet")?;

    // The burst passes the limiter (what rmcp then answers does not matter here), the next is 429.
    for _ in 0..3 {
        let r = raw_call(&warden, &alice, "sample.greet", json!({ "name": "a" })).await?;
        assert_ne!(r.status(), 429);
    }
    let limited = raw_call(&warden, &alice, "sample.greet", json!({ "name": "a" })).await?;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"].to_str()?.parse()?;
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body: Value = limited.json().await?;
    assert_eq!(body["id"], 7);
    assert_eq!(body["error"]["data"]["limit"], "caller_rate");

    // Another caller is not affected; alice is served again after waiting as told.
    let bob_client = warden.client_with_token(&bob).await?;
    assert!(text_of(&call(&bob_client, "sample.greet", json!({ "name": "Bob" })).await?).contains("Bob"));
    tokio::time::sleep(Duration::from_secs(retry_after * 2)).await;
    let alice_client = warden.client_with_token(&alice).await?;
    assert!(
        text_of(&call(&alice_client, "sample.greet", json!({ "name": "Alice" })).await?).contains("Alice")
    );

    // Concurrency: while bob's slow call runs, his second call is refused at once.
    let slow =
        tokio::spawn(async move { call(&bob_client, "misbehaving.work", json!({ "ms": 1500 })).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let busy = raw_call(&warden, &bob, "sample.greet", json!({ "name": "b" })).await?;
    assert_eq!(busy.status(), 429);
    assert!(busy.headers().contains_key("retry-after"));
    assert_eq!(busy.json::<Value>().await?["error"]["data"]["limit"], "caller_concurrency");
    let finished = slow.await??;
    assert!(text_of(&finished).contains("worked 1500 ms"), "{finished:?}");

    let audit = warden.audit();
    assert!(
        audit.iter().any(|e| e["event"] == "tool.refused"
            && e["outcome"] == "rate_limited"
            && e["subject"] == "alice")
    );
    Ok(())
}

/// Reads from `stream` until the server closes it; returns what it sent and how long it took.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while started.elapsed() < limit {
        match tokio::time::timeout(limit - started.elapsed(), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), limit),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), started.elapsed())
}

#[tokio::test]
async fn slow_clients_are_cut_off_without_holding_the_server() -> anyhow::Result<()> {
    let config = "[server]\nheader_read_timeout_ms = 3000\nbody_read_timeout_ms = 1000\n";
    let warden = Warden::start(config, |dir| install(dir, "sample", "sample")).await?;
    let addr = warden.base_url.trim_start_matches("http://").to_owned();

    // 50 clients that never finish their request head.
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(&addr).await?;
        s.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await?;
        slow.push(s);
    }
    // Meanwhile everyone else is served: the fast requests complete while all 50 slow clients
    // still hold their connections (none has been cut off yet), so they do not wait on them.
    let ready = warden.http.get(format!("{}/healthz", warden.base_url)).send().await?;
    assert!(ready.status().is_success());
    let client = warden.client().await?;
    assert!(call(&client, "sample.greet", json!({ "name": "Fast" })).await.is_ok());
    let mut probe = [0u8; 1];
    for s in &slow {
        let still_open =
            matches!(s.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        assert!(still_open, "the fast requests were served only after the slow clients were cut off");
    }
    // Every slow client is disconnected once the head timeout passes (trickling does not help).
    for s in &mut slow {
        let _ = s.write_all(b"x").await;
    }
    for s in &mut slow {
        let (_, took) = until_closed(s, Duration::from_secs(8)).await;
        assert!(took < Duration::from_secs(8), "a slow client was never cut off");
    }

    // A request head over server.max_header_bytes (16 KiB by default) gets 431.
    let mut s = TcpStream::connect(&addr).await?;
    let big = format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n", "a".repeat(20 * 1024));
    let _ = s.write_all(big.as_bytes()).await;
    let (answer, _) = until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");

    // The same on a reused keep-alive connection: a small request first, then the big head.
    let mut s = TcpStream::connect(&addr).await?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await?;
    let mut first = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut first)).await??;
    assert!(
        String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&first[..n])
    );
    let _ = s.write_all(big.as_bytes()).await;
    let (answer, _) = until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "the limit holds on a reused connection: {answer:?}");

    // A client that sends its head but stalls in the body gets 408.
    let mut s = TcpStream::connect(&addr).await?;
    s.write_all(
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"",
    )
    .await?;
    let (answer, took) = until_closed(&mut s, Duration::from_secs(6)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(took < Duration::from_secs(6));
    Ok(())
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_calls() -> anyhow::Result<()> {
    let config = "[server]\nshutdown_grace_s = 10\n";
    let mut warden = Warden::start(config, install_slow_worker).await?;
    let client = warden.client().await?;
    let in_flight =
        tokio::spawn(async move { call(&client, "misbehaving.work", json!({ "ms": 1500 })).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stopped = std::process::Command::new("kill").args(["-TERM", &warden.pid().to_string()]).status()?;
    assert!(stopped.success());
    let result = in_flight.await??;
    assert!(text_of(&result).contains("worked 1500 ms"), "the in-flight call must finish: {result:?}");
    let status = warden.wait_exit(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "warden did not exit cleanly: {status:?}\n{}", warden.log());
    assert!(warden.log().contains("finishing in-flight calls"));
    Ok(())
}
