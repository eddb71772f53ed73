//! Seed 004's `get_user_info` as a Warden plugin: the caller's profile from the IdP's
//! `/userinfo`, fetched with the caller's upstream access token. The host attaches that token
//! (`credential = "caller"` in the manifest); this code never sees it.

use schemars::JsonSchema;
use serde::Serialize;
use warden_sdk::http::{self, Request};
use warden_sdk::serde_json::Value;
use warden_sdk::{Context, NoArgs, ToolError, Tools, export_tools};

/// What `get_user_info` returns: who the host says is calling, and what the IdP says of them.
#[derive(Serialize, JsonSchema)]
struct UserInfo {
    /// Token issuer, as the host verified it.
    issuer: String,
    /// Scopes of the caller's token.
    scopes: Vec<String>,
    /// Permissions of the caller's token.
    permissions: Vec<String>,
    /// The IdP's `/userinfo` answer.
    user_info: Value,
}

fn get_user_info(cx: &Context, _: NoArgs) -> Result<UserInfo, ToolError> {
    let url = http::destination("idp")?;
    let response = Request::get(&url).header("accept", "application/json").send()?;
    if !response.is_success() {
        return Err(ToolError::failed(format!(
            "the identity provider answered {}: {}",
            response.status,
            response.text()
        )));
    }
    Ok(UserInfo {
        issuer: cx.caller.issuer.clone(),
        scopes: cx.caller.scopes.clone(),
        permissions: cx.caller.permissions.clone(),
        user_info: response.json()?,
    })
}

fn tools() -> Tools {
    Tools::new().tool(
        "get_user_info",
        "Return the caller's profile from the identity provider",
        get_user_info,
    )
}

export_tools!(tools());
