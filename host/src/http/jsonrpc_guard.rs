//! Reads each `POST /mcp` body once, with the size limit, and refuses what should not reach the
//! MCP layer: 413 for an oversized body, 400 with a JSON-RPC parse error (-32700) for malformed
//! JSON, and 403 `insufficient_scope` (with the step-up challenge naming the scopes) for a
//! `tools/call` whose tool needs scopes the caller lacks. The buffered body is handed on unchanged.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Authenticator, Identity, forbidden_insufficient_scope};
use crate::plugins::Registry;

/// What the guard needs.
pub struct Guard {
    /// `server.max_body_bytes`.
    pub max_body_bytes: usize,
    /// Live tools, for their scopes.
    pub registry: Arc<Registry>,
    /// For the challenge and whether scopes are enforced.
    pub auth: Arc<Authenticator>,
}

/// The parts of a JSON-RPC request the guard looks at.
#[derive(Deserialize)]
struct Peek {
    method: Option<String>,
    params: Option<PeekParams>,
}

#[derive(Deserialize)]
struct PeekParams {
    name: Option<serde_json::Value>,
}

/// Middleware: see the module docs.
pub async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let max_body_bytes = guard.max_body_bytes;
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_body_bytes as u64) {
        return too_large(max_body_bytes);
    }
    let bytes = match axum::body::to_bytes(body, max_body_bytes).await {
        Ok(b) => b,
        Err(e) if is_length_limit(&e) => return too_large(max_body_bytes),
        Err(_) => return (StatusCode::BAD_REQUEST, "could not read the request body").into_response(),
    };
    let peek = match serde_json::from_slice::<Peek>(&bytes) {
        Ok(p) => Some(p),
        // Valid JSON of another shape (e.g. a batch): rmcp answers it.
        Err(e) if e.is_data() => None,
        Err(e) => return parse_error(&format!("the body is not valid JSON: {e}")),
    };
    if guard.auth.enforces_scopes()
        && let Some(Peek { method: Some(method), params: Some(PeekParams { name: Some(name) }) }) = &peek
        && method == "tools/call"
        && let Some(name) = name.as_str()
        && let Some(tool) = guard.registry.snapshot().tool(name)
        && let Some(identity) = parts.extensions.get::<Identity>()
    {
        let needed = &tool.tool().grant.scopes;
        if !identity.missing_scopes(needed).is_empty() {
            tracing::info!(subject = %identity.data().subject, tool = name, needed = ?needed, "refused a tool call: insufficient scope");
            return forbidden_insufficient_scope(&guard.auth, needed);
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

fn too_large(limit: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body exceeds the {limit}-byte limit (server.max_body_bytes)"),
    )
        .into_response()
}

fn parse_error(message: &str) -> Response {
    let body = json!({ "jsonrpc": "2.0", "id": null, "error": { "code": -32700, "message": format!("Parse error: {message}") } });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}
