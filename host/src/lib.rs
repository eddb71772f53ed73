//! Warden: hosts MCP tools as sandboxed WebAssembly components behind OAuth 2.1 / OIDC.
//!
//! # Rooms, and which way their dependencies point
//!
//! Each room may use only the rooms on lines above its own (a test, `layering`, keeps this
//! true by reading every `crate::` path in `src/`):
//!
//! | layer | room | what it holds |
//! |---|---|---|
//! | 0 | [`shared`] | vocabulary every room shares: the caller's [`shared::Identity`], database access grants, accepted algorithms, secret references, minisign keys, redirect-URI rules, owner-only files |
//! | 1 | [`config`] | `server.toml`: data, embedded defaults, environment overrides, validation with actionable errors |
//! | 2 | [`telemetry`] | the audit log and Prometheus metrics |
//! | 3 | [`resource_server`] | who is calling: bearer tokens verified (JWT/JWKS, introspection, local key), challenges, identity |
//! | 3 | [`db`] | the ODBC pool that impersonates the caller, the SQL guard, dialects |
//! | 3 | `store` | the state store of the OIDC proxy (redb or Redis, every value sealed) |
//! | 3 | [`teams`], [`limits`] | who may use which team's tools; rate and concurrency limits per caller and plugin |
//! | 3 | [`outbound`] | outbound HTTP as the caller: destinations, credentials, SSRF-safe connect, limits |
//! | 4 | [`plugins`] | manifests, the wasmtime runtime and host imports, the registry, hot reload, signatures |
//! | 5 | `mcp` | the rmcp handler: tools listed and called for one identity |
//! | 6 | `oidc_proxy` | Warden as the OAuth authorization server in front of an upstream IdP |
//! | 7 | `http` | the axum routers, TLS, the JSON-RPC guard, probes and metrics endpoints |
//! | 8 | [`app`] | assembly: build everything from a config, serve, shut down |
//! | 9 | [`cli`] | the command line (the binary is two lines over it) |
//!
//! Rooms on one layer do not use each other. Errors are `thiserror` enums everywhere but in
//! [`cli`], the binary's edge, which uses `anyhow`.

#![deny(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod db;
mod http;
pub mod limits;
mod mcp;
mod oidc_proxy;
pub mod outbound;
pub mod plugins;
pub mod resource_server;
pub mod shared;
mod store;
pub mod teams;
pub mod telemetry;

#[cfg(test)]
mod layering;
