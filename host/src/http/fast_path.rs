//! Which `POST /mcp` requests Warden answers itself, without rmcp's Streamable HTTP service: a
//! 2026-07-28 stateless `tools/call` whose headers rmcp would accept as they are and that asked
//! for no notifications. The JSON-RPC guard has read, parsed and checked the body by then (scopes,
//! team, limits); `mcp::stateless` runs the call and the answer is written here as one
//! `application/json` body, with the HTTP status rmcp gives the same message.
//!
//! The test is conservative: every condition below is one rmcp checks too, and a request that
//! misses any of them (another method or version, a session id, an `Origin` header, a Base64
//! `Mcp-Name`, a quoted `Accept` parameter, a progress token or log level) is handed to rmcp
//! unchanged, so rmcp alone decides every error and every streamed answer.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::model::{CallToolRequestParams, ErrorCode, ProtocolVersion, RequestId, ServerJsonRpcMessage};
use serde::Deserialize;

use crate::mcp::McpState;
use crate::shared::Identity;

/// The `Host` values `/mcp` accepts, parsed once (the same list rmcp is configured with, and the
/// same matching: host case-insensitive, the port only when the entry names one).
#[derive(Debug, Clone, Default)]
pub(crate) struct AllowedHosts(Vec<(String, Option<u16>)>);

impl AllowedHosts {
    /// Parses `hosts` (entries such as `localhost` or `example.com:8443`).
    pub(crate) fn new(hosts: &[String]) -> Self {
        let entry = |h: &str| {
            // As rmcp: an entry that is not an authority (a bare IPv6 address) is a host alone.
            authority(h).or_else(|| (!h.is_empty()).then(|| (normalize(h), None)))
        };
        AllowedHosts(hosts.iter().filter_map(|h| entry(h.trim())).collect())
    }

    /// True if the request's `Host` is one of them (and it names exactly one host).
    fn admit(&self, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all(header::HOST).iter();
        let (Some(value), None) = (values.next(), values.next()) else { return false };
        let Some((host, port)) = value.to_str().ok().and_then(authority) else { return false };
        self.0.iter().any(|(h, p)| *h == host && p.is_none_or(|p| Some(p) == port))
    }
}

/// `host[:port]`, the host lowercased and without IPv6 brackets.
fn authority(text: &str) -> Option<(String, Option<u16>)> {
    if text.is_empty() {
        return None;
    }
    let parsed = http::uri::Authority::try_from(text).ok()?;
    Some((normalize(parsed.host()), parsed.port_u16()))
}

fn normalize(host: &str) -> String {
    host.trim_matches(['[', ']']).to_ascii_lowercase()
}

/// A request that takes Warden's own path.
pub(crate) struct Eligible {
    id: RequestId,
    params: Box<CallToolRequestParams>,
}

/// The one value of header `name`, as text (`None`: absent, repeated or not text).
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().ok(),
        _ => None,
    }
}

/// True if `Accept` lists both `application/json` and `text/event-stream`, each plainly (no
/// parameters such as weights, and nothing quoted: those are left to rmcp's parser).
fn accepts_json_and_sse(headers: &HeaderMap) -> bool {
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { return false };
        if value.contains('"') {
            return false;
        }
        for entry in value.split(',') {
            let (essence, parameters) = entry.split_once(';').map_or((entry, false), |(e, _)| (e, true));
            let essence = essence.trim();
            let is_json = essence.eq_ignore_ascii_case("application/json");
            let is_sse = essence.eq_ignore_ascii_case("text/event-stream");
            if (is_json || is_sse) && parameters {
                return false;
            }
            json |= is_json;
            sse |= is_sse;
        }
    }
    json && sse
}

/// True if `Content-Type` is `application/json` (any parameters).
fn is_json(headers: &HeaderMap) -> bool {
    single(headers, header::CONTENT_TYPE.as_str()).is_some_and(|v| {
        v.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case("application/json")
    })
}

/// `Some` if the `tools/call` request `id` with `params` and these `headers` takes Warden's own
/// path; `None` if rmcp must see it (it then parses the untouched body itself).
pub(crate) fn take(
    headers: &HeaderMap,
    hosts: &AllowedHosts,
    id: Option<&serde_json::Value>,
    params: Box<CallToolRequestParams>,
) -> Option<Eligible> {
    let modern = ProtocolVersion::V_2026_07_28;
    let meta_ok = params.meta.as_ref().is_some_and(|m| {
        m.protocol_version().is_some_and(|v| v == modern)
            && m.missing_required_keys(&modern).is_empty()
            && m.get_progress_token().is_none()
            && m.log_level().is_none()
    });
    let headers_ok = single(headers, "mcp-protocol-version") == Some(modern.as_str())
        && single(headers, "mcp-method") == Some("tools/call")
        && single(headers, "mcp-name").is_some_and(|n| n == params.name && !n.starts_with("=?base64?"))
        && !headers.contains_key("mcp-session-id")
        && !headers.contains_key(header::ORIGIN)
        && hosts.admit(headers)
        && is_json(headers)
        && accepts_json_and_sse(headers);
    let id = id.and_then(|v| RequestId::deserialize(v).ok());
    match (id, meta_ok && headers_ok) {
        (Some(id), true) => Some(Eligible { id, params }),
        _ => None,
    }
}

/// Runs an eligible request and writes its answer.
pub(crate) async fn serve(mcp: Arc<McpState>, request: Eligible, caller: Identity) -> Response {
    let message = crate::mcp::stateless::call_tool(mcp, request.id, *request.params, caller).await;
    let status = status_of(&message);
    let body = match serde_json::to_vec(&message) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "could not serialize a tool call's answer");
            return (StatusCode::INTERNAL_SERVER_ERROR, "could not serialize the answer").into_response();
        }
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The HTTP status rmcp gives a 2026-07-28 answer (its `jsonrpc_http_status`).
fn status_of(message: &ServerJsonRpcMessage) -> StatusCode {
    let ServerJsonRpcMessage::Error(error) = message else { return StatusCode::OK };
    match error.error.code {
        ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
        | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
        | ErrorCode::HEADER_MISMATCH => StatusCode::BAD_REQUEST,
        ErrorCode::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> serde_json::Value {
        serde_json::json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": { "name": "t", "version": "1" },
            "io.modelcontextprotocol/clientCapabilities": {}
        })
    }

    fn params(meta: serde_json::Value) -> Box<CallToolRequestParams> {
        serde_json::from_value(serde_json::json!({ "name": "sample.greet", "_meta": meta })).unwrap()
    }

    fn headers(extra: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("host", "127.0.0.1:8080"),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "sample.greet"),
        ] {
            h.insert(k, HeaderValue::from_static(v));
        }
        for (k, v) in extra {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn hosts() -> AllowedHosts {
        AllowedHosts::new(&["localhost".into(), "127.0.0.1".into()])
    }

    fn takes(headers: &HeaderMap, meta: serde_json::Value) -> bool {
        take(headers, &hosts(), Some(&serde_json::json!(7)), params(meta)).is_some()
    }

    #[test]
    fn a_plain_modern_call_takes_the_own_path() {
        assert!(takes(&headers(&[]), meta()));
    }

    #[test]
    fn anything_rmcp_must_judge_goes_to_rmcp() {
        let mut with_progress = meta();
        with_progress["progressToken"] = serde_json::json!("p1");
        assert!(!takes(&headers(&[]), with_progress), "a progress token streams notifications");
        let mut with_level = meta();
        with_level["io.modelcontextprotocol/logLevel"] = serde_json::json!("debug");
        assert!(!takes(&headers(&[]), with_level), "a log level streams notifications");
        let mut old = meta();
        old["io.modelcontextprotocol/protocolVersion"] = serde_json::json!("2025-11-25");
        assert!(!takes(&headers(&[]), old));
        assert!(!takes(&headers(&[("origin", "http://localhost")]), meta()));
        assert!(!takes(&headers(&[("mcp-session-id", "s")]), meta()));
        assert!(!takes(&headers(&[("mcp-name", "sample.greet")]), meta()), "a repeated header");
        let mut h = headers(&[]);
        h.insert("mcp-name", HeaderValue::from_static("other.tool"));
        assert!(!takes(&h, meta()));
        h = headers(&[]);
        h.insert("host", HeaderValue::from_static("evil.example"));
        assert!(!takes(&h, meta()), "a Host rmcp refuses");
        h = headers(&[]);
        h.insert("accept", HeaderValue::from_static("application/json, text/event-stream;q=0"));
        assert!(!takes(&h, meta()));
        h = headers(&[]);
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        assert!(!takes(&h, meta()));
        h = headers(&[]);
        h.insert("mcp-protocol-version", HeaderValue::from_static("2025-11-25"));
        assert!(!takes(&h, meta()), "header and _meta disagree");
        assert!(take(&headers(&[]), &hosts(), None, params(meta())).is_none(), "a notification");
    }

    #[test]
    fn hosts_match_like_rmcp() {
        let hosts = AllowedHosts::new(&["localhost".into(), "example.com:8443".into(), "::1".into()]);
        let with = |host: &'static str| {
            let mut h = HeaderMap::new();
            h.insert("host", HeaderValue::from_static(host));
            hosts.admit(&h)
        };
        assert!(with("LOCALHOST:1234"));
        assert!(with("example.com:8443"));
        assert!(!with("example.com:8444"));
        assert!(!with("example.com"));
        assert!(with("[::1]:8080"));
        assert!(!with("localhost.evil"));
    }

    #[test]
    fn errors_get_rmcp_statuses() {
        let error = |code| {
            ServerJsonRpcMessage::error(
                rmcp::model::ErrorData::new(code, "x", None),
                Some(RequestId::Number(1)),
            )
        };
        assert_eq!(status_of(&error(ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY)), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(&error(ErrorCode::METHOD_NOT_FOUND)), StatusCode::NOT_FOUND);
        assert_eq!(status_of(&error(ErrorCode::INVALID_PARAMS)), StatusCode::OK);
    }
}
