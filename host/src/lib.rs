//! Warden: hosts MCP tools as sandboxed WebAssembly components behind OAuth 2.1 / OIDC.
//!
//! Rooms: [`config`] (server.toml), [`http`] (axum router and probes), [`auth`] (who is calling),
//! [`mcp`] (the rmcp handler), [`plugins`] (manifests, wasmtime runtime, registry, hot reload),
//! [`db`] (the impersonating ODBC pool), [`teams`] (who may use which team's tools), [`limits`]
//! (rate and concurrency), [`telemetry`] (audit log and metrics), [`store`] (the state store the
//! OIDC proxy will keep its codes, transactions and registrations in: redb or Redis, sealed),
//! [`oauth`] (the proxy's authorization-server side, in progress: redirect-URI rules so far).

pub mod auth;
pub mod config;
pub mod db;
pub mod http;
pub mod limits;
pub mod mcp;
pub mod oauth;
pub mod plugins;
pub mod private_files;
pub mod store;
pub mod teams;
pub mod telemetry;
