//! The `warden` binary: `serve`, `check`, `plugins`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::serve::ListenerExt;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use warden::auth::Authenticator;
use warden::config::{AuthMode, Config};
use warden::db::Database;
use warden::http::AppState;
use warden::mcp::McpState;
use warden::plugins::{LoadReport, PluginDirectory, Registry, Runtime};

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
            Command::Token { config, sub, scope, ttl, audience } => {
                token(config, &sub, &scope, ttl, audience).map(|()| ExitCode::SUCCESS)
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
    directory: PluginDirectory,
}

fn build(config_path: Option<PathBuf>) -> anyhow::Result<Parts> {
    let config = Config::load(config_path.as_deref())?;
    std::fs::create_dir_all(&config.server.data_dir)
        .with_context(|| format!("server.data_dir: cannot create {}", config.server.data_dir.display()))?;
    std::fs::create_dir_all(&config.plugins.dir)
        .with_context(|| format!("plugins.dir: cannot create {}", config.plugins.dir.display()))?;
    let database = Database::open(&config)?;
    let runtime = Arc::new(Runtime::new(&config.runtime, &config.server.data_dir)?.with_database(database));
    let registry = Arc::new(Registry::default());
    let directory = PluginDirectory::new(
        config.plugins.dir.clone(),
        runtime.clone(),
        registry.clone(),
        config.runtime.clone(),
    );
    Ok(Parts { config, runtime, registry, directory })
}

async fn serve(config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let Parts { config, runtime, registry, mut directory } = build(config_path)?;
    let listener = tokio::net::TcpListener::bind(config.server.bind)
        .await
        .with_context(|| format!("server.bind: cannot listen on {}", config.server.bind))?;
    let bound = listener.local_addr()?;
    let public_url = config.public_url(bound);

    let shutdown = CancellationToken::new();
    let auth = Arc::new(Authenticator::new(&config, bound)?);
    auth.spawn_key_maintenance(Duration::from_secs(config.auth.jwks_refresh_s));
    let mcp = Arc::new(McpState {
        registry: registry.clone(),
        runtime,
        page_size: config.plugins.page_size,
        enforce_scopes: auth.enforces_scopes(),
    });
    let app = warden::http::router(&config, &public_url, AppState { mcp, auth }, shutdown.clone());

    // Serve right away (probes answer, /readyz says 503) while the plugins load.
    let poll = Duration::from_millis(config.plugins.poll_interval_ms);
    let plugins_dir = config.plugins.dir.clone();
    tokio::spawn(async move {
        let reports = directory.load_all().await;
        let loaded = reports.iter().filter(|r| r.result.is_ok()).count();
        tracing::info!(dir = %plugins_dir.display(), loaded, refused = reports.len() - loaded, "initial plugin scan done");
        directory.watch(poll).await;
    });

    tracing::info!(url = %format!("{public_url}/mcp"), auth = ?config.auth.mode, "warden is serving");
    // A stable line on stdout for scripts and tests that start Warden on port 0.
    println!("listening on http://{bound}");

    let stop = shutdown.clone();
    // MCP responses go out as several small SSE writes; without TCP_NODELAY, Nagle's algorithm and
    // delayed ACKs add ~40 ms to every call.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            stop.cancel();
        })
        .await
        .context("the HTTP server failed")
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

/// `token`: mints a local-mode access token.
fn token(
    config_path: Option<PathBuf>,
    sub: &str,
    scope: &str,
    ttl: u64,
    audience: Option<String>,
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
    let issuer_key = warden::auth::local::LocalIssuer::load_or_create(&config.server.data_dir)?;
    println!("{}", issuer_key.mint(&issuer, &audience, sub, scope, ttl)?);
    Ok(())
}

/// `check` (tools table, strict) and `plugins` (one line per plugin).
async fn check(config_path: Option<PathBuf>, strict: bool) -> anyhow::Result<ExitCode> {
    let Parts { config, mut directory, .. } = build(config_path)?;
    let reports = directory.load_all().await;
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
                p.manifest.name.clone(),
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
