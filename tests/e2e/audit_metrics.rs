//! The audit log records every decision of a run and never a token or an argument value; the
//! Prometheus metrics on the admin listener scrape and parse.

use std::time::Duration;

use serde_json::{Value, json};
use warden_tests::fixtures::LOCAL_AUTH;
use warden_tests::{Warden, call, eventually, free_port, install, install_manifest, install_wasm, text_of};

/// An argument value that must never reach the audit log.
const SECRET_ARGUMENT: &str = "Pa55phrase-never-logged";

#[tokio::test]
async fn audit_log_holds_every_decision_and_no_token() -> anyhow::Result<()> {
    let admin = free_port();
    let config = format!("{LOCAL_AUTH}[server]\nadmin_bind = \"127.0.0.1:{admin}\"\n");
    let warden = Warden::start(&config, |dir| {
        install(dir, "sample", "sample");
        // A broken plugin: a manifest listing a tool the component lacks.
        install_manifest(dir, "broken", "[tools.missing]\n");
        install_wasm(dir, "broken", &std::fs::read(warden_tests::component("sample")).expect("component"));
    })
    .await?;

    let good = warden.local_token("alice", "tool:greet tool:whoami")?;
    let narrow = warden.local_token("bob", "tool:whoami")?;
    // One character in the middle of the signature changed (the last one may carry padding bits
    // and would make the base64 invalid instead of the signature wrong).
    let mut tampered = good.clone().into_bytes();
    let at = tampered.len() - 10;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered)?;
    let wrong_audience = {
        let out = std::process::Command::new(warden_tests::warden_binary())
            .args(["token", "--config"])
            .arg(warden.root.path().join("server.toml"))
            .args([
                "--sub",
                "mallory",
                "--scope",
                "tool:greet",
                "--audience",
                "https://elsewhere.example/mcp",
            ])
            .env("WARDEN__SERVER__PUBLIC_URL", format!("\"{}\"", warden.base_url))
            .output()?;
        String::from_utf8(out.stdout)?.trim().to_owned()
    };
    let tokens = [&good, &narrow, &tampered, &wrong_audience];

    // A successful call, with a value that must not be logged.
    let alice = warden.client_with_token(&good).await?;
    let hello = call(&alice, "sample.greet", json!({ "name": SECRET_ARGUMENT })).await?;
    assert!(text_of(&hello).contains(SECRET_ARGUMENT));
    // A call refused for scope.
    let bob = warden.client_with_token(&narrow).await?;
    assert!(call(&bob, "sample.greet", json!({ "name": SECRET_ARGUMENT })).await.is_err());
    // Rejected tokens.
    for bad in [&tampered, &wrong_audience] {
        let r = warden.mcp_post().without_accept().bearer(bad).body("{}").send().await?;
        assert_eq!(r.status(), 401);
    }

    let audit_path = warden.root.path().join("data").join("audit.jsonl");
    let complete = eventually(Duration::from_secs(5), || async {
        let a = warden.audit();
        a.iter().filter(|e| e["event"] == "token.rejected").count() >= 2
    })
    .await;
    assert!(complete, "{}", std::fs::read_to_string(&audit_path).unwrap_or_default());
    let audit = warden.audit();
    let find = |pred: &dyn Fn(&Value) -> bool| audit.iter().find(|e| pred(e)).cloned();

    let called = find(&|e| e["event"] == "tool.called" && e["subject"] == "alice").expect("tool.called");
    assert_eq!(called["tool"], "sample.greet");
    assert_eq!(called["outcome"], "ok");
    assert_eq!(called["plugin"], "sample");
    assert_eq!(called["plugin_sha256"].as_str().map(str::len), Some(64));
    assert_eq!(called["arguments"], json!(["name"]), "argument names only");
    assert!(called["duration_ms"].as_f64().is_some());
    let refused = find(&|e| e["event"] == "tool.refused" && e["subject"] == "bob").expect("tool.refused");
    assert!(refused["reason"].as_str().is_some_and(|r| r.contains("tool:greet")), "{refused}");
    let reasons: Vec<String> = audit
        .iter()
        .filter(|e| e["event"] == "token.rejected")
        .filter_map(|e| e["reason"].as_str().map(str::to_owned))
        .collect();
    assert!(reasons.iter().any(|r| r.contains("signature")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("audience")), "{reasons:?}");
    assert!(find(&|e| e["event"] == "plugin.loaded" && e["plugin"] == "sample").is_some());
    let broken =
        find(&|e| e["event"] == "plugin.refused" && e["plugin"] == "broken").expect("plugin.refused");
    assert!(broken["reason"].as_str().is_some_and(|r| r.contains("missing")), "{broken}");
    for e in &audit {
        assert!(e["ts"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
    }

    // No token (nor its signature part), and no argument value, anywhere in the file.
    let text = std::fs::read_to_string(&audit_path)?;
    for token in tokens {
        assert!(!text.contains(token.as_str()), "a token reached the audit log");
        let signature = token.rsplit('.').next().unwrap_or_default();
        assert!(signature.len() > 20 && !text.contains(signature), "a token signature reached the audit log");
    }
    assert!(!text.contains(SECRET_ARGUMENT), "an argument value reached the audit log");
    // Nor in the server's own log.
    let log = warden.log();
    for token in tokens {
        assert!(!log.contains(token.as_str()), "a token reached the server log");
    }

    // Metrics: on the admin listener only, and parseable.
    let admin_url = warden.admin_url.clone().expect("admin url");
    assert_eq!(warden.http.get(format!("{}/metrics", warden.base_url)).send().await?.status(), 404);
    let body = warden.http.get(format!("{admin_url}/metrics")).send().await?.text().await?;
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))?;
    let value = |name: &str, label: Option<(&str, &str)>| -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                prometheus_parse::Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
                prometheus_parse::Value::Summary(_) => -1.0,
            })
    };
    let ok_calls = scrape.samples.iter().find(|s| {
        s.metric == "warden_tool_calls_total"
            && s.labels.get("tool") == Some("sample.greet")
            && s.labels.get("outcome") == Some("ok")
    });
    assert!(ok_calls.is_some(), "{body}");
    assert!(
        value("warden_auth_failures_total", Some(("reason", "invalid_token"))).is_some_and(|v| v >= 2.0),
        "{body}"
    );
    assert!(
        value("warden_tool_calls_total", Some(("outcome", "refused"))).is_some_and(|v| v >= 1.0),
        "{body}"
    );
    assert!(
        value("warden_tool_call_duration_seconds", Some(("tool", "sample.greet"))).is_some_and(|v| v >= 1.0),
        "{body}"
    );
    assert!(
        value("warden_plugin_loads_total", Some(("reason", "loaded"))).is_some_and(|v| v >= 1.0),
        "{body}"
    );
    assert!(
        value("warden_plugin_loads_total", Some(("reason", "refused"))).is_some_and(|v| v >= 1.0),
        "{body}"
    );
    assert_eq!(value("warden_instances_max", None), Some(64.0), "{body}");
    assert!(value("warden_db_pool_size", None).is_some(), "{body}");
    assert!(warden.http.get(format!("{admin_url}/readyz")).send().await?.status().is_success());

    // `warden probe` (the container health check) succeeds on 2xx only.
    let probe = |url: String| {
        std::process::Command::new(warden_tests::warden_binary()).args(["probe", &url]).status()
    };
    assert!(probe(format!("{admin_url}/healthz"))?.success());
    assert!(!probe(format!("{admin_url}/no-such-path"))?.success());
    Ok(())
}
