//! Reads each `POST /mcp` body once, with the size limit, and refuses what should not reach the
//! MCP layer: 413 for an oversized body, 400 with a JSON-RPC parse error (-32700) for malformed
//! JSON, and 403 `insufficient_scope` (with the step-up challenge naming the scopes) for a
//! `tools/call` whose tool needs scopes the caller lacks, and 429 with `Retry-After` for a
//! `tools/call`, `resources/read` or `prompts/get` over a rate or concurrency limit (the
//! concurrency slot is held until the response body is finished). A body that is not one JSON-RPC
//! message (a batch, a bare value) gets 400 with -32600, and a request whose params do not fit its
//! method gets -32602 naming the problem (rmcp alone would answer 415 and -32601). The buffered
//! body is handed on unchanged, except for the hot request: a plain 2026-07-28 `tools/call` (see
//! `super::fast_path`) is answered from the params parsed here, without rmcp's server layer.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::json;

use super::fast_path::{self, AllowedHosts};
use crate::limits::{CallLimits, Refusal};
use crate::mcp::McpState;
use crate::resource_server::{Authenticator, forbidden_insufficient_scope};
use crate::shared::Identity;
use crate::telemetry::AuditEvent;

/// What the guard needs.
pub(super) struct Guard {
    /// `server.max_body_bytes`.
    pub max_body_bytes: usize,
    /// For the challenge and whether scopes are enforced.
    pub auth: Arc<Authenticator>,
    /// Rate and concurrency limits on tool calls.
    pub limits: Arc<CallLimits>,
    /// The live tools (for their scopes), team membership (another team's tool is treated here
    /// exactly like an unknown one), telemetry (where refusals are recorded), and what Warden's
    /// own path for a plain stateless `tools/call` runs on.
    pub mcp: Arc<McpState>,
    /// The `Host` values `/mcp` accepts (Warden's own path checks them as rmcp would).
    pub hosts: AllowedHosts,
}

/// The parts of a JSON-RPC request the guard looks at.
#[derive(Deserialize)]
struct Peek {
    id: Option<serde_json::Value>,
    method: Option<String>,
    params: Option<serde_json::Value>,
}

/// A string field of `params`.
fn param<'a>(params: Option<&'a serde_json::Value>, pointer: &str) -> Option<&'a str> {
    params.and_then(|p| p.pointer(pointer)).and_then(serde_json::Value::as_str)
}

/// What a limited request runs: the method, the name the client gave, the plugin that serves
/// it to this caller (`None`: nothing visible answers), and the served name to record (never a
/// raw URI, whose template variables may be argument values).
struct Target {
    method: String,
    asked: String,
    plugin: Option<Arc<crate::plugins::LoadedPlugin>>,
    served: String,
}

/// Methods whose params rmcp would not recognise when malformed (it then answers -32601 as for
/// an unknown method): checked here against rmcp's own parameter types. A `tools/call`'s params
/// come back typed, for Warden's own path.
fn check_params(
    method: &str,
    params: Option<&serde_json::Value>,
) -> Result<Option<Box<rmcp::model::CallToolRequestParams>>, String> {
    use rmcp::model::{
        CallToolRequestParams, CompleteRequestParams, GetPromptRequestParams, PaginatedRequestParams,
        ReadResourceRequestParams,
    };
    /// `params` as a `T` (`None` when absent and `optional`), or what is wrong with them.
    fn typed<T: serde::de::DeserializeOwned>(
        params: Option<&serde_json::Value>,
        optional: bool,
    ) -> Result<Option<T>, String> {
        match params {
            None if optional => Ok(None),
            None => Err("params are missing".into()),
            // Deserialized from the borrowed value: no copy of the params.
            Some(v) => T::deserialize(v).map(Some).map_err(|e| e.to_string()),
        }
    }
    fn check<T: serde::de::DeserializeOwned>(
        params: Option<&serde_json::Value>,
        optional: bool,
    ) -> Result<Option<Box<CallToolRequestParams>>, String> {
        typed::<T>(params, optional).map(|_| None)
    }
    match method {
        "tools/call" => typed::<CallToolRequestParams>(params, false).map(|c| c.map(Box::new)),
        "resources/read" => check::<ReadResourceRequestParams>(params, false),
        "prompts/get" => check::<GetPromptRequestParams>(params, false),
        "completion/complete" => check::<CompleteRequestParams>(params, false),
        "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" => {
            check::<PaginatedRequestParams>(params, true)
        }
        _ => Ok(None),
    }
}

/// What the guard makes of a body, before any identity or registry is consulted.
#[derive(Debug, PartialEq)]
pub(crate) enum Inspection {
    /// Not JSON: answered -32700.
    Malformed(String),
    /// JSON, but not one JSON-RPC message (a batch, a bare value): answered -32600.
    NotAMessage(&'static str),
    /// A request whose params do not fit its method: answered -32602.
    BadParams {
        /// The request's id.
        id: Option<serde_json::Value>,
        /// Its method.
        method: String,
        /// What is wrong, from rmcp's own parameter types.
        problem: String,
    },
    /// A request or notification with a method, passed on after the checks that need it.
    Request {
        /// Its id (`None`: a notification).
        id: Option<serde_json::Value>,
        /// Its method.
        method: String,
        /// Its params.
        params: Option<serde_json::Value>,
        /// A `tools/call`'s params, typed.
        call: Option<Box<rmcp::model::CallToolRequestParams>>,
    },
    /// Anything else that is a message (a response to a server request): passed on unchecked.
    Other,
}

/// Reads `bytes` as one JSON-RPC message, once.
pub(crate) fn inspect(bytes: &[u8]) -> Inspection {
    let value = match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(v) => v,
        Err(e) => return Inspection::Malformed(format!("the body is not valid JSON: {e}")),
    };
    let is_message = value.as_object().is_some_and(|o| {
        o.get("jsonrpc").and_then(serde_json::Value::as_str) == Some("2.0")
            && (o.contains_key("method") || o.contains_key("result") || o.contains_key("error"))
    });
    if !is_message {
        return Inspection::NotAMessage(if value.is_array() {
            "a JSON-RPC batch, which MCP does not allow"
        } else {
            "not a JSON-RPC message"
        });
    }
    let Ok(Peek { id, method: Some(method), params }) = serde_json::from_value::<Peek>(value) else {
        return Inspection::Other;
    };
    match check_params(&method, params.as_ref()) {
        Err(problem) => Inspection::BadParams { id, method, problem },
        Ok(call) => Inspection::Request { id, method, params, call },
    }
}

/// A JSON-RPC error response with `status`.
fn jsonrpc_error(status: StatusCode, id: Option<serde_json::Value>, code: i64, message: String) -> Response {
    let body = json!({ "jsonrpc": "2.0", "id": id.unwrap_or(serde_json::Value::Null), "error": { "code": code, "message": message } });
    (status, Json(body)).into_response()
}

/// The guard itself, for a `POST` (run by `super::mcp_front` after authentication): see the
/// module docs.
pub(super) async fn guard(guard: &Guard, request: Request, next: Next) -> Response {
    let max_body_bytes = guard.max_body_bytes;
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_body_bytes as u64) {
        return drained_too_large(body, max_body_bytes).await;
    }
    let bytes = match read_body(body, max_body_bytes).await {
        BodyRead::Done(b) => b,
        BodyRead::TooLarge(rest) => return drained_too_large(rest, max_body_bytes).await,
        BodyRead::Stalled => {
            return (
                StatusCode::REQUEST_TIMEOUT,
                [(header::CONNECTION, HeaderValue::from_static("close"))],
                "the request body stalled past server.body_read_timeout_ms",
            )
                .into_response();
        }
        BodyRead::Failed => {
            return (StatusCode::BAD_REQUEST, "could not read the request body").into_response();
        }
    };
    let (id, method, params, call) = match inspect(&bytes) {
        Inspection::Malformed(problem) => return parse_error(&problem),
        Inspection::NotAMessage(what) => {
            return jsonrpc_error(
                StatusCode::BAD_REQUEST,
                None,
                -32600,
                format!("Invalid Request: the body is {what}; send one request or notification per POST"),
            );
        }
        Inspection::BadParams { id, method, problem } => {
            return jsonrpc_error(
                StatusCode::OK,
                id,
                -32602,
                format!("Invalid params for {method}: {problem}"),
            );
        }
        Inspection::Request { id, method, params, call } => (id, method, params, call),
        Inspection::Other => return next.run(Request::from_parts(parts, Body::from(bytes))).await,
    };
    let params = params.as_ref();
    let asked = match method.as_str() {
        "tools/call" | "prompts/get" => param(params, "/name"),
        "resources/read" => param(params, "/uri"),
        "completion/complete" => param(params, "/ref/name").or_else(|| param(params, "/ref/uri")),
        _ => None,
    };
    let Some(asked) = asked.map(str::to_owned) else {
        return next.run(Request::from_parts(parts, Body::from(bytes))).await;
    };
    let Some(identity) = parts.extensions.get::<Identity>().cloned() else {
        return next.run(Request::from_parts(parts, Body::from(bytes))).await;
    };
    // Something of a team the caller is not in counts as unknown: no scope challenge that would
    // name its scopes, and no charge against that plugin's rate (a non-member cannot exhaust it).
    let snapshot = guard.mcp.registry.snapshot();
    let member =
        |p: &crate::plugins::LoadedPlugin| guard.mcp.teams.admits(&identity, p.manifest.team.as_deref());
    let enforce = guard.auth.enforces_scopes();
    let visible = |p: &crate::plugins::LoadedPlugin, g: &crate::plugins::manifest::ToolGrant| {
        member(p) && (!enforce || identity.missing_scopes(&g.scopes).is_empty())
    };
    let tool =
        if method == "tools/call" { snapshot.tool(&asked).filter(|t| member(&t.plugin)) } else { None };
    let (plugin, served) = match method.as_str() {
        "tools/call" => {
            (tool.as_ref().map(|t| t.plugin.clone()), tool.as_ref().map(|t| t.tool().name.clone()))
        }
        "prompts/get" => {
            let p = snapshot.prompt(&asked).filter(|p| visible(&p.plugin, &p.prompt().grant));
            (p.as_ref().map(|p| p.plugin.clone()), p.map(|p| p.prompt().name.clone()))
        }
        "resources/read" => {
            snapshot.route_resource(&asked, visible).map_or((None, None), |(p, s)| (Some(p), Some(s)))
        }
        _ => {
            // completion/complete: a prompt by name, or a template by its text.
            let p =
                snapshot.prompt(&asked).filter(|p| visible(&p.plugin, &p.prompt().grant)).map(|p| p.plugin);
            let t = || {
                snapshot
                    .templates()
                    .find(|t| {
                        t.template().template.as_str() == asked && visible(&t.plugin, &t.template().grant)
                    })
                    .map(|t| t.plugin)
            };
            (p.or_else(t), Some(format!("completion of {asked}")))
        }
    };
    drop(snapshot);
    let target = Target { method, asked, plugin, served: served.unwrap_or_else(|| "(unknown)".to_owned()) };
    let name = target.served.clone();
    if guard.auth.enforces_scopes()
        && let Some(tool) = &tool
    {
        let needed = &tool.tool().grant.scopes;
        if !identity.missing_scopes(needed).is_empty() {
            tracing::info!(subject = %identity.data().subject, tool = %target.asked, needed = ?needed, "refused a tool call: insufficient scope");
            let mut e = AuditEvent::by("tool.refused", "insufficient_scope", &identity);
            e.team = tool.plugin.manifest.team.clone();
            e.tool = Some(name.clone());
            e.reason = Some(format!("insufficient scope: needs {}", needed.join(" ")));
            guard.mcp.telemetry.audit.record(&e);
            guard.mcp.telemetry.metrics.tool_call(&name, "refused", None);
            return forbidden_insufficient_scope(&guard.auth, needed);
        }
    }
    let caller_key = identity.caller_key();
    let plugin_key =
        target.plugin.as_ref().map_or_else(|| "(unknown)".to_owned(), |p| p.manifest.namespace());
    let permit = match guard.limits.admit(&caller_key, &plugin_key) {
        Ok(p) => p,
        Err(refusal) => {
            tracing::info!(subject = %identity.data().subject, method = %target.method, what = %name, limit = refusal.limit, "refused a request: limit reached");
            let mut e = AuditEvent::by("tool.refused", "rate_limited", &identity);
            e.team = target.plugin.as_ref().and_then(|p| p.manifest.team.clone());
            e.tool = Some(name.clone());
            e.reason = Some(format!("{} limit reached", refusal.limit));
            guard.mcp.telemetry.audit.record(&e);
            guard.mcp.telemetry.metrics.rate_limited(refusal.limit);
            guard.mcp.telemetry.metrics.tool_call(&name, "rate_limited", None);
            return too_many(&refusal, id);
        }
    };
    let own = call.and_then(|c| fast_path::take(&parts.headers, &guard.hosts, id.as_ref(), c));
    let response = match own {
        Some(eligible) => fast_path::serve(guard.mcp.clone(), eligible, identity).await,
        None => next.run(Request::from_parts(parts, Body::from(bytes))).await,
    };
    // The tool runs while the response streams; the slot is given back when the body is done.
    let (parts, body) = response.into_parts();
    let body = body.map_frame(move |frame| {
        let _held = &permit;
        frame
    });
    Response::from_parts(parts, Body::new(body))
}

/// 429 with `Retry-After` and a JSON-RPC error naming the limit.
fn too_many(refusal: &Refusal, id: Option<serde_json::Value>) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": id.unwrap_or(serde_json::Value::Null),
        "error": { "code": -32000, "message": refusal.message(), "data": { "limit": refusal.limit } }
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&refusal.retry_after_secs().to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Most bytes of an oversized body read and thrown away before answering 413.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// How reading a body ended.
enum BodyRead {
    /// All of it, within the limit.
    Done(axum::body::Bytes),
    /// Over the limit; the rest of the body is still unread.
    TooLarge(Body),
    /// The client paused longer than `server.body_read_timeout_ms`.
    Stalled,
    /// The connection failed.
    Failed,
}

/// Reads `body`, up to `max` bytes.
async fn read_body(mut body: Body, max: usize) -> BodyRead {
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > max {
                        return BodyRead::TooLarge(body);
                    }
                    buf.extend_from_slice(&data);
                }
            }
            Err(e) if is_timeout(&e) => return BodyRead::Stalled,
            Err(_) => return BodyRead::Failed,
        }
    }
    BodyRead::Done(buf.into())
}

/// 413, after reading what is left of `body` (up to [`DRAIN_LIMIT`]): a server that closes a
/// connection with unread request data makes the kernel reset it, and the client then sees the
/// reset instead of the 413 (on a reused keep-alive connection, usually). A body beyond the drain
/// limit gets the 413 with `Connection: close`.
async fn drained_too_large(mut body: Body, max: usize) -> Response {
    let mut drained = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        drained += frame.data_ref().map_or(0, axum::body::Bytes::len);
        if drained > DRAIN_LIMIT {
            let mut response = too_large(max);
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
    }
    too_large(max)
}

fn is_timeout(e: &axum::Error) -> bool {
    caused_by::<tower_http::timeout::TimeoutError>(e)
}

fn caused_by<T: std::error::Error + 'static>(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<T>() {
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

#[cfg(test)]
mod properties;
