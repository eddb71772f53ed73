//! Who is calling: Warden as an OAuth 2.1 protected resource (RFC 6750 bearer tokens, RFC 9728
//! metadata, MCP 2025-11-25 authorization).
//!
//! Modes: `none` (anonymous, loopback only), `local` (Warden's own key, `warden token`), `jwt`
//! (an upstream IdP's JWTs, keys from its JWKS). The middleware here turns the `Authorization`
//! header into an [`Identity`] on the request, or answers 401 with a `WWW-Authenticate` challenge.

mod challenge;
pub mod claims;

pub mod introspection;
pub mod jwks;
pub mod jwt;
pub mod local;
mod token_cache;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use jsonwebtoken::Algorithm;

pub use challenge::{forbidden_insufficient_scope, unauthorized};

use crate::telemetry::{AuditEvent, Telemetry};
pub use token_cache::TokenCache;

use crate::config::{AuthMode, Config};
use crate::shared::Identity;
use claims::ClaimRules;
use introspection::{IntrospectionFailure, Introspector};
use jwks::{KeySet, KeySource};
use jwt::{JwtVerifier, Rejection};
use local::LocalIssuer;

/// Why authentication could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// The local key is unusable.
    #[error(transparent)]
    LocalKey(#[from] local::LocalKeyError),
    /// The key set could not be created.
    #[error(transparent)]
    Keys(#[from] jwks::JwksError),
    /// A setting is unusable.
    #[error("{0}")]
    Config(String),
    /// A secret reference does not resolve.
    #[error(transparent)]
    Reference(#[from] crate::shared::ReferenceError),
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No bearer token.
    Missing,
    /// The token was refused.
    Invalid(String),
    /// The IdP's keys have never been loaded, or its introspection endpoint cannot be reached.
    Unavailable,
}

/// How tokens are checked.
enum Verifier {
    /// `none`: everyone is anonymous.
    Anonymous,
    /// `local` and `jwt`: signed JWTs.
    Jwt(JwtVerifier),
    /// `introspection`: ask the IdP.
    Introspection(Introspector),
}

/// Verifies callers for one server.
pub struct Authenticator {
    mode: AuthMode,
    verifier: Verifier,
    local: Option<Arc<LocalIssuer>>,
    cache: TokenCache,
    max_token_bytes: usize,
    /// This resource's identifier (the MCP endpoint URL).
    pub resource: String,
    /// URL of this resource's RFC 9728 metadata.
    pub metadata_url: String,
    /// Authorization servers to advertise.
    pub authorization_servers: Vec<String>,
    /// Scopes every request needs.
    pub required_scopes: Vec<String>,
    /// Where rejections are recorded.
    telemetry: Telemetry,
}

impl Authenticator {
    /// Builds the authenticator for `config`, with URLs derived from the bound address.
    pub fn new(config: &Config, bound: SocketAddr) -> Result<Authenticator, AuthSetupError> {
        let a = &config.auth;
        let resource = config.resource_url(bound);
        let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", config.public_url(bound));
        let rules = ClaimRules {
            permissions_as_scopes: a.permissions_as_scopes,
            username_claims: a.username_claims.clone(),
        };
        let issuer = config.issuer(bound);
        let (verifier, local) = match a.mode {
            AuthMode::None => (Verifier::Anonymous, None),
            AuthMode::Local | AuthMode::OidcProxy => {
                let local = Arc::new(LocalIssuer::load_or_create(&config.keys_dir())?);
                let keys = Arc::new(KeySet::fixed(&local.jwks())?);
                let issuer = issuer.clone().unwrap_or_default();
                let v = JwtVerifier::new(
                    keys,
                    issuer,
                    config.audience(bound),
                    vec![Algorithm::ES256],
                    a.leeway_s,
                    rules,
                );
                (Verifier::Jwt(v), Some(local))
            }
            AuthMode::Jwt => {
                let issuer =
                    issuer.clone().ok_or_else(|| AuthSetupError::Config("auth.issuer is required".into()))?;
                let source = match (&a.jwks_uri, &a.config_url) {
                    (Some(uri), _) => KeySource::Jwks(uri.clone()),
                    (None, Some(url)) => KeySource::Discovery { url: url.clone(), issuer: issuer.clone() },
                    (None, None) => KeySource::Discovery {
                        url: format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')),
                        issuer: issuer.clone(),
                    },
                };
                let keys = Arc::new(KeySet::new(source, Duration::from_secs(a.jwks_min_refetch_s))?);
                let algorithms = a
                    .algorithms
                    .iter()
                    .map(|s| {
                        s.parse::<Algorithm>()
                            .map_err(|_| AuthSetupError::Config(format!("auth.algorithms: {s:?}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                (
                    Verifier::Jwt(JwtVerifier::new(
                        keys,
                        issuer,
                        config.audience(bound),
                        algorithms,
                        a.leeway_s,
                        rules,
                    )),
                    None,
                )
            }
            AuthMode::Introspection => {
                let setting = |v: &Option<String>, name: &str| {
                    v.clone().ok_or_else(|| AuthSetupError::Config(format!("auth.{name} is required")))
                };
                let introspector = Introspector::new(
                    setting(&a.introspection_url, "introspection_url")?,
                    setting(&a.introspection_client_id, "introspection_client_id")?,
                    setting(
                        &a.introspection_client_secret
                            .as_ref()
                            .map(|s| {
                                crate::shared::resolve_reference(
                                    "auth.introspection_client_secret",
                                    s.expose(),
                                )
                            })
                            .transpose()?,
                        "introspection_client_secret",
                    )?,
                    issuer.clone(),
                    config.audience(bound),
                    rules,
                )
                .map_err(|e| AuthSetupError::Config(format!("cannot build the HTTP client: {e}")))?;
                (Verifier::Introspection(introspector), None)
            }
        };
        let authorization_servers = if a.mode == AuthMode::OidcProxy {
            // Warden is the authorization server clients log in to (the IdP stays behind it).
            vec![config.public_url(bound)]
        } else if a.authorization_servers.is_empty() {
            issuer.into_iter().filter(|_| matches!(a.mode, AuthMode::Jwt | AuthMode::Introspection)).collect()
        } else {
            a.authorization_servers.clone()
        };
        Ok(Authenticator {
            mode: a.mode,
            verifier,
            local,
            cache: TokenCache::new(a.token_cache_entries, Duration::from_secs(a.token_cache_ttl_s)),
            max_token_bytes: a.max_token_bytes,
            resource,
            metadata_url,
            authorization_servers,
            required_scopes: a.required_scopes.clone(),
            telemetry: Telemetry::quiet(),
        })
    }

    /// Records rejections in `telemetry`'s audit log and metrics.
    pub fn with_telemetry(mut self, telemetry: Telemetry) -> Authenticator {
        self.telemetry = telemetry;
        self
    }

    /// The mode in force.
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// True if per-tool scopes are enforced (every mode but `none`).
    pub fn enforces_scopes(&self) -> bool {
        self.mode != AuthMode::None
    }

    /// Warden's own signing key: the local issuer (local mode), which is also the OIDC proxy's
    /// token signer (oidc-proxy mode).
    pub fn local_issuer(&self) -> Option<&Arc<LocalIssuer>> {
        self.local.as_ref()
    }

    /// True once tokens can be verified (the IdP's keys are loaded).
    pub fn is_ready(&self) -> bool {
        match &self.verifier {
            Verifier::Jwt(v) => v.keys().is_ready(),
            Verifier::Anonymous | Verifier::Introspection(_) => true,
        }
    }

    /// Starts background key maintenance (initial load with backoff, periodic refresh).
    pub fn spawn_key_maintenance(&self, refresh: Duration) {
        if let Verifier::Jwt(v) = &self.verifier {
            tokio::spawn(v.keys().clone().maintain(refresh));
        }
    }

    /// Authenticates a request from its headers.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Identity, AuthFailure> {
        if matches!(self.verifier, Verifier::Anonymous) {
            return Ok(Identity::anonymous());
        }
        let token = bearer_token(headers)?;
        if token.len() > self.max_token_bytes {
            return Err(AuthFailure::Invalid("token too large".into()));
        }
        if let Some(identity) = self.cache.get(token) {
            return Ok(identity);
        }
        let verified = match &self.verifier {
            Verifier::Anonymous => return Ok(Identity::anonymous()),
            Verifier::Jwt(verifier) => {
                if !verifier.keys().is_ready() {
                    return Err(AuthFailure::Unavailable);
                }
                verifier.verify(token).await.map_err(|Rejection(reason)| AuthFailure::Invalid(reason))
            }
            Verifier::Introspection(introspector) => introspector.verify(token).await.map_err(|f| match f {
                IntrospectionFailure::Rejected(reason) => AuthFailure::Invalid(reason),
                IntrospectionFailure::Unavailable(reason) => {
                    tracing::error!(reason = %reason, "token introspection failed");
                    AuthFailure::Unavailable
                }
            }),
        };
        let (identity, remaining) = verified?;
        self.cache.insert(token, identity.clone(), remaining);
        Ok(identity)
    }
}

/// The bearer token from the `Authorization` header (RFC 6750 §2.1; the only method accepted).
fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthFailure> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else { return Err(AuthFailure::Missing) };
    if values.next().is_some() {
        return Err(AuthFailure::Invalid("more than one Authorization header".into()));
    }
    let value = value.to_str().map_err(|_| AuthFailure::Invalid("malformed Authorization header".into()))?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthFailure::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::Missing);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthFailure::Missing);
    }
    Ok(token)
}

/// Authenticates the caller of a `/mcp` request (401 with a challenge on failure), checks the
/// global `required_scopes` (403), and attaches the [`Identity`] to `request`. `Err` is the
/// refusal to send instead.
pub async fn identify(auth: &Authenticator, request: &mut Request) -> Result<(), Response> {
    let identity = match auth.authenticate(request.headers()).await {
        Ok(identity) => identity,
        Err(failure) => {
            let (kind, reason) = match &failure {
                AuthFailure::Missing => ("missing_token", None),
                AuthFailure::Invalid(reason) => ("invalid_token", Some(reason.clone())),
                AuthFailure::Unavailable => (
                    "idp_unavailable",
                    Some("the IdP's keys or introspection endpoint are unavailable".into()),
                ),
            };
            auth.telemetry.metrics.auth_failure(kind);
            if let Some(reason) = reason {
                tracing::info!(reason = %reason, "token rejected");
                let mut e = AuditEvent::new("token.rejected", kind);
                e.reason = Some(reason);
                auth.telemetry.audit.record(&e);
            }
            return Err(unauthorized(auth, &failure));
        }
    };
    if auth.enforces_scopes() {
        let missing: Vec<&str> =
            auth.required_scopes.iter().filter(|s| !identity.has_scope(s)).map(String::as_str).collect();
        if !missing.is_empty() {
            tracing::info!(subject = %identity.data().subject, missing = ?missing, "required scopes missing");
            auth.telemetry.metrics.auth_failure("insufficient_scope");
            let mut e = AuditEvent::by("token.rejected", "insufficient_scope", &identity);
            e.reason = Some(format!("missing required scope(s): {}", missing.join(" ")));
            auth.telemetry.audit.record(&e);
            return Err(forbidden_insufficient_scope(auth, &auth.required_scopes));
        }
    }
    let identity = match bearer_token(request.headers()) {
        Ok(token) => identity.with_bearer(token),
        Err(_) => identity,
    };
    request.extensions_mut().insert(identity);
    Ok(())
}
