//! Reads each `POST /mcp` body once, with the size limit, and refuses what is not JSON before it
//! reaches the MCP layer: 413 for an oversized body, 400 with a JSON-RPC parse error (-32700)
//! for malformed JSON. The buffered body is handed on unchanged.

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::IgnoredAny;
use serde_json::json;

/// Middleware: see the module docs. `max_body_bytes` comes from `server.max_body_bytes`.
pub async fn reject_malformed(max_body_bytes: usize, request: Request, next: Next) -> Response {
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
    if let Err(e) = serde_json::from_slice::<IgnoredAny>(&bytes) {
        return parse_error(&format!("the body is not valid JSON: {e}"));
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
