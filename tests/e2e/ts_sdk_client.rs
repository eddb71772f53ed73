//! Interoperability with the official MCP TypeScript SDK client (`@modelcontextprotocol/sdk`),
//! which most MCP clients are built on: unauthenticated, with a bearer token, and refused.

use serde_json::json;
use warden_tests::fixtures::{LOCAL_AUTH, TWO_TOOLS_PER_PAGE};
use warden_tests::{Warden, install, ts_sdk_client};

#[tokio::test]
async fn the_typescript_sdk_lists_and_calls_tools() {
    let warden = Warden::start(TWO_TOOLS_PER_PAGE, |dir| install(dir, "sample", "sample")).await.unwrap();
    let url = warden.mcp_url();
    let report = tokio::task::spawn_blocking(move || {
        ts_sdk_client(&url, None, Some(("sample.greet", json!({ "name": "TypeScript" }))))
    })
    .await
    .unwrap()
    .unwrap();
    assert!(report.get("error").is_none(), "{report}");
    // Pagination followed by the SDK: page size 2, three tools.
    assert_eq!(report["tools"], json!(["sample.get_datetime", "sample.greet", "sample.whoami"]), "{report}");
    assert_eq!(report["result"]["content"][0]["text"], "Hello, TypeScript! You are anonymous.", "{report}");
    assert_eq!(warden.tool_calls_logged(), 1);
}

#[tokio::test]
async fn the_typescript_sdk_with_a_bearer_token_sees_only_its_tools() {
    let warden = Warden::start(LOCAL_AUTH, |dir| install(dir, "sample", "sample")).await.unwrap();
    let token = warden.local_token("ts-user", "tool:whoami").unwrap();
    let (url, t) = (warden.mcp_url(), token.clone());
    let report = tokio::task::spawn_blocking(move || {
        ts_sdk_client(&url, Some(&t), Some(("sample.whoami", json!({}))))
    })
    .await
    .unwrap()
    .unwrap();
    assert!(report.get("error").is_none(), "{report}");
    assert_eq!(report["tools"], json!(["sample.get_datetime", "sample.whoami"]), "greet is hidden: {report}");
    assert_eq!(report["result"]["structuredContent"]["subject"], "ts-user", "{report}");

    // Without a token the SDK cannot even connect, and nothing runs.
    let url = warden.mcp_url();
    let refused = tokio::task::spawn_blocking(move || {
        ts_sdk_client(&url, None, Some(("sample.get_datetime", json!({}))))
    })
    .await
    .unwrap()
    .unwrap();
    let error = refused["error"].as_str().unwrap_or_default();
    assert!(error.contains("401") || error.to_lowercase().contains("unauthorized"), "{refused}");
    assert_eq!(warden.tool_calls_logged(), 1);
}
