//! RFC 9728 protected-resource metadata and the local issuer's JWKS.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;

/// `GET /.well-known/oauth-protected-resource[/mcp]`
pub(super) async fn protected_resource(State(state): State<AppState>) -> Json<Value> {
    let auth = &state.auth;
    let snapshot = state.mcp.registry.snapshot();
    let scopes: BTreeSet<String> = auth
        .required_scopes
        .iter()
        .cloned()
        .chain(snapshot.tools().flat_map(|t| t.tool().grant.scopes.clone()))
        .collect();
    Json(json!({
        "resource": auth.resource,
        "authorization_servers": auth.authorization_servers,
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": "Warden",
    }))
}

/// `GET /.well-known/jwks.json` (local mode): the public key tokens are verified with.
pub(super) async fn local_jwks(State(state): State<AppState>) -> Result<Json<Value>, StatusCode> {
    state.auth.local_issuer().map(|l| Json(l.jwks())).ok_or(StatusCode::NOT_FOUND)
}
