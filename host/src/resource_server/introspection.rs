//! RFC 7662 token introspection, for IdPs that issue opaque access tokens. Each unknown token is
//! sent to the IdP's introspection endpoint (Warden authenticates with HTTP Basic); an active
//! token must be for this resource (`aud`) and, if it names one, from the configured issuer.
//! Results are cached like verified JWTs, so revocation takes effect within `token_cache_ttl_s`.

use std::time::Duration;

use serde_json::{Map, Value};

use super::claims::{ClaimRules, identity_from_claims};
use crate::shared::Identity;

/// Why introspection did not produce an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntrospectionFailure {
    /// The IdP says the token is not usable here (reason for logs and `error_description`).
    Rejected(String),
    /// The IdP could not be asked (network, HTTP error, bad answer).
    Unavailable(String),
}

/// Asks the IdP about tokens.
pub struct Introspector {
    http: reqwest::Client,
    url: String,
    client_id: String,
    client_secret: String,
    issuer: Option<String>,
    audience: String,
    rules: ClaimRules,
}

impl Introspector {
    /// An introspector for `url`, authenticating as `client_id`.
    pub fn new(
        url: String,
        client_id: String,
        client_secret: String,
        issuer: Option<String>,
        audience: String,
        rules: ClaimRules,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Introspector { http, url, client_id, client_secret, issuer, audience, rules })
    }

    /// Introspects `token`; returns the identity and how long it may be trusted.
    pub async fn verify(&self, token: &str) -> Result<(Identity, Duration), IntrospectionFailure> {
        let unavailable = |e: String| IntrospectionFailure::Unavailable(e);
        let reject = |r: &str| IntrospectionFailure::Rejected(r.to_owned());
        let response = self
            .http
            .post(&self.url)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| unavailable(format!("introspection request failed: {e}")))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("introspection endpoint answered HTTP {}", response.status())));
        }
        let body: Map<String, Value> = response
            .json()
            .await
            .map_err(|e| unavailable(format!("introspection answer is not JSON: {e}")))?;
        if body.get("active").and_then(Value::as_bool) != Some(true) {
            return Err(reject("token is not active"));
        }
        if body
            .get("token_type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("refresh_token"))
        {
            return Err(reject("a refresh token is not an access token"));
        }
        let audience_ok = match body.get("aud") {
            Some(Value::String(a)) => *a == self.audience,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(&self.audience)),
            _ => false,
        };
        if !audience_ok {
            return Err(reject("wrong audience (token is for another resource)"));
        }
        if let (Some(expected), Some(iss)) = (&self.issuer, body.get("iss").and_then(Value::as_str))
            && expected != iss
        {
            return Err(reject("wrong issuer"));
        }
        let now = jsonwebtoken::get_current_timestamp();
        let remaining = match body.get("exp").and_then(Value::as_u64) {
            Some(exp) if exp <= now => return Err(reject("token expired")),
            Some(exp) => Duration::from_secs(exp - now),
            // No exp: trust it only as long as the cache TTL allows.
            None => Duration::from_secs(u64::MAX / 4),
        };
        let identity =
            identity_from_claims(body, &self.rules).ok_or_else(|| reject("token has no subject"))?;
        Ok((identity, remaining))
    }
}
