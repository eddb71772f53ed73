//! Calls a downstream API as the caller, with a token the host exchanged for the caller's
//! (RFC 8693 token exchange: `credential = "exchange"` in the manifest). The API sees a token
//! for its own audience and the caller's subject; this code never sees either token.

use schemars::JsonSchema;
use serde::Serialize;
use warden_sdk::http::{self, Request};
use warden_sdk::serde_json::Value;
use warden_sdk::{Context, NoArgs, ToolError, Tools, export_tools};

/// The downstream API's answer for the caller.
#[derive(Serialize, JsonSchema)]
struct Records {
    /// The caller, as the host verified them.
    caller: String,
    /// What the API returned for them.
    records: Value,
}

fn my_records(cx: &Context, _: NoArgs) -> Result<Records, ToolError> {
    let base = http::destination("api")?;
    let url = format!("{}/records", base.trim_end_matches('/'));
    let response = Request::get(&url).header("accept", "application/json").send()?;
    if !response.is_success() {
        return Err(ToolError::failed(format!("the API answered {}: {}", response.status, response.text())));
    }
    Ok(Records { caller: cx.caller.subject.clone(), records: response.json()? })
}

fn tools() -> Tools {
    Tools::new().tool("my_records", "The caller's records from the downstream API", my_records)
}

export_tools!(tools());
