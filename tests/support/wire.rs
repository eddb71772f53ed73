//! Reading what an MCP endpoint answers on the wire: a JSON body or an SSE stream of JSON-RPC
//! messages ([`Reply`], [`read_reply`]), a stream read message by message as it arrives
//! ([`SseReader`], for `subscriptions/listen` and long tool calls), and the request `_meta` of
//! MCP 2026-07-28 ([`meta`]).

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::mcp::LATEST_PROTOCOL;

/// The `_meta` a 2026-07-28 request carries (protocol version and client capabilities), with the
/// keys of `extra` (an object: `progressToken`, `io.modelcontextprotocol/logLevel`, ...) added.
/// Give it to [`McpPost::jsonrpc`](crate::McpPost::jsonrpc) as `params._meta` to send more than
/// the empty capabilities [`McpPost`](crate::McpPost) puts in by itself.
pub fn meta(capabilities: Value, extra: Value) -> Value {
    let mut meta = json!({
        "io.modelcontextprotocol/protocolVersion": LATEST_PROTOCOL,
        "io.modelcontextprotocol/clientCapabilities": capabilities,
    });
    if let (Some(meta), Value::Object(extra)) = (meta.as_object_mut(), extra) {
        meta.extend(extra);
    }
    meta
}

/// A whole answer to one POST: its status and every JSON-RPC message in its body (one for a JSON
/// body; each `data:` event for an SSE stream).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: String,
    /// The messages, in order.
    pub messages: Vec<Value>,
    /// The body as received (for failure messages).
    pub body: String,
}

impl Reply {
    /// The JSON-RPC response (the message with `result` or `error`); `Value::Null` if none.
    pub fn response(&self) -> &Value {
        static NULL: Value = Value::Null;
        self.messages.iter().find(|m| m.get("result").is_some() || m.get("error").is_some()).unwrap_or(&NULL)
    }

    /// `response()["result"]`.
    pub fn result(&self) -> &Value {
        &self.response()["result"]
    }

    /// `response()["error"]`.
    pub fn error(&self) -> &Value {
        &self.response()["error"]
    }

    /// The notifications (messages with a `method` and no `id`), in order.
    pub fn notifications(&self) -> Vec<&Value> {
        self.messages.iter().filter(|m| m.get("method").is_some() && m.get("id").is_none()).collect()
    }

    /// The notifications with method `method`.
    pub fn notifications_named(&self, method: &str) -> Vec<&Value> {
        self.notifications().into_iter().filter(|m| m["method"] == method).collect()
    }
}

/// Reads the whole body of `response` (JSON or SSE) into a [`Reply`].
pub async fn read_reply(response: reqwest::Response) -> anyhow::Result<Reply> {
    let status = response.status().as_u16();
    let content_type = content_type(&response);
    let body = response.text().await?;
    let messages = if content_type.starts_with("text/event-stream") {
        let mut parser = SseParser::default();
        parser.push(body.as_bytes());
        let mut messages = Vec::new();
        while let Some(data) = parser.next_data(true) {
            messages
                .push(serde_json::from_str(&data).with_context(|| format!("SSE data is not JSON: {data}"))?);
        }
        messages
    } else if body.trim().is_empty() {
        Vec::new()
    } else {
        match serde_json::from_str::<Value>(&body) {
            Ok(Value::Array(batch)) => batch,
            Ok(one) => vec![one],
            Err(e) => bail!("the body is neither SSE nor JSON ({e}): {body}"),
        }
    };
    Ok(Reply { status, content_type, messages, body })
}

fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// What [`SseReader::next_within`] saw.
#[derive(Debug)]
pub enum Next {
    /// A JSON-RPC message.
    Message(Value),
    /// The stream ended.
    End,
    /// Nothing within the time given.
    Timeout,
}

/// An SSE response read one JSON-RPC message at a time, as the server sends them (a JSON body
/// counts as a stream of one message).
pub struct SseReader {
    response: reqwest::Response,
    parser: SseParser,
    json_body: bool,
    ended: bool,
    /// HTTP status.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: String,
}

impl SseReader {
    /// Starts reading `response`.
    pub fn new(response: reqwest::Response) -> SseReader {
        let status = response.status().as_u16();
        let content_type = content_type(&response);
        let json_body = !content_type.starts_with("text/event-stream");
        SseReader { response, parser: SseParser::default(), json_body, ended: false, status, content_type }
    }

    /// The next message, or `None` once the stream has ended.
    pub async fn next(&mut self) -> anyhow::Result<Option<Value>> {
        if self.json_body {
            if self.ended {
                return Ok(None);
            }
            let mut body = Vec::new();
            while let Some(chunk) = self.response.chunk().await? {
                body.extend_from_slice(&chunk);
            }
            self.ended = true;
            let text = String::from_utf8_lossy(&body);
            if text.trim().is_empty() {
                return Ok(None);
            }
            return Ok(Some(serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))?));
        }
        loop {
            if let Some(data) = self.parser.next_data(self.ended) {
                return Ok(Some(
                    serde_json::from_str(&data).with_context(|| format!("SSE data is not JSON: {data}"))?,
                ));
            }
            if self.ended {
                return Ok(None);
            }
            match self.response.chunk().await? {
                Some(chunk) => self.parser.push(&chunk),
                None => self.ended = true,
            }
        }
    }

    /// [`SseReader::next`], waiting at most `limit`.
    pub async fn next_within(&mut self, limit: Duration) -> anyhow::Result<Next> {
        match tokio::time::timeout(limit, self.next()).await {
            Err(_) => Ok(Next::Timeout),
            Ok(Ok(Some(message))) => Ok(Next::Message(message)),
            Ok(Ok(None)) => Ok(Next::End),
            Ok(Err(e)) => Err(e),
        }
    }

    /// Reads every remaining message until the stream ends (at most `limit` in all).
    pub async fn rest(&mut self, limit: Duration) -> anyhow::Result<Vec<Value>> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await? {
                Next::Message(m) => out.push(m),
                Next::End => return Ok(out),
                Next::Timeout => {
                    bail!("the stream did not end within {limit:?} ({} messages so far)", out.len())
                }
            }
        }
    }
}

/// Splits an SSE byte stream into events and returns their `data` (events without data, such as
/// priming events and keep-alive comments, are skipped).
#[derive(Default)]
struct SseParser {
    buf: Vec<u8>,
}

impl SseParser {
    fn push(&mut self, bytes: &[u8]) {
        // Lines may end in CRLF or LF (servers here send LF); JSON text never holds a raw CR, so
        // dropping every CR is safe, also when a CRLF is split across two chunks.
        self.buf.extend(bytes.iter().copied().filter(|&b| b != b'\r'));
    }

    /// The data of the next complete event; at end of stream (`eof`) a final event without its
    /// blank line counts too.
    fn next_data(&mut self, eof: bool) -> Option<String> {
        loop {
            let end = self.buf.windows(2).position(|w| w == b"\n\n");
            let event: Vec<u8> = match end {
                Some(at) => {
                    let event = self.buf[..at].to_vec();
                    self.buf.drain(..at + 2);
                    event
                }
                None if eof && !self.buf.is_empty() => std::mem::take(&mut self.buf),
                None => return None,
            };
            let text = String::from_utf8_lossy(&event);
            let data: Vec<&str> = text
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            let data = data.join("\n");
            if !data.trim().is_empty() {
                return Some(data);
            }
        }
    }
}
