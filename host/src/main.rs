//! The `warden` binary: `serve`, `check`, `plugins`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum_server::Handle;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use warden::auth::Authenticator;
use warden::config::{AuthMode, Config};
use warden::db::Database;
use warden::http::AppState;
use warden::limits::CallLimits;
use warden::mcp::McpState;
use warden::plugins::directory::Origin;
use warden::plugins::signature::TrustPolicy;
use warden::plugins::{Ceilings, LoadReport, PluginDirectory, Registry, Runtime};
use warden::teams::Teams;
use warden::telemetry::{AuditLog, Metrics, Telemetry};

/// Warden hosts MCP tools as sandboxed WebAssembly components.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the server.
    Serve {
        /// Configuration file (TOML); without it the embedded defaults apply.
        #[arg(long, short, env = "WARDEN_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Validates the configuration and every plugin, prints the tools table; exits non-zero on
    /// any error.
    Check {
        /// Configuration file (TOML).
        #[arg(long, short, env = "WARDEN_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Lists the plugins in the plugin directory and whether each loads.
    Plugins {
        /// Configuration file (TOML).
        #[arg(long, short, env = "WARDEN_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Fetches `url` and exits 0 on a 2xx answer: the container health check, with no curl needed.
    Probe {
        /// The URL, e.g. http://127.0.0.1:9100/healthz.
        url: String,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
    },
    /// Prints an access token signed with the local issuer key (`auth.mode = "local"`).
    Token {
        /// Configuration file (TOML).
        #[arg(long, short, env = "WARDEN_CONFIG")]
        config: Option<PathBuf>,
        /// Subject (`sub`) of the token.
        #[arg(long)]
        sub: String,
        /// Space-separated scopes, e.g. "tool:greet tool:whoami".
        #[arg(long, default_value = "")]
        scope: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// Audience; defaults to the server's resource URL (<public_url>/mcp).
        #[arg(long)]
        audience: Option<String>,
        /// Extra claims as NAME=VALUE (VALUE is read as JSON when it parses, else as a string),
        /// e.g. --claim org_id=sales --claim 'groups=["ops","sales"]'. Repeatable.
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
    },
    /// Rolls the token signing key and the store's sealing key over (then restart every
    /// replica): the old signing key stays published, the old sealing key keeps opening what
    /// it sealed, so no session is lost.
    RotateKeys {
        /// Configuration file (TOML).
        #[arg(long, short, env = "WARDEN_CONFIG")]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { config } => serve(config).await.map(|()| ExitCode::SUCCESS),
            Command::Check { config } => check(config, true).await,
            Command::Plugins { config } => check(config, false).await,
            Command::Probe { url, timeout_ms } => Ok(probe(&url, timeout_ms).await),
            Command::RotateKeys { config } => {
                let config = Config::load(config.as_deref())?;
                let rotated = warden::oauth::rotate_keys(&config.keys_dir())?;
                println!(
                    "signing key: {} (the previous one stays published as retired)",
                    rotated.signing_kid
                );
                println!("sealing key: {}", rotated.sealing_key_id);
                println!("restart every replica to use them");
                Ok(ExitCode::SUCCESS)
            }
            Command::Token { config, sub, scope, ttl, audience, claims } => {
                token(config, &sub, &scope, ttl, audience, &claims).map(|()| ExitCode::SUCCESS)
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = EnvFilter::try_from_env("WARDEN_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,wasmtime=warn,cranelift=warn,rmcp=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

struct Parts {
    config: Config,
    runtime: Arc<Runtime>,
    registry: Arc<Registry>,
    directories: Vec<PluginDirectory>,
    telemetry: Telemetry,
}

/// Everything but the listeners. `audit` opens the audit log (`serve`); other commands keep quiet.
fn build(config_path: Option<PathBuf>, audit: bool) -> anyhow::Result<Parts> {
    let config = Config::load(config_path.as_deref())?;
    std::fs::create_dir_all(&config.server.data_dir)
        .with_context(|| format!("server.data_dir: cannot create {}", config.server.data_dir.display()))?;
    let audit_log = match config.audit_path().filter(|_| audit) {
        Some(path) => {
            AuditLog::open(&path).with_context(|| format!("audit.path: cannot open {}", path.display()))?
        }
        None => AuditLog::disabled(),
    };
    let telemetry = Telemetry { audit: Arc::new(audit_log), metrics: Arc::new(Metrics::default()) };
    let database = Database::open(&config)?;
    let runtime = Arc::new(Runtime::new(&config.runtime, &config.server.data_dir)?.with_database(database));
    let registry = Arc::new(Registry::default());

    let shared = Origin {
        team: None,
        ceilings: Ceilings::server(&config.runtime),
        trust: TrustPolicy::from_config(config.plugins.require_signatures, &config.plugins.trusted_keys),
    };
    let mut sources = vec![(config.plugins.dir.clone(), "plugins.dir".to_owned(), shared)];
    for (i, team) in config.teams.iter().enumerate() {
        let origin = Origin {
            team: Some(team.name.clone()),
            ceilings: Ceilings::team(&config.runtime, team),
            trust: TrustPolicy::from_config(team.require_signatures, &team.trusted_keys),
        };
        sources.push((team.plugins_dir.clone(), format!("teams[{i}].plugins_dir"), origin));
    }
    let mut directories = Vec::new();
    for (dir, field, origin) in sources {
        std::fs::create_dir_all(&dir).with_context(|| format!("{field}: cannot create {}", dir.display()))?;
        directories.push(PluginDirectory::new(
            dir,
            runtime.clone(),
            registry.clone(),
            origin,
            telemetry.clone(),
        ));
    }
    Ok(Parts { config, runtime, registry, directories, telemetry })
}

/// Binds `addr` (the error names `field`).
fn bind(addr: SocketAddr, field: &str) -> anyhow::Result<std::net::TcpListener> {
    std::net::TcpListener::bind(addr).with_context(|| format!("{field}: cannot listen on {addr}"))
}

async fn serve(config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let Parts { config, runtime, registry, directories, telemetry } = build(config_path, true)?;
    let listener = bind(config.server.bind, "server.bind")?;
    let bound = listener.local_addr()?;
    let admin_listener = config.server.admin_bind.map(|a| bind(a, "server.admin_bind")).transpose()?;
    let tls = config.server.tls.as_ref().map(warden::http::tls::load_and_watch).transpose()?;
    let public_url = config.public_url(bound);

    let auth = Arc::new(Authenticator::new(&config, bound)?.with_telemetry(telemetry.clone()));
    auth.spawn_key_maintenance(Duration::from_secs(config.auth.jwks_refresh_s));
    let oidc = if config.auth.mode == AuthMode::OidcProxy {
        let store = Arc::new(warden::oauth::open_store(&config).await?);
        let signer = auth.local_issuer().cloned().context("oidc-proxy mode always has a signing key")?;
        let proxy =
            Arc::new(warden::oauth::OidcProxy::new(&config, bound, store, signer, telemetry.clone())?);
        proxy.spawn_maintenance(Duration::from_secs(config.auth.jwks_refresh_s));
        tracing::info!(
            callback = %proxy.upstream.callback_url,
            "OIDC proxy on: list the callback URL exactly in the IdP application's allowed callback URLs"
        );
        Some(proxy)
    } else {
        None
    };
    let mcp = Arc::new(McpState {
        registry: registry.clone(),
        runtime,
        page_size: config.plugins.page_size,
        enforce_scopes: auth.enforces_scopes(),
        teams: Teams::from_config(&config.teams),
        telemetry,
        in_flight: AtomicUsize::new(0),
    });
    let state = AppState {
        mcp: mcp.clone(),
        auth,
        limits: Arc::new(CallLimits::new(&config.limits)),
        draining: Arc::new(AtomicBool::new(false)),
        oidc,
    };
    let streams = CancellationToken::new();
    let app = warden::http::router(&config, &public_url, state.clone(), streams.clone());

    // Serve right away (probes answer, /readyz says 503) while the plugins load.
    let poll = Duration::from_millis(config.plugins.poll_interval_ms);
    let pending = Arc::new(AtomicUsize::new(directories.len()));
    for mut directory in directories {
        let (registry, pending) = (registry.clone(), pending.clone());
        tokio::spawn(async move {
            let reports = directory.load_all().await;
            let loaded = reports.iter().filter(|r| r.result.is_ok()).count();
            tracing::info!(dir = %directory.dir().display(), loaded, refused = reports.len() - loaded, "initial plugin scan done");
            if pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                registry.set_ready();
            }
            directory.watch(poll).await;
        });
    }

    let handle: Handle<SocketAddr> = Handle::new();
    let admin_handle: Handle<SocketAddr> = Handle::new();
    tracing::info!(url = %format!("{public_url}/mcp"), auth = ?config.auth.mode, tls = tls.is_some(), "warden is serving");
    // Stable lines on stdout for scripts and tests that start Warden on port 0.
    println!("listening on {}://{bound}", config.scheme());
    if let Some(admin) = admin_listener {
        println!("admin listening on http://{}", admin.local_addr()?);
        let (router, h, server) =
            (warden::http::admin_router(state.clone()), admin_handle.clone(), config.server.clone());
        tokio::spawn(async move {
            if let Err(e) = warden::http::listener::serve(admin, router, &server, None, h).await {
                tracing::error!(error = %e, "the admin listener failed");
            }
        });
    }

    let grace = Duration::from_secs(config.server.shutdown_grace_s);
    let (stopping, stop_handle, stop_admin) = (state.draining.clone(), handle.clone(), admin_handle.clone());
    tokio::spawn(async move {
        shutdown_signal().await;
        drain(&stopping, &stop_handle, &mcp, &streams, grace).await;
        stop_admin.graceful_shutdown(Some(Duration::from_secs(1)));
    });
    warden::http::listener::serve(listener, app, &config.server, tls, handle)
        .await
        .context("the HTTP server failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// Graceful shutdown: `/readyz` turns 503, no new connections are accepted, in-flight tool calls
/// get up to `grace` to finish, then open MCP streams are closed and remaining connections cut.
async fn drain(
    draining: &AtomicBool,
    handle: &Handle<SocketAddr>,
    mcp: &McpState,
    streams: &CancellationToken,
    grace: Duration,
) {
    let started = Instant::now();
    draining.store(true, Ordering::Release);
    let running = mcp.in_flight.load(Ordering::Acquire);
    tracing::info!(
        in_flight_calls = running,
        grace_s = grace.as_secs(),
        "shutting down: finishing in-flight calls"
    );
    handle.graceful_shutdown(Some(grace));
    while mcp.in_flight.load(Ordering::Acquire) > 0 && started.elapsed() < grace {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = mcp.in_flight.load(Ordering::Acquire);
    if left > 0 {
        tracing::warn!(abandoned_calls = left, "shutdown grace period over; cutting the remaining calls");
    }
    // Long-lived MCP streams (GET /mcp) would otherwise hold their connections until the deadline.
    streams.cancel();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// `probe`: GET `url`; success on 2xx.
async fn probe(url: &str, timeout_ms: u64) -> ExitCode {
    let client = match reqwest::Client::builder().timeout(Duration::from_millis(timeout_ms)).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("probe: {e}");
            return ExitCode::FAILURE;
        }
    };
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("probe: {url} answered {}", r.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("probe: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `token`: mints a local-mode access token.
fn token(
    config_path: Option<PathBuf>,
    sub: &str,
    scope: &str,
    ttl: u64,
    audience: Option<String>,
    claims: &[String],
) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref())?;
    if config.auth.mode != AuthMode::Local {
        anyhow::bail!(
            "auth.mode is {:?}: `warden token` mints tokens only for local mode; get tokens from your IdP instead",
            config.auth.mode
        );
    }
    let bound = config.server.bind;
    let issuer = config.issuer(bound).context("local mode always has an issuer")?;
    let audience = audience.unwrap_or_else(|| config.audience(bound));
    let mut extra = serde_json::Map::new();
    for c in claims {
        let (name, value) =
            c.split_once('=').with_context(|| format!("--claim {c:?}: write it as NAME=VALUE"))?;
        let value =
            serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        extra.insert(name.to_owned(), value);
    }
    let issuer_key = warden::auth::local::LocalIssuer::load_or_create(&config.keys_dir())?;
    println!("{}", issuer_key.mint_with(&issuer, &audience, sub, scope, ttl, extra)?);
    Ok(())
}

/// `check` (tools table, strict) and `plugins` (one line per plugin).
async fn check(config_path: Option<PathBuf>, strict: bool) -> anyhow::Result<ExitCode> {
    let Parts { config, directories, .. } = build(config_path, false)?;
    let mut reports = Vec::new();
    for mut directory in directories {
        reports.extend(directory.load_all().await);
    }
    if strict {
        println!("configuration OK (plugins from {})", config.plugins.dir.display());
        print_tools_table(&reports);
    } else {
        print_plugins(&reports);
    }
    let failures: Vec<&LoadReport> = reports.iter().filter(|r| r.result.is_err()).collect();
    for r in &reports {
        for w in &r.warnings {
            eprintln!("warning: {}: {w}", r.source);
        }
    }
    for r in &failures {
        if let Err(e) = &r.result {
            eprintln!("error: plugin {}: {e}", r.source);
        }
    }
    Ok(if strict && !failures.is_empty() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn print_tools_table(reports: &[LoadReport]) {
    let mut rows = vec![[
        "TOOL".to_owned(),
        "SCOPES".to_owned(),
        "MEMORY".to_owned(),
        "TIMEOUT".to_owned(),
        "DATABASE".to_owned(),
    ]];
    for r in reports {
        let Ok(p) = &r.result else { continue };
        for t in &p.tools {
            let scopes = if t.grant.scopes.is_empty() { "-".to_owned() } else { t.grant.scopes.join(" ") };
            rows.push([
                t.name.clone(),
                scopes,
                format!("{} MiB", p.manifest.limits.memory_bytes / (1024 * 1024)),
                format!("{} ms", p.manifest.limits.timeout_ms),
                format!("{:?}", p.manifest.database).to_lowercase(),
            ]);
        }
    }
    print_table(&rows);
}

fn print_plugins(reports: &[LoadReport]) {
    let mut rows = vec![["SOURCE".to_owned(), "PLUGIN".to_owned(), "SHA256".to_owned(), "STATUS".to_owned()]];
    for r in reports {
        rows.push(match &r.result {
            Ok(p) => [
                r.source.clone(),
                p.manifest.namespace(),
                p.sha256.chars().take(12).collect(),
                format!("ok, {} tool(s)", p.tools.len()),
            ],
            Err(e) => [r.source.clone(), "-".into(), "-".into(), format!("refused: {e}")],
        });
    }
    print_table(&rows);
}

fn print_table<const N: usize>(rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", line.join("  ").trim_end());
    }
}
