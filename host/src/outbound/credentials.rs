//! The credentials the host attaches: the caller's upstream token (through [`CallerTokens`],
//! which the OIDC proxy implements), an RFC 8693 exchanged token (cached per caller and
//! audience until it expires), or an operator secret. Values never leave this module except
//! into the outgoing request's header.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::policy::Credential;
use crate::shared::Identity;

/// Exchanged tokens kept in memory at most; the expired ones go first, then all of them.
const MAX_CACHED: usize = 10_000;
/// An exchanged token is not used in its last seconds.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// Time allowed for the IdP to answer an exchange.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why no credential could be attached.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CredentialError {
    /// The IdP did not answer (or answered with a server error).
    #[error("identity provider unavailable: {0}")]
    IdpUnavailable(String),
    /// The IdP refused (the caller's login ended, or the exchange is not allowed).
    #[error("identity provider refused: {0}")]
    Refused(String),
    /// This server cannot produce the credential (mode or configuration).
    #[error("{0}")]
    NotConfigured(String),
}

/// A boxed future of a credential.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<String, CredentialError>> + Send + 'a>>;

/// The caller's upstream access token, kept sealed by the OIDC proxy and refreshed when expired.
pub trait CallerTokens: Send + Sync {
    /// The current upstream access token of `caller`'s login.
    fn upstream_access_token<'a>(&'a self, caller: &'a Identity) -> TokenFuture<'a>;
}

/// Where the IdP's token endpoint is.
#[derive(Debug, Clone)]
pub enum TokenUrl {
    /// Configured.
    Fixed(String),
    /// The `token_endpoint` of this discovery document, fetched on first use.
    Discover(String),
}

/// Where and as whom tokens are exchanged.
#[derive(Clone)]
pub struct ExchangeClient {
    /// The IdP's token endpoint.
    pub token_url: TokenUrl,
    /// Warden's client id there.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
}

impl std::fmt::Debug for ExchangeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeClient")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

struct Cached {
    token: String,
    usable_until: Instant,
}

/// RFC 8693 token exchange with a per-caller, per-audience cache.
pub struct Exchanger {
    client: Option<ExchangeClient>,
    http: reqwest::Client,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
    discovered: tokio::sync::OnceCell<String>,
}

#[derive(Deserialize)]
struct Discovery {
    token_endpoint: String,
}

#[derive(Deserialize)]
struct ExchangeResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl Exchanger {
    /// Exchanges at `client` (`None`: exchange is not configured; destinations that need it fail
    /// with a clear error).
    pub fn new(client: Option<ExchangeClient>) -> Exchanger {
        let http = reqwest::Client::builder()
            .timeout(EXCHANGE_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Exchanger {
            client,
            http,
            cache: Mutex::new(HashMap::new()),
            discovered: tokio::sync::OnceCell::new(),
        }
    }

    async fn token_url(&self, client: &ExchangeClient) -> Result<String, CredentialError> {
        let url = match &client.token_url {
            TokenUrl::Fixed(url) => return Ok(url.clone()),
            TokenUrl::Discover(url) => url,
        };
        self.discovered
            .get_or_try_init(|| async {
                let response = self.http.get(url).send().await.map_err(|e| {
                    CredentialError::IdpUnavailable(format!("discovery: {}", without_url(&e)))
                })?;
                if !response.status().is_success() {
                    return Err(CredentialError::IdpUnavailable(format!(
                        "discovery answered {}",
                        response.status()
                    )));
                }
                let d: Discovery = response
                    .json()
                    .await
                    .map_err(|_| CredentialError::IdpUnavailable("discovery: malformed document".into()))?;
                Ok(d.token_endpoint)
            })
            .await
            .cloned()
    }

    fn key(caller: &Identity, credential: &Credential) -> [u8; 32] {
        let data = caller.data();
        let mut h = Sha256::new();
        for part in [data.issuer.as_str(), data.subject.as_str()] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(format!("{credential:?}").as_bytes());
        h.finalize().into()
    }

    /// A cached, unexpired exchanged token for `caller` and `credential`.
    pub fn cached(&self, caller: &Identity, credential: &Credential) -> Option<String> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(&Self::key(caller, credential))
            .filter(|c| c.usable_until > Instant::now())
            .map(|c| c.token.clone())
    }

    /// Exchanges `subject_token` (the caller's) for a token for `credential`'s audience, and
    /// caches it until shortly before it expires.
    pub async fn exchange(
        &self,
        caller: &Identity,
        credential: &Credential,
        subject_token: &str,
    ) -> Result<String, CredentialError> {
        let Credential::Exchange { audience, resource, scopes } = credential else {
            return Err(CredentialError::NotConfigured("not an exchange credential".into()));
        };
        let Some(client) = &self.client else {
            return Err(CredentialError::NotConfigured(
                "token exchange is not configured: set http.exchange.token_url, client_id and client_secret \
                 (or use auth.mode = \"oidc-proxy\", whose upstream client is the default)"
                    .into(),
            ));
        };
        let token_url = self.token_url(client).await?;
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("subject_token", subject_token),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
            ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
            ("client_id", &client.client_id),
            ("client_secret", &client.client_secret),
        ];
        if let Some(a) = audience {
            form.push(("audience", a));
        }
        if let Some(r) = resource {
            form.push(("resource", r));
        }
        let scope = scopes.join(" ");
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        let response =
            self.http.post(&token_url).form(&form).send().await.map_err(|e| {
                CredentialError::IdpUnavailable(format!("token exchange: {}", without_url(&e)))
            })?;
        let status = response.status();
        if status.is_server_error() {
            return Err(CredentialError::IdpUnavailable(format!("token exchange answered {status}")));
        }
        if !status.is_success() {
            let detail = match response.json::<OAuthError>().await {
                Ok(e) => format!("{}: {}", e.error, e.error_description.unwrap_or_default()),
                Err(_) => status.to_string(),
            };
            return Err(CredentialError::Refused(format!("token exchange: {detail}")));
        }
        let body: ExchangeResponse = response
            .json()
            .await
            .map_err(|_| CredentialError::IdpUnavailable("token exchange: malformed response".into()))?;
        let lifetime = Duration::from_secs(body.expires_in.unwrap_or(60)).saturating_sub(EXPIRY_MARGIN);
        if !lifetime.is_zero()
            && let Ok(mut cache) = self.cache.lock()
        {
            let now = Instant::now();
            if cache.len() >= MAX_CACHED {
                cache.retain(|_, c| c.usable_until > now);
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
            }
            cache.insert(
                Self::key(caller, credential),
                Cached { token: body.access_token.clone(), usable_until: now + lifetime },
            );
        }
        Ok(body.access_token)
    }
}

/// What went wrong with a request to the IdP, without its URL.
fn without_url(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    }
}
