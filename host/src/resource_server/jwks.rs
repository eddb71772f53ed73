//! The IdP's signing keys: fetched from OIDC discovery or a JWKS URL, cached, refreshed in the
//! background, re-fetched (rate-limited) when a token names an unknown `kid`, and kept when the
//! IdP is down. Keys are never taken from the token itself (`jku`, `jwk`, `x5u` are ignored).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// Largest discovery document or JWKS accepted.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;
/// Per-request timeout for the IdP.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Retry backoff while the keys have never been fetched.
const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// One verification key.
pub struct VerificationKey {
    /// Key id, if the JWKS gives one.
    pub kid: Option<String>,
    /// The key.
    pub key: DecodingKey,
    /// The algorithm the JWKS pins it to, if any.
    pub alg: Option<Algorithm>,
}

/// Where keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// An OIDC discovery document (its `jwks_uri`); its `issuer` must match.
    Discovery {
        /// Discovery URL.
        url: String,
        /// The issuer the document must name.
        issuer: String,
    },
    /// A JWKS URL.
    Jwks(String),
    /// Keys known up front (local mode).
    Static,
}

/// The cached key set.
pub struct KeySet {
    source: KeySource,
    http: reqwest::Client,
    keys: RwLock<Arc<Vec<Arc<VerificationKey>>>>,
    ready: AtomicBool,
    last_fetch: Mutex<Option<Instant>>,
    fetching: tokio::sync::Mutex<()>,
    min_refetch: Duration,
}

/// Why keys could not be fetched (for logs; never shown to callers).
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// Network or HTTP failure.
    #[error("cannot fetch {url}: {reason}")]
    Fetch {
        /// What was fetched.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The document is not what it should be.
    #[error("{0}")]
    Document(String),
}

impl KeySet {
    /// A key set that fetches from `source`; unknown-`kid` re-fetches are at most one per
    /// `min_refetch`.
    pub fn new(source: KeySource, min_refetch: Duration) -> Result<KeySet, JwksError> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| JwksError::Document(format!("cannot build the HTTP client: {e}")))?;
        Ok(KeySet {
            source,
            http,
            keys: RwLock::new(Arc::new(Vec::new())),
            ready: AtomicBool::new(false),
            last_fetch: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
            min_refetch,
        })
    }

    /// A fixed key set (local mode), ready at once.
    pub fn fixed(jwks: &Value) -> Result<KeySet, JwksError> {
        let set = KeySet::new(KeySource::Static, Duration::from_secs(3600))?;
        set.install(parse_jwks(jwks)?);
        Ok(set)
    }

    /// True once keys have been loaded at least once.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn install(&self, keys: Vec<Arc<VerificationKey>>) {
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
        self.ready.store(true, Ordering::Release);
    }

    /// The key for `kid`; a token without `kid` matches only a key set of exactly one key.
    pub fn find(&self, kid: Option<&str>) -> Option<Arc<VerificationKey>> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner).clone();
        match kid {
            Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)).cloned(),
            None if keys.len() == 1 => keys.first().cloned(),
            None => None,
        }
    }

    /// Re-fetches after a token named an unknown `kid`, unless a fetch happened within the
    /// minimum interval (so forged `kid`s cannot make Warden hammer the IdP). Concurrent callers
    /// share one fetch. Returns true if the keys were fetched.
    pub async fn refetch_for_unknown_kid(&self) -> bool {
        if matches!(self.source, KeySource::Static) {
            return false;
        }
        let _one_at_a_time = self.fetching.lock().await;
        let recently = self
            .last_fetch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|t| t.elapsed() < self.min_refetch);
        if recently {
            return false;
        }
        match self.fetch().await {
            Ok(n) => {
                tracing::info!(keys = n, "signing keys re-fetched for an unknown key id");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "signing keys could not be re-fetched; keeping the last good keys");
                false
            }
        }
    }

    /// Fetches the keys now; the last good keys stay on failure. Returns how many keys loaded.
    pub async fn fetch(&self) -> Result<usize, JwksError> {
        *self.last_fetch.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        let jwks_uri = match &self.source {
            KeySource::Static => return Ok(self.keys.read().unwrap_or_else(PoisonError::into_inner).len()),
            KeySource::Jwks(uri) => uri.clone(),
            KeySource::Discovery { url, issuer } => {
                let doc = self.get_json(url).await?;
                let named = doc.get("issuer").and_then(Value::as_str).unwrap_or_default();
                if named != issuer {
                    return Err(JwksError::Document(format!(
                        "the discovery document at {url} names issuer {named:?}, but auth.issuer is {issuer:?}; \
                         fix auth.issuer (Auth0 issuers end with a slash)"
                    )));
                }
                doc.get("jwks_uri")
                    .and_then(Value::as_str)
                    .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                    .ok_or_else(|| {
                        JwksError::Document(format!("the discovery document at {url} has no jwks_uri"))
                    })?
                    .to_owned()
            }
        };
        let keys = parse_jwks(&self.get_json(&jwks_uri).await?)?;
        if keys.is_empty() {
            return Err(JwksError::Document(format!("{jwks_uri} holds no usable signing keys")));
        }
        let n = keys.len();
        self.install(keys);
        Ok(n)
    }

    async fn get_json(&self, url: &str) -> Result<Value, JwksError> {
        let fail = |reason: String| JwksError::Fetch { url: url.to_owned(), reason };
        let response = self.http.get(url).send().await.map_err(|e| fail(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!("HTTP {}", response.status())));
        }
        if response.content_length().is_some_and(|l| l > MAX_DOCUMENT_BYTES as u64) {
            return Err(fail("document too large".into()));
        }
        let bytes = response.bytes().await.map_err(|e| fail(e.to_string()))?;
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(fail("document too large".into()));
        }
        serde_json::from_slice(&bytes).map_err(|e| fail(format!("not JSON: {e}")))
    }

    /// Loads the keys (retrying with backoff until the IdP answers), then refreshes them every
    /// `refresh`. Runs until the task is dropped.
    pub async fn maintain(self: Arc<Self>, refresh: Duration) {
        if matches!(self.source, KeySource::Static) {
            return;
        }
        let mut backoff = BACKOFF_START;
        loop {
            match self.fetch().await {
                Ok(n) => {
                    tracing::info!(keys = n, "signing keys loaded");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "signing keys not available yet; not ready");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        loop {
            tokio::time::sleep(refresh).await;
            if let Err(e) = self.fetch().await {
                tracing::warn!(error = %e, "signing key refresh failed; keeping the last good keys");
            }
        }
    }
}

/// Parses a JWKS, keeping each key that is a usable signature key and skipping the rest.
fn parse_jwks(doc: &Value) -> Result<Vec<Arc<VerificationKey>>, JwksError> {
    let list = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| JwksError::Document("the JWKS has no \"keys\" array".into()))?;
    let mut keys = Vec::new();
    for raw in list {
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else { continue };
        if raw.get("use").and_then(Value::as_str).is_some_and(|u| u != "sig") {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(&jwk) else { continue };
        let alg = jwk.common.key_algorithm.and_then(|a| Algorithm::try_from(a).ok());
        keys.push(Arc::new(VerificationKey { kid: jwk.common.key_id.clone(), key, alg }));
    }
    Ok(keys)
}
