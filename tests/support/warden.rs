//! [`Warden`]: a running `warden serve` with its own directories, started from a config the test
//! merges into a minimal one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::mcp::{McpClient, McpPost, connect, connect_with};
use crate::{listening_url, warden_binary};

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

    /// A hand-made POST to [`Warden::mcp_url`] over [`Warden::http`] (see [`McpPost`]).
    pub fn mcp_post(&self) -> McpPost {
        McpPost::new(self.mcp_url()).over(&self.http)
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

    /// A connected MCP client speaking the newest protocol version rmcp knows (today
    /// [`LATEST_PROTOCOL`](crate::LATEST_PROTOCOL)).
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

    /// A connected MCP client that negotiates [`SESSION_PROTOCOL`](crate::SESSION_PROTOCOL)
    /// (initialize + session), whose `tools/list_changed` notifications arrive on the returned
    /// receiver.
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
    match listening_url(&mut child, Duration::from_secs(60)) {
        Ok(base_url) => Ok((child, base_url)),
        Err(how) => bail!(
            "warden did not start: {how}\nits log (stderr):\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        ),
    }
}
