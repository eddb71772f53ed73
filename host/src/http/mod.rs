//! The HTTP surface: `/mcp` (rmcp Streamable HTTP), `/healthz`, `/readyz`.

mod health;
mod jsonrpc_guard;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::auth;
use crate::config::Config;
use crate::mcp::{McpState, WardenMcp};

/// Builds the router. `public_url` is the base URL clients use; its host joins the allowed
/// `Host` values. Cancelling `shutdown` closes open MCP streams so a graceful stop can finish.
pub fn router(
    config: &Config,
    public_url: &str,
    state: Arc<McpState>,
    shutdown: CancellationToken,
) -> Router {
    let mcp_config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(allowed_hosts(config, public_url))
        .with_allowed_origins(config.server.allowed_origins.clone())
        .enforce_origin_validation()
        .with_max_request_body_bytes(config.server.max_body_bytes)
        .with_cancellation_token(shutdown);
    let mcp_state = state.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(WardenMcp::new(mcp_state.clone())),
        Arc::new(LocalSessionManager::default()),
        mcp_config,
    );
    let mode = config.auth.mode;
    let max_body = config.server.max_body_bytes;
    Router::new()
        .route_service("/mcp", mcp)
        .route_layer(middleware::from_fn(move |req, next| auth::attach_identity(mode, req, next)))
        .route_layer(middleware::from_fn(move |req, next| {
            jsonrpc_guard::reject_malformed(max_body, req, next)
        }))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
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
