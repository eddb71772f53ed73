//! TypeScript plugins (issue 15): components built from source with componentize-js and
//! `sdk/typescript` (`make plugins`: type-checked, bundled with esbuild, componentized), served end
//! to end to rmcp's MCP client.
//!
//! - `ts-sample` (seed 001's tools in TypeScript): identity and scopes exactly as for the Rust sample.
//! - `ts-errors` (TEST FIXTURE): an exception, a rejected promise, an endless loop, a memory bomb,
//!   deep recursion, a huge result, and reaching for a file or a socket each end as a clear tool
//!   error while another caller's calls are served.
//! - `ts-userinfo` (seed 004 in TypeScript) runs as the caller in `outbound_http::as_caller_*`.

use serde_json::json;

use crate::python_plugins::{failures_are_contained, serves_seed_001_like_the_rust_sample};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ts_sample_serves_seed_001s_tools_with_the_callers_identity_and_scopes() -> anyhow::Result<()> {
    serves_seed_001_like_the_rust_sample("ts-sample").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_failures_are_contained_as_clear_tool_errors_while_others_are_served() -> anyhow::Result<()>
{
    // Limits from tests/plugins/ts-errors/plugin.toml: 1500 ms, 64 MiB; output cap 1 MiB (default).
    let cases = [
        ("ts-errors.boom", json!({"why": "bad day"}), "Error: bad day"),
        ("ts-errors.reject", json!({}), "TypeError: async trouble"),
        ("ts-errors.picky", json!({"n": 0}), "zero is not interesting"),
        ("ts-errors.picky", json!({"n": -1}), "n must be >= 0"),
        ("ts-errors.spin", json!({}), "exceeded its time limit of 1500 ms"),
        ("ts-errors.hog", json!({}), "exceeded its memory limit of 64 MiB"),
        ("ts-errors.recurse", json!({}), "too much recursion"),
        ("ts-errors.huge", json!({}), "exceeds the limit of 1048576 bytes"),
        ("ts-errors.read_file", json!({}), "HTTP GET file:///etc/passwd failed"),
        ("ts-errors.open_socket", json!({}), "refused by Warden"), // no [http] grant
    ];
    failures_are_contained("ts-errors", &cases).await
}
