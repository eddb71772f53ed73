//! `[oidc]` (the OIDC proxy: Warden as the authorization server MCP clients log in to, in front of
//! an upstream IdP such as Auth0) and `[store]` (where the proxy keeps its state).

use std::path::PathBuf;

use serde::Deserialize;

use super::validate::{check_bare_domain, check_urls};
use super::{AuthMode, Config, Secret, auth0_issuer};
use crate::shared::resolve_reference;

/// `[oidc]`: used when `auth.mode = "oidc-proxy"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// The upstream IdP's issuer (e.g. `https://tenant.us.auth0.com/`).
    pub issuer: Option<String>,
    /// Auth0 preset: the tenant domain; sets `issuer` to `https://<domain>/`.
    pub domain: Option<String>,
    /// The IdP's discovery document. Defaults to `<issuer>/.well-known/openid-configuration`.
    pub config_url: Option<String>,
    /// Warden's client id at the IdP (Auth0: a Machine to Machine application).
    pub client_id: Option<String>,
    /// That client's secret: the value, `env:NAME` or `file:PATH`.
    pub client_secret: Option<Secret>,
    /// How Warden authenticates at the IdP's token endpoint: `client_secret_post` (Auth0's
    /// default) or `client_secret_basic`.
    pub token_auth_method: String,
    /// The API the upstream access token is for, sent as Auth0's `audience` parameter and
    /// checked as the upstream token's `aud`.
    pub audience: Option<String>,
    /// Also send the audience as RFC 8707 `resource` (for IdPs that want it instead of Auth0's
    /// `audience`).
    pub send_resource: bool,
    /// Scopes requested upstream. `offline_access` gets an upstream refresh token, so upstream
    /// tokens can be refreshed transparently.
    pub scopes: Vec<String>,
    /// Path of the upstream callback under the public URL. The IdP must list
    /// `<public_url><callback_path>` as an allowed callback URL, exactly.
    pub callback_path: String,
    /// Lifetime of Warden's access tokens, in seconds.
    pub access_token_ttl_s: u64,
    /// How long an unused refresh token stays valid, in seconds (each use rotates it).
    pub refresh_token_ttl_s: u64,
    /// A refresh token presented again within this many seconds of its first use gets the same
    /// new pair (a client retrying); later reuse revokes the whole token family.
    pub refresh_grace_s: u64,
    /// Lifetime of Warden's authorization codes, in seconds.
    pub code_ttl_s: u64,
    /// How long a login (authorize, consent, IdP login, callback) may take, in seconds.
    pub transaction_ttl_s: u64,
    /// How long a "remember this decision" consent lasts, in days. 0 hides the option.
    pub consent_remember_days: u64,
    /// Allow RFC 7591 dynamic client registration at `/register`.
    pub dynamic_registration: bool,
    /// Registrations accepted per minute, from everyone together (registration is anonymous;
    /// this bounds how fast the store can be filled). Beyond it: 429.
    pub registrations_per_minute: u32,
    /// If not empty, registered redirect URIs must match one of these patterns (`*` matches
    /// within one host label or path segment).
    pub redirect_allow_patterns: Vec<String>,
    /// Accept Client ID Metadata Documents (a client id that is an https URL).
    pub client_id_metadata_documents: bool,
    /// Pre-registered clients, for MCP clients that do not register themselves.
    pub clients: Vec<StaticClient>,
    /// Where Warden's token signing key and the store's sealing keys live. Defaults to
    /// `<data_dir>/keys`. Replicas sharing a store must share this directory (a mounted Secret).
    pub keys_dir: Option<PathBuf>,
    /// How long a request to the IdP may take, in milliseconds.
    pub upstream_timeout_ms: u64,
}

/// `[[oidc.clients]]`: a pre-registered client.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticClient {
    /// The client id the MCP client is configured with.
    pub client_id: String,
    /// Shown on the consent page.
    pub client_name: Option<String>,
    /// Its redirect URIs (same rules as for registration).
    pub redirect_uris: Vec<String>,
    /// A secret for a confidential client (`env:`/`file:` references work); none for a public one.
    pub client_secret: Option<Secret>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            issuer: None,
            domain: None,
            config_url: None,
            client_id: None,
            client_secret: None,
            token_auth_method: "client_secret_post".into(),
            audience: None,
            send_resource: false,
            scopes: ["openid", "profile", "email", "offline_access"].map(String::from).to_vec(),
            callback_path: "/auth/callback".into(),
            access_token_ttl_s: 300,
            refresh_token_ttl_s: 30 * 24 * 3600,
            refresh_grace_s: 30,
            code_ttl_s: 300,
            transaction_ttl_s: 900,
            consent_remember_days: 30,
            dynamic_registration: true,
            registrations_per_minute: 60,
            redirect_allow_patterns: Vec::new(),
            client_id_metadata_documents: true,
            clients: Vec::new(),
            keys_dir: None,
            upstream_timeout_ms: 10_000,
        }
    }
}

impl OidcConfig {
    /// The upstream issuer: explicit, or from the Auth0 domain.
    pub fn upstream_issuer(&self) -> Option<String> {
        self.issuer.clone().or_else(|| self.domain.as_deref().map(auth0_issuer))
    }

    /// The discovery document's URL.
    pub fn discovery_url(&self) -> Option<String> {
        self.config_url.clone().or_else(|| {
            self.upstream_issuer()
                .map(|i| format!("{}/.well-known/openid-configuration", i.trim_end_matches('/')))
        })
    }

    /// True if any upstream setting is present (to catch partial OAuth settings).
    fn any_set(&self) -> bool {
        self.issuer.is_some()
            || self.domain.is_some()
            || self.config_url.is_some()
            || self.client_id.is_some()
            || self.client_secret.is_some()
            || self.audience.is_some()
            || !self.clients.is_empty()
    }
}

/// `[store]`: where the OIDC proxy keeps clients, logins, codes and token families.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `embedded` (one file, a single replica) or `redis` (several replicas).
    pub backend: StoreBackend,
    /// The embedded store's file. Defaults to `<data_dir>/state.redb`.
    pub path: Option<PathBuf>,
    /// `redis://` or `rediss://` URL (`env:`/`file:` references work; it may hold a password).
    pub redis_url: Option<Secret>,
    /// Prefix of every Redis key, so deployments can share one Redis.
    pub key_prefix: String,
}

/// Which state store backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreBackend {
    /// One redb file under the data directory.
    Embedded,
    /// Redis, shared by every replica.
    Redis,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: StoreBackend::Embedded,
            path: None,
            redis_url: None,
            key_prefix: "warden".into(),
        }
    }
}

/// Paths the proxy's own routes use; the callback may not take one of them.
const RESERVED_PATHS: &[&str] =
    &["/mcp", "/authorize", "/consent", "/token", "/register", "/revoke", "/healthz", "/readyz", "/metrics"];

impl Config {
    /// The key directory of the proxy (and of local mode's key).
    pub fn keys_dir(&self) -> PathBuf {
        self.oidc.keys_dir.clone().unwrap_or_else(|| self.server.data_dir.join("keys"))
    }

    /// The embedded store's file.
    pub fn store_path(&self) -> PathBuf {
        self.store.path.clone().unwrap_or_else(|| self.server.data_dir.join("state.redb"))
    }

    /// Checks `[oidc]` and `[store]`: every field seed 000's error table can catch locally.
    pub(super) fn validate_oidc(&self, bad: &mut impl FnMut(&str, String, &str)) {
        let o = &self.oidc;
        let proxy = self.auth.mode == AuthMode::OidcProxy;
        if proxy {
            self.validate_proxy(bad);
        } else if o.any_set() {
            bad(
                "auth.mode",
                format!(
                    "is {:?}, but [oidc] settings are present: partial OAuth settings",
                    format!("{:?}", self.auth.mode).to_lowercase()
                ),
                "set auth.mode = \"oidc-proxy\" to log clients in through the IdP, or remove [oidc]",
            );
        }
        let s = &self.store;
        match s.backend {
            StoreBackend::Redis => match &s.redis_url {
                None => bad(
                    "store.redis_url",
                    "is required with store.backend = \"redis\"".into(),
                    "set it (e.g. WARDEN__STORE__REDIS_URL=redis://redis:6379/0) or use backend = \"embedded\"",
                ),
                Some(url) => match resolve_reference("store.redis_url", url.expose()) {
                    Err(e) => bad("store.redis_url", e.to_string(), "set the variable or create the file"),
                    Ok(v) if !(v.starts_with("redis://") || v.starts_with("rediss://")) => bad(
                        "store.redis_url",
                        "is not a redis:// or rediss:// URL".into(),
                        "write it like redis://host:6379/0",
                    ),
                    Ok(_) => {}
                },
            },
            StoreBackend::Embedded => {
                if s.redis_url.is_some() {
                    bad(
                        "store.redis_url",
                        "is set but store.backend is \"embedded\", so it would be ignored".into(),
                        "set store.backend = \"redis\" to share state between replicas, or remove redis_url",
                    );
                }
            }
        }
        if s.key_prefix.is_empty() || s.key_prefix.contains(':') {
            bad(
                "store.key_prefix",
                format!("{:?} is empty or contains ':'", s.key_prefix),
                "use e.g. \"warden\"",
            );
        }
    }

    fn validate_proxy(&self, bad: &mut impl FnMut(&str, String, &str)) {
        let o = &self.oidc;
        if o.upstream_issuer().is_none() && o.config_url.is_none() {
            bad(
                "oidc.issuer",
                "the OIDC proxy needs the upstream IdP".into(),
                "set oidc.issuer (e.g. \"https://tenant.us.auth0.com/\") or oidc.domain for Auth0",
            );
        }
        if o.client_id.as_deref().is_none_or(str::is_empty) {
            bad(
                "oidc.client_id",
                "is required: the proxy logs users in as a confidential client of the IdP".into(),
                "copy the Client ID of the IdP application (Auth0: Applications > your app > Settings)",
            );
        }
        match &o.client_secret {
            None => bad(
                "oidc.client_secret",
                "is required: the proxy is a confidential client of the IdP".into(),
                "set WARDEN__OIDC__CLIENT_SECRET, or client_secret = \"file:/run/secrets/idp\"",
            ),
            Some(s) => {
                if let Err(e) = resolve_reference("oidc.client_secret", s.expose()) {
                    bad("oidc.client_secret", e.to_string(), "set the variable or create the file");
                }
            }
        }
        if o.domain.is_some() && o.audience.is_none() {
            bad(
                "oidc.audience",
                "an Auth0 setup needs the API identifier as audience: without it Auth0 issues opaque \
                 access tokens without the user's permissions"
                    .into(),
                "create an API in Auth0 and set oidc.audience to its Identifier",
            );
        }
        check_bare_domain("oidc.domain", &o.domain, bad);
        check_urls(&[("oidc.issuer", &o.issuer), ("oidc.config_url", &o.config_url)], bad);
        if !["client_secret_post", "client_secret_basic"].contains(&o.token_auth_method.as_str()) {
            bad(
                "oidc.token_auth_method",
                format!("{:?} is not supported", o.token_auth_method),
                "use \"client_secret_post\" (Auth0's default) or \"client_secret_basic\"",
            );
        }
        if !o.scopes.iter().any(|s| s == "openid") {
            bad(
                "oidc.scopes",
                "does not include \"openid\", so the IdP would not say who logged in".into(),
                "add \"openid\" (the default is openid profile email offline_access)",
            );
        }
        let impersonating = self.database.impersonation != super::Impersonation::None;
        if impersonating && !o.scopes.iter().any(|s| s == "email" || s == "profile") {
            bad(
                "oidc.scopes",
                "the database impersonates each user, but without \"email\" or \"profile\" the IdP's tokens \
                 carry no user name (seed 000: \"Could not extract username\")"
                    .into(),
                "add \"email\" and \"profile\" to oidc.scopes, or set database.impersonation = \"none\"",
            );
        }
        if o.registrations_per_minute == 0 && o.dynamic_registration {
            bad(
                "oidc.registrations_per_minute",
                "is 0, so no client could register".into(),
                "use e.g. 60, or set oidc.dynamic_registration = false",
            );
        }
        let p = &o.callback_path;
        if !p.starts_with('/') || p.contains(['?', '#', ' ']) || p.len() < 2 {
            bad(
                "oidc.callback_path",
                format!("{p:?} is not a path"),
                "use a path such as \"/auth/callback\", and list <public_url><path> at the IdP",
            );
        } else if RESERVED_PATHS.contains(&p.as_str()) || p.starts_with("/.well-known/") {
            bad(
                "oidc.callback_path",
                format!("{p:?} is already one of Warden's own endpoints"),
                "use \"/auth/callback\" (and list <public_url>/auth/callback at the IdP)",
            );
        }
        let public = self.server.public_url.as_deref().unwrap_or("");
        if public.ends_with(p.as_str()) && p.len() > 1 {
            bad(
                "server.public_url",
                format!(
                    "{public:?} already ends with the callback path {p:?}: the callback would be doubled"
                ),
                "set server.public_url to the base URL only (e.g. \"https://mcp.example.com\")",
            );
        }
        let local_only = self.server.public_url.is_none() && self.server.bind.ip().is_loopback();
        let https = public.starts_with("https://");
        let loopback_url = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|prefix| public.starts_with(prefix));
        if !https && !local_only && !loopback_url {
            bad(
                "server.public_url",
                format!(
                    "the OIDC proxy is an authorization server, whose issuer URL must be https, but the \
                     public URL is {:?}",
                    if public.is_empty() { "unset (http://<bind>)" } else { public }
                ),
                "configure [server.tls] and set server.public_url = \"https://...\" (plain http is allowed on loopback only)",
            );
        }
        let positive = [
            ("oidc.access_token_ttl_s", o.access_token_ttl_s),
            ("oidc.refresh_token_ttl_s", o.refresh_token_ttl_s),
            ("oidc.code_ttl_s", o.code_ttl_s),
            ("oidc.transaction_ttl_s", o.transaction_ttl_s),
            ("oidc.upstream_timeout_ms", o.upstream_timeout_ms),
        ];
        for (field, value) in positive {
            if value == 0 {
                bad(field, "must be at least 1".into(), "use the default from server.toml.example");
            }
        }
        if o.code_ttl_s > 600 {
            bad(
                "oidc.code_ttl_s",
                format!("{} s is too long for an authorization code", o.code_ttl_s),
                "use at most 600 (the default is 300; RFC 6749 recommends 600 at most)",
            );
        }
        if o.refresh_grace_s >= o.refresh_token_ttl_s {
            bad(
                "oidc.refresh_grace_s",
                "must be shorter than oidc.refresh_token_ttl_s".into(),
                "use a few seconds (the default is 30)",
            );
        }
        let policy =
            crate::shared::redirect_uri::RedirectPolicy { allow_patterns: o.redirect_allow_patterns.clone() };
        let mut ids = std::collections::HashSet::new();
        for (i, c) in o.clients.iter().enumerate() {
            let field = format!("oidc.clients[{i}]");
            if c.client_id.is_empty() || c.client_id.len() > 128 || c.client_id.starts_with("https://") {
                bad(
                    &format!("{field}.client_id"),
                    format!("{:?} is empty, too long, or looks like a metadata-document URL", c.client_id),
                    "use a short opaque id such as \"claude-desktop\"",
                );
            }
            if !ids.insert(c.client_id.clone()) {
                bad(
                    &format!("{field}.client_id"),
                    format!("{:?} is listed twice", c.client_id),
                    "remove one",
                );
            }
            if c.redirect_uris.is_empty() {
                bad(&format!("{field}.redirect_uris"), "is empty".into(), "list the client's redirect URIs");
            }
            for uri in &c.redirect_uris {
                if let Err(e) = policy.check_registration(uri) {
                    bad(&format!("{field}.redirect_uris"), e.to_string(), "fix or remove the URI");
                }
            }
            if let Some(s) = &c.client_secret
                && let Err(e) = resolve_reference(&format!("{field}.client_secret"), s.expose())
            {
                bad(&format!("{field}.client_secret"), e.to_string(), "set the variable or create the file");
            }
        }
    }
}
