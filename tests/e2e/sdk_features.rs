//! The contract 0.2 features of the Python and TypeScript SDKs, end to end: one set of checks run
//! against `tests/plugins/py-features` (warden_sdk, componentize-py) and
//! `tests/plugins/ts-features` (@warden/plugin-sdk, componentize-js), which declare the same
//! tool, resources and prompt. Resources, templates, prompts and completion on the raw
//! 2026-07-28 wire; rich content with structured output; progress, logging and elicitation with
//! rmcp's session client (the host sends `elicitation/create`, the plugin runs again with the
//! answer).

use std::time::Duration;

use base64::Engine;
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use warden_tests::fixtures::{LOCAL_AUTH, UNLIMITED};
use warden_tests::{LATEST_PROTOCOL, SESSION_PROTOCOL, Warden, eventually, install, meta, read_reply};

use crate::contract_0_2::{post, recording_client, stable, texts};

/// The fixtures' 1x1 red PNG.
const PIXEL: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_serves_resources_prompts_completion_rich_content_progress_and_elicitation() {
    features("py-features").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_serves_resources_prompts_completion_rich_content_progress_and_elicitation() {
    features("ts-features").await;
}

async fn features(plugin: &str) {
    let warden = Warden::start(UNLIMITED, |dir| install(dir, plugin, plugin)).await.expect("start warden");

    // Resources and templates, as the decorators / resource() declared them.
    let list = post(&warden, 1, "resources/list", json!({})).await;
    let resources = stable(list.result())["resources"].clone();
    assert_eq!(
        resources,
        json!([{ "uri": "notes://readme", "name": "readme", "description": "Read me first", "mimeType": "text/plain" }]),
        "{}",
        list.body
    );
    let templates = post(&warden, 2, "resources/templates/list", json!({})).await;
    let templates = stable(templates.result())["resourceTemplates"].clone();
    let topics =
        templates.as_array().and_then(|t| t.iter().find(|t| t["uriTemplate"] == "notes://topics/{topic}"));
    assert_eq!(topics.map(|t| t["name"].clone()), Some(json!("topic")), "{templates}");

    let read = post(&warden, 3, "resources/read", json!({ "uri": "notes://readme" })).await;
    assert_eq!(
        stable(read.result())["contents"],
        json!([{ "uri": "notes://readme", "mimeType": "text/plain", "text": "Read me first." }]),
        "{}",
        read.body
    );
    let read = post(&warden, 4, "resources/read", json!({ "uri": "notes://topics/beta" })).await;
    assert_eq!(read.result()["contents"][0]["text"], "Notes on beta.", "{}", read.body);
    let missing = post(&warden, 5, "resources/read", json!({ "uri": "notes://elsewhere" })).await;
    assert!(missing.result().is_null() && missing.error()["code"].is_i64(), "{}", missing.body);

    // A prompt: arguments from the signature / declaration, required unless optional.
    let prompts = post(&warden, 6, "prompts/list", json!({})).await;
    let review = &stable(prompts.result())["prompts"][0];
    assert_eq!(review["name"], format!("{plugin}.review"), "{}", prompts.body);
    assert_eq!(review["description"], "Asks for a code review", "{review}");
    assert_eq!(
        review["arguments"],
        json!([
            { "name": "code", "description": "The code to review", "required": true },
            { "name": "language", "required": false },
        ]),
        "{review}"
    );
    let name = format!("{plugin}.review");
    let got = post(
        &warden,
        7,
        "prompts/get",
        json!({ "name": name, "arguments": { "code": "x = 1", "language": "rust" } }),
    )
    .await;
    assert_eq!(
        stable(got.result())["messages"],
        json!([{ "role": "user", "content": { "type": "text", "text": "Review this rust:\nx = 1" } }]),
        "{}",
        got.body
    );
    let without =
        post(&warden, 8, "prompts/get", json!({ "name": name, "arguments": { "language": "rust" } })).await;
    assert_eq!(without.error()["code"], -32602, "a missing required argument: {}", without.body);
    assert!(without.body.contains("code"), "names the argument: {}", without.body);

    // Completion, for a prompt argument and for a template's part.
    let complete = post(
        &warden,
        9,
        "completion/complete",
        json!({ "ref": { "type": "ref/prompt", "name": name }, "argument": { "name": "language", "value": "ty" } }),
    )
    .await;
    assert_eq!(
        stable(complete.result())["completion"],
        json!({ "values": ["typescript"], "total": 1, "hasMore": false }),
        "{}",
        complete.body
    );
    let complete = post(
        &warden,
        10,
        "completion/complete",
        json!({
            "ref": { "type": "ref/resource", "uri": "notes://topics/{topic}" },
            "argument": { "name": "topic", "value": "a" },
        }),
    )
    .await;
    assert_eq!(stable(complete.result())["completion"]["values"], json!(["alpha"]), "{}", complete.body);

    // Rich content: text and an image, with structured content the host checks against the
    // declared output schema.
    let picture =
        post(&warden, 11, "tools/call", json!({ "name": format!("{plugin}.picture"), "arguments": {} }))
            .await;
    let result = picture.result();
    assert_eq!(result["isError"], false, "{}", picture.body);
    assert_eq!(result["content"][0], json!({ "type": "text", "text": "a red pixel" }), "{}", picture.body);
    assert_eq!(result["content"][1]["type"], "image", "{}", picture.body);
    assert_eq!(result["content"][1]["mimeType"], "image/png", "{}", picture.body);
    let data = result["content"][1]["data"].as_str().unwrap_or_default();
    let png = base64::engine::general_purpose::STANDARD.decode(data).expect("base64 image data");
    assert_eq!(png, base64::engine::general_purpose::STANDARD.decode(PIXEL).unwrap(), "the bytes, unchanged");
    assert_eq!(result["structuredContent"], json!({ "width": 1, "height": 1 }), "{}", picture.body);

    // Elicitation needs the client's capability: without it, the plugin's own refusal.
    let ask = format!("{plugin}.ask");
    let refused = post(&warden, 12, "tools/call", json!({ "name": ask, "arguments": {} })).await;
    assert_eq!(refused.error()["code"], -32021, "missing client capability: {}", refused.body);
    assert_eq!(
        refused.error()["data"]["requiredCapabilities"],
        json!({ "elicitation": {} }),
        "{}",
        refused.body
    );

    // With it: progress, a log line, the question, and the answer on the second run.
    let (client, recorder, _) = recording_client(&warden, SESSION_PROTOCOL).await;
    let r = client.call_tool(CallToolRequestParams::new(ask.clone())).await.expect("ask");
    let r = serde_json::to_value(&r).unwrap();
    assert_eq!(texts(&r["content"]), "Hello, Ada!", "{r}");
    let elicitations = recorder.elicitations.lock().unwrap().clone();
    assert_eq!(elicitations.len(), 1, "{elicitations:?}");
    assert_eq!(elicitations[0]["message"], "What is your name?", "{elicitations:?}");
    assert_eq!(elicitations[0]["requestedSchema"]["required"], json!(["name"]), "{elicitations:?}");
    let seen =
        eventually(Duration::from_secs(2), || async { recorder.progress.lock().unwrap().contains(&3.0) })
            .await;
    let mut progress = recorder.progress.lock().unwrap().clone();
    assert!(seen, "the last progress step arrives: {progress:?}");
    // rmcp's client may run notification handlers out of order; what arrived is each step once.
    progress.sort_by(f64::total_cmp);
    assert_eq!(progress, vec![1.0, 2.0, 3.0], "each progress step once");
    drop(client);

    // On the 2026-07-28 wire: the first round's log message, then the input-required result.
    let wants = meta(json!({ "elicitation": {} }), json!({ "io.modelcontextprotocol/logLevel": "info" }));
    let round =
        post(&warden, 13, "tools/call", json!({ "name": ask, "arguments": {}, "_meta": wants })).await;
    assert_eq!(round.result()["resultType"], "input_required", "{}", round.body);
    let logs = round.notifications_named("notifications/message");
    assert!(
        logs.iter().any(|m| m["params"]["level"] == "info" && m["params"]["data"] == "asking for a name"),
        "the plugin's log message reaches the client: {}",
        round.body
    );
}

/// `ts-features` declares `notes://{section}/{name}` (scope `notes:private`) before
/// `notes://topics/{topic}` (no scope). The host routes `notes://topics/beta` to the more specific,
/// visible template, but hands the plugin only the URI: an SDK, or a hand-written plugin, could
/// run another matching template's handler. So a URI is read only by a caller who may see every
/// template of the plugin that matches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uri_is_read_only_by_callers_who_may_see_every_template_of_the_plugin_it_matches() {
    let warden = Warden::start(LOCAL_AUTH, |dir| install(dir, "ts-features", "ts-features"))
        .await
        .expect("start warden");
    let plain = warden.local_token("pat", "").unwrap();
    let trusted = warden.local_token("sam", "notes:private").unwrap();
    let read = |token: String, uri: &'static str| {
        let warden = &warden;
        async move {
            let response = warden
                .mcp_post()
                .protocol(LATEST_PROTOCOL)
                .bearer(&token)
                .jsonrpc(1, "resources/read", json!({ "uri": uri }))
                .send()
                .await
                .unwrap();
            read_reply(response).await.unwrap()
        }
    };

    for uri in ["notes://topics/beta", "notes://other/x"] {
        let r = read(plain.clone(), uri).await;
        assert!(r.result().is_null(), "{uri} must not be read without notes:private: {}", r.body);
        assert!(!r.body.contains("PRIVATE") && !r.body.contains("Notes on"), "nothing leaked: {}", r.body);
    }
    // A fixed resource of the same plugin stays readable.
    let r = read(plain.clone(), "notes://readme").await;
    assert_eq!(r.result()["contents"][0]["text"], "Read me first.", "{}", r.body);

    // With the scope: each URI through the most specific template, as the host routed it.
    let r = read(trusted.clone(), "notes://topics/beta").await;
    assert_eq!(r.result()["contents"][0]["text"], "Notes on beta.", "{}", r.body);
    let r = read(trusted, "notes://other/x").await;
    assert_eq!(r.result()["contents"][0]["text"], "PRIVATE other/x", "{}", r.body);
}
