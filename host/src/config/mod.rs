//! `server.toml`: schema, embedded defaults, environment overrides and validation.
//!
//! Every field has a default, so Warden runs with no file at all. Any field can be overridden by
//! an environment variable `WARDEN__<SECTION>__<KEY>` (e.g. `WARDEN__SERVER__BIND=127.0.0.1:9000`);
//! the value is read as a TOML value when it parses as one, otherwise as a string. Validation
//! errors name the field and say how to fix it.

mod env;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use validate::ConfigError;

/// The whole server configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listener, public URL and host checks.
    pub server: ServerConfig,
    /// How callers are authenticated.
    pub auth: AuthConfig,
    /// Where plugins come from.
    pub plugins: PluginsConfig,
    /// Sandbox limits and instance pool.
    pub runtime: RuntimeConfig,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on. Port 0 picks a free port (printed at start).
    pub bind: SocketAddr,
    /// Public base URL clients use; defaults to `http://<bind>`.
    pub public_url: Option<String>,
    /// Extra `Host` header values accepted besides loopback names and the public URL's host
    /// (protection against DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call `/mcp` (scheme://host[:port]). Empty: any request without an
    /// `Origin` header, and none with one that is not listed.
    pub allowed_origins: Vec<String>,
    /// Largest accepted request body, in bytes (bigger gets 413).
    pub max_body_bytes: usize,
    /// Directory for Warden's own state (compiled plugin cache, keys).
    pub data_dir: PathBuf,
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Authentication mode.
    pub mode: AuthMode,
}

/// How callers are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// No authentication: every caller is anonymous. Allowed only on a loopback bind.
    None,
}

/// `[plugins]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Directory holding `<name>.wasm` + `<name>.toml` pairs.
    pub dir: PathBuf,
    /// How often the directory is checked for changes, in milliseconds.
    pub poll_interval_ms: u64,
    /// Tools per `tools/list` page.
    pub page_size: usize,
}

/// `[runtime]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Plugin instances that may run at once; further calls wait for a free slot.
    pub max_instances: u32,
    /// How long a call may wait for a free instance slot, in milliseconds.
    pub queue_timeout_ms: u64,
    /// Memory a plugin gets when its manifest does not say, in MiB.
    pub default_memory_mb: u64,
    /// The most memory any manifest may ask for, in MiB.
    pub max_memory_mb: u64,
    /// Wall time a call gets when its manifest does not say, in milliseconds.
    pub default_timeout_ms: u64,
    /// The longest wall time any manifest may ask for, in milliseconds.
    pub max_timeout_ms: u64,
    /// The largest result a plugin may return, in KiB.
    pub max_output_kb: u64,
    /// Count instructions so manifests can set `limits.fuel` (costs some speed for every plugin).
    pub fuel_metering: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            public_url: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            max_body_bytes: 1024 * 1024,
            data_dir: PathBuf::from("run/data"),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { mode: AuthMode::None }
    }
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig { dir: PathBuf::from("run/plugins"), poll_interval_ms: 500, page_size: 100 }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            max_instances: 64,
            queue_timeout_ms: 5_000,
            default_memory_mb: 64,
            max_memory_mb: 512,
            default_timeout_ms: 5_000,
            max_timeout_ms: 60_000,
            max_output_kb: 1024,
            fuel_metering: false,
        }
    }
}

impl Config {
    /// Loads the configuration: embedded defaults, then `path` (if given), then `WARDEN__*`
    /// environment overrides, then validation.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| ConfigError::Read { path: p.to_path_buf(), reason: e.to_string() })?,
            None => String::new(),
        };
        let origin = path.map_or_else(|| "embedded defaults".to_owned(), |p| p.display().to_string());
        Self::from_toml(&text, &origin, std::env::vars())
    }

    /// Parses `text` (named `origin` in errors), applies `env` overrides and validates.
    pub fn from_toml(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Parse {
            origin: origin.to_owned(),
            reason: e.to_string(),
        })?;
        env::apply_overrides(&mut table, env)?;
        let config: Config = Config::deserialize(table)
            .map_err(|e| ConfigError::Parse { origin: origin.to_owned(), reason: e.to_string() })?;
        config.validate()?;
        Ok(config)
    }

    /// The public base URL (no trailing slash).
    pub fn public_url(&self, bound: SocketAddr) -> String {
        match &self.server.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        }
    }
}

#[cfg(test)]
mod tests;
