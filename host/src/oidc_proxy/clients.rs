//! Dynamic client registration (RFC 7591): validating what a client asks for, issuing its id (and
//! a secret for confidential clients), and keeping the registration in the state store, so a
//! restart or another replica never answers "client not registered" (seed 000's table).
//!
//! Secrets are stored as SHA-256 digests and compared in constant time; a registration holds
//! nothing that would let someone who reads the store act as the client.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::vault::digest_key;
use crate::shared::redirect_uri::{RedirectError, RedirectPolicy, matches_registered};
use crate::store::{Store, StoreError};

/// The store namespace of registrations.
const NAMESPACE: &str = "client";
/// Most redirect URIs one client may register.
const MAX_REDIRECT_URIS: usize = 10;
/// Longest client name (it is shown on the consent page).
const MAX_CLIENT_NAME: usize = 100;

/// A registration request: the RFC 7591 metadata Warden uses (other fields are ignored, as the
/// RFC allows).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RegistrationRequest {
    /// Where authorization responses may go. Required.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// `none` (public client, PKCE only), `client_secret_basic` or `client_secret_post`.
    pub token_endpoint_auth_method: Option<String>,
    /// `authorization_code` and optionally `refresh_token`.
    pub grant_types: Option<Vec<String>>,
    /// `code` only.
    pub response_types: Option<Vec<String>>,
    /// Shown on the consent page.
    pub client_name: Option<String>,
    /// Scopes the client intends to ask for.
    pub scope: Option<String>,
}

/// A registered client, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Client {
    /// The issued client id.
    pub client_id: String,
    /// Its display name, if it gave one.
    pub client_name: Option<String>,
    /// Registered redirect URIs, normalized.
    pub redirect_uris: Vec<String>,
    /// Granted grant types.
    pub grant_types: Vec<String>,
    /// How it authenticates at the token endpoint.
    pub token_endpoint_auth_method: String,
    /// Requested scope, if any.
    pub scope: Option<String>,
    /// Unix seconds of registration.
    pub client_id_issued_at: u64,
    /// SHA-256 (hex) of the client secret, for confidential clients.
    secret_sha256: Option<String>,
}

/// Why a registration is refused: RFC 7591 §3.2.2 error codes with a description.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RegistrationError {
    /// `invalid_redirect_uri`.
    #[error("{0}")]
    RedirectUri(#[from] RedirectError),
    /// `invalid_redirect_uri` for a missing or oversized list.
    #[error("{0}")]
    RedirectUris(String),
    /// `invalid_client_metadata`.
    #[error("{0}")]
    Metadata(String),
    /// The store failed (answer 500 / `temporarily_unavailable`; never shown in detail).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RegistrationError {
    /// The RFC 7591 `error` code.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            RegistrationError::RedirectUri(_) | RegistrationError::RedirectUris(_) => "invalid_redirect_uri",
            RegistrationError::Metadata(_) => "invalid_client_metadata",
            RegistrationError::Store(_) => "temporarily_unavailable",
        }
    }
}

fn random_token(bytes: usize) -> Result<String, RegistrationError> {
    super::vault::random_token(bytes)
        .map_err(|_| RegistrationError::Metadata("the server could not generate randomness".into()))
}

impl Client {
    /// True if `presented` matches one of the registered redirect URIs (see
    /// [`matches_registered`]).
    pub(crate) fn allows_redirect(&self, presented: &str) -> bool {
        self.redirect_uris
            .iter()
            .filter_map(|r| url::Url::parse(r).ok())
            .any(|registered| matches_registered(&registered, presented))
    }

    /// True if `secret` is this confidential client's secret (constant-time comparison).
    pub(crate) fn verify_secret(&self, secret: &str) -> bool {
        self.secret_sha256.as_deref().is_some_and(|expected| {
            aws_lc_rs::constant_time::verify_slices_are_equal(
                expected.as_bytes(),
                digest_key(secret).as_bytes(),
            )
            .is_ok()
        })
    }

    /// True for a public client (no secret; PKCE is its only proof).
    pub(crate) fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == "none"
    }

    /// A client that did not register here: pre-registered in the configuration, or described by
    /// a Client ID Metadata Document. `redirect_uris` must already have passed the
    /// [`RedirectPolicy`]. With a `secret` it is confidential.
    pub(crate) fn known(
        client_id: String,
        client_name: Option<String>,
        redirect_uris: Vec<String>,
        secret: Option<&str>,
    ) -> Client {
        Client {
            client_id,
            client_name,
            redirect_uris,
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            token_endpoint_auth_method: if secret.is_some() { "client_secret_basic" } else { "none" }.into(),
            scope: None,
            client_id_issued_at: 0,
            secret_sha256: secret.map(digest_key),
        }
    }

    /// True if refresh tokens may be issued to this client.
    pub(crate) fn may_refresh(&self) -> bool {
        self.grant_types.iter().any(|g| g == "refresh_token")
    }
}

/// Registers clients and looks them up.
pub(crate) struct Registrar {
    store: Arc<Store>,
    policy: RedirectPolicy,
}

impl Registrar {
    /// A registrar keeping registrations in `store`, under `policy`'s redirect rules.
    pub(crate) fn new(store: Arc<Store>, policy: RedirectPolicy) -> Registrar {
        Registrar { store, policy }
    }

    /// Validates `request` and registers the client. Returns it and, for a confidential client,
    /// the secret (shown once; only its digest is kept).
    pub(crate) async fn register(
        &self,
        request: RegistrationRequest,
    ) -> Result<(Client, Option<String>), RegistrationError> {
        let metadata = |m: String| RegistrationError::Metadata(m);
        if request.redirect_uris.is_empty() {
            return Err(RegistrationError::RedirectUris(
                "redirect_uris is required and must not be empty".into(),
            ));
        }
        if request.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(RegistrationError::RedirectUris(format!(
                "at most {MAX_REDIRECT_URIS} redirect_uris may be registered"
            )));
        }
        let redirect_uris = request
            .redirect_uris
            .iter()
            .map(|u| self.policy.check_registration(u).map(|url| url.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let method = request.token_endpoint_auth_method.unwrap_or_else(|| "client_secret_basic".into());
        if !["none", "client_secret_basic", "client_secret_post"].contains(&method.as_str()) {
            return Err(metadata(format!(
                "token_endpoint_auth_method {method:?} is not supported (none, client_secret_basic, client_secret_post)"
            )));
        }
        let grant_types = request.grant_types.unwrap_or_else(|| vec!["authorization_code".into()]);
        if grant_types.iter().any(|g| g != "authorization_code" && g != "refresh_token")
            || !grant_types.iter().any(|g| g == "authorization_code")
        {
            return Err(metadata(
                "grant_types must include authorization_code and may add refresh_token, nothing else".into(),
            ));
        }
        if let Some(types) = &request.response_types
            && types.iter().any(|t| t != "code")
        {
            return Err(metadata("response_types may only be [\"code\"]".into()));
        }
        if let Some(name) = &request.client_name
            && (name.chars().count() > MAX_CLIENT_NAME || name.chars().any(char::is_control))
        {
            return Err(metadata(format!(
                "client_name must be at most {MAX_CLIENT_NAME} characters without control characters"
            )));
        }
        let secret = if method == "none" { None } else { Some(random_token(32)?) };
        let client = Client {
            client_id: random_token(18)?,
            client_name: request.client_name,
            redirect_uris,
            grant_types,
            token_endpoint_auth_method: method,
            scope: request.scope,
            client_id_issued_at: SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
            secret_sha256: secret.as_deref().map(digest_key),
        };
        let record = serde_json::to_vec(&client).map_err(|e| metadata(e.to_string()))?;
        if !self.store.put_new(NAMESPACE, &client.client_id, &record, None).await? {
            return Err(metadata("client id collision; register again".into()));
        }
        Ok((client, secret))
    }

    /// The registered client `client_id`, if any.
    pub(crate) async fn find(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        if client_id.is_empty() || client_id.len() > 128 {
            return Ok(None);
        }
        let Some(bytes) = self.store.get(NAMESPACE, client_id).await? else { return Ok(None) };
        Ok(serde_json::from_slice(&bytes).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EmbeddedStore;

    fn request(uris: &[&str]) -> RegistrationRequest {
        RegistrationRequest {
            redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
            token_endpoint_auth_method: Some("none".into()),
            grant_types: Some(vec!["authorization_code".into(), "refresh_token".into()]),
            client_name: Some("MCP Inspector".into()),
            ..RegistrationRequest::default()
        }
    }

    #[tokio::test]
    async fn registrations_survive_a_restart_and_match_their_redirects() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let open = || Arc::new(Store::Embedded(EmbeddedStore::open(&path).unwrap()));
        let registrar = Registrar::new(open(), RedirectPolicy::default());
        let (public, secret) =
            registrar.register(request(&["http://127.0.0.1:6274/callback"])).await.unwrap();
        assert!(secret.is_none() && public.is_public());
        let confidential = RegistrationRequest {
            token_endpoint_auth_method: Some("client_secret_basic".into()),
            ..request(&["https://app.example.com/cb"])
        };
        let (private, secret) = registrar.register(confidential).await.unwrap();
        let secret = secret.expect("a confidential client gets a secret");
        drop(registrar);

        // A restart (reopened store) still knows both clients.
        let registrar = Registrar::new(open(), RedirectPolicy::default());
        let found = registrar.find(&public.client_id).await.unwrap().expect("public client kept");
        assert_eq!(found, public);
        assert!(found.allows_redirect("http://127.0.0.1:50000/callback"), "loopback port may vary");
        assert!(!found.allows_redirect("http://127.0.0.1:50000/evil"));
        let found = registrar.find(&private.client_id).await.unwrap().expect("confidential client kept");
        assert!(found.verify_secret(&secret));
        assert!(!found.verify_secret("wrong"));
        assert!(!public.verify_secret(""), "a public client has no secret");
        assert!(registrar.find("unknown").await.unwrap().is_none());
        // The store holds the secret's digest, never the secret.
        let raw = std::fs::read(&path).unwrap();
        assert!(!raw.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }

    #[tokio::test]
    async fn bad_registrations_are_refused_with_the_rfc_7591_code() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::Embedded(EmbeddedStore::open(&dir.path().join("s.redb")).unwrap()));
        let registrar = Registrar::new(store, RedirectPolicy::default());
        let cases: Vec<(RegistrationRequest, &str, &str)> = vec![
            (request(&[]), "invalid_redirect_uri", "required"),
            (request(&["javascript:alert(1)"]), "invalid_redirect_uri", "never allowed"),
            (request(&["http://evil.example/cb"]), "invalid_redirect_uri", "loopback"),
            (request(&["https://a.example/cb"; 11]), "invalid_redirect_uri", "at most"),
            (
                RegistrationRequest {
                    grant_types: Some(vec!["client_credentials".into()]),
                    ..request(&["https://a.example/cb"])
                },
                "invalid_client_metadata",
                "grant_types",
            ),
            (
                RegistrationRequest {
                    response_types: Some(vec!["token".into()]),
                    ..request(&["https://a.example/cb"])
                },
                "invalid_client_metadata",
                "response_types",
            ),
            (
                RegistrationRequest {
                    token_endpoint_auth_method: Some("private_key_jwt".into()),
                    ..request(&["https://a.example/cb"])
                },
                "invalid_client_metadata",
                "token_endpoint_auth_method",
            ),
            (
                RegistrationRequest {
                    client_name: Some("Evil\u{202e}\nName".into()),
                    ..request(&["https://a.example/cb"])
                },
                "invalid_client_metadata",
                "client_name",
            ),
        ];
        for (req, code, reason) in cases {
            let err = registrar.register(req).await.unwrap_err();
            assert_eq!(err.code(), code, "{err}");
            assert!(err.to_string().contains(reason), "{err}");
        }
    }
}
