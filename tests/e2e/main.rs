//! Warden end to end: the real `warden` binary, real plugin components, real MCP clients, a real
//! OpenID provider, PostgreSQL and Redis; the harness is the `warden_tests` library
//! (`tests/support/`).
//!
//! One test binary, a module per concern, so a change to the harness relinks one binary. Run
//! one concern with `cargo nextest run -p warden-tests -E 'test(/^limits::/)'`. Tests that need
//! Node.js, PostgreSQL or Redis are in the nextest test groups `node`, `postgres` and `redis`
//! (`.config/nextest.toml`). The MCP conformance suite is `conformance::` (Node.js 22+).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a broken set-up stops the test

mod audit_metrics;
mod cli;
mod conformance;
mod contract_0_2;
mod database;
mod hot_reload;
mod limits;
mod mcp_endpoint;
mod oidc_proxy;
mod outbound_http;
mod python_plugins;
mod sandbox_limits;
mod sdk_features;
mod signed_plugins;
mod teams;
mod tls;
mod token_verification;
mod ts_sdk_client;
mod typescript_plugins;
