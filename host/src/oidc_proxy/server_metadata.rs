//! RFC 8414 authorization-server metadata, served at `/.well-known/oauth-authorization-server`
//! and `/.well-known/openid-configuration` (MCP clients try both).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::OidcProxy;

/// `GET /.well-known/oauth-authorization-server` (and `openid-configuration`).
pub(super) async fn authorization_server(State(proxy): State<Arc<OidcProxy>>) -> Json<Value> {
    let base = &proxy.issuer;
    let mut metadata = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "revocation_endpoint": format!("{base}/revoke"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": proxy.settings.client_id_metadata_documents,
        "service_documentation": "https://modelcontextprotocol.io/specification/2025-11-25/basic/authorization",
    });
    if proxy.settings.dynamic_registration
        && let Some(m) = metadata.as_object_mut()
    {
        m.insert("registration_endpoint".into(), Value::from(format!("{base}/register")));
    }
    Json(metadata)
}
