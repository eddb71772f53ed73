//! The upstream leg: Warden as a confidential OIDC client of the IdP (Auth0 or any OpenID
//! provider). Discovery, the authorization URL (PKCE S256, `nonce`, Auth0 `audience`), the code
//! exchange and refresh at the token endpoint (`client_secret_post` or `_basic`), revocation, and
//! verification of what comes back: the ID token (signature, issuer, audience = our client id,
//! nonce) and, when an audience is configured, the access token (signature, issuer, audience).
//!
//! Failures are classified so callers can answer precisely: the IdP unreachable or saying
//! `temporarily_unavailable` / 5xx is [`UpstreamError::Unavailable`]; an OAuth error from it is
//! [`UpstreamError::Rejected`]; a token that does not verify is [`UpstreamError::Invalid`].

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::Config;
use crate::resource_server::claims::ClaimRules;
use crate::resource_server::jwks::{KeySet, KeySource};
use crate::resource_server::jwt::JwtVerifier;
use crate::shared::resolve_reference;

/// Why the IdP did not give what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// Network failure, timeout, 5xx, or `temporarily_unavailable`: worth retrying.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The IdP answered with an OAuth error.
    #[error("the identity provider refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Rejected {
        /// Its `error` code.
        error: String,
        /// Its `error_description`.
        description: Option<String>,
    },
    /// A token from the IdP did not verify, or its answer was malformed.
    #[error("the identity provider's answer is not acceptable: {0}")]
    Invalid(String),
}

/// The IdP's endpoints, from its discovery document.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Endpoints {
    /// Its issuer identifier.
    pub issuer: String,
    /// Where users log in.
    pub authorization_endpoint: String,
    /// Where codes and refresh tokens are exchanged.
    pub token_endpoint: String,
    /// RFC 7009 revocation, if it has one.
    pub revocation_endpoint: Option<String>,
}

/// Upstream tokens, kept sealed in the store, never sent to MCP clients.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UpstreamTokens {
    /// The IdP's access token.
    pub access_token: String,
    /// Its refresh token (with `offline_access`).
    pub refresh_token: Option<String>,
    /// Unix seconds when the access token expires.
    pub expires_at: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: Option<String>,
    id_token: Option<String>,
    expires_in: Option<u64>,
}

/// What a successful exchange yields: the tokens and the user's verified claims.
pub(crate) struct Login {
    /// Tokens to keep.
    pub tokens: UpstreamTokens,
    /// Verified claims (access token, completed by the ID token's profile claims).
    pub claims: Map<String, Value>,
}

/// The IdP as Warden's proxy sees it.
pub(crate) struct Upstream {
    http: reqwest::Client,
    discovery_url: String,
    expected_issuer: Option<String>,
    client_id: String,
    client_secret: String,
    basic_auth: bool,
    audience: Option<String>,
    send_resource: bool,
    scopes: String,
    /// Where the IdP sends the browser back: `<public_url><callback_path>`.
    pub callback_url: String,
    endpoints: RwLock<Option<Arc<Endpoints>>>,
    keys: Arc<KeySet>,
    id_tokens: JwtVerifier,
    access_tokens: Option<JwtVerifier>,
}

/// Claims of an ID token that complete the profile when the access token lacks them.
const PROFILE_CLAIMS: &[&str] =
    &["email", "email_verified", "name", "preferred_username", "nickname", "username"];

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

impl Upstream {
    /// The upstream client for `config` (oidc-proxy mode), calling back to `callback_url`.
    pub(crate) fn new(config: &Config, callback_url: String) -> Result<Upstream, UpstreamError> {
        let o = &config.oidc;
        let missing = |f: &str| UpstreamError::Invalid(format!("oidc.{f} is not set"));
        let discovery_url = o.discovery_url().ok_or_else(|| missing("issuer"))?;
        let client_id = o.client_id.clone().ok_or_else(|| missing("client_id"))?;
        let client_secret = o
            .client_secret
            .as_ref()
            .map(|s| resolve_reference("oidc.client_secret", s.expose()))
            .transpose()
            .map_err(|e| UpstreamError::Invalid(e.to_string()))?
            .ok_or_else(|| missing("client_secret"))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(o.upstream_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| UpstreamError::Invalid(e.to_string()))?;
        let issuer = o.upstream_issuer();
        let source =
            KeySource::Discovery { url: discovery_url.clone(), issuer: issuer.clone().unwrap_or_default() };
        let keys = Arc::new(
            KeySet::new(source, Duration::from_secs(config.auth.jwks_min_refetch_s))
                .map_err(|e| UpstreamError::Invalid(e.to_string()))?,
        );
        let algorithms: Vec<Algorithm> =
            config.auth.algorithms.iter().filter_map(|a| a.parse().ok()).collect();
        let rules = ClaimRules {
            permissions_as_scopes: config.auth.permissions_as_scopes,
            username_claims: config.auth.username_claims.clone(),
        };
        let verifier = |audience: String| {
            JwtVerifier::new(
                keys.clone(),
                issuer.clone().unwrap_or_default(),
                audience,
                algorithms.clone(),
                config.auth.leeway_s,
                rules.clone(),
            )
        };
        Ok(Upstream {
            http,
            discovery_url,
            expected_issuer: issuer.clone(),
            id_tokens: verifier(client_id.clone()),
            access_tokens: o.audience.clone().map(verifier),
            client_id,
            client_secret,
            basic_auth: o.token_auth_method == "client_secret_basic",
            audience: o.audience.clone(),
            send_resource: o.send_resource,
            scopes: o.scopes.join(" "),
            callback_url,
            endpoints: RwLock::new(None),
            keys,
        })
    }

    /// The IdP's signing keys (kept fresh in the background by the caller).
    pub(crate) fn keys(&self) -> &Arc<KeySet> {
        &self.keys
    }

    /// The IdP's issuer as configured (for RFC 9207 `iss` checks at the callback).
    pub(crate) fn issuer(&self) -> Option<&str> {
        self.expected_issuer.as_deref()
    }

    /// The IdP's endpoints, fetched once from discovery (and again after a failure).
    pub(crate) async fn endpoints(&self) -> Result<Arc<Endpoints>, UpstreamError> {
        if let Some(e) = self.endpoints.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone() {
            return Ok(e);
        }
        let response =
            self.http.get(&self.discovery_url).send().await.map_err(|e| {
                UpstreamError::Unavailable(format!("discovery {}: {}", self.discovery_url, e))
            })?;
        if !response.status().is_success() {
            return Err(UpstreamError::Unavailable(format!(
                "discovery {} answered {}",
                self.discovery_url,
                response.status()
            )));
        }
        let endpoints: Endpoints = response
            .json()
            .await
            .map_err(|e| UpstreamError::Invalid(format!("discovery document {}: {e}", self.discovery_url)))?;
        if let Some(expected) = &self.expected_issuer
            && endpoints.issuer.trim_end_matches('/') != expected.trim_end_matches('/')
        {
            return Err(UpstreamError::Invalid(format!(
                "discovery says the issuer is {:?}, but oidc.issuer is {expected:?}",
                endpoints.issuer
            )));
        }
        let endpoints = Arc::new(endpoints);
        *self.endpoints.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(endpoints.clone());
        Ok(endpoints)
    }

    /// The URL that sends the browser to the IdP's login.
    pub(crate) async fn authorization_url(
        &self,
        state: &str,
        nonce: &str,
        challenge: &str,
    ) -> Result<String, UpstreamError> {
        let endpoints = self.endpoints().await?;
        let mut url = url::Url::parse(&endpoints.authorization_endpoint)
            .map_err(|_| UpstreamError::Invalid("the authorization_endpoint is not a URL".into()))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", &self.callback_url)
                .append_pair("scope", &self.scopes)
                .append_pair("state", state)
                .append_pair("nonce", nonce)
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(audience) = &self.audience {
                q.append_pair("audience", audience);
                if self.send_resource {
                    q.append_pair("resource", audience);
                }
            }
        }
        Ok(url.into())
    }

    /// A form POST to one of the IdP's endpoints, authenticated as Warden's client
    /// (`client_secret_basic` or `client_secret_post`).
    fn client_post(&self, url: &str, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
        let request = self.http.post(url);
        if self.basic_auth {
            request
                .basic_auth(form_encode(&self.client_id), Some(form_encode(&self.client_secret)))
                .form(form)
        } else {
            let mut form = form.to_vec();
            form.push(("client_id", &self.client_id));
            form.push(("client_secret", &self.client_secret));
            request.form(&form)
        }
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenResponse, UpstreamError> {
        let endpoints = self.endpoints().await?;
        let response = self
            .client_post(&endpoints.token_endpoint, form)
            .send()
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("token endpoint: {}", without_url(&e))))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| UpstreamError::Unavailable(without_url(&e)))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|_| UpstreamError::Invalid("the token response is not a token JSON object".into()));
        }
        let error: Option<Value> = serde_json::from_slice(&body).ok();
        let code = error.as_ref().and_then(|e| e["error"].as_str()).map(str::to_owned);
        let description = error.as_ref().and_then(|e| e["error_description"].as_str()).map(str::to_owned);
        match code {
            Some(c) if c != "temporarily_unavailable" && c != "server_error" && !status.is_server_error() => {
                Err(UpstreamError::Rejected { error: c, description })
            }
            _ => Err(UpstreamError::Unavailable(format!("token endpoint answered {status}"))),
        }
    }

    /// Exchanges the callback's `code` (with Warden's PKCE `verifier`), and verifies the result.
    pub(crate) async fn exchange(
        &self,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<Login, UpstreamError> {
        let response = self
            .token_request(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.callback_url),
                ("code_verifier", verifier),
            ])
            .await?;
        self.verify(response, Some(nonce), None).await
    }

    /// Refreshes upstream with `refresh_token`; re-verifies the user's claims (so permission
    /// changes at the IdP take effect). `previous` keeps profile claims the refresh lacks.
    pub(crate) async fn refresh(
        &self,
        refresh_token: &str,
        previous: &Map<String, Value>,
    ) -> Result<Login, UpstreamError> {
        let response =
            self.token_request(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await?;
        let mut login = self.verify(response, None, Some(previous)).await?;
        if login.tokens.refresh_token.is_none() {
            // The IdP does not rotate refresh tokens: keep using the same one.
            login.tokens.refresh_token = Some(refresh_token.to_owned());
        }
        Ok(login)
    }

    /// Best effort: revokes an upstream refresh token (logging out at the IdP side).
    pub(crate) async fn revoke(&self, refresh_token: &str) {
        let Ok(endpoints) = self.endpoints().await else { return };
        let Some(endpoint) = &endpoints.revocation_endpoint else { return };
        let form = [("token", refresh_token), ("token_type_hint", "refresh_token")];
        if let Err(e) = self.client_post(endpoint, &form).send().await {
            tracing::warn!(error = %without_url(&e), "upstream revocation failed");
        }
    }

    async fn verify(
        &self,
        response: TokenResponse,
        nonce: Option<&str>,
        previous: Option<&Map<String, Value>>,
    ) -> Result<Login, UpstreamError> {
        let mut profile = Map::new();
        let mut id_subject = None;
        if let Some(id_token) = &response.id_token {
            let (identity, _) = self
                .id_tokens
                .verify(id_token)
                .await
                .map_err(|r| UpstreamError::Invalid(format!("ID token: {r}")))?;
            let claims = identity.data().claims.as_object().cloned().unwrap_or_default();
            if let Some(expected) = nonce
                && claims.get("nonce").and_then(Value::as_str) != Some(expected)
            {
                return Err(UpstreamError::Invalid("ID token: nonce does not match this login".into()));
            }
            id_subject = Some(identity.data().subject.clone());
            profile = claims;
        } else if nonce.is_some() {
            return Err(UpstreamError::Invalid("no ID token: is \"openid\" in oidc.scopes?".into()));
        }
        let mut claims = match &self.access_tokens {
            Some(verifier) => {
                let (identity, _) = verifier
                    .verify(&response.access_token)
                    .await
                    .map_err(|r| UpstreamError::Invalid(format!("access token: {r}")))?;
                if let Some(sub) = &id_subject
                    && *sub != identity.data().subject
                {
                    return Err(UpstreamError::Invalid(
                        "the ID token and access token name different users".into(),
                    ));
                }
                identity.data().claims.as_object().cloned().unwrap_or_default()
            }
            // No API audience: the ID token is all we know (no permissions).
            None => profile.clone(),
        };
        for source in [Some(&profile), previous].into_iter().flatten() {
            for name in PROFILE_CLAIMS {
                if !claims.contains_key(*name)
                    && let Some(v) = source.get(*name)
                {
                    claims.insert((*name).to_owned(), v.clone());
                }
            }
        }
        if !claims.contains_key("sub") {
            match previous.and_then(|p| p.get("sub")) {
                Some(sub) => {
                    claims.insert("sub".into(), sub.clone());
                }
                None => return Err(UpstreamError::Invalid("no subject in the IdP's tokens".into())),
            }
        }
        let expires_at = now() + response.expires_in.unwrap_or(300);
        Ok(Login {
            tokens: UpstreamTokens {
                access_token: response.access_token,
                refresh_token: response.refresh_token,
                expires_at,
            },
            claims,
        })
    }
}

/// RFC 6749 §2.3.1: client credentials in HTTP Basic are form-encoded first.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A reqwest error's text without the URL (which may carry a code in its query).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_decode() || e.is_body() {
        "the response could not be read"
    } else {
        "request failed"
    };
    kind.to_owned()
}
