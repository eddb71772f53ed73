//! The MCP endpoint end to end: the real binary, the sample plugin, rmcp's client and raw HTTP.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use warden_tests::fixtures::TWO_TOOLS_PER_PAGE;
use warden_tests::{
    LATEST_PROTOCOL, McpPost, SESSION_PROTOCOL, Warden, call, install, meta, read_reply, text_of, tool_names,
};

async fn start(extra: &str) -> Warden {
    Warden::start(extra, |dir| install(dir, "sample", "sample")).await.expect("start warden")
}

#[tokio::test]
async fn lists_the_sample_tools_with_their_schemas() {
    let warden = start("").await;
    let client = warden.client().await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["sample.get_datetime", "sample.greet", "sample.whoami"]);
    let greet = tools.iter().find(|t| t.name == "sample.greet").unwrap();
    assert_eq!(greet.input_schema["type"], "object");
    assert_eq!(greet.input_schema["required"], json!(["name"]));
    assert_eq!(greet.title.as_deref(), Some("Greet"));
    let whoami = tools.iter().find(|t| t.name == "sample.whoami").unwrap();
    let out = whoami.output_schema.as_ref().expect("whoami declares structured output");
    assert!(out["properties"].get("subject").is_some(), "{out:?}");
}

#[tokio::test]
async fn calls_each_sample_tool() {
    let warden = start("").await;
    let client = warden.client().await.unwrap();

    let r = call(&client, "sample.greet", json!({ "name": "Ada" })).await.unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    assert_eq!(text_of(&r), "Hello, Ada! You are anonymous.");

    let r = call(&client, "sample.whoami", json!({})).await.unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let who = r.structured_content.clone().expect("structured content");
    assert_eq!(who["subject"], "anonymous");
    assert_eq!(who["issuer"], "warden:none");
    // Older clients read the text block: it carries the same JSON.
    assert_eq!(serde_json::from_str::<Value>(&text_of(&r)).unwrap(), who);

    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let r = call(&client, "sample.get_datetime", json!({})).await.unwrap();
    let utc = r.structured_content.expect("structured")["utc"].as_str().unwrap().to_owned();
    assert_eq!(utc.len(), "2026-11-22T01:02:03.456Z".len(), "{utc}");
    assert!(utc.ends_with('Z') && utc.as_bytes()[10] == b'T', "{utc}");
    // The year, month and day the plugin computed agree with the host clock.
    let days = before / 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    assert!(utc.starts_with(&format!("{y:04}-{m:02}-{d:02}")) || before % 86_400 > 86_000, "{utc}");
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[tokio::test]
async fn arguments_that_fail_the_schema_name_the_field() {
    let warden = start("").await;
    let client = warden.client().await.unwrap();
    let r = call(&client, "sample.greet", json!({})).await.unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(text_of(&r).contains("name"), "{}", text_of(&r));
    let r = call(&client, "sample.greet", json!({ "name": 42 })).await.unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(text_of(&r).contains("/name"), "{}", text_of(&r));
    // The plugin's own validation also comes back as a tool error.
    let r = call(&client, "sample.greet", json!({ "name": "  " })).await.unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(text_of(&r).contains("must not be empty"), "{}", text_of(&r));
}

#[tokio::test]
async fn unknown_tool_is_a_protocol_error() {
    let warden = start("").await;
    let client = warden.client().await.unwrap();
    let err = call(&client, "sample.nope", json!({})).await.unwrap_err().to_string();
    assert!(err.contains("unknown tool"), "{err}");
    // An unlisted namespace is just as unknown.
    let err = call(&client, "other.greet", json!({})).await.unwrap_err().to_string();
    assert!(err.contains("unknown tool"), "{err}");
}

#[tokio::test]
async fn tools_list_is_paginated() {
    let warden = start(TWO_TOOLS_PER_PAGE).await;
    let client = warden.client().await.unwrap();
    let first = client.list_tools(None).await.unwrap();
    assert_eq!(first.tools.len(), 2);
    let cursor = first.next_cursor.clone().expect("a second page");
    let second = client
        .list_tools(Some(rmcp::model::PaginatedRequestParams::default().with_cursor(Some(cursor))))
        .await
        .unwrap();
    assert_eq!(second.tools.len(), 1);
    assert!(second.next_cursor.is_none());
    assert_eq!(tool_names(&client).await.unwrap().len(), 3);
    let bad = client
        .list_tools(Some(rmcp::model::PaginatedRequestParams::default().with_cursor(Some("garbage".into()))))
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("invalid cursor"), "{bad}");
}

#[tokio::test]
async fn ping_works_on_an_initialized_session() {
    let warden = start("").await;
    let (client, _changes) = warden.session_client().await.unwrap();
    client.send_request(rmcp::model::ClientRequest::PingRequest(Default::default())).await.unwrap();
    let r = call(&client, "sample.greet", json!({ "name": "Bo" })).await.unwrap();
    assert_eq!(text_of(&r), "Hello, Bo! You are anonymous.");
}

#[tokio::test]
async fn deleting_a_session_ends_it_and_an_unknown_session_is_404() {
    let warden = start("").await;
    // One keep-alive connection for every request.
    let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    let params = json!({
        "protocolVersion": SESSION_PROTOCOL,
        "capabilities": {},
        "clientInfo": { "name": "t", "version": "1" },
    });
    let r = McpPost::new(warden.mcp_url())
        .over(&http)
        .protocol(SESSION_PROTOCOL)
        .jsonrpc(1, "initialize", params)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id =
        r.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).expect("a session id").to_owned();
    let _ = r.text().await;
    let ping = |id: &str| {
        McpPost::new(warden.mcp_url())
            .over(&http)
            .protocol(SESSION_PROTOCOL)
            .header("mcp-session-id", id)
            .jsonrpc(2, "ping", json!({}))
            .send()
    };
    let delete = |id: &str| {
        http.delete(warden.mcp_url())
            .header("mcp-session-id", id)
            .header("mcp-protocol-version", SESSION_PROTOCOL)
            .send()
    };

    let r = delete("made-up-session-id").await.unwrap();
    assert_eq!(r.status(), 404, "an unknown session: {}", r.text().await.unwrap());
    assert_eq!(ping(&id).await.unwrap().status(), 200, "the real session is untouched");

    let r = delete(&id).await.unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    assert_eq!(ping(&id).await.unwrap().status(), 404, "the session is gone");
    assert_eq!(delete(&id).await.unwrap().status(), 404, "and cannot be deleted twice");
}

#[tokio::test]
async fn malformed_json_rpc_gets_a_clear_error() {
    let warden = start("").await;
    let r = McpPost::new(warden.mcp_url()).body("{not json").send().await.unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 400, "{body}");
    let body: Value = serde_json::from_str(&body).expect("a JSON-RPC error object");
    assert_eq!(body["error"]["code"], -32700, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("line 1 column 2"), "{body}");
}

#[tokio::test]
async fn oversized_body_is_413() {
    let warden = start("[server]\nmax_body_bytes = 4096\n").await;
    let big = json!({ "pad": "x".repeat(10_000) });
    let r = McpPost::new(warden.mcp_url()).jsonrpc(1, "ping", big).send().await.unwrap();
    assert_eq!(r.status(), 413);

    // A 2 MB body, ten times over one reused keep-alive connection: a 413 every time, never a
    // reset (Warden reads the rest of the body before answering).
    let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    let huge = json!({ "pad": "x".repeat(2 * 1024 * 1024) });
    for attempt in 0..10 {
        let r =
            McpPost::new(warden.mcp_url()).over(&http).jsonrpc(attempt, "ping", huge.clone()).send().await;
        let status = r.map(|r| r.status().as_u16()).map_err(|e| format!("{e:?}"));
        assert_eq!(status, Ok(413), "attempt {attempt}");
    }
}

/// A counter of Warden's `/metrics` (0 when it has no sample yet).
async fn metric(warden: &Warden, name: &str) -> u64 {
    let body =
        warden.http.get(format!("{}/metrics", warden.base_url)).send().await.unwrap().text().await.unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0, |v| v.trim().parse().unwrap())
}

const OWN_PATH: &str = "warden_mcp_own_path_requests_total";
const GREETS: &str = r#"warden_tool_calls_total{tool="sample.greet",outcome="ok"}"#;

/// A 2026-07-28 `tools/call` of `tool` with `extra` in its `_meta`.
fn modern_call(warden: &Warden, tool: &str, extra: Value) -> McpPost {
    McpPost::new(warden.mcp_url()).protocol(LATEST_PROTOCOL).jsonrpc(
        3,
        "tools/call",
        json!({ "name": tool, "arguments": { "name": "Ada" }, "_meta": meta(json!({}), extra) }),
    )
}

#[tokio::test]
async fn a_plain_stateless_call_is_one_json_body_from_warden_s_own_path_and_matches_rmcp_s_answer() {
    let warden = start("").await;
    let before = metric(&warden, OWN_PATH).await;
    let own =
        read_reply(modern_call(&warden, "sample.greet", json!({})).send().await.unwrap()).await.unwrap();
    assert_eq!(metric(&warden, OWN_PATH).await, before + 1, "the plain call took Warden's own path");
    assert_eq!((own.status, own.content_type.as_str()), (200, "application/json"), "{}", own.body);
    assert_eq!(own.result()["content"][0]["text"], "Hello, Ada! You are anonymous.", "{}", own.body);
    assert_eq!(own.response()["id"], 3, "{}", own.body);
    // A progress token sends the same call through rmcp's server (it could stream progress):
    // the answers are the same message, byte for byte once parsed.
    let via_rmcp = read_reply(
        modern_call(&warden, "sample.greet", json!({ "progressToken": "p" })).send().await.unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(metric(&warden, OWN_PATH).await, before + 1, "a progress token goes to rmcp");
    assert_eq!((own.status, &own.content_type), (via_rmcp.status, &via_rmcp.content_type));
    assert_eq!(own.messages, via_rmcp.messages, "own: {}\nrmcp: {}", own.body, via_rmcp.body);
    // An unknown tool: the same protocol error, with the same HTTP status, on both paths.
    let own = read_reply(modern_call(&warden, "sample.nope", json!({})).send().await.unwrap()).await.unwrap();
    let via_rmcp = read_reply(
        modern_call(&warden, "sample.nope", json!({ "progressToken": "p" })).send().await.unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(metric(&warden, OWN_PATH).await, before + 2);
    assert_eq!(own.error()["code"], -32602, "{}", own.body);
    assert_eq!(
        (own.status, &own.messages),
        (via_rmcp.status, &via_rmcp.messages),
        "{} / {}",
        own.body,
        via_rmcp.body
    );
    assert_eq!(metric(&warden, GREETS).await, 2, "each greet ran once");
}

#[tokio::test]
async fn dns_rebinding_and_foreign_origins_are_refused() {
    let warden = start("[server]\nallowed_origins = [\"http://app.example:*\"]\n").await;
    let params = json!({
        "protocolVersion": SESSION_PROTOCOL,
        "capabilities": {},
        "clientInfo": { "name": "t", "version": "1" },
    });
    let initialize = || McpPost::new(warden.mcp_url()).jsonrpc(1, "initialize", params.clone());
    let r = initialize().header("host", "evil.example").send().await.unwrap();
    assert_eq!(r.status(), 403, "foreign Host must be refused");
    let r = initialize().header("origin", "http://evil.example").send().await.unwrap();
    assert_eq!(r.status(), 403, "unlisted Origin must be refused");
    let r = initialize().header("origin", "http://app.example:3000").send().await.unwrap();
    assert_eq!(r.status(), 200, "listed Origin is allowed");
    // Warden's own public origin is allowed without being listed; the same host on another
    // port is another origin.
    let r = initialize().header("origin", &warden.base_url).send().await.unwrap();
    assert_eq!(r.status(), 200, "Warden's own origin ({}) is allowed", warden.base_url);
    let other_port = warden.base_url.rsplit_once(':').map(|(host, _)| format!("{host}:1")).unwrap();
    let r = initialize().header("origin", &other_port).send().await.unwrap();
    assert_eq!(r.status(), 403, "{other_port} is not Warden's origin");
    // A plain stateless tools/call, the request Warden answers on its own path, is held to the
    // same checks: refused, and the tool never ran.
    let call = || modern_call(&warden, "sample.greet", json!({}));
    assert_eq!(call().header("host", "evil.example").send().await.unwrap().status(), 403);
    assert_eq!(call().header("origin", "http://evil.example").send().await.unwrap().status(), 403);
    assert_eq!(metric(&warden, GREETS).await, 0, "a refused call must not run");
    assert_eq!(metric(&warden, OWN_PATH).await, 0);
    assert_eq!(call().send().await.unwrap().status(), 200, "the same call from an allowed host runs");
    assert_eq!(metric(&warden, GREETS).await, 1);
}

#[tokio::test]
async fn a_batch_or_a_non_message_body_is_400_and_bad_params_are_invalid_params() {
    let warden = start("").await;
    let post = |body: &str| McpPost::new(warden.mcp_url()).body(body.to_owned()).send();
    for body in [r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#, r#"{"hello":"world"}"#, "42"] {
        let r = post(body).await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let reply: Value = r.json().await.unwrap();
        assert_eq!(reply["error"]["code"], -32600, "{body}: {reply}");
    }
    // Arguments that are not an object: invalid params naming the method, not "method not found".
    let r = McpPost::new(warden.mcp_url())
        .jsonrpc(7, "tools/call", json!({ "name": "sample.greet", "arguments": "x" }))
        .send()
        .await
        .unwrap();
    let reply: Value = r.json().await.unwrap();
    assert_eq!(reply["id"], 7, "{reply}");
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("tools/call"), "{reply}");
    // And the server still serves a well-formed request afterwards.
    let client = warden.client().await.unwrap();
    assert_eq!(tool_names(&client).await.unwrap().len(), 3);
}

#[tokio::test]
async fn probes_report_liveness_and_loaded_plugins() {
    let warden = start("").await;
    let r = reqwest::get(format!("{}/healthz", warden.base_url)).await.unwrap();
    assert_eq!(r.status(), 200);
    let ready = warden.readyz().await.unwrap();
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["tools"], 3);
    assert_eq!(ready["plugins"][0]["name"], "sample");
    assert_eq!(ready["plugins"][0]["sha256"].as_str().unwrap().len(), 64);
}
