//! Test harness: starts the real `warden` binary on an ephemeral port with a private plugin and
//! data directory, installs real plugin components, and connects real MCP clients (rmcp).
//!
//! Prerequisites, built by `make test`: the `warden` binary (`cargo build -p warden`) and the
//! plugin components (`cargo build --release` in `plugins/`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig, JsonObject, ProtocolVersion};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::Value;
use tokio::sync::mpsc;

mod idp;
pub mod oauth;
mod pg;
pub use idp::Idp;
pub use pg::{ALICE_ORDERS, BOB_ORDERS, PgFixture, psql};

/// Config that switches the per-caller and per-plugin call limits off, for tests that load the
/// server from one caller on purpose (the limits have their own tests in `tests/limits.rs`).
pub const UNLIMITED: &str = "[limits]\ncaller_calls_per_s = 0\ncaller_concurrency = 0\nplugin_calls_per_s = 0\nplugin_concurrency = 0\n";

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target"))
}

/// The `warden` binary under test.
pub fn warden_binary() -> PathBuf {
    // Benchmarks point WARDEN_BIN at the release build.
    if let Some(bin) = std::env::var_os("WARDEN_BIN") {
        return PathBuf::from(bin);
    }
    let path = target_dir().join("debug").join("warden");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p warden` first (`make test` does)",
        path.display()
    );
    path
}

/// A built plugin component, e.g. `component("sample")`.
pub fn component(name: &str) -> PathBuf {
    let file = format!("{}.wasm", name.replace('-', "_"));
    let path = target_dir().join("wasm32-wasip2").join("release").join(file);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --release` in plugins/ first (`make test` does)",
        path.display()
    );
    path
}

/// The manifest shipped with a plugin crate: `plugins/<name>/plugin.toml` or
/// `tests/plugins/<name>/plugin.toml`.
pub fn manifest_source(name: &str) -> PathBuf {
    let example = repo_root().join("plugins").join(name).join("plugin.toml");
    if example.exists() {
        example
    } else {
        repo_root().join("tests").join("plugins").join(name).join("plugin.toml")
    }
}

/// Installs plugin crate `crate_name` into `dir` as `<stem>.wasm` + `<stem>.toml`, writing to
/// temporary names first and renaming, as the README tells operators to.
pub fn install(dir: &Path, stem: &str, crate_name: &str) {
    install_manifest(
        dir,
        stem,
        &std::fs::read_to_string(manifest_source(crate_name)).expect("read manifest"),
    );
    install_wasm(dir, stem, &std::fs::read(component(crate_name)).expect("read component"));
}

/// Atomically writes `<stem>.wasm`.
pub fn install_wasm(dir: &Path, stem: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{stem}.wasm.tmp"));
    std::fs::write(&tmp, bytes).expect("write wasm");
    std::fs::rename(&tmp, dir.join(format!("{stem}.wasm"))).expect("rename wasm");
}

/// Atomically writes `<stem>.toml`.
pub fn install_manifest(dir: &Path, stem: &str, text: &str) {
    let tmp = dir.join(format!(".{stem}.toml.tmp"));
    std::fs::write(&tmp, text).expect("write manifest");
    std::fs::rename(&tmp, dir.join(format!("{stem}.toml"))).expect("rename manifest");
}

/// Waits for `child` to print `listening on URL` on stdout and returns the URL. On timeout or
/// exit, kills and reaps the child and returns `None`.
pub fn listening_url(child: &mut Child, limit: Duration) -> Option<String> {
    let stdout = child.stdout.take()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let url = rx.recv_timeout(limit).ok();
    if url.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    url
}

/// Merges `extra` into `base`, table by table (extra wins).
fn merge(base: &mut toml::Table, extra: toml::Table) {
    for (key, value) in extra {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(e)) => merge(b, e),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// A free TCP port on 127.0.0.1 (for servers that must know their port before they start).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// A running `warden serve` with its own directories; killed on drop.
pub struct Warden {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub base_url: String,
    /// Holds `plugins/`, `data/` and `server.toml`.
    pub root: tempfile::TempDir,
    log: PathBuf,
    /// The HTTP client used for probes and MCP clients (it trusts the test CA in TLS tests).
    pub http: reqwest::Client,
    /// The admin listener's URL, when `server.admin_bind` is set.
    pub admin_url: Option<String>,
}

impl Warden {
    /// Starts Warden with `extra_config` merged into a config whose `[server]`/`[plugins]` tables
    /// point at fresh directories (and `auth.mode = "none"` unless overridden); `setup` may install
    /// plugins before start. Waits for `/readyz`.
    pub async fn start(extra_config: &str, setup: impl FnOnce(&Path)) -> anyhow::Result<Warden> {
        Self::start_with(extra_config, setup, reqwest::Client::new()).await
    }

    /// Like [`Warden::start`], with `http` as the client for probes and MCP (e.g. one that trusts
    /// only a test CA).
    pub async fn start_with(
        extra_config: &str,
        setup: impl FnOnce(&Path),
        http: reqwest::Client,
    ) -> anyhow::Result<Warden> {
        let mut warden = Self::spawn(extra_config, setup).await?;
        warden.http = http;
        warden.wait_ready(Duration::from_secs(60)).await?;
        Ok(warden)
    }

    /// Like [`Warden::start`], but returns as soon as the server listens (it may not be ready).
    pub async fn spawn(extra_config: &str, setup: impl FnOnce(&Path)) -> anyhow::Result<Warden> {
        Self::spawn_in(tempfile::tempdir()?, extra_config, setup).await
    }

    /// Like [`Warden::spawn`], in the given root directory (which may already hold files the
    /// config refers to).
    pub async fn spawn_in(
        root: tempfile::TempDir,
        extra_config: &str,
        setup: impl FnOnce(&Path),
    ) -> anyhow::Result<Warden> {
        let plugins = root.path().join("plugins");
        std::fs::create_dir_all(&plugins)?;
        setup(&plugins);
        let mut config: toml::Table = format!(
            "[server]\nbind = \"127.0.0.1:0\"\ndata_dir = {:?}\n\n[plugins]\ndir = {:?}\npoll_interval_ms = 100\n\n[auth]\nmode = \"none\"\n",
            root.path().join("data"),
            plugins,
        )
        .parse()?;
        merge(&mut config, extra_config.parse()?);
        let config_path = root.path().join("server.toml");
        std::fs::write(&config_path, config.to_string())?;
        let log = root.path().join("warden.log");
        let (child, base_url) = launch(&config_path, &log)?;
        let admin_url = config
            .get("server")
            .and_then(|s| s.get("admin_bind"))
            .and_then(toml::Value::as_str)
            .map(|a| format!("http://{a}"));
        Ok(Warden { child, base_url, root, log, http: reqwest::Client::new(), admin_url })
    }

    /// Stops the server (SIGKILL: nothing is flushed on purpose) and starts it again with the
    /// same directories and configuration, on the same port; waits for `/readyz`.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let config_path = self.root.path().join("server.toml");
        let mut config: toml::Table = std::fs::read_to_string(&config_path)?.parse()?;
        let port = self.base_url.rsplit(':').next().unwrap_or("0").to_owned();
        if let Some(server) = config.get_mut("server").and_then(toml::Value::as_table_mut) {
            server.insert("bind".into(), toml::Value::String(format!("127.0.0.1:{port}")));
        }
        std::fs::write(&config_path, config.to_string())?;
        let (child, base_url) = launch(&config_path, &self.log)?;
        self.child = child;
        self.base_url = base_url;
        self.wait_ready(Duration::from_secs(60)).await
    }

    /// The process id (to send signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the process to exit; returns its exit status, or `None` if it is
    /// still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The audit log (`<data_dir>/audit.jsonl`), one JSON value per line.
    pub fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.root.path().join("data").join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The plugin directory.
    pub fn plugins_dir(&self) -> PathBuf {
        self.root.path().join("plugins")
    }

    /// The MCP endpoint URL.
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base_url)
    }

    /// Everything Warden logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self, limit: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(r) = self.http.get(format!("{}/readyz", self.base_url)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("warden never became ready:\n{}", self.log())
    }

    /// `GET /readyz` as JSON.
    pub async fn readyz(&self) -> anyhow::Result<Value> {
        Ok(self.http.get(format!("{}/readyz", self.base_url)).send().await?.json().await?)
    }

    /// A connected MCP client speaking the newest protocol version rmcp knows.
    pub async fn client(&self) -> anyhow::Result<McpClient> {
        connect_with(self.http.clone(), &self.mcp_url(), None, None).await
    }

    /// A connected MCP client that sends `token` as its bearer token.
    pub async fn client_with_token(&self, token: &str) -> anyhow::Result<McpClient> {
        connect_with(self.http.clone(), &self.mcp_url(), None, Some(token)).await
    }

    /// A token from `warden token` (local mode) for this running server: same config, with its
    /// actual URL as issuer and resource.
    pub fn local_token(&self, sub: &str, scope: &str) -> anyhow::Result<String> {
        self.local_token_with(sub, scope, &[])
    }

    /// Like [`Warden::local_token`], with extra `NAME=VALUE` claims (`warden token --claim`).
    pub fn local_token_with(&self, sub: &str, scope: &str, claims: &[&str]) -> anyhow::Result<String> {
        let mut command = Command::new(warden_binary());
        command
            .args(["token", "--config"])
            .arg(self.root.path().join("server.toml"))
            .args(["--sub", sub, "--scope", scope, "--audience", &self.mcp_url()])
            .env("WARDEN__SERVER__PUBLIC_URL", format!("\"{}\"", self.base_url));
        for c in claims {
            command.args(["--claim", c]);
        }
        let out = command.output()?;
        if !out.status.success() {
            bail!("warden token failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    /// How many tool calls the server has run so far (from its log).
    pub fn tool_calls_logged(&self) -> usize {
        self.log().lines().filter(|l| l.contains("tool called")).count()
    }

    /// A connected MCP client that negotiates `2025-11-25` (initialize + session), whose
    /// `tools/list_changed` notifications arrive on the returned receiver.
    pub async fn session_client(&self) -> anyhow::Result<(McpClient, mpsc::UnboundedReceiver<()>)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let client = connect(&self.mcp_url(), Some(tx), None).await?;
        Ok((client, rx))
    }
}

impl Drop for Warden {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

async fn connect(
    url: &str,
    list_changed: Option<mpsc::UnboundedSender<()>>,
    token: Option<&str>,
) -> anyhow::Result<McpClient> {
    connect_with(reqwest::Client::new(), url, list_changed, token).await
}

/// Connects an rmcp client over `http` (e.g. a client that trusts a test CA).
pub async fn connect_with(
    http: reqwest::Client,
    url: &str,
    list_changed: Option<mpsc::UnboundedSender<()>>,
    token: Option<&str>,
) -> anyhow::Result<McpClient> {
    let mut info = ClientConfig::default();
    if list_changed.is_some() {
        info.protocol_version = ProtocolVersion::V_2025_11_25;
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

/// Starts `warden serve --config config_path`, logging to `log` (appended); returns the child
/// and the URL it listens on.
fn launch(config_path: &Path, log: &Path) -> anyhow::Result<(Child, String)> {
    let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    let mut child = Command::new(warden_binary())
        .args(["serve", "--config"])
        .arg(config_path)
        .env("WARDEN_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .context("spawn warden")?;
    let Some(base_url) = listening_url(&mut child, Duration::from_secs(60)) else {
        let _ = child.kill();
        bail!("warden did not start:\n{}", std::fs::read_to_string(log).unwrap_or_default());
    };
    Ok((child, base_url))
}

/// Polls `check` every 50 ms until it returns true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
