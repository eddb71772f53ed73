//! The OIDC proxy (`auth.mode = "oidc-proxy"`): Warden is the OAuth 2.1 authorization server MCP
//! clients see, and logs users in through an upstream IdP (Auth0 or any OpenID provider) as one
//! confidential client. The MCP client never talks to the IdP and never holds its tokens.
//!
//! ```text
//! MCP client                     Warden                                 IdP
//!  | POST /register  (RFC 7591)   | client kept in the store
//!  | GET /authorize (PKCE #1) --> | transaction, browser-binding cookie
//!  | <-- consent page (CSRF) ---- |
//!  | POST /consent  ------------> | PKCE #2, state, nonce  ---------->  | login
//!  |                              | <-- /auth/callback?code&state ----- |
//!  |                              | code exchange, ID/access token verified, upstream tokens sealed
//!  | <-- redirect_uri?code&iss -- |
//!  | POST /token (verifier #1) -> | Warden's own access token (ES256, aud = /mcp) + refresh token
//! ```
//!
//! Rooms: [`server_metadata`] (RFC 8414), [`register`] (RFC 7591), [`authorize`] (authorize,
//! consent and callback), [`token`] (code and refresh grants, revocation), [`upstream`] (the IdP
//! leg), [`clients`] / [`client_id_document`] / [`crate::shared::redirect_uri`] (who may log in,
//! and where to), [`vault`]
//! (sealed records in the state store), [`params`] (query and form parameters), [`page`] and
//! [`errors`] (what the browser and client see).

mod authorize;
mod caller_tokens;
pub(crate) mod client_id_document;
pub(crate) mod clients;
mod errors;
mod page;
mod params;
pub(crate) mod pkce;
mod server_metadata;

mod register;
mod token;
pub(crate) mod upstream;
pub(crate) mod vault;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{get, post};
use serde_json::{Map, Value};
use tower_http::cors::{Any, CorsLayer};

use crate::config::{Config, OidcConfig, StoreBackend};
use crate::resource_server::local::LocalIssuer;
use crate::shared::redirect_uri::RedirectPolicy;
use crate::shared::resolve_reference;
use crate::store::{EmbeddedStore, RedisStore, Sealer, Store};
use crate::telemetry::Telemetry;
use clients::{Client, Registrar};
use upstream::Upstream;
use vault::Vault;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxySetupError {
    /// The state store could not be opened.
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The sealing keys could not be loaded.
    #[error("store sealing keys: {0}")]
    Seal(#[from] crate::store::SealError),
    /// The signing key could not be loaded.
    #[error(transparent)]
    Signing(#[from] crate::resource_server::local::LocalKeyError),
    /// A setting is unusable.
    #[error("{0}")]
    Config(String),
    /// A secret reference does not resolve.
    #[error(transparent)]
    Reference(#[from] crate::shared::ReferenceError),
}

/// Opens the state store `config` asks for.
pub(crate) async fn open_store(config: &Config) -> Result<Store, ProxySetupError> {
    match config.store.backend {
        StoreBackend::Embedded => {
            let path = config.store_path();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| ProxySetupError::Config(format!("store.path {}: {e}", path.display())))?;
            }
            Ok(Store::Embedded(EmbeddedStore::open(&path)?))
        }
        StoreBackend::Redis => {
            let url = config
                .store
                .redis_url
                .as_ref()
                .ok_or_else(|| ProxySetupError::Config("store.redis_url is required".into()))?;
            let url = resolve_reference("store.redis_url", url.expose())?;
            Ok(Store::Redis(RedisStore::connect(&url, &config.store.key_prefix).await?))
        }
    }
}

/// What [`rotate_keys`] made.
pub(crate) struct RotatedKeys {
    /// The new signing key's id (`kid`).
    pub signing_kid: String,
    /// The new sealing key's id.
    pub sealing_key_id: String,
}

/// Rolls both keys under `keys_dir` over: the signing key moves to `retired/` (still published,
/// so tokens it signed stay valid until they expire) and a new one is made; a new sealing key
/// becomes current (older ones still open what they sealed). Running servers pick the keys up
/// at their next start.
pub(crate) fn rotate_keys(keys_dir: &std::path::Path) -> Result<RotatedKeys, ProxySetupError> {
    let current = keys_dir.join("local-es256.p8");
    if current.exists() {
        let retired = keys_dir.join("retired");
        std::fs::create_dir_all(&retired)
            .map_err(|e| ProxySetupError::Config(format!("{}: {e}", retired.display())))?;
        let stamp =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        let target = retired.join(format!("local-es256-{stamp}.p8"));
        std::fs::rename(&current, &target).map_err(|e| {
            ProxySetupError::Config(format!("{} -> {}: {e}", current.display(), target.display()))
        })?;
    }
    let signer = LocalIssuer::load_or_create(keys_dir)?;
    let signing_kid = signer.jwks()["keys"][0]["kid"].as_str().unwrap_or_default().to_owned();
    let sealing_key_id = Sealer::rotate(&keys_dir.join("seal"))?;
    Ok(RotatedKeys { signing_kid, sealing_key_id })
}

/// The OIDC proxy: everything its endpoints share.
pub(crate) struct OidcProxy {
    /// Warden's issuer identifier (its public base URL).
    pub issuer: String,
    /// The protected resource (`<public_url>/mcp`): the audience of Warden's tokens.
    pub resource: String,
    /// The IdP.
    pub upstream: Upstream,
    vault: Vault,
    registrar: Registrar,
    policy: RedirectPolicy,
    preregistered: HashMap<String, Client>,
    signer: Arc<LocalIssuer>,
    settings: OidcConfig,
    permissions_as_scopes: bool,
    telemetry: Telemetry,
    /// Bounds anonymous registrations (all callers together).
    registrations: governor::DefaultDirectRateLimiter,
    /// Serializes upstream refreshes for outbound HTTP, per login (striped).
    refresh_locks: Vec<tokio::sync::Mutex<()>>,
}

/// OpenID scopes: asked of the IdP, never granted as API scopes in Warden's tokens.
const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access", "address", "phone"];

/// Upstream claims not copied into Warden's tokens (Warden sets its own, or they describe the
/// upstream token rather than the user).
const NOT_COPIED: &[&str] = &[
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "azp",
    "client_id",
    "scope",
    "permissions",
    "typ",
    "nonce",
    "at_hash",
    "c_hash",
    "sid",
    "auth_time",
    "acr",
    "amr",
    "gty",
    "cnf",
    "org_id_hint",
];

impl OidcProxy {
    /// Sets the proxy up for `config`, with `store`, the public URLs derived from `bound`, and
    /// `signer` (the key the resource server verifies Warden's tokens with).
    pub(crate) fn new(
        config: &Config,
        bound: std::net::SocketAddr,
        store: Arc<Store>,
        signer: Arc<LocalIssuer>,
        telemetry: Telemetry,
    ) -> Result<OidcProxy, ProxySetupError> {
        let o = &config.oidc;
        let issuer = config.public_url(bound);
        let callback_url = format!("{issuer}{}", o.callback_path);
        let upstream =
            Upstream::new(config, callback_url).map_err(|e| ProxySetupError::Config(e.to_string()))?;
        let keys_dir = config.keys_dir();
        let sealer = Sealer::load_or_create(&keys_dir.join("seal"))?;
        let policy = RedirectPolicy { allow_patterns: o.redirect_allow_patterns.clone() };
        let mut preregistered = HashMap::new();
        for c in &o.clients {
            let secret = c
                .client_secret
                .as_ref()
                .map(|s| resolve_reference("oidc.clients.client_secret", s.expose()))
                .transpose()?;
            let uris = c
                .redirect_uris
                .iter()
                .map(|u| policy.check_registration(u).map(|url| url.to_string()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ProxySetupError::Config(format!("oidc.clients {:?}: {e}", c.client_id)))?;
            preregistered.insert(
                c.client_id.clone(),
                Client::known(c.client_id.clone(), c.client_name.clone(), uris, secret.as_deref()),
            );
        }
        Ok(OidcProxy {
            resource: config.audience(bound),
            issuer,
            upstream,
            registrar: Registrar::new(store.clone(), policy.clone()),
            vault: Vault::new(store, sealer),
            policy,
            preregistered,
            signer,
            settings: o.clone(),
            permissions_as_scopes: config.auth.permissions_as_scopes,
            telemetry,
            refresh_locks: (0..caller_tokens::REFRESH_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            registrations: governor::RateLimiter::direct(governor::Quota::per_minute(
                std::num::NonZeroU32::new(o.registrations_per_minute).unwrap_or(std::num::NonZeroU32::MIN),
            )),
        })
    }

    /// Starts background work: the IdP's keys and endpoints, and the embedded store's sweeping.
    pub(crate) fn spawn_maintenance(self: &Arc<Self>, refresh: Duration) {
        tokio::spawn(self.upstream.keys().clone().maintain(refresh));
        let proxy = self.clone();
        tokio::spawn(async move {
            if let Err(e) = proxy.upstream.endpoints().await {
                tracing::warn!(error = %e, "the IdP's discovery document is not available yet; logins will retry it");
            }
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                if let Store::Embedded(s) = proxy.vault.store().as_ref()
                    && let Err(e) = s.sweep().await
                {
                    tracing::warn!(error = %e, "sweeping expired state failed");
                }
            }
        });
    }

    /// The client `client_id`: pre-registered, a metadata document (https URL), or registered.
    async fn find_client(&self, client_id: &str) -> Result<Client, ClientLookup> {
        if let Some(c) = self.preregistered.get(client_id) {
            return Ok(c.clone());
        }
        if client_id_document::is_document_id(client_id) {
            if !self.settings.client_id_metadata_documents {
                return Err(ClientLookup::Unknown);
            }
            return client_id_document::resolve(&self.vault, &self.policy, client_id).await.map_err(
                |e| match e {
                    client_id_document::DocumentError::Vault(v) => ClientLookup::Store(v.to_string()),
                    other => ClientLookup::Document(other.to_string()),
                },
            );
        }
        match self.registrar.find(client_id).await {
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err(ClientLookup::Unknown),
            Err(e) => Err(ClientLookup::Store(e.to_string())),
        }
    }

    /// The API scopes granted: what the IdP granted (scope, and `permissions` when they count
    /// as scopes), narrowed to what the client asked for if it asked for any.
    fn grant(&self, upstream: &Map<String, Value>, requested: &[String]) -> Vec<String> {
        let mut granted: Vec<String> = upstream
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if self.permissions_as_scopes
            && let Some(Value::Array(p)) = upstream.get("permissions")
        {
            granted.extend(p.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        granted.retain(|s| !OIDC_SCOPES.contains(&s.as_str()));
        let asked: Vec<&String> = requested.iter().filter(|s| !OIDC_SCOPES.contains(&s.as_str())).collect();
        if !asked.is_empty() {
            granted.retain(|s| asked.contains(&s));
        }
        granted.sort();
        granted.dedup();
        granted
    }

    /// Signs a Warden access token for `subject` via `client_id` with `scope`, carrying the
    /// user's upstream profile and team claims.
    fn access_token(
        &self,
        family_id: &str,
        upstream: &Map<String, Value>,
        client_id: &str,
        scope: &[String],
    ) -> Result<String, crate::resource_server::local::LocalKeyError> {
        let now = jsonwebtoken::get_current_timestamp();
        let mut claims: Map<String, Value> = upstream
            .iter()
            .filter(|(k, _)| !NOT_COPIED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let permissions: Vec<Value> = match upstream.get("permissions") {
            Some(Value::Array(p)) => p
                .iter()
                .filter(|v| v.as_str().is_some_and(|s| scope.iter().any(|g| g == s)))
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        let jti = vault::random_token(16)
            .map_err(|e| crate::resource_server::local::LocalKeyError::Sign(e.to_string()))?;
        let registered = [
            ("iss", Value::from(self.issuer.clone())),
            ("aud", Value::from(self.resource.clone())),
            ("client_id", Value::from(client_id)),
            ("scope", Value::from(scope.join(" "))),
            ("permissions", Value::from(permissions)),
            ("iat", Value::from(now)),
            ("nbf", Value::from(now)),
            ("exp", Value::from(now + self.settings.access_token_ttl_s)),
            ("jti", Value::from(jti)),
            // The login (token family): how outbound HTTP finds the caller's upstream token.
            ("sid", Value::from(family_id)),
        ];
        for (k, v) in registered {
            claims.insert(k.to_owned(), v);
        }
        self.signer.sign(&Value::Object(claims))
    }
}

/// Why a client could not be found.
#[derive(Debug)]
enum ClientLookup {
    /// No such client.
    Unknown,
    /// A metadata document was refused (the reason is shown).
    Document(String),
    /// The store failed.
    Store(String),
}

/// The authorization server's routes, mounted next to `/mcp` under the public URL.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(proxy: Arc<OidcProxy>) -> Router<S> {
    // Endpoints a browser-based MCP client calls with fetch: any origin (they need no cookies
    // and return nothing a cross-origin page could misuse without the client's own secrets).
    let api_cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers(Any);
    let api = Router::new()
        .route("/.well-known/oauth-authorization-server", get(server_metadata::authorization_server))
        .route("/.well-known/openid-configuration", get(server_metadata::authorization_server))
        .route("/token", post(token::token))
        .route("/revoke", post(token::revoke));
    let api = if proxy.settings.dynamic_registration {
        api.route("/register", post(register::register))
    } else {
        api
    };
    let api = api.layer(api_cors);
    let browser = Router::new()
        .route("/authorize", get(authorize::authorize))
        .route("/consent", get(authorize::consent_page).post(authorize::consent_decision))
        .route(&proxy.settings.callback_path, get(authorize::callback));
    Router::new().merge(api).merge(browser).layer(DefaultBodyLimit::max(64 * 1024)).with_state(proxy)
}
