//! Application assembly: build every part of Warden from a [`Config`], serve, shut down.
//!
//! The binary (`main.rs`) and the CLI ([`crate::cli`]) are thin layers over [`App`]; tests and
//! benches can start Warden in-process with [`App::build`], [`App::bind`] and
//! [`Listening::serve_until`].

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum_server::Handle;
use tokio_util::sync::CancellationToken;

use crate::config::{AuthMode, Config, ConfigError};
use crate::db::{Database, OpenError};
use crate::http::AppState;
use crate::http::tls::TlsError;
use crate::limits::CallLimits;
use crate::mcp::McpState;
use crate::oidc_proxy::ProxySetupError;
use crate::outbound::{Outbound, OutboundSetupError};
use crate::plugins::directory::Origin;
use crate::plugins::signature::TrustPolicy;
use crate::plugins::{Ceilings, PluginDirectory, Registry, Runtime, RuntimeError};
use crate::resource_server::{AuthSetupError, Authenticator};
use crate::teams::Teams;
use crate::telemetry::{AuditLog, Metrics, Telemetry};

/// Why Warden could not be built or could not keep serving.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The configuration is invalid; the message names each field and its fix.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A directory or file named by a setting cannot be created or opened.
    #[error("{field}: cannot {action} {}", path.display())]
    Path {
        /// The setting, e.g. `server.data_dir`.
        field: String,
        /// What was attempted, e.g. "create".
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A listener cannot be bound.
    #[error("{field}: cannot listen on {addr}")]
    Bind {
        /// The setting, e.g. `server.bind`.
        field: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database pool cannot be opened.
    #[error(transparent)]
    Database(#[from] OpenError),
    /// The plugin runtime cannot be created.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// TLS certificates cannot be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Token verification cannot be set up.
    #[error(transparent)]
    Auth(#[from] AuthSetupError),
    /// The OIDC proxy (or its store) cannot be set up.
    #[error(transparent)]
    Proxy(#[from] ProxySetupError),
    /// The HTTP server stopped with an error.
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    /// Outbound HTTP cannot be set up.
    #[error(transparent)]
    Outbound(#[from] OutboundSetupError),
    /// The key that seals input-required request state could not be made.
    #[error("cannot create the request-state key: {0}")]
    RequestState(String),
}

/// Warden, assembled but not yet serving: configuration, runtime, registry, plugin directories
/// and telemetry.
pub struct App {
    /// The validated configuration.
    pub config: Config,
    /// The wasmtime engine with its instance pool and database handle.
    pub runtime: Arc<Runtime>,
    /// The live plugins.
    pub registry: Arc<Registry>,
    /// One watched directory per plugin source (`plugins.dir`, then each team's).
    pub directories: Vec<PluginDirectory>,
    /// Audit log and metrics.
    pub telemetry: Telemetry,
    /// Outbound HTTP lent to plugins.
    pub outbound: Arc<Outbound>,
}

impl App {
    /// Builds everything but the listeners. `audit` opens the audit log (`serve`); other commands
    /// keep quiet.
    pub fn build(config: Config, audit: bool) -> Result<App, AppError> {
        create_dir(&config.server.data_dir, "server.data_dir")?;
        let audit_log = match config.audit_path().filter(|_| audit) {
            Some(path) => AuditLog::open(&path).map_err(|source| AppError::Path {
                field: "audit.path".into(),
                action: "open",
                path: path.clone(),
                source,
            })?,
            None => AuditLog::disabled(),
        };
        let telemetry = Telemetry { audit: Arc::new(audit_log), metrics: Arc::new(Metrics::default()) };
        let database = Database::open(&config)?;
        let outbound = Arc::new(Outbound::new(&config, telemetry.clone())?);
        let runtime = Arc::new(
            Runtime::new(&config.runtime, &config.server.data_dir)?
                .with_database(database)
                .with_outbound(Some(outbound.clone())),
        );
        let registry = Arc::new(Registry::default());

        let shared = Origin {
            team: None,
            ceilings: Ceilings::server(&config.runtime)
                .with_http(&config.http, None)
                .with_database(&config.database),
            trust: TrustPolicy::from_config(config.plugins.require_signatures, &config.plugins.trusted_keys),
        };
        let mut sources = vec![(config.plugins.dir.clone(), "plugins.dir".to_owned(), shared)];
        for (i, team) in config.teams.iter().enumerate() {
            let origin = Origin {
                team: Some(team.name.clone()),
                ceilings: Ceilings::team(&config.runtime, team)
                    .with_http(&config.http, Some(team))
                    .with_database(&config.database),
                trust: TrustPolicy::from_config(team.require_signatures, &team.trusted_keys),
            };
            sources.push((team.plugins_dir.clone(), format!("teams[{i}].plugins_dir"), origin));
        }
        let mut directories = Vec::new();
        for (dir, field, origin) in sources {
            create_dir(&dir, &field)?;
            directories.push(PluginDirectory::new(
                dir,
                runtime.clone(),
                registry.clone(),
                origin,
                telemetry.clone(),
            ));
        }
        Ok(App { config, runtime, registry, directories, telemetry, outbound })
    }

    /// Serves until SIGINT or SIGTERM, then drains (see [`Listening::serve_until`]).
    pub async fn serve(self) -> Result<(), AppError> {
        self.bind()?.serve_until(shutdown_signal()).await
    }

    /// Binds `server.bind` (and `server.admin_bind`); port 0 picks a free port, which
    /// [`Listening::local_addr`] then tells.
    pub fn bind(self) -> Result<Listening, AppError> {
        let listener = bind(self.config.server.bind, "server.bind")?;
        let bound = listener.local_addr().map_err(|source| AppError::Bind {
            field: "server.bind",
            addr: self.config.server.bind,
            source,
        })?;
        let admin = match self.config.server.admin_bind {
            Some(addr) => {
                let admin = bind(addr, "server.admin_bind")?;
                let bound = admin.local_addr().map_err(|source| AppError::Bind {
                    field: "server.admin_bind",
                    addr,
                    source,
                })?;
                Some((admin, bound))
            }
            None => None,
        };
        Ok(Listening { app: self, listener, admin, bound })
    }
}

/// Warden with its listeners bound, not yet serving.
pub struct Listening {
    app: App,
    listener: TcpListener,
    admin: Option<(TcpListener, SocketAddr)>,
    bound: SocketAddr,
}

impl Listening {
    /// The address `server.bind` is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.bound
    }

    /// Serves right away (probes answer, `/readyz` says 503 while the plugins load) and keeps
    /// serving until `shutdown` completes; then `/readyz` turns 503, new connections are refused,
    /// in-flight calls get `server.shutdown_grace_s` to finish, and open MCP streams are closed.
    pub async fn serve_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let Listening { app, listener, admin: admin_listener, bound } = self;
        let App { config, runtime, registry, directories, telemetry, outbound } = app;
        let tls = config.server.tls.as_ref().map(crate::http::tls::load_and_watch).transpose()?;
        let public_url = config.public_url(bound);

        let auth = Arc::new(Authenticator::new(&config, bound)?.with_telemetry(telemetry.clone()));
        auth.spawn_key_maintenance(Duration::from_secs(config.auth.jwks_refresh_s));
        let oidc = if config.auth.mode == AuthMode::OidcProxy {
            let store = Arc::new(crate::oidc_proxy::open_store(&config).await?);
            let signer = auth
                .local_issuer()
                .cloned()
                .ok_or(AuthSetupError::Config("oidc-proxy mode always has a signing key".into()))?;
            let proxy = Arc::new(crate::oidc_proxy::OidcProxy::new(
                &config,
                bound,
                store,
                signer,
                telemetry.clone(),
            )?);
            proxy.spawn_maintenance(Duration::from_secs(config.auth.jwks_refresh_s));
            outbound.set_caller_tokens(proxy.clone());
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
            posts_in_flight: AtomicUsize::new(0),
            request_states: crate::mcp::RequestStates::new(
                config.server.request_state_key().map_err(AppError::RequestState)?,
            )
            .map_err(AppError::RequestState)?,
        });
        let state = AppState {
            mcp: mcp.clone(),
            auth,
            limits: Arc::new(CallLimits::new(&config.limits)),
            draining: Arc::new(AtomicBool::new(false)),
            oidc,
        };
        let streams = CancellationToken::new();
        let router = crate::http::router(&config, &public_url, state.clone(), streams.clone());

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
        if let Some((admin, addr)) = admin_listener {
            println!("admin listening on http://{addr}");
            let (router, h, server) =
                (crate::http::admin_router(state.clone()), admin_handle.clone(), config.server.clone());
            tokio::spawn(async move {
                if let Err(e) = crate::http::listener::serve(admin, router, &server, None, h).await {
                    tracing::error!(error = %e, "the admin listener failed");
                }
            });
        }

        let grace = Duration::from_secs(config.server.shutdown_grace_s);
        let (stopping, stop_handle, stop_admin) =
            (state.draining.clone(), handle.clone(), admin_handle.clone());
        tokio::spawn(async move {
            shutdown.await;
            drain(&stopping, &stop_handle, &mcp, &streams, grace).await;
            stop_admin.graceful_shutdown(Some(Duration::from_secs(1)));
        });
        let audit = state.mcp.telemetry.audit.clone();
        let served = crate::http::listener::serve(listener, router, &config.server, tls, handle).await;
        // The writer batches its flushes: wait for the last lines before the process ends.
        if !tokio::task::spawn_blocking(move || audit.sync(Duration::from_secs(2))).await.unwrap_or(false) {
            tracing::warn!("the audit log writer did not flush its last lines within 2 s");
        }
        served.map_err(AppError::Serve)?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Creates `dir` (the error names `field`).
fn create_dir(dir: &std::path::Path, field: &str) -> Result<(), AppError> {
    std::fs::create_dir_all(dir).map_err(|source| AppError::Path {
        field: field.to_owned(),
        action: "create",
        path: dir.to_path_buf(),
        source,
    })
}

/// Binds `addr` (the error names `field`).
fn bind(addr: SocketAddr, field: &'static str) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr).map_err(|source| AppError::Bind { field, addr, source })
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
    let busy = || mcp.in_flight.load(Ordering::Acquire).max(mcp.posts_in_flight.load(Ordering::Acquire));
    tracing::info!(
        in_flight_calls = busy(),
        grace_s = grace.as_secs(),
        "shutting down: finishing in-flight calls"
    );
    handle.graceful_shutdown(Some(grace));
    while busy() > 0 && started.elapsed() < grace {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = busy();
    if left > 0 {
        tracing::warn!(abandoned_calls = left, "shutdown grace period over; cutting the remaining calls");
    }
    // Long-lived MCP streams (GET /mcp) would otherwise hold their connections until the deadline.
    streams.cancel();
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Warden built, bound to a free port and served in-process: the probe answers, and a
    /// requested shutdown drains, returns cleanly and closes the listener.
    #[tokio::test]
    async fn warden_serves_in_process_and_shuts_down_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[server]\nbind = \"127.0.0.1:0\"\ndata_dir = {:?}\nshutdown_grace_s = 1\n[auth]\nmode = \"none\"\n[plugins]\ndir = {:?}\n",
            dir.path().join("data"),
            dir.path().join("plugins"),
        );
        let config = Config::from_toml(&text, "test.toml", std::iter::empty()).unwrap();
        let listening = App::build(config, false).unwrap().bind().unwrap();
        let addr = listening.local_addr();
        assert_ne!(addr.port(), 0, "port 0 resolved to a real port");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(listening.serve_until(async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        let mut status = None;
        for _ in 0..100 {
            if let Ok(r) = client.get(format!("http://{addr}/healthz")).send().await {
                status = Some(r.status());
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(status, Some(reqwest::StatusCode::OK), "/healthz answers in-process");
        stop.send(()).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap();
        assert!(result.is_ok(), "serve_until returned {result:?}");
        assert!(client.get(format!("http://{addr}/healthz")).send().await.is_err(), "the listener is closed");
    }

    /// A directory that cannot be created is named with its setting, and the OS reason is said
    /// once (the reason is the error's source, not repeated in its message).
    #[test]
    fn a_bad_data_dir_names_the_setting_and_the_reason_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let text = format!("[server]\ndata_dir = {:?}\n[auth]\nmode = \"none\"\n", file.join("data"));
        let config = Config::from_toml(&text, "test.toml", std::iter::empty()).unwrap();
        let Err(err) = App::build(config, false) else { panic!("a data_dir under a file was accepted") };
        let shown = format!("{:#}", anyhow::Error::from(err));
        assert!(shown.starts_with("server.data_dir: cannot create "), "{shown}");
        let reason = std::fs::create_dir_all(file.join("data")).unwrap_err().to_string();
        assert_eq!(shown.matches(&reason).count(), 1, "the reason once: {shown}");
    }
}
