//! Plugin contract 0.2 end to end, through sandboxed plugins: resources, prompts, completion,
//! progress, input-required results (MRTR) and their sealed `requestState`, `subscriptions/listen`,
//! with real clients (the official TypeScript SDK, rmcp) and on the raw 2026-07-28 wire; the
//! scopes, caps and cancellation that keep a chatty plugin in check; and a 0.1 plugin served
//! beside a 0.2 one.
//!
//! Fixtures: `plugins/conformance` (the MCP conformance suite's fixture, bare names such as
//! `test_simple_text`), `tests/plugins/chatty` (served as `chatty.*`: `flood`, `slow`, resource
//! `chatty://secret`, prompt `hello`) and `tests/plugins/contract-0_1` (plugin `legacy`, built
//! against contract 0.1).
//!
//! Fixture texts asserted here are those of the conformance suite's reference server
//! (docs/contract-0.2-research.md §1.3).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult,
    ElicitationAction, GetPromptRequestParams, JsonObject, ProgressNotificationParam, ProtocolVersion,
    ReadResourceRequestParams, ServerNotification, SubscriptionFilter,
};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt, NotificationContext, RequestContext, RunningService,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use warden_tests::fixtures::{LOCAL_AUTH, UNLIMITED};
use warden_tests::{
    LATEST_PROTOCOL, McpPost, Next, Reply, SESSION_PROTOCOL, SseReader, Warden, call, eventually, free_port,
    install, manifest_source, meta, read_reply, text_of, tool_names, ts_sdk_features,
};

/// How long a hot reload may take to show.
const WAIT: Duration = Duration::from_secs(15);

/// The most notifications (progress and log messages together) the host forwards for one request
/// (`MAX_NOTIFICATIONS_PER_CALL` in host/src/plugins/events.rs).
const MAX_NOTIFICATIONS_PER_CALL: usize = 100;

const STATIC_TEXT: &str = "This is the content of the static text resource.";
const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
const ELICITATION_TOOL: &str = "test_input_required_result_elicitation";

// ---------------------------------------------------------------------------------------------
// Set-up and small helpers
// ---------------------------------------------------------------------------------------------

/// Warden (no auth, no call limits) serving the conformance plugin.
async fn conformance_warden() -> Warden {
    Warden::start(UNLIMITED, |dir| install(dir, "conformance", "conformance")).await.expect("start warden")
}

/// One raw 2026-07-28 request (with `_meta`: no client capabilities unless `params` has its own).
pub(crate) async fn post(warden: &Warden, id: u64, method: &str, params: Value) -> Reply {
    let response =
        warden.mcp_post().protocol(LATEST_PROTOCOL).jsonrpc(id, method, params).send().await.unwrap();
    read_reply(response).await.unwrap()
}

/// `_meta` declaring the elicitation capability.
fn with_elicitation() -> Value {
    meta(json!({ "elicitation": {} }), json!({}))
}

/// `result` without what is the host's to choose (`_meta`, cache hints), after checking that the
/// cache hints of a cacheable result are well formed.
pub(crate) fn stable(result: &Value) -> Value {
    let mut result = result.clone();
    if let Some(map) = result.as_object_mut() {
        map.remove("_meta");
        if let Some(ttl) = map.remove("ttlMs") {
            assert!(ttl.as_u64().is_some(), "ttlMs must be a non-negative integer: {ttl}");
        }
        if let Some(scope) = map.remove("cacheScope") {
            assert!(scope == "public" || scope == "private", "cacheScope: {scope}");
        }
    }
    result
}

/// The `text` of every text content block of a result or prompt message list, joined.
pub(crate) fn texts(value: &Value) -> String {
    let mut out = Vec::new();
    collect_texts(value, &mut out);
    out.join("\n")
}

fn collect_texts(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("text")
                && let Some(text) = map.get("text").and_then(Value::as_str)
            {
                out.push(text.to_owned());
            }
            map.values().for_each(|v| collect_texts(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_texts(v, out)),
        _ => {}
    }
}

/// The keys of an object, sorted.
fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    keys.sort();
    keys
}

/// `state` with one character in its middle changed (the last ones may be padding bits).
fn tamper(state: &str) -> String {
    let mut bytes = state.as_bytes().to_vec();
    let at = bytes.len() / 2;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// Audit events `tool.called` for `tool`.
fn tool_called(warden: &Warden, tool: &str) -> Vec<Value> {
    warden.audit().into_iter().filter(|e| e["event"] == "tool.called" && e["tool"] == tool).collect()
}

/// Round 1 of the elicitation tool: returns the input-required result.
async fn ask(warden: &Warden, id: u64) -> Value {
    let reply = post(
        warden,
        id,
        "tools/call",
        json!({ "name": ELICITATION_TOOL, "arguments": {}, "_meta": with_elicitation() }),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.response()["id"], id, "{}", reply.body);
    reply.result().clone()
}

/// The retry of `tool` with `answers` and `state`.
async fn answer(warden: &Warden, id: u64, tool: &str, answers: Value, state: &str) -> Reply {
    post(
        warden,
        id,
        "tools/call",
        json!({
            "name": tool,
            "arguments": {},
            "inputResponses": answers,
            "requestState": state,
            "_meta": with_elicitation(),
        }),
    )
    .await
}

fn ada() -> Value {
    json!({ "user_name": { "action": "accept", "content": { "name": "Ada" } } })
}

/// Asserts `reply` is the JSON-RPC error -32602 for request `id`.
fn assert_invalid_params(reply: &Reply, id: u64, what: &str) {
    assert_eq!(reply.response()["id"], id, "{what}: the error must echo the id: {}", reply.body);
    assert!(reply.result().is_null(), "{what}: must not be served: {}", reply.body);
    assert_eq!(reply.error()["code"], -32602, "{what}: {}", reply.body);
}

/// `name` from rmcp's list of known protocol versions.
fn protocol(name: &str) -> ProtocolVersion {
    ProtocolVersion::KNOWN_VERSIONS.iter().find(|v| v.as_str() == name).cloned().expect("rmcp knows it")
}

// ---------------------------------------------------------------------------------------------
// a. The official TypeScript SDK client
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn typescript_sdk_reads_resources_gets_prompts_sees_progress_and_answers_elicitation() {
    let warden = conformance_warden().await;
    let url = warden.mcp_url();
    let report = tokio::task::spawn_blocking(move || ts_sdk_features(&url, None)).await.unwrap().unwrap();
    assert!(report.get("error").is_none(), "{report}");
    let steps = &report["steps"];
    for (name, step) in steps.as_object().expect("steps") {
        assert!(step.get("error").is_none(), "step {name} failed: {step}\n{report}");
    }
    assert_eq!(report["protocolVersion"], SESSION_PROTOCOL, "{report}");
    let caps = &report["serverCapabilities"];
    assert!(caps["resources"].is_object() && caps["prompts"].is_object(), "{caps}");

    let listed = |step: &str, item: &str| steps[step]["value"].as_array().unwrap().iter().any(|v| v == item);
    assert!(listed("tools", "test_simple_text"), "bare names: {steps}");
    assert!(listed("resources", "test://static-text"), "{steps}");
    assert!(listed("resourceTemplates", "test://template/{id}/data"), "{steps}");
    assert!(listed("prompts", "test_prompt_with_arguments"), "{steps}");

    let read = &steps["readResource"]["value"];
    assert_eq!(read["contents"][0]["uri"], "test://static-text", "{read}");
    assert_eq!(read["contents"][0]["text"], STATIC_TEXT, "{read}");

    let prompt = texts(&steps["getPrompt"]["value"]["messages"]);
    assert!(prompt.contains("testValue1") && prompt.contains("testValue2"), "{prompt}");

    let progress: Vec<f64> =
        report["progress"].as_array().unwrap().iter().filter_map(|p| p["progress"].as_f64()).collect();
    assert!(progress.len() >= 3, "at least 3 progress notifications: {report}");
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "progress must increase: {progress:?}");
    assert_ne!(steps["progressCall"]["value"]["isError"], true, "{steps}");

    // On a 2025-11-25 session the host asks the client itself (elicitation/create on the call's
    // stream) and hands the answer to the plugin's next round.
    let elicitations = report["elicitations"].as_array().unwrap();
    assert_eq!(elicitations.len(), 1, "{report}");
    assert_eq!(elicitations[0]["requestedSchema"]["properties"]["name"]["type"], "string", "{report}");
    let result = &steps["elicitationCall"]["value"];
    assert_ne!(result["isError"], true, "{result}");
    assert_ne!(result["resultType"], "input_required", "a session client is never handed MRTR: {result}");
    assert!(!texts(&result["content"]).is_empty(), "{result}");
}

// ---------------------------------------------------------------------------------------------
// b. rmcp's client
// ---------------------------------------------------------------------------------------------

/// An rmcp client handler that answers elicitations with `name` "Ada" and records progress and
/// `tools/list_changed` notifications.
#[derive(Clone)]
pub(crate) struct Recorder {
    info: ClientConfig,
    pub(crate) progress: Arc<Mutex<Vec<f64>>>,
    pub(crate) elicitations: Arc<Mutex<Vec<Value>>>,
    list_changed: mpsc::UnboundedSender<()>,
}

impl ClientHandler for Recorder {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        self.elicitations.lock().unwrap().push(serde_json::to_value(&request).unwrap_or_default());
        Ok(ElicitResult::new(ElicitationAction::Accept).with_content(json!({ "name": "Ada" })))
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params.progress);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.list_changed.send(());
    }
}

pub(crate) type RecordingClient = RunningService<RoleClient, Recorder>;

/// An rmcp client declaring elicitation, speaking `version`.
pub(crate) async fn recording_client(
    warden: &Warden,
    version: &str,
) -> (RecordingClient, Recorder, mpsc::UnboundedReceiver<()>) {
    let mut info = ClientConfig::default();
    info.protocol_version = protocol(version);
    info.capabilities = serde_json::from_value::<ClientCapabilities>(json!({ "elicitation": {} })).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let recorder =
        Recorder { info, progress: Arc::default(), elicitations: Arc::default(), list_changed: tx };
    let transport = StreamableHttpClientTransport::with_client(
        warden.http.clone(),
        StreamableHttpClientTransportConfig::with_uri(warden.mcp_url()),
    );
    // 2026-07-28 is the stateless protocol: `server/discover` and per-request `_meta`, no
    // initialize handshake (rmcp's plain `serve` always opens a 2025-style session).
    let client = if version == LATEST_PROTOCOL {
        let lifecycle = ClientLifecycleMode::Discover { preferred_versions: vec![protocol(version)] };
        recorder.clone().serve_with_lifecycle(transport, lifecycle).await.expect("connect (discover)")
    } else {
        recorder.clone().serve(transport).await.expect("connect")
    };
    (client, recorder, rx)
}

/// What both rmcp tests check before the reload: a resource, a prompt, progress, an elicitation.
async fn exercise(client: &RecordingClient, recorder: &Recorder) {
    let read = client.read_resource(ReadResourceRequestParams::new("test://static-text")).await.unwrap();
    let read = serde_json::to_value(&read).unwrap();
    assert_eq!(read["contents"][0]["text"], STATIC_TEXT, "{read}");

    let arguments = JsonObject::from_iter([
        ("arg1".to_owned(), json!("testValue1")),
        ("arg2".to_owned(), json!("testValue2")),
    ]);
    let prompt = client
        .get_prompt(GetPromptRequestParams::new("test_prompt_with_arguments").with_arguments(arguments))
        .await
        .unwrap();
    let prompt = texts(&serde_json::to_value(&prompt.messages).unwrap());
    assert!(prompt.contains("testValue1") && prompt.contains("testValue2"), "{prompt}");

    // rmcp puts a progress token on every request.
    let r = client.call_tool(CallToolRequestParams::new("test_tool_with_progress")).await.unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let seen =
        eventually(Duration::from_secs(2), || async { recorder.progress.lock().unwrap().len() >= 3 }).await;
    let mut progress = recorder.progress.lock().unwrap().clone();
    assert!(seen, "at least 3 progress notifications: {progress:?}");
    // rmcp's client may run notification handlers out of order: sorted, no step repeats.
    progress.sort_by(f64::total_cmp);
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "progress must increase: {progress:?}");

    // Session: the host sends elicitation/create; 2026-07-28: rmcp drives the input-required
    // rounds itself. Either way the handler answers once and the call completes.
    let r = client.call_tool(CallToolRequestParams::new(ELICITATION_TOOL)).await.unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    assert!(!r.content.is_empty(), "{r:?}");
    let elicitations = recorder.elicitations.lock().unwrap().clone();
    assert_eq!(elicitations.len(), 1, "{elicitations:?}");
    assert_eq!(
        elicitations[0]["requestedSchema"]["properties"]["name"]["type"], "string",
        "{elicitations:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_session_client_uses_resources_prompts_progress_elicitation_and_hears_of_new_tools() {
    let warden = conformance_warden().await;
    let (client, recorder, mut changes) = recording_client(&warden, SESSION_PROTOCOL).await;
    exercise(&client, &recorder).await;

    while changes.try_recv().is_ok() {}
    install(&warden.plugins_dir(), "sample", "sample");
    tokio::time::timeout(WAIT, changes.recv())
        .await
        .expect("tools/list_changed after adding a plugin")
        .unwrap();
    let names: Vec<String> =
        client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(
        names.contains(&"sample.greet".to_owned()) && names.contains(&"test_simple_text".to_owned()),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_stateless_client_uses_resources_prompts_progress_elicitation_and_listens_for_new_tools() {
    let warden = conformance_warden().await;
    let (client, recorder, _changes) = recording_client(&warden, LATEST_PROTOCOL).await;
    exercise(&client, &recorder).await;

    let mut subscription =
        client.peer().listen(SubscriptionFilter::builder().tools_list_changed().build()).await.unwrap();
    assert_eq!(subscription.acknowledged().tools_list_changed, Some(true));
    install(&warden.plugins_dir(), "sample", "sample");
    let notification = tokio::time::timeout(WAIT, subscription.next())
        .await
        .expect("tools/list_changed on the listen stream after adding a plugin")
        .unwrap()
        .expect("the subscription ended");
    assert!(matches!(notification, ServerNotification::ToolListChangedNotification(_)), "{notification:?}");
    let names: Vec<String> =
        client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(names.contains(&"sample.greet".to_owned()), "{names:?}");
}

// ---------------------------------------------------------------------------------------------
// c. The raw 2026-07-28 wire
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn resources_prompts_and_completion_answer_exactly() {
    let warden = conformance_warden().await;

    let list = post(&warden, 1, "resources/list", json!({})).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.response()["jsonrpc"], "2.0");
    assert_eq!(list.response()["id"], 1);
    let result = stable(list.result());
    assert_eq!(result["resultType"], "complete", "{result}");
    let resources = result["resources"].as_array().expect("resources");
    let static_text =
        resources.iter().find(|r| r["uri"] == "test://static-text").expect("test://static-text");
    assert_eq!(static_text["mimeType"], "text/plain", "{static_text}");
    assert!(static_text["name"].as_str().is_some_and(|n| !n.is_empty()), "{static_text}");
    let binary = resources.iter().find(|r| r["uri"] == "test://static-binary").expect("test://static-binary");
    assert_eq!(binary["mimeType"], "image/png", "{binary}");
    for r in resources {
        assert!(r["uri"].is_string() && r["name"].is_string(), "every resource needs uri and name: {r}");
    }

    let templates = post(&warden, 2, "resources/templates/list", json!({})).await;
    let templates = stable(templates.result());
    assert!(
        templates["resourceTemplates"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["uriTemplate"] == "test://template/{id}/data")),
        "{templates}"
    );

    // The fixture's template text is the reference server's JSON (its key order is not fixed).
    let read = post(&warden, 3, "resources/read", json!({ "uri": "test://template/123/data" })).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.response()["id"], 3);
    let mut result = stable(read.result());
    let text = result.pointer_mut("/contents/0/text").map(Value::take).unwrap_or_default();
    assert_eq!(
        serde_json::from_str::<Value>(text.as_str().unwrap_or_default()).ok(),
        Some(json!({ "id": "123", "templateTest": true, "data": "Data for ID: 123" })),
        "{}",
        read.body
    );
    assert_eq!(
        result,
        json!({
            "resultType": "complete",
            "contents": [{ "uri": "test://template/123/data", "mimeType": "application/json", "text": null }],
        }),
        "{}",
        read.body
    );

    // The fixture's prompt text is the reference server's.
    let prompt = post(
        &warden,
        4,
        "prompts/get",
        json!({
            "name": "test_prompt_with_arguments",
            "arguments": { "arg1": "testValue1", "arg2": "testValue2" },
        }),
    )
    .await;
    assert_eq!(prompt.status, 200, "{}", prompt.body);
    let result = stable(prompt.result());
    assert_eq!(result["resultType"], "complete", "{result}");
    assert_eq!(
        result["messages"],
        json!([{
            "role": "user",
            "content": { "type": "text", "text": "Prompt with arguments: arg1='testValue1', arg2='testValue2'" },
        }]),
        "{}",
        prompt.body
    );

    // The fixture completes arg1 from testValue1, testValue2 and sample, by prefix.
    let complete = post(
        &warden,
        5,
        "completion/complete",
        json!({
            "ref": { "type": "ref/prompt", "name": "test_prompt_with_arguments" },
            "argument": { "name": "arg1", "value": "test" },
        }),
    )
    .await;
    assert_eq!(complete.status, 200, "{}", complete.body);
    assert_eq!(
        stable(complete.result()),
        json!({
            "resultType": "complete",
            "completion": { "values": ["testValue1", "testValue2"], "total": 2, "hasMore": false },
        }),
        "{}",
        complete.body
    );

    // An unknown resource is invalid params (-32602), naming the URI; never empty contents.
    let missing = post(&warden, 6, "resources/read", json!({ "uri": "test://no-such-resource" })).await;
    assert_invalid_params(&missing, 6, "unknown resource");
    assert_eq!(missing.error()["data"]["uri"], "test://no-such-resource", "{}", missing.body);
}

#[tokio::test]
async fn an_input_required_result_completes_when_retried_with_the_answer() {
    let warden = conformance_warden().await;

    let first = ask(&warden, 10).await;
    let state = first["requestState"].as_str().expect("a requestState").to_owned();
    assert!(!state.is_empty());
    let round_one = stable(&first);
    assert_eq!(round_one["resultType"], "input_required", "explicitly: {first}");
    assert_eq!(keys(&round_one), ["inputRequests", "requestState", "resultType"], "{first}");
    assert_eq!(keys(&round_one["inputRequests"]), ["user_name"], "{first}");
    let request = &round_one["inputRequests"]["user_name"];
    assert_eq!(request["method"], "elicitation/create", "{first}");
    assert!(request["params"]["message"].is_string(), "{first}");
    let schema = &request["params"]["requestedSchema"];
    assert_eq!(schema["type"], "object", "{first}");
    assert_eq!(schema["properties"]["name"]["type"], "string", "{first}");
    assert_eq!(schema["required"], json!(["name"]), "{first}");
    assert!(
        request.get("id").is_none() && request.get("jsonrpc").is_none(),
        "an InputRequest is not a JSON-RPC message"
    );

    let second = answer(&warden, 11, ELICITATION_TOOL, ada(), &state).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.response()["id"], 11);
    let result = stable(second.result());
    assert_eq!(result["resultType"], "complete", "{}", second.body);
    assert_ne!(result["isError"], true, "{}", second.body);
    assert!(result.get("requestState").is_none() && result.get("inputRequests").is_none(), "{result}");
    // The fixture answers "Hello, <name>!".
    assert!(texts(&result["content"]).contains("Ada"), "the answer reaches the plugin: {}", second.body);
}

#[tokio::test]
async fn a_tampered_request_state_is_refused_before_the_plugin_runs() {
    let warden = conformance_warden().await;
    let first = ask(&warden, 20).await;
    let state = first["requestState"].as_str().expect("a requestState").to_owned();
    // Every plugin run for tools/call writes one `tool.called` audit event, input_required
    // included; a request refused before any run writes `tool.refused` (host/src/mcp/tools.rs).
    assert!(
        eventually(Duration::from_secs(5), || async { !tool_called(&warden, ELICITATION_TOOL).is_empty() })
            .await,
        "round one is audited: {:?}",
        warden.audit()
    );
    let runs = tool_called(&warden, ELICITATION_TOOL).len();

    let tampered = tamper(&state);
    assert_ne!(tampered, state);
    let refused = answer(&warden, 21, ELICITATION_TOOL, ada(), &tampered).await;
    assert_invalid_params(&refused, 21, "tampered requestState");
    // Also with junk that is not even the shape of a sealed state.
    let junk = answer(&warden, 22, ELICITATION_TOOL, ada(), "not-a-sealed-state").await;
    assert_invalid_params(&junk, 22, "junk requestState");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        tool_called(&warden, ELICITATION_TOOL).len(),
        runs,
        "the plugin must not run: {:?}",
        warden.audit()
    );

    // The untouched state still works (so the audit count above would have seen a run).
    let ok = answer(&warden, 23, ELICITATION_TOOL, ada(), &state).await;
    assert_eq!(ok.result()["resultType"], "complete", "{}", ok.body);
    assert!(
        eventually(Duration::from_secs(5), || async { tool_called(&warden, ELICITATION_TOOL).len() > runs })
            .await,
        "the good retry is audited: {:?}",
        warden.audit()
    );
}

#[tokio::test]
async fn a_request_state_is_good_for_one_retry_of_the_tool_it_came_from() {
    let warden = conformance_warden().await;

    // Replayed: the second use of one state is refused.
    let state = ask(&warden, 30).await["requestState"].as_str().expect("a requestState").to_owned();
    let once = answer(&warden, 31, ELICITATION_TOOL, ada(), &state).await;
    assert_eq!(once.result()["resultType"], "complete", "{}", once.body);
    let twice = answer(&warden, 32, ELICITATION_TOOL, ada(), &state).await;
    assert_invalid_params(&twice, 32, "replayed requestState");

    // Handed out for one tool, presented to another: refused (a fresh, unused state).
    let state = ask(&warden, 33).await["requestState"].as_str().expect("a requestState").to_owned();
    let other = answer(
        &warden,
        34,
        "test_input_required_result_request_state",
        json!({ "confirm": { "action": "accept", "content": { "ok": true } } }),
        &state,
    )
    .await;
    assert_invalid_params(&other, 34, "requestState of another tool");
    // It was not spent by the refused attempt on the other tool: a state is marked used only once
    // it verifies for its own request (host/src/mcp/request_state.rs).
    let own = answer(&warden, 35, ELICITATION_TOOL, ada(), &state).await;
    assert_eq!(own.result()["resultType"], "complete", "{}", own.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_streams_acknowledge_then_carry_only_what_they_asked_for() {
    let warden = conformance_warden().await;
    let listen = |id: u64, filter: Value| {
        warden
            .mcp_post()
            .protocol(LATEST_PROTOCOL)
            .jsonrpc(id, "subscriptions/listen", json!({ "notifications": filter }))
            .send()
    };
    let mut tools = SseReader::new(listen(41, json!({ "toolsListChanged": true })).await.unwrap());
    let mut prompts = SseReader::new(listen(42, json!({ "promptsListChanged": true })).await.unwrap());
    assert_eq!(tools.status, 200);
    assert!(tools.content_type.starts_with("text/event-stream"), "{}", tools.content_type);

    let ack = match tools.next_within(Duration::from_secs(5)).await.unwrap() {
        Next::Message(m) => m,
        other => panic!("no acknowledgement on the tools stream: {other:?}"),
    };
    assert_eq!(
        ack,
        json!({
            "jsonrpc": "2.0",
            "method": "notifications/subscriptions/acknowledged",
            "params": { "_meta": { SUBSCRIPTION_ID: 41 }, "notifications": { "toolsListChanged": true } },
        })
    );
    let ack = match prompts.next_within(Duration::from_secs(5)).await.unwrap() {
        Next::Message(m) => m,
        other => panic!("no acknowledgement on the prompts stream: {other:?}"),
    };
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged", "{ack}");
    assert_eq!(ack["params"]["_meta"][SUBSCRIPTION_ID], 42, "{ack}");
    assert!(ack["params"]["notifications"].get("toolsListChanged").is_none(), "not asked for: {ack}");

    // A hot reload that adds tools (and no prompts).
    install(&warden.plugins_dir(), "sample", "sample");
    let changed = match tools.next_within(WAIT).await.unwrap() {
        Next::Message(m) => m,
        other => panic!("no tools/list_changed after adding a plugin: {other:?}"),
    };
    assert_eq!(
        changed,
        json!({
            "jsonrpc": "2.0",
            "method": "notifications/tools/list_changed",
            "params": { "_meta": { SUBSCRIPTION_ID: 41 } },
        })
    );
    let names = post(&warden, 43, "tools/list", json!({})).await;
    assert!(names.body.contains("sample.greet"), "{}", names.body);

    // The prompts-only stream hears nothing about tools (a prompts notification would be allowed).
    let quiet_until = Instant::now() + Duration::from_secs(2);
    loop {
        let left = quiet_until.saturating_duration_since(Instant::now());
        match prompts.next_within(left).await.unwrap() {
            Next::Timeout => break,
            Next::End => panic!("the prompts listen stream ended"),
            Next::Message(m) => {
                assert_ne!(m["method"], "notifications/tools/list_changed", "not asked for: {m}");
                assert_ne!(m["method"], "notifications/progress", "never on a listen stream: {m}");
                assert_ne!(m["method"], "notifications/message", "never on a listen stream: {m}");
                if m.get("method").is_some() {
                    assert_eq!(m["params"]["_meta"][SUBSCRIPTION_ID], 42, "{m}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// d. Keeping a chatty plugin in check (tokens, so scopes matter)
// ---------------------------------------------------------------------------------------------

/// Every scope the chatty manifest requires of anything.
fn chatty_scopes() -> Vec<String> {
    let manifest: toml::Table =
        std::fs::read_to_string(manifest_source("chatty")).expect("chatty manifest").parse().expect("toml");
    let mut scopes = Vec::new();
    for kind in ["tools", "resources", "resource_templates", "prompts"] {
        for grant in manifest.get(kind).and_then(toml::Value::as_table).into_iter().flat_map(|t| t.values()) {
            for scope in grant.get("scopes").and_then(toml::Value::as_array).into_iter().flatten() {
                if let Some(scope) = scope.as_str()
                    && !scopes.iter().any(|s| s == scope)
                {
                    scopes.push(scope.to_owned());
                }
            }
        }
    }
    scopes
}

/// Warden with local tokens, no call limits, an admin listener, serving chatty.
async fn chatty_warden() -> Warden {
    let admin = free_port();
    let config = format!("{LOCAL_AUTH}{UNLIMITED}\n[server]\nadmin_bind = \"127.0.0.1:{admin}\"\n");
    Warden::start(&config, |dir| install(dir, "chatty", "chatty")).await.expect("start warden")
}

/// A token with every scope chatty's manifest names, but `chatty:secret` unless `secret`.
fn chatty_token(warden: &Warden, sub: &str, secret: bool) -> String {
    let mut scopes: Vec<String> =
        chatty_scopes().into_iter().filter(|s| secret || s != "chatty:secret").collect();
    if secret && !scopes.iter().any(|s| s == "chatty:secret") {
        scopes.push("chatty:secret".into());
    }
    scopes.push("openid".into()); // never empty
    warden.local_token(sub, &scopes.join(" ")).unwrap()
}

/// A raw 2026-07-28 request with a bearer token, over a new connection.
fn authed(warden: &Warden, token: &str) -> McpPost {
    McpPost::new(warden.mcp_url()).bearer(token).protocol(LATEST_PROTOCOL)
}

#[tokio::test]
async fn a_resource_needing_a_scope_is_hidden_and_refused_without_it() {
    let warden = chatty_warden().await;
    let plain = chatty_token(&warden, "pat", false);
    let trusted = chatty_token(&warden, "sam", true);

    let list =
        read_reply(authed(&warden, &plain).jsonrpc(1, "resources/list", json!({})).send().await.unwrap())
            .await
            .unwrap();
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.result()["resources"].is_array(), "{}", list.body);
    assert!(!list.body.contains("chatty://secret"), "invisible without the scope: {}", list.body);

    // Refused as an unknown resource (-32602, so its existence is not confirmed), or like a tool
    // (HTTP 403 insufficient_scope); either way nothing of the secret is in the answer.
    let read = read_reply(
        authed(&warden, &plain)
            .jsonrpc(2, "resources/read", json!({ "uri": "chatty://secret" }))
            .send()
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert!(read.status == 403 || !read.error().is_null(), "must be refused: {} {}", read.status, read.body);
    assert!(read.result().is_null(), "{}", read.body);
    assert!(!read.body.contains("the chatty secret"), "{}", read.body);

    let list =
        read_reply(authed(&warden, &trusted).jsonrpc(3, "resources/list", json!({})).send().await.unwrap())
            .await
            .unwrap();
    let listed = list.result()["resources"].as_array().cloned().unwrap_or_default();
    assert!(listed.iter().any(|r| r["uri"] == "chatty://secret"), "{}", list.body);
    let read = read_reply(
        authed(&warden, &trusted)
            .jsonrpc(4, "resources/read", json!({ "uri": "chatty://secret" }))
            .send()
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(read.status, 200, "{}", read.body);
    let contents = &read.result()["contents"];
    assert_eq!(contents[0]["uri"], "chatty://secret", "{}", read.body);
    assert_eq!(contents[0]["text"], "the chatty secret", "{}", read.body);

    // Prompts are namespaced like tools; `hello` says "Say hello to <name>.".
    let prompt = read_reply(
        authed(&warden, &trusted)
            .jsonrpc(5, "prompts/get", json!({ "name": "chatty.hello", "arguments": { "name": "Ada" } }))
            .send()
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(prompt.status, 200, "{}", prompt.body);
    assert!(texts(&prompt.result()["messages"]).contains("Ada"), "{}", prompt.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_notifications_is_capped_and_does_not_hold_up_other_callers() {
    let warden = chatty_warden().await;
    let token = chatty_token(&warden, "flo", false);
    let other = chatty_token(&warden, "bystander", false);
    let count = 100_000;
    // Both kinds asked for: a progress token and the lowest log level.
    let wants =
        meta(json!({}), json!({ "progressToken": "flood-1", "io.modelcontextprotocol/logLevel": "debug" }));
    let params = json!({ "name": "chatty.flood", "arguments": { "count": count }, "_meta": wants });
    let flood = authed(&warden, &token).jsonrpc(7, "tools/call", params).send();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn(async move {
        let began = Instant::now();
        let mut stream = SseReader::new(flood.await?);
        let mut messages = Vec::new();
        let mut started = Some(started_tx);
        loop {
            match stream.next_within(Duration::from_secs(60)).await? {
                Next::Message(m) => {
                    if let Some(tx) = started.take() {
                        let _ = tx.send(());
                    }
                    messages.push(m);
                }
                Next::End => break,
                Next::Timeout => anyhow::bail!("the flood call neither ended nor sent anything for 60 s"),
            }
        }
        anyhow::Ok((messages, began.elapsed(), stream.status))
    });

    // While the flood runs (its first message is out), another caller on another connection.
    let _ = tokio::time::timeout(Duration::from_secs(10), started_rx).await;
    let asked = Instant::now();
    let list = read_reply(authed(&warden, &other).jsonrpc(8, "tools/list", json!({})).send().await.unwrap())
        .await
        .unwrap();
    let took = asked.elapsed();
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("chatty.flood"), "{}", list.body);
    assert!(took < Duration::from_secs(2), "tools/list took {took:?} during the flood");

    let (messages, elapsed, status) = reader.await.unwrap().unwrap();
    assert_eq!(status, 200);
    let response = messages.last().expect("a response");
    assert_eq!(response["id"], 7, "the response comes last: {response}");
    let notifications: Vec<&Value> = messages.iter().filter(|m| m.get("id").is_none()).collect();
    assert!(
        notifications.len() <= MAX_NOTIFICATIONS_PER_CALL,
        "{} notifications for one call (cap {MAX_NOTIFICATIONS_PER_CALL})",
        notifications.len()
    );
    assert!(!notifications.is_empty(), "the client asked for progress and logs, some must arrive");
    for n in &notifications {
        let method = n["method"].as_str().unwrap_or_default();
        assert!(method == "notifications/progress" || method == "notifications/message", "{n}");
    }
    let progress: Vec<f64> = notifications
        .iter()
        .filter(|n| n["method"] == "notifications/progress")
        .map(|n| {
            assert_eq!(n["params"]["progressToken"], "flood-1", "{n}");
            n["params"]["progress"].as_f64().unwrap()
        })
        .collect();
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "progress must increase: {progress:?}");
    // It finishes, or stops at one of its limits; either way with an answer.
    // A plugin call that fails (e.g. its time limit) is a tool error (isError) on tools/call.
    let result = &response["result"];
    if result.is_object() && result["isError"] != true {
        assert_eq!(texts(&result["content"]), format!("done {count}"), "{response}");
    } else {
        assert!(result["isError"] == true || response["error"].is_object(), "{response}");
    }
    eprintln!(
        "flood of {count}: {} notifications forwarded, call took {elapsed:?}, tools/list took {took:?}",
        notifications.len()
    );
}

/// `warden_instances_in_use` from the admin listener's /metrics.
async fn instances_in_use(warden: &Warden) -> f64 {
    let admin = warden.admin_url.clone().expect("admin listener");
    let body = warden.http.get(format!("{admin}/metrics")).send().await.unwrap().text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    scrape
        .samples
        .iter()
        .find(|s| s.metric == "warden_instances_in_use")
        .map(|s| match &s.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => *v,
            other => panic!("warden_instances_in_use is not a gauge: {other:?}"),
        })
        .expect("warden_instances_in_use in /metrics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_client_goes_away_is_cancelled() {
    let warden = chatty_warden().await;
    let token = chatty_token(&warden, "quitter", false);
    assert_eq!(instances_in_use(&warden).await, 0.0);

    let began = Instant::now();
    let request = authed(&warden, &token).jsonrpc(
        9,
        "tools/call",
        json!({ "name": "chatty.slow", "arguments": { "ms": 5000 } }),
    );
    let call = tokio::spawn(async move {
        let response = request.send().await?;
        response.text().await
    });
    assert!(
        eventually(Duration::from_secs(2), || async { instances_in_use(&warden).await >= 1.0 }).await,
        "the slow call never started"
    );
    tokio::time::sleep(Duration::from_millis(200).saturating_sub(began.elapsed())).await;
    // Dropping the request drops its connection (McpPost uses a client of its own): on Streamable
    // HTTP, closing the response stream is the cancellation.
    // ASSUMES: rmcp's stateless (2026-07-28) HTTP service cancels the request's token when the
    // client's connection goes away, and the host stops the instance on that token.
    call.abort();
    let _ = call.await;
    let dropped = Instant::now();

    assert!(
        // Well within the 5 s the call would otherwise run (a loaded CI machine notices the closed
        // connection later than an idle one).
        eventually(Duration::from_secs(3), || async { instances_in_use(&warden).await == 0.0 }).await,
        "the plugin instance still runs {:?} after the client went away",
        dropped.elapsed()
    );
    // The audit event of a call cut short by its client: `tool.called`, outcome "cancelled".
    assert!(
        eventually(Duration::from_secs(3), || async {
            tool_called(&warden, "chatty.slow").iter().any(|e| e["outcome"] == "cancelled")
        })
        .await,
        "{:?}",
        warden.audit()
    );
}

// ---------------------------------------------------------------------------------------------
// e. Contract 0.1 beside 0.2
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_contract_0_1_plugin_and_a_0_2_plugin_are_served_side_by_side() {
    // The contract-0_1 fixture (crate contract-0_1, plugin "legacy") greets and names the caller
    // like sample does ("anonymous" without auth).
    let warden = Warden::start("", |dir| {
        install(dir, "legacy", "contract-0_1");
        install(dir, "sample", "sample");
        install(dir, "conformance", "conformance");
    })
    .await
    .unwrap();
    let ready = warden.readyz().await.unwrap();
    assert!(ready["errors"].as_object().is_none_or(serde_json::Map::is_empty), "every plugin loads: {ready}");

    let stateless = warden.client().await.unwrap();
    let (session, _changes) = warden.session_client().await.unwrap();
    for client in [&stateless, &session] {
        let names = tool_names(client).await.unwrap();
        for expected in ["legacy.greet", "legacy.whoami", "sample.greet", "test_simple_text"] {
            assert!(names.iter().any(|n| n == expected), "{expected} missing: {names:?}");
        }
        let legacy = call(client, "legacy.greet", json!({ "name": "Ada" })).await.unwrap();
        assert_ne!(legacy.is_error, Some(true), "{legacy:?}");
        assert!(text_of(&legacy).contains("Ada"), "{legacy:?}");
        let who = call(client, "legacy.whoami", json!({})).await.unwrap();
        assert_ne!(who.is_error, Some(true), "{who:?}");
        assert!(format!("{who:?}").contains("anonymous"), "{who:?}");
        let sample = call(client, "sample.greet", json!({ "name": "Ada" })).await.unwrap();
        assert_eq!(text_of(&sample), "Hello, Ada! You are anonymous.", "{sample:?}");
        // The fixture's text is the reference server's.
        let modern = call(client, "test_simple_text", json!({})).await.unwrap();
        assert_eq!(text_of(&modern), "This is a simple text response for testing.", "{modern:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_server_request_state_key_accept_each_others_states() {
    let key = "6b".repeat(32);
    let config = format!("{UNLIMITED}\n[server]\nrequest_state_key = \"{key}\"\n");
    let start = |config: String| async move {
        Warden::start(&config, |dir| install(dir, "conformance", "conformance")).await.expect("start warden")
    };
    let (a, b, lone) = (start(config.clone()).await, start(config).await, conformance_warden().await);

    // Round 1 on replica a, the retry on replica b: served there.
    let state = ask(&a, 1).await["requestState"].as_str().expect("a requestState").to_owned();
    let retry = answer(&b, 2, ELICITATION_TOOL, ada(), &state).await;
    assert_eq!(stable(retry.result())["resultType"], "complete", "{}", retry.body);
    assert!(texts(&retry.result()["content"]).contains("Ada"), "{}", retry.body);

    // A replica with its own random key cannot open it, and nothing runs there.
    let state = ask(&a, 3).await["requestState"].as_str().expect("a requestState").to_owned();
    let refused = answer(&lone, 4, ELICITATION_TOOL, ada(), &state).await;
    assert_invalid_params(&refused, 4, "a state sealed under another key");
    assert!(tool_called(&lone, ELICITATION_TOOL).is_empty(), "{:?}", lone.audit());
}
