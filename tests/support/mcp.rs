//! MCP clients: rmcp's ([`McpClient`]), the official TypeScript SDK's ([`ts_sdk_client`]), and
//! hand-made JSON-RPC POSTs ([`McpPost`]) for what a real client would not send or would hide.
//! The protocol versions they speak are pinned here, once.

use std::process::Command;

use anyhow::{Context, bail};
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig, JsonObject, ProtocolVersion};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::repo_root;

/// The newest MCP revision, the default of rmcp's client: no `initialize` handshake; every
/// request names the revision and the client's capabilities in `params._meta` and carries
/// `Mcp-Protocol-Version`, `Mcp-Method` and (for a named target) `Mcp-Name` headers.
pub const LATEST_PROTOCOL: &str = "2026-07-28";

/// The newest MCP revision with the `initialize` handshake and sessions (`Mcp-Session-Id`), as
/// [`Warden::session_client`](crate::Warden::session_client) negotiates; after `initialize`,
/// requests name it in the `Mcp-Protocol-Version` header.
pub const SESSION_PROTOCOL: &str = "2025-11-25";

/// `version` as rmcp's type; rmcp must know it.
fn protocol_version(version: &str) -> ProtocolVersion {
    ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .find(|known| known.as_str() == version)
        .cloned()
        .unwrap_or_else(|| panic!("rmcp does not speak MCP {version}"))
}

/// Client-side handler: reports `tools/list_changed` notifications.
#[derive(Clone)]
pub struct Listener {
    info: ClientConfig,
    list_changed: Option<mpsc::UnboundedSender<()>>,
}

impl ClientHandler for Listener {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        if let Some(tx) = &self.list_changed {
            let _ = tx.send(());
        }
    }
}

/// A connected rmcp client.
pub type McpClient = RunningService<RoleClient, Listener>;

/// [`connect_with`] over a new HTTP client.
pub(crate) async fn connect(
    url: &str,
    list_changed: Option<mpsc::UnboundedSender<()>>,
    token: Option<&str>,
) -> anyhow::Result<McpClient> {
    connect_with(reqwest::Client::new(), url, list_changed, token).await
}

/// Connects an rmcp client over `http` (e.g. a client that trusts a test CA). With a
/// `list_changed` sender it negotiates [`SESSION_PROTOCOL`] (notifications need a session);
/// otherwise it speaks rmcp's default, today [`LATEST_PROTOCOL`].
pub async fn connect_with(
    http: reqwest::Client,
    url: &str,
    list_changed: Option<mpsc::UnboundedSender<()>>,
    token: Option<&str>,
) -> anyhow::Result<McpClient> {
    let mut info = ClientConfig::default();
    if list_changed.is_some() {
        info.protocol_version = protocol_version(SESSION_PROTOCOL);
    }
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    if let Some(token) = token {
        config = config.auth_header(token.to_owned());
    }
    let transport = StreamableHttpClientTransport::with_client(http, config);
    Ok(Listener { info, list_changed }.serve(transport).await?)
}

/// Calls `tool` with JSON `arguments` (an object).
pub async fn call(client: &McpClient, tool: &str, arguments: Value) -> anyhow::Result<CallToolResult> {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(map) = arguments {
        params = params.with_arguments(JsonObject::from_iter(map));
    }
    Ok(client.call_tool(params).await?)
}

/// The text of a result's first content block.
pub fn text_of(result: &CallToolResult) -> String {
    result.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone()).unwrap_or_default()
}

/// Names of every tool the server lists (following pagination).
pub async fn tool_names(client: &McpClient) -> anyhow::Result<Vec<String>> {
    Ok(client.list_all_tools().await?.into_iter().map(|t| t.name.to_string()).collect())
}

/// Runs the official MCP TypeScript SDK client (`tests/mcp-client-ts/client.mjs`) against `url`:
/// lists every tool and, if `tool` is given, calls it with `arguments`. Returns its JSON report
/// (`{ protocolVersion, tools, result }` or `{ error }`).
pub fn ts_sdk_client(url: &str, token: Option<&str>, tool: Option<(&str, Value)>) -> anyhow::Result<Value> {
    let dir = repo_root().join("tests").join("mcp-client-ts");
    if !dir.join("node_modules").join("@modelcontextprotocol").exists() {
        bail!(
            "tests/mcp-client-ts/node_modules is missing: run `npm ci --prefix tests/mcp-client-ts` (`make test` does)"
        );
    }
    let mut command = Command::new("node");
    command.arg(dir.join("client.mjs")).env("MCP_URL", url);
    if let Some(token) = token {
        command.env("MCP_TOKEN", token);
    }
    if let Some((name, arguments)) = tool {
        command.env("TOOL", name).env("ARGS", arguments.to_string());
    }
    let out = command.output().context("run node (is Node.js 20+ installed?)")?;
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim()).with_context(|| {
        format!("unexpected output from the TS client: {line}\n{}", String::from_utf8_lossy(&out.stderr))
    })
}

/// Runs `tests/mcp-client-ts/features.mjs` (the official TypeScript SDK client, 2025-11-25
/// session, elicitation capability declared) against `url`, which should serve the `conformance`
/// plugin: it lists tools, resources, templates and prompts, reads `test://static-text`, gets
/// `test_prompt_with_arguments`, calls `test_tool_with_progress` with a progress callback and
/// `test_input_required_result_elicitation`, answering the elicitation with `name` "Ada". Returns
/// its JSON report (`{ protocolVersion, serverCapabilities, steps, elicitations, progress }`, each
/// step `{ value }` or `{ error }`; or `{ error }` if it could not connect).
pub fn ts_sdk_features(url: &str, token: Option<&str>) -> anyhow::Result<Value> {
    let dir = repo_root().join("tests").join("mcp-client-ts");
    if !dir.join("node_modules").join("@modelcontextprotocol").exists() {
        bail!(
            "tests/mcp-client-ts/node_modules is missing: run `npm ci --prefix tests/mcp-client-ts` (`make test` does)"
        );
    }
    let mut command = Command::new("node");
    command.arg(dir.join("features.mjs")).env("MCP_URL", url).env("PATH", crate::node_path());
    if let Some(token) = token {
        command.env("MCP_TOKEN", token);
    }
    let out = command.output().context("run node (is Node.js 20+ installed?)")?;
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim()).with_context(|| {
        format!("unexpected output from features.mjs: {line}\n{}", String::from_utf8_lossy(&out.stderr))
    })
}

/// A hand-made POST to an MCP endpoint, for tests that check what rmcp's client hides (statuses,
/// headers) or send what it never would (bad JSON, bad tokens, oversized bodies, foreign
/// origins). It always sends `Content-Type: application/json` and, unless
/// [`McpPost::without_accept`], `Accept: application/json, text/event-stream`; nothing else
/// unless asked: no protocol version, no `Authorization`.
///
/// With [`McpPost::protocol`]`(LATEST_PROTOCOL)`, a [`McpPost::jsonrpc`] request also gets what
/// that revision requires: `_meta` with the protocol version and (empty) client capabilities in
/// its params, and the `Mcp-Method` and `Mcp-Name` headers.
///
/// ```no_run
/// # async fn demo(warden: &warden_tests::Warden, token: &str) -> anyhow::Result<()> {
/// use warden_tests::LATEST_PROTOCOL;
/// let response = warden
///     .mcp_post()
///     .bearer(token)
///     .protocol(LATEST_PROTOCOL)
///     .jsonrpc(7, "tools/call", serde_json::json!({ "name": "sample.greet", "arguments": {} }))
///     .send()
///     .await?;
/// println!("{}", response.status());
/// # Ok(())
/// # }
/// ```
#[must_use = "nothing is sent until `send`"]
pub struct McpPost {
    http: reqwest::Client,
    url: String,
    accept: bool,
    authorization: Option<String>,
    protocol: Option<String>,
    headers: Vec<(String, String)>,
    body: Body,
}

enum Body {
    Raw(String),
    JsonRpc { id: u64, method: String, params: Value },
}

impl McpPost {
    /// A POST to `url` (an MCP endpoint) over a new HTTP client, so over a new connection, with
    /// an empty body.
    pub fn new(url: impl Into<String>) -> McpPost {
        McpPost {
            http: reqwest::Client::new(),
            url: url.into(),
            accept: true,
            authorization: None,
            protocol: None,
            headers: Vec::new(),
            body: Body::Raw(String::new()),
        }
    }

    /// Sends over `http` instead (e.g. [`Warden::http`](crate::Warden::http), which trusts the
    /// test CA in TLS tests).
    pub fn over(mut self, http: &reqwest::Client) -> McpPost {
        self.http = http.clone();
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> McpPost {
        self.authorization(Some(&format!("Bearer {token}")))
    }

    /// `Authorization: <value>` exactly as given (any scheme, or garbage), if `Some`.
    pub fn authorization(mut self, value: Option<&str>) -> McpPost {
        self.authorization = value.map(str::to_owned);
        self
    }

    /// Speaks `version` ([`LATEST_PROTOCOL`], [`SESSION_PROTOCOL`], or any string): the
    /// `Mcp-Protocol-Version` header, and for [`LATEST_PROTOCOL`] what that revision requires.
    pub fn protocol(mut self, version: &str) -> McpPost {
        self.protocol = Some(version.to_owned());
        self
    }

    /// Leaves out the `Accept` header.
    pub fn without_accept(mut self) -> McpPost {
        self.accept = false;
        self
    }

    /// One more header (`Host`, `Origin`, ...).
    pub fn header(mut self, name: &str, value: &str) -> McpPost {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The body: the JSON-RPC request `{"jsonrpc": "2.0", id, method, params}`.
    pub fn jsonrpc(mut self, id: u64, method: &str, params: Value) -> McpPost {
        self.body = Body::JsonRpc { id, method: method.to_owned(), params };
        self
    }

    /// The body, exactly as given (e.g. malformed JSON).
    pub fn body(mut self, text: impl Into<String>) -> McpPost {
        self.body = Body::Raw(text.into());
        self
    }

    /// Sends the request.
    pub async fn send(self) -> reqwest::Result<reqwest::Response> {
        let mut request = self.http.post(&self.url).header("content-type", "application/json");
        if self.accept {
            request = request.header("accept", "application/json, text/event-stream");
        }
        if let Some(version) = &self.protocol {
            request = request.header("mcp-protocol-version", version);
        }
        let body = match self.body {
            Body::Raw(text) => text,
            Body::JsonRpc { id, method, mut params } => {
                if self.protocol.as_deref() == Some(LATEST_PROTOCOL) {
                    request = request.header("mcp-method", &method);
                    if let Some(name) = target_name(&method, &params) {
                        request = request.header("mcp-name", name);
                    }
                    if let Some(params) = params.as_object_mut() {
                        params.entry("_meta").or_insert_with(|| {
                            json!({
                                "io.modelcontextprotocol/protocolVersion": LATEST_PROTOCOL,
                                "io.modelcontextprotocol/clientCapabilities": {},
                            })
                        });
                    }
                }
                json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string()
            }
        };
        if let Some(value) = &self.authorization {
            request = request.header("authorization", value);
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        request.body(body).send().await
    }
}

/// What `Mcp-Name` must repeat from a request's params, for the methods that have one.
fn target_name(method: &str, params: &Value) -> Option<String> {
    let key = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        _ => return None,
    };
    params.get(key)?.as_str().map(str::to_owned)
}
