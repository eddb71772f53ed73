//! `server.toml`: schema, embedded defaults, environment overrides and validation.
//!
//! Every field has a default, so Warden runs with no file at all. Any field can be overridden by
//! an environment variable `WARDEN__<SECTION>__<KEY>` (e.g. `WARDEN__SERVER__BIND=127.0.0.1:9000`);
//! the value is read as a TOML value when it parses as one, otherwise as a string. Validation
//! errors name the field and say how to fix it.

mod database;
mod env;
mod http;
mod oidc;
mod teams;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use database::{DatabaseConfig, Impersonation, NameCase, SqlDialect};
pub use http::{ExchangeConfig, HttpConfig, check_destination_url};
pub use oidc::{OidcConfig, StaticClient, StoreBackend, StoreConfig};
pub use teams::{TeamConfig, is_valid_team_name};
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
    /// The ODBC data source plugins query as their caller.
    pub database: DatabaseConfig,
    /// Per-caller and per-plugin rate and concurrency limits on tool calls.
    pub limits: LimitsConfig,
    /// The audit log: one JSON line per security decision.
    pub audit: AuditConfig,
    /// Teams, each with its own plugin directory, scope prefix, ceilings and signing keys.
    pub teams: Vec<TeamConfig>,
    /// The OIDC proxy (`auth.mode = "oidc-proxy"`): the upstream IdP and Warden's own tokens.
    pub oidc: OidcConfig,
    /// Where the OIDC proxy keeps its state: embedded file or Redis.
    pub store: StoreConfig,
    /// Outbound HTTP lent to plugins: reachable ranges, TLS roots, per-call ceilings, secrets.
    pub http: HttpConfig,
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
    /// A second, plain-HTTP listener for `/metrics`, `/healthz` and `/readyz` (keep it private).
    /// Unset: `/metrics` is served on the main listener.
    pub admin_bind: Option<SocketAddr>,
    /// HTTPS: certificate and key PEM files, reloaded when they change.
    pub tls: Option<TlsConfig>,
    /// Largest request head (request line plus headers), in bytes; bigger gets 431.
    pub max_header_bytes: usize,
    /// How long a client may take to send a request head, in milliseconds. Also how long an idle
    /// HTTP/1.1 keep-alive connection and a TLS handshake may last.
    pub header_read_timeout_ms: u64,
    /// How long a client may pause while sending a request body, in milliseconds (then 408).
    pub body_read_timeout_ms: u64,
    /// HTTP/2 keep-alive: a ping every this many seconds; a peer that does not answer within the
    /// same time is disconnected. 0 disables it.
    pub http2_keep_alive_s: u64,
    /// On SIGTERM/Ctrl-C: how long in-flight requests get to finish before connections are closed.
    pub shutdown_grace_s: u64,
    /// The key that seals the `requestState` of input-required results: 64 hex characters (32
    /// bytes), or an `env:`/`file:` reference to them. Give every replica the same key, so a
    /// client's retry may reach any of them. Unset: a random key per process.
    pub request_state_key: Option<Secret>,
}

/// `[server.tls]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, PEM (leaf first).
    pub cert: PathBuf,
    /// Private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// How often the two files are checked for changes, in milliseconds.
    #[serde(default = "default_tls_reload_ms")]
    pub reload_interval_ms: u64,
}

fn default_tls_reload_ms() -> u64 {
    1_000
}

/// `[limits]`: 0 switches a limit off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Tool calls per second one caller (token subject) may make, sustained.
    pub caller_calls_per_s: u32,
    /// Tool calls one caller may make in a burst above the sustained rate.
    pub caller_burst: u32,
    /// Tool calls one caller may have running at once.
    pub caller_concurrency: u32,
    /// Tool calls per second one plugin may receive, sustained, from all callers together.
    pub plugin_calls_per_s: u32,
    /// Burst above the plugin's sustained rate.
    pub plugin_burst: u32,
    /// Tool calls one plugin may have running at once.
    pub plugin_concurrency: u32,
    /// Callers (and plugins) whose rate state is kept; the least recently seen are forgotten
    /// beyond this.
    pub max_tracked_keys: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            caller_calls_per_s: 20,
            caller_burst: 40,
            caller_concurrency: 8,
            plugin_calls_per_s: 500,
            plugin_burst: 1000,
            plugin_concurrency: 64,
            max_tracked_keys: 100_000,
        }
    }
}

/// `[audit]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Write the audit log at all.
    pub enabled: bool,
    /// Where: a file (appended to), `-` for stdout, or `stderr`. Default `<data_dir>/audit.jsonl`.
    pub path: Option<PathBuf>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { enabled: true, path: None }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Authentication mode.
    pub mode: AuthMode,
    /// Token issuer (`iss`). `jwt`: the IdP's issuer; `local`: defaults to the public URL.
    pub issuer: Option<String>,
    /// Expected `aud`. Defaults to this server's resource URL (`<public_url>/mcp`).
    pub audience: Option<String>,
    /// OIDC discovery document URL. Defaults to `<issuer>/.well-known/openid-configuration`.
    pub config_url: Option<String>,
    /// JWKS URL, instead of discovery.
    pub jwks_uri: Option<String>,
    /// Auth0 preset: the tenant domain (e.g. `tenant.us.auth0.com`); sets issuer and discovery.
    pub domain: Option<String>,
    /// Accepted signing algorithms (`jwt` mode). HMAC and `none` are never accepted.
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp` / `nbf`, in seconds.
    pub leeway_s: u64,
    /// Scopes every request must carry, whatever the tool.
    pub required_scopes: Vec<String>,
    /// Count Auth0 RBAC `permissions` as scopes.
    pub permissions_as_scopes: bool,
    /// Claims tried in order to resolve the user name (`preferred_username`, `username`,
    /// `email_prefix` = the part of `email` before `@`, `sub` = `sub` without its `provider|`
    /// prefix, or any other claim name).
    pub username_claims: Vec<String>,
    /// Authorization servers advertised in the protected-resource metadata. Defaults to the issuer.
    pub authorization_servers: Vec<String>,
    /// How often the signing keys are refreshed in the background, in seconds.
    pub jwks_refresh_s: u64,
    /// Least time between two key fetches triggered by an unknown `kid`, in seconds.
    pub jwks_min_refetch_s: u64,
    /// Verified tokens kept in memory (0 disables the cache). Entries never outlive `exp`.
    pub token_cache_entries: usize,
    /// The longest a verified token stays cached, in seconds.
    pub token_cache_ttl_s: u64,
    /// Longest bearer token accepted, in bytes.
    pub max_token_bytes: usize,
    /// `introspection` mode: the RFC 7662 endpoint.
    pub introspection_url: Option<String>,
    /// `introspection` mode: the client Warden authenticates as (HTTP Basic).
    pub introspection_client_id: Option<String>,
    /// `introspection` mode: that client's secret (prefer `WARDEN__AUTH__INTROSPECTION_CLIENT_SECRET`).
    pub introspection_client_secret: Option<Secret>,
}

/// A secret setting: `Debug` never shows it, so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl ServerConfig {
    /// The resolved `server.request_state_key` (`None`: not set).
    pub fn request_state_key(&self) -> Result<Option<[u8; 32]>, String> {
        let Some(secret) = &self.request_state_key else { return Ok(None) };
        let text = crate::shared::resolve_reference("server.request_state_key", secret.expose())
            .map_err(|e| e.to_string())?;
        let bytes = hex::decode(text.trim()).map_err(|_| "is not hex".to_owned())?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(Some)
            .map_err(|_| format!("is {} bytes; it must be 32 (64 hex characters)", bytes.len()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How callers are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// No authentication: every caller is anonymous and scopes are not checked. Loopback only.
    None,
    /// Warden is its own issuer, with a key generated under the data directory; `warden token`
    /// prints tokens. For development and the quick start.
    Local,
    /// Verify JWT access tokens from an upstream IdP (Auth0, Okta, Keycloak, ...).
    Jwt,
    /// Ask the IdP about each (opaque) token with RFC 7662 introspection; results are cached.
    Introspection,
    /// Warden is the authorization server MCP clients see (DCR, consent, its own tokens) and logs
    /// users in through the upstream IdP in `[oidc]`.
    OidcProxy,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: AuthMode::Local,
            issuer: None,
            audience: None,
            config_url: None,
            jwks_uri: None,
            domain: None,
            algorithms: vec!["RS256".into()],
            leeway_s: 30,
            required_scopes: Vec::new(),
            permissions_as_scopes: true,
            username_claims: vec![
                "preferred_username".into(),
                "username".into(),
                "email_prefix".into(),
                "sub".into(),
            ],
            authorization_servers: Vec::new(),
            jwks_refresh_s: 600,
            jwks_min_refetch_s: 10,
            token_cache_entries: 10_000,
            token_cache_ttl_s: 300,
            max_token_bytes: 8192,
            introspection_url: None,
            introspection_client_id: None,
            introspection_client_secret: None,
        }
    }
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
    /// Refuse plugins in `dir` without a valid minisign signature (`<stem>.wasm.minisig` and
    /// `<stem>.toml.minisig`) by one of `trusted_keys`. A signature that is present but invalid
    /// refuses the plugin even when this is off.
    pub require_signatures: bool,
    /// Minisign public keys trusted for the shared directory: the key line (`RW...`), or
    /// `file:PATH` / `env:NAME` holding the `.pub` file's text.
    pub trusted_keys: Vec<String>,
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
            admin_bind: None,
            tls: None,
            max_header_bytes: 16 * 1024,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            http2_keep_alive_s: 60,
            shutdown_grace_s: 20,
            request_state_key: None,
        }
    }
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            dir: PathBuf::from("run/plugins"),
            poll_interval_ms: 500,
            page_size: 100,
            require_signatures: false,
            trusted_keys: Vec::new(),
        }
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

    /// The public base URL (no trailing slash), given the address actually bound.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        match &self.server.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("{}://{bound}", self.scheme()),
        }
    }

    /// `https` when TLS is configured, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.server.tls.is_some() { "https" } else { "http" }
    }

    /// Where the audit log goes: `None` when it is disabled.
    pub fn audit_path(&self) -> Option<PathBuf> {
        self.audit
            .enabled
            .then(|| self.audit.path.clone().unwrap_or_else(|| self.server.data_dir.join("audit.jsonl")))
    }

    /// The MCP endpoint's URL, which is this protected resource's identifier (RFC 9728).
    pub fn resource_url(&self, bound: SocketAddr) -> String {
        format!("{}/mcp", self.public_url(bound))
    }

    /// The issuer: explicit, from the Auth0 domain, or (local and oidc-proxy modes) the public URL.
    pub fn issuer(&self, bound: SocketAddr) -> Option<String> {
        if self.auth.mode == AuthMode::OidcProxy {
            return Some(self.public_url(bound));
        }
        if let Some(i) = &self.auth.issuer {
            return Some(i.clone());
        }
        if let Some(d) = &self.auth.domain {
            return Some(auth0_issuer(d));
        }
        matches!(self.auth.mode, AuthMode::Local | AuthMode::OidcProxy).then(|| self.public_url(bound))
    }

    /// The expected audience: explicit, or the resource URL.
    pub fn audience(&self, bound: SocketAddr) -> String {
        self.auth.audience.clone().unwrap_or_else(|| self.resource_url(bound))
    }
}

/// The issuer of an Auth0 tenant `domain` (Auth0 issuers end with a slash).
fn auth0_issuer(domain: &str) -> String {
    format!("https://{}/", domain.trim_end_matches('/'))
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
