//! The HTTP surface: `/mcp` (rmcp Streamable HTTP behind authentication, with Warden's own
//! answer to a plain stateless `tools/call` in `fast_path`), the RFC 9728
//! protected-resource metadata, the local issuer's JWKS, `/healthz`, `/readyz` and `/metrics`
//! (on the admin listener when there is one), and the listeners themselves (TLS, timeouts,
//! graceful shutdown).

mod fast_path;
mod health;
mod jsonrpc_guard;
pub(crate) mod listener;
mod protected_resource;
mod scrape;
pub(crate) mod tls;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::routing::{any, get};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::config::Config;
use crate::limits::CallLimits;
use crate::mcp::{McpState, WardenMcp};
use crate::resource_server::{self as auth, Authenticator};

/// What the non-MCP handlers need.
#[derive(Clone)]
pub(crate) struct AppState {
    /// Plugins and runtime.
    pub mcp: Arc<McpState>,
    /// Token verification and resource metadata.
    pub auth: Arc<Authenticator>,
    /// Rate and concurrency limits on tool calls.
    pub limits: Arc<CallLimits>,
    /// Set once shutdown has begun: `/readyz` answers 503 so load balancers stop sending traffic.
    pub draining: Arc<AtomicBool>,
    /// The OIDC proxy's authorization server (`auth.mode = "oidc-proxy"`).
    pub oidc: Option<Arc<crate::oidc_proxy::OidcProxy>>,
}

/// The admin listener's router: `/metrics`, `/healthz`, `/readyz`, no authentication and no
/// `Host` check (probes come by pod IP). Bind it where only operators reach it.
pub(crate) fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
}

/// Builds the router. `public_url` is the base URL clients use; its host joins the allowed
/// `Host` values. Cancelling `shutdown` closes open MCP streams so a graceful stop can finish.
pub(crate) fn router(
    config: &Config,
    public_url: &str,
    state: AppState,
    shutdown: CancellationToken,
) -> Router {
    let hosts = allowed_hosts(config, public_url);
    let mcp_config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts.clone())
        .with_allowed_origins(allowed_origins(config, public_url))
        .enforce_origin_validation()
        .with_max_request_body_bytes(config.server.max_body_bytes)
        // A stateless answer with nothing before it (no progress, no log message) is written as
        // one `application/json` body, in one write; anything else streams as SSE.
        .with_json_response(true)
        .with_cancellation_token(shutdown);
    let mcp_state = state.mcp.clone();
    let sessions = Arc::new(LocalSessionManager::default());
    // Shared, not cloned: the router clones its handler for every request, and rmcp's service
    // would bring its whole config (the host and origin lists) along each time.
    let mcp = Arc::new(StreamableHttpService::new(
        move || Ok(WardenMcp::new(mcp_state.clone())),
        sessions.clone(),
        mcp_config,
    ));
    let guard = Arc::new(jsonrpc_guard::Guard {
        max_body_bytes: config.server.max_body_bytes,
        auth: state.auth.clone(),
        limits: state.limits.clone(),
        mcp: state.mcp.clone(),
        hosts: fast_path::AllowedHosts::new(&hosts),
    });
    let front = Arc::new(Front { auth: state.auth.clone(), mcp: state.mcp.clone(), guard, sessions });
    // Layers run outermost-last: CORS and the body timeout, then `mcp_front` (authentication,
    // the POST count, the JSON-RPC guard, which answers the hot request itself).
    let mcp_routes = Router::new()
        .route(
            "/mcp",
            any(move |request: axum::extract::Request| {
                let mcp = mcp.clone();
                async move { mcp.handle(request).await }
            }),
        )
        .route_layer(middleware::from_fn_with_state(front, mcp_front))
        .layer(RequestBodyTimeoutLayer::new(Duration::from_millis(config.server.body_read_timeout_ms)))
        .layer(mcp_cors(config, public_url));

    let mut well_known = Router::new()
        .route("/.well-known/oauth-protected-resource", get(protected_resource::protected_resource))
        .route("/.well-known/oauth-protected-resource/mcp", get(protected_resource::protected_resource));
    if state.auth.local_issuer().is_some() {
        well_known = well_known.route("/.well-known/jwks.json", get(protected_resource::local_jwks));
    }
    // Metadata is public: any origin may read it (seed 001's preflight checks).
    let well_known = well_known
        .layer(CorsLayer::new().allow_origin(Any).allow_methods([Method::GET, Method::OPTIONS]))
        .with_state(state.clone());

    let mut router = Router::new()
        .merge(mcp_routes)
        .merge(well_known)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    if config.server.admin_bind.is_none() {
        router = router.route("/metrics", get(scrape::metrics));
    }
    if let Some(proxy) = &state.oidc {
        router = router.merge(crate::oidc_proxy::routes(proxy.clone()));
    }
    // hyper's buffer limit holds for a connection's first request head only (the buffer has grown
    // by the time a reused keep-alive connection sends the next), so every request is measured.
    let max_head = config.server.max_header_bytes;
    router
        .layer(middleware::from_fn(move |request: axum::extract::Request, next: middleware::Next| {
            head_limit(max_head, request, next)
        }))
        .with_state(state)
}

/// What [`mcp_front`] needs.
struct Front {
    /// Authentication.
    auth: Arc<Authenticator>,
    /// Where POSTs are counted.
    mcp: Arc<McpState>,
    /// The JSON-RPC guard.
    guard: Arc<jsonrpc_guard::Guard>,
    /// rmcp's sessions (for `DELETE`).
    sessions: Arc<LocalSessionManager>,
}

/// The `/mcp` middleware, in one layer (each `from_fn` layer costs a boxed service clone and a
/// boxed future per request): authenticates every request but a CORS preflight (401/403 from
/// `resource_server::identify`), counts a `POST` in [`McpState::posts_in_flight`] from its arrival
/// until its response body has been sent or dropped (for graceful shutdown), runs the JSON-RPC
/// guard on it, and answers 404 to a `DELETE` of a session this server does not hold.
async fn mcp_front(
    axum::extract::State(front): axum::extract::State<Arc<Front>>,
    mut request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    if request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    if let Err(refusal) = auth::identify(&front.auth, &mut request).await {
        return refusal;
    }
    if request.method() == Method::DELETE {
        return delete_known_sessions_only(&front.sessions, request, next).await;
    }
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    // A `subscriptions/listen` stream (2026-07-28, named in its Mcp-Method header) stays open
    // until the client leaves: it is closed at shutdown, not waited for.
    let listen = request.headers().get("mcp-method").is_some_and(|m| m == "subscriptions/listen");
    let open = (!listen).then(|| OpenPost::start(front.mcp.clone()));
    let response = jsonrpc_guard::guard(&front.guard, request, next).await;
    match open {
        None => response,
        Some(open) => {
            let (parts, body) = response.into_parts();
            axum::response::Response::from_parts(parts, axum::body::Body::new(Counted { body, _open: open }))
        }
    }
}

/// One counted `POST /mcp`; uncounted when dropped.
struct OpenPost(Arc<McpState>);

impl OpenPost {
    fn start(mcp: Arc<McpState>) -> OpenPost {
        mcp.posts_in_flight.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        OpenPost(mcp)
    }
}

impl Drop for OpenPost {
    fn drop(&mut self) {
        self.0.posts_in_flight.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted until the body is done with.
struct Counted {
    body: axum::body::Body,
    _open: OpenPost,
}

impl http_body::Body for Counted {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// `DELETE /mcp` of a session this server does not hold is 404, as a POST or GET for it is
/// (rmcp's own handler answers 202 to any session id).
async fn delete_known_sessions_only(
    sessions: &LocalSessionManager,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use rmcp::transport::streamable_http_server::session::SessionManager;
    if let Some(id) = request.headers().get("mcp-session-id").and_then(|v| v.to_str().ok())
        && !sessions.has_session(&Arc::from(id)).await.unwrap_or(false)
    {
        return (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response();
    }
    next.run(request).await
}

/// Answers 431 (and closes the connection) for a request whose head (request line and headers) is
/// over `max` bytes, on every request of a connection, not only its first.
async fn head_limit(
    max: usize,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let uri = request.uri();
    let head = request.method().as_str().len()
        + uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |p| p.as_str().len())
        + request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum::<usize>();
    if head > max {
        use axum::response::IntoResponse;
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            [(header::CONNECTION, HeaderValue::from_static("close"))],
            format!("the request head is over the {max}-byte limit (server.max_header_bytes)"),
        )
            .into_response();
    }
    next.run(request).await
}

/// CORS for `/mcp`: only the configured browser origins, with the MCP and auth headers.
fn mcp_cors(config: &Config, public_url: &str) -> CorsLayer {
    let origins: Vec<HeaderValue> =
        allowed_origins(config, public_url).iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    let mcp_headers = ["mcp-session-id", "mcp-protocol-version", "mcp-method", "mcp-name", "last-event-id"];
    let mut allow: Vec<HeaderName> = vec![header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT];
    allow.extend(mcp_headers.iter().map(|h| HeaderName::from_static(h)));
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers(allow)
        .expose_headers([HeaderName::from_static("mcp-session-id"), header::WWW_AUTHENTICATE])
}

/// Browser origins accepted on `/mcp`: Warden's own public origin (a page it serves, and the
/// DNS-rebinding check's same-origin probe) plus the configured ones. Any other `Origin` is 403.
fn allowed_origins(config: &Config, public_url: &str) -> Vec<String> {
    let mut origins = config.server.allowed_origins.clone();
    if let Ok(url) = url::Url::parse(public_url) {
        let own = url.origin().ascii_serialization();
        // An opaque origin serializes as "null", which must never be allowed.
        if own != "null" && !origins.contains(&own) {
            origins.push(own);
        }
    }
    origins
}

/// `Host` values accepted on `/mcp`: loopback names, the public URL's host, and configured extras.
fn allowed_hosts(config: &Config, public_url: &str) -> Vec<String> {
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if let Some(authority) =
        public_url.split_once("://").map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
    {
        hosts.push(authority.to_owned());
    }
    hosts.extend(config.server.allowed_hosts.iter().cloned());
    hosts
}
