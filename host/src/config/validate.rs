//! Checks that a parsed configuration makes sense, reporting every problem at once.

use std::fmt;
use std::path::PathBuf;

use super::{AuthMode, Config, Impersonation, SqlDialect};
use crate::shared::resolve_reference;

/// One thing wrong with the configuration: which field, what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted path of the field, e.g. `server.bind`.
    pub field: String,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}. Fix: {}", self.field, self.problem, self.fix)
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// The TOML is malformed, has an unknown key, or a value of the wrong type.
    #[error("invalid configuration in {origin}: {reason}")]
    Parse {
        /// The file, or "embedded defaults".
        origin: String,
        /// The parser's message (it names the key and line).
        reason: String,
    },
    /// A `WARDEN__*` environment override does not name a valid setting.
    #[error("environment variable {name}: {reason}")]
    Env {
        /// The variable.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The values parse but do not make sense together.
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

/// Reports `fields` (name, value) whose value is set but is not an http(s) URL.
pub(super) fn check_urls(fields: &[(&str, &Option<String>)], bad: &mut impl FnMut(&str, String, &str)) {
    for (field, value) in fields {
        if let Some(v) = value
            && !(v.starts_with("https://") || v.starts_with("http://"))
        {
            bad(field, format!("{v:?} is not an http(s) URL"), "write the full URL, starting with https://");
        }
    }
}

/// Reports an Auth0 `domain` that is a URL rather than a bare domain.
pub(super) fn check_bare_domain(
    field: &str,
    domain: &Option<String>,
    bad: &mut impl FnMut(&str, String, &str),
) {
    if let Some(d) = domain
        && (d.contains("://") || d.contains('/'))
    {
        bad(field, format!("{d:?} is not a bare domain"), "write it like \"tenant.us.auth0.com\"");
    }
}

impl Config {
    /// Returns every problem found, or `Ok` if there are none.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut bad = |field: &str, problem: String, fix: &str| {
            problems.push(Problem { field: field.into(), problem, fix: fix.into() });
        };

        if self.auth.mode == AuthMode::None && !self.server.bind.ip().is_loopback() {
            bad(
                "auth.mode",
                format!(
                    "\"none\" (no authentication) is only allowed on a loopback bind, but server.bind is {}",
                    self.server.bind
                ),
                "bind to 127.0.0.1 or [::1] for local development, or configure real authentication",
            );
        }
        self.validate_auth(&mut bad);
        self.validate_database(&mut bad);
        self.validate_listener(&mut bad);
        self.validate_teams(&mut bad);
        self.validate_http(&mut bad);
        self.validate_oidc(&mut bad);
        if let Some(url) = &self.server.public_url {
            match url.split_once("://") {
                Some(("http" | "https", rest)) if !rest.is_empty() && !rest.contains(['?', '#']) => {}
                _ => bad(
                    "server.public_url",
                    format!("{url:?} is not an http(s) base URL"),
                    "use the URL clients reach Warden at, e.g. \"https://mcp.example.com\"",
                ),
            }
        }
        if self.server.max_body_bytes < 1024 {
            bad(
                "server.max_body_bytes",
                format!("{} bytes is too small for any MCP request", self.server.max_body_bytes),
                "use at least 1024 (the default is 1048576)",
            );
        }
        for origin in &self.server.allowed_origins {
            if origin != "null" && !origin.contains("://") {
                bad(
                    "server.allowed_origins",
                    format!("{origin:?} has no scheme"),
                    "write origins as scheme://host[:port], e.g. \"https://app.example.com\"",
                );
            }
        }
        if self.plugins.poll_interval_ms < 50 {
            bad(
                "plugins.poll_interval_ms",
                format!("{} ms would busy-poll the plugin directory", self.plugins.poll_interval_ms),
                "use 50 or more (the default is 500)",
            );
        }
        if self.plugins.page_size == 0 {
            bad("plugins.page_size", "must be at least 1".into(), "use e.g. 100");
        }
        let rt = &self.runtime;
        if rt.max_instances == 0 || rt.max_instances > 10_000 {
            bad(
                "runtime.max_instances",
                format!("{} is outside 1..=10000", rt.max_instances),
                "use a value such as 64",
            );
        }
        if rt.max_memory_mb == 0 || rt.max_memory_mb > 4096 {
            bad(
                "runtime.max_memory_mb",
                format!("{} MiB is outside 1..=4096", rt.max_memory_mb),
                "use a value such as 512",
            );
        }
        if rt.default_memory_mb == 0 || rt.default_memory_mb > rt.max_memory_mb {
            bad(
                "runtime.default_memory_mb",
                format!(
                    "{} MiB must be between 1 and runtime.max_memory_mb ({})",
                    rt.default_memory_mb, rt.max_memory_mb
                ),
                "lower it or raise runtime.max_memory_mb",
            );
        }
        if rt.default_timeout_ms == 0 || rt.default_timeout_ms > rt.max_timeout_ms {
            bad(
                "runtime.default_timeout_ms",
                format!(
                    "{} ms must be between 1 and runtime.max_timeout_ms ({})",
                    rt.default_timeout_ms, rt.max_timeout_ms
                ),
                "lower it or raise runtime.max_timeout_ms",
            );
        }
        if rt.max_output_kb == 0 {
            bad("runtime.max_output_kb", "must be at least 1".into(), "use e.g. 1024");
        }

        if problems.is_empty() { Ok(()) } else { Err(ConfigError::Invalid(problems)) }
    }

    fn validate_database(&self, bad: &mut impl FnMut(&str, String, &str)) {
        let db = &self.database;
        if !db.enabled {
            return;
        }
        if !(1..=1000).contains(&db.pool_size) {
            bad(
                "database.pool_size",
                format!("{} is out of range", db.pool_size),
                "use 1 to 1000 connections",
            );
        }
        if db.max_rows == 0 {
            bad(
                "database.max_rows",
                "0 would return no rows at all".into(),
                "use at least 1 (the default is 1000)",
            );
        }
        for (field, value) in [
            ("database.max_statements_per_call", db.max_statements_per_call),
            ("database.max_rows_per_call", db.max_rows_per_call),
            ("database.breaker_losses", u64::from(db.breaker_losses)),
            ("database.breaker_window_ms", db.breaker_window_ms),
            ("database.breaker_pause_ms", db.breaker_pause_ms),
        ] {
            if value == 0 {
                bad(
                    field,
                    "must be above 0".into(),
                    "remove it for the default (100 statements and 10000 rows per call; 5 connection \
                     losses in 60000 ms pause a plugin's database access for 30000 ms)",
                );
            }
        }
        if db.max_bytes < 1024 {
            bad("database.max_bytes", format!("{} bytes is too small", db.max_bytes), "use at least 1024");
        }
        if db.statement_timeout_ms == 0 || db.acquire_timeout_ms == 0 {
            bad(
                "database.statement_timeout_ms",
                "statement_timeout_ms and acquire_timeout_ms must be above 0".into(),
                "set a positive number of milliseconds",
            );
        }
        let postgres_only =
            matches!(db.impersonation, Impersonation::SetRole | Impersonation::SetSessionAuthorization);
        if postgres_only && db.dialect != SqlDialect::Postgresql {
            bad(
                "database.impersonation",
                format!("{:?} is PostgreSQL's, but database.dialect is {:?}", db.impersonation, db.dialect),
                "use impersonation = \"custom\" with impersonate_statement/revert_statement/current_user_query for other databases",
            );
        }
        if db.impersonation == Impersonation::Custom {
            for (field, value) in [
                ("database.impersonate_statement", &db.impersonate_statement),
                ("database.current_user_query", &db.current_user_query),
            ] {
                if value.as_deref().is_none_or(|s| s.trim().is_empty()) {
                    bad(
                        field,
                        "is required with impersonation = \"custom\"".into(),
                        "e.g. impersonate_statement = \"EXECUTE AS USER = ?\", revert_statement = \"REVERT\", current_user_query = \"SELECT USER_NAME()\"",
                    );
                }
            }
        }
        if db.is_embedded_demo() {
            if db.impersonation != Impersonation::None || db.dialect != SqlDialect::Sqlite {
                bad(
                    "database.connection_string",
                    "is not set, so the embedded SQLite demo is used, which has no users to impersonate"
                        .into(),
                    "set connection_string (and dialect) to your database, or use dialect = \"sqlite\" with impersonation = \"none\"",
                );
            }
        } else {
            // Each reference checked on its own, so the problem names the setting that holds it.
            for (field, value) in
                [("database.connection_string", &db.connection_string), ("database.password", &db.password)]
            {
                if let Some(Err(problem)) = value.as_ref().map(|v| resolve_reference(field, v.expose())) {
                    bad(field, problem.to_string(), "set the variable or file, or write the value itself");
                }
            }
        }
    }

    fn validate_listener(&self, bad: &mut impl FnMut(&str, String, &str)) {
        let s = &self.server;
        if let Err(problem) = s.request_state_key() {
            bad(
                "server.request_state_key",
                problem,
                "use 64 hex characters, e.g. from `openssl rand -hex 32`, or an env:/file: reference to them",
            );
        }
        if let Some(tls) = &s.tls {
            match &s.public_url {
                Some(url) if !url.starts_with("https://") => bad(
                    "server.public_url",
                    format!("is {url:?}, but TLS is on (server.tls): clients would be sent to plain HTTP"),
                    "use the https:// URL clients reach Warden at",
                ),
                _ => {}
            }
            for (field, path) in [("server.tls.cert", &tls.cert), ("server.tls.key", &tls.key)] {
                if let Err(e) = std::fs::metadata(path) {
                    bad(
                        field,
                        format!("{} cannot be read: {e}", path.display()),
                        "point it at a PEM file Warden can read",
                    );
                }
            }
            if tls.reload_interval_ms < 100 {
                bad(
                    "server.tls.reload_interval_ms",
                    format!("{} ms would busy-poll the certificate files", tls.reload_interval_ms),
                    "use 100 or more (the default is 1000)",
                );
            }
        }
        if let Some(admin) = s.admin_bind
            && admin == s.bind
            && admin.port() != 0
        {
            bad(
                "server.admin_bind",
                format!("{admin} is the same address as server.bind"),
                "give the admin listener its own port, e.g. 127.0.0.1:9100",
            );
        }
        if s.max_header_bytes < 1024 {
            bad(
                "server.max_header_bytes",
                format!("{} bytes is too small for a request with a bearer token", s.max_header_bytes),
                "use at least 1024 (the default is 16384)",
            );
        }
        for (field, value) in [
            ("server.header_read_timeout_ms", s.header_read_timeout_ms),
            ("server.body_read_timeout_ms", s.body_read_timeout_ms),
        ] {
            if value < 100 {
                bad(field, format!("{value} ms is too short for any client"), "use 100 or more");
            }
        }
        let l = &self.limits;
        for (field, rate, burst) in [
            ("limits.caller_burst", l.caller_calls_per_s, l.caller_burst),
            ("limits.plugin_burst", l.plugin_calls_per_s, l.plugin_burst),
        ] {
            if rate > 0 && burst < rate {
                bad(
                    field,
                    format!("{burst} is below the sustained rate of {rate} per second"),
                    "make the burst at least the per-second rate (e.g. twice it)",
                );
            }
        }
        if l.max_tracked_keys < 100 {
            bad("limits.max_tracked_keys", format!("{} is too few", l.max_tracked_keys), "use e.g. 100000");
        }
        if let Some(p) = &self.audit.path
            && p.as_os_str().is_empty()
        {
            bad("audit.path", "is empty".into(), "name a file, or \"-\" for stdout");
        }
    }

    fn validate_auth(&self, bad: &mut impl FnMut(&str, String, &str)) {
        let a = &self.auth;
        if a.mode == AuthMode::Jwt {
            if a.issuer.is_none() && a.domain.is_none() {
                bad(
                    "auth.issuer",
                    "jwt mode needs the token issuer".into(),
                    "set auth.issuer to the IdP's issuer (e.g. \"https://tenant.us.auth0.com/\"), or auth.domain for Auth0",
                );
            }
            if a.domain.is_some() && a.audience.is_none() {
                bad(
                    "auth.audience",
                    "an Auth0 setup needs the API identifier as audience: without it Auth0 issues tokens \
                     whose audience is the client id, which will not match"
                        .into(),
                    "create an API in Auth0 and set auth.audience to its identifier",
                );
            }
            check_bare_domain("auth.domain", &a.domain, bad);
            if a.algorithms.is_empty() {
                bad("auth.algorithms", "is empty, so no token could verify".into(), "use [\"RS256\"]");
            }
            for alg in &a.algorithms {
                if !crate::shared::ACCEPTABLE_ALGORITHMS.contains(&alg.as_str()) {
                    bad(
                        "auth.algorithms",
                        format!("{alg:?} is not accepted"),
                        "use asymmetric algorithms only: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA",
                    );
                }
            }
        }
        if a.mode == AuthMode::Introspection {
            let secret = a.introspection_client_secret.as_ref().map(|s| s.expose().to_owned());
            let required = [
                (
                    "auth.introspection_url",
                    &a.introspection_url,
                    "set it to the IdP's RFC 7662 introspection endpoint",
                ),
                (
                    "auth.introspection_client_id",
                    &a.introspection_client_id,
                    "set the client Warden introspects as",
                ),
                (
                    "auth.introspection_client_secret",
                    &secret,
                    "set WARDEN__AUTH__INTROSPECTION_CLIENT_SECRET in the environment",
                ),
            ];
            for (field, value, fix) in required {
                if value.as_deref().is_none_or(str::is_empty) {
                    bad(field, "is required in introspection mode".into(), fix);
                }
            }
            if let Some(s) = &secret
                && let Err(e) = resolve_reference("auth.introspection_client_secret", s)
            {
                bad(
                    "auth.introspection_client_secret",
                    e.to_string(),
                    "set the variable or create the file, or write the secret's value instead of a reference",
                );
            }
        }
        let urls = [
            ("auth.config_url", &a.config_url),
            ("auth.jwks_uri", &a.jwks_uri),
            ("auth.issuer", &a.issuer),
            ("auth.introspection_url", &a.introspection_url),
        ];
        check_urls(&urls, bad);
        let upstream_in_auth =
            a.domain.is_some() || a.config_url.is_some() || a.jwks_uri.is_some() || a.issuer.is_some();
        if a.mode == AuthMode::OidcProxy && upstream_in_auth {
            bad(
                "auth.issuer",
                "in oidc-proxy mode Warden issues the tokens it verifies, so [auth] IdP settings \
                 (issuer/domain/config_url/jwks_uri) do not apply"
                    .into(),
                "move the IdP settings to [oidc] (issuer or domain, config_url, client_id, client_secret, audience)",
            );
        } else if a.mode != AuthMode::Jwt
            && a.mode != AuthMode::OidcProxy
            && (a.domain.is_some() || a.config_url.is_some() || a.jwks_uri.is_some())
        {
            bad(
                "auth.mode",
                format!(
                    "is {}, but IdP settings (domain/config_url/jwks_uri) are present: partial OAuth settings",
                    format!("{:?}", a.mode).to_lowercase()
                ),
                "set auth.mode = \"jwt\" to verify IdP tokens, or remove the IdP settings",
            );
        }
        if a.max_token_bytes < 256 {
            bad(
                "auth.max_token_bytes",
                format!("{} is too small for any JWT", a.max_token_bytes),
                "use e.g. 8192",
            );
        }
        if a.jwks_min_refetch_s == 0 {
            bad(
                "auth.jwks_min_refetch_s",
                "0 would let every request with an unknown key id hit the IdP".into(),
                "use at least 1 (the default is 10)",
            );
        }
    }
}
