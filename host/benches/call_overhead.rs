//! What the multi-team hardening adds to every `tools/call`, measured side by side with the call
//! itself in one run: the rate/concurrency admission (`CallLimits::admit` + release), the team
//! check (`Teams::admits`), one audit line (`AuditLog::record` to a file), and the metrics
//! update, against one `sample.greet` call through the runtime. Also the smaller per-call steps:
//! the scope check, the caller's claims as JSON and its rate-limit key (derived once per cached
//! identity, against deriving them per call as before), and reading a `tools/call` body the way
//! the JSON-RPC guard does and the way rmcp does (each request is parsed by both).
//!
//! Needs the plugin components: `make bench` builds them first.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may stop at a broken set-up

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use warden::config::{LimitsConfig, TeamConfig};
use warden::limits::CallLimits;
use warden::shared::{Identity, IdentityData};
use warden::teams::Teams;
use warden::telemetry::{AuditEvent, AuditLog, Metrics};

mod common;

fn overhead(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let (data, runtime, plugin) = common::sample_plugin(&rt);
    let caller = Identity::new(IdentityData {
        subject: "auth0|alice".into(),
        issuer: "https://tenant.example/".into(),
        username: Some("alice".into()),
        email: None,
        client_id: Some("client".into()),
        scopes: vec!["tool:greet".into()],
        permissions: Vec::new(),
        claims: serde_json::json!({ "groups": ["sales-team", "ops-team"] }),
    });
    // Effectively unlimited, so every admission takes the full path and succeeds.
    let limits = Arc::new(CallLimits::new(&LimitsConfig {
        caller_calls_per_s: 1_000_000_000,
        caller_burst: 1_000_000_000,
        plugin_calls_per_s: 1_000_000_000,
        plugin_burst: 1_000_000_000,
        ..LimitsConfig::default()
    }));
    let team: TeamConfig = toml::from_str(
        "name = \"sales\"\nplugins_dir = \"s\"\nscope_prefix = \"sales:\"\nmember_claim = \"groups\"\nmembers = [\"sales-team\"]\n",
    )
    .expect("team");
    let teams = Teams::from_config(&[team]);
    let audit = AuditLog::open(&data.path().join("audit.jsonl")).expect("audit log");
    let metrics = Metrics::default();

    let mut group = c.benchmark_group("call_overhead");
    group.bench_function("tool_call_greet", |b| {
        b.iter(|| {
            rt.block_on(plugin.call(&runtime, "greet", r#"{"name":"Ada"}"#.to_owned(), &caller))
                .expect("call")
        });
    });
    group.bench_function("limits_admit_release", |b| {
        b.iter(|| drop(limits.admit("https://tenant.example/|auth0|alice", "sample").expect("admitted")));
    });
    group.bench_function("team_check", |b| b.iter(|| teams.admits(&caller, Some("sales"))));
    group.bench_function("audit_record", |b| {
        b.iter(|| {
            let mut e = AuditEvent::new("tool.called", "ok");
            e.subject = Some("auth0|alice".into());
            e.tool = Some("sample.greet".into());
            e.plugin_sha256 = Some(plugin.sha256.clone());
            e.arguments = Some(vec!["name".into()]);
            e.duration_ms = Some(1.0);
            audit.record(&e);
        });
    });
    group.bench_function("metrics_tool_call", |b| {
        b.iter(|| metrics.tool_call("sample.greet", "ok", Some(0.001)));
    });
    let needed = vec!["tool:greet".to_owned()];
    group.bench_function("scope_check", |b| b.iter(|| caller.missing_scopes(&needed).is_empty()));
    group.bench_function("claims_json_cached", |b| b.iter(|| caller.claims_json()));
    group.bench_function("claims_json_serialized_per_call", |b| b.iter(|| caller.data().claims.to_string()));
    group.bench_function("caller_key_cached", |b| b.iter(|| caller.caller_key()));
    group.bench_function("caller_key_formatted_per_call", |b| {
        b.iter(|| format!("{}|{}", caller.data().issuer, caller.data().subject));
    });
    let body = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sample.greet","arguments":{"name":"Load"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    group.bench_function("body_parse_as_guard", |b| {
        b.iter(|| {
            use serde::Deserialize as _;
            let v: serde_json::Value = serde_json::from_slice(body).expect("json");
            rmcp::model::CallToolRequestParams::deserialize(&v["params"]).expect("params")
        });
    });
    group.bench_function("body_parse_as_rmcp", |b| {
        b.iter(|| serde_json::from_slice::<rmcp::model::ClientJsonRpcMessage>(body).expect("message"));
    });
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
