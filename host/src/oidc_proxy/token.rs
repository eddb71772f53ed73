//! `POST /token` (authorization_code and refresh_token grants) and `POST /revoke` (RFC 7009).
//!
//! A successful login creates a *token family*: the user's verified upstream claims and the
//! upstream tokens (sealed, never sent to the client). Every Warden refresh token belongs to one
//! family and is single-use:
//! - redeeming it (atomically, on any replica) rotates it: a new access token and a new refresh
//!   token, refreshing upstream first when the upstream access token has expired;
//! - presenting it again within `refresh_grace_s` of that (a client retrying after a lost
//!   response) returns the very same new pair;
//! - presenting it later is treated as theft: the whole family is revoked, so neither the thief
//!   nor the user can refresh again (RFC 9700 §4.14.2).
//!
//! A code is single-use too; presenting a used code revokes what was issued for it.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::clients::Client;
use super::errors::{OAuthError, no_store};
use super::upstream::{UpstreamError, UpstreamTokens};
use super::vault::{digest_key, random_token};
use super::{ClientLookup, OidcProxy, params, pkce};
use crate::telemetry::AuditEvent;

/// Store namespace of token families.
pub(super) const FAMILY: &str = "family";
/// Store namespace of authorization codes (keyed by their hash).
pub(super) const CODE: &str = "code";
const USED_CODE: &str = "code-used";
const REFRESH: &str = "refresh";
const USED_REFRESH: &str = "refresh-used";
const GRACE: &str = "refresh-grace";

/// What an authorization code stands for.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CodeGrant {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the request (must be repeated at the token endpoint).
    pub redirect_uri: String,
    /// The client's PKCE challenge.
    pub code_challenge: String,
    /// The token family created by the login.
    pub family: String,
}

/// One login's tokens: the user's upstream claims and upstream tokens, and what was granted.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Family {
    /// The client the family belongs to.
    pub client_id: String,
    /// Granted API scopes.
    pub scope: Vec<String>,
    /// The user's verified upstream claims.
    pub claims: Map<String, Value>,
    /// The upstream tokens.
    pub upstream: UpstreamTokens,
}

#[derive(Debug, Serialize, Deserialize)]
struct RefreshRecord {
    family: String,
    client_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct UsedRefresh {
    family: String,
    client_id: String,
    at: u64,
}

/// A token response, as sent and as kept for the grace window.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    expires_in: u64,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// The form of a token or revocation request (unknown fields ignored).
#[derive(Debug, Default, Deserialize)]
pub(super) struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    token: Option<String>,
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn ok_json(body: &TokenResponse) -> Response {
    let mut r = Json(body).into_response();
    no_store(r.headers_mut());
    r
}

/// Parses an `application/x-www-form-urlencoded` body (see [`params::parse`]).
fn parse_form(body: &[u8]) -> Result<TokenForm, OAuthError> {
    let pairs: Map<String, Value> = params::parse(body)
        .map_err(|e| OAuthError::invalid_request(e.to_string()))?
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    serde_json::from_value(Value::Object(pairs))
        .map_err(|_| OAuthError::invalid_request("malformed form body"))
}

impl OidcProxy {
    /// Authenticates the client of a token or revocation request: HTTP Basic (RFC 6749
    /// §2.3.1), or `client_id` (+ `client_secret`) in the body. Public clients send no secret.
    async fn authenticate_client(&self, headers: &HeaderMap, form: &TokenForm) -> Result<Client, OAuthError> {
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
            .map(|b64| {
                let decoded = STANDARD.decode(b64.trim()).ok().and_then(|d| String::from_utf8(d).ok());
                let pair = decoded.as_deref().and_then(|d| d.split_once(':')).map(|(i, s)| {
                    let unescape = |v: &str| {
                        url::form_urlencoded::parse(format!("v={v}").as_bytes())
                            .next()
                            .map(|(_, v)| v.into_owned())
                            .unwrap_or_default()
                    };
                    (unescape(i), unescape(s))
                });
                pair.ok_or_else(|| OAuthError::invalid_client("malformed HTTP Basic credentials"))
            })
            .transpose()?;
        let (client_id, secret) = match (basic, &form.client_id) {
            (Some((id, secret)), body_id) => {
                if body_id.as_ref().is_some_and(|b| *b != id) {
                    return Err(OAuthError::invalid_request("client_id in the body differs from HTTP Basic"));
                }
                (id, Some(secret))
            }
            (None, Some(id)) => (id.clone(), form.client_secret.clone()),
            (None, None) => {
                return Err(OAuthError::invalid_client("the request does not identify the client"));
            }
        };
        let client = match self.find_client(&client_id).await {
            Ok(c) => c,
            Err(ClientLookup::Store(e)) => {
                tracing::error!(error = %e, "client lookup failed");
                return Err(OAuthError::unavailable("try again"));
            }
            Err(_) => return Err(OAuthError::invalid_client("unknown client")),
        };
        match (client.is_public(), secret) {
            (true, None) => Ok(client),
            (true, Some(_)) => Err(OAuthError::invalid_client("this client is public and has no secret")),
            (false, Some(s)) if client.verify_secret(&s) => Ok(client),
            (false, _) => Err(OAuthError::invalid_client("client authentication failed")),
        }
    }

    fn audit_token(
        &self,
        event: &'static str,
        outcome: &'static str,
        client_id: &str,
        family: Option<&Family>,
        reason: Option<&str>,
    ) {
        let mut e = AuditEvent::new(event, outcome);
        e.client_id = Some(client_id.to_owned());
        e.subject = family.and_then(|f| f.claims.get("sub")).and_then(Value::as_str).map(str::to_owned);
        e.reason = reason.map(str::to_owned);
        self.telemetry.audit.record(&e);
    }

    /// Revokes a family (reuse detected, or the client asked): its refresh tokens stop working.
    async fn revoke_family(&self, family_id: &str) {
        match self.vault.take::<Family>(FAMILY, family_id).await {
            Ok(Some(family)) => {
                if let Some(rt) = &family.upstream.refresh_token {
                    self.upstream.revoke(rt).await;
                }
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot revoke a token family"),
        }
    }

    /// Mints an access token (and, if the client may refresh, a refresh token) for `family`.
    async fn issue(
        &self,
        family_id: &str,
        family: &Family,
        client: &Client,
        scope: &[String],
    ) -> Result<TokenResponse, OAuthError> {
        let access_token =
            self.access_token(family_id, &family.claims, &client.client_id, scope).map_err(|e| {
                tracing::error!(error = %e, "cannot sign an access token");
                OAuthError::unavailable("try again")
            })?;
        let refresh_token = if client.may_refresh() {
            let token = random_token(32)?;
            let record = RefreshRecord { family: family_id.to_owned(), client_id: client.client_id.clone() };
            self.vault
                .put(
                    REFRESH,
                    &digest_key(&token),
                    &record,
                    Duration::from_secs(self.settings.refresh_token_ttl_s),
                )
                .await?;
            Some(token)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: self.settings.access_token_ttl_s,
            scope: scope.join(" "),
            refresh_token,
        })
    }

    async fn code_grant(&self, client: &Client, form: &TokenForm) -> Result<TokenResponse, OAuthError> {
        let (Some(code), Some(verifier)) = (&form.code, &form.code_verifier) else {
            return Err(OAuthError::invalid_request("code and code_verifier are required"));
        };
        let key = digest_key(code);
        let Some(grant) = self.vault.take::<CodeGrant>(CODE, &key).await? else {
            if let Some(family) = self.vault.get::<String>(USED_CODE, &key).await? {
                self.revoke_family(&family).await;
                self.audit_token(
                    "token.refused",
                    "code_replay",
                    &client.client_id,
                    None,
                    Some("tokens issued for it revoked"),
                );
                return Err(OAuthError::invalid_grant(
                    "the code was already used; the tokens issued for it are revoked",
                ));
            }
            self.audit_token("token.refused", "unknown_code", &client.client_id, None, None);
            return Err(OAuthError::invalid_grant("unknown or expired code"));
        };
        self.vault
            .put(USED_CODE, &key, &grant.family, Duration::from_secs(self.settings.code_ttl_s * 2))
            .await?;
        let refuse = |outcome: &'static str, description: &str| {
            self.audit_token("token.refused", outcome, &client.client_id, None, None);
            Err(OAuthError::invalid_grant(description.to_owned()))
        };
        if grant.client_id != client.client_id {
            self.revoke_family(&grant.family).await;
            return refuse("code_other_client", "the code was issued to another client");
        }
        if form.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
            self.revoke_family(&grant.family).await;
            return refuse("redirect_uri_mismatch", "redirect_uri does not match the authorization request");
        }
        if let Err(e) = pkce::verify(verifier, &grant.code_challenge) {
            self.revoke_family(&grant.family).await;
            return refuse("pkce_mismatch", &e.to_string());
        }
        let Some(family) = self.vault.get::<Family>(FAMILY, &grant.family).await? else {
            return refuse("family_revoked", "the login was revoked");
        };
        let response = self.issue(&grant.family, &family, client, &family.scope).await?;
        self.audit_token("token.issued", "ok", &client.client_id, Some(&family), None);
        Ok(response)
    }

    async fn refresh_grant(&self, client: &Client, form: &TokenForm) -> Result<TokenResponse, OAuthError> {
        let Some(token) = &form.refresh_token else {
            return Err(OAuthError::invalid_request("refresh_token is required"));
        };
        let key = digest_key(token);
        let grace = self.settings.refresh_grace_s;
        let Some(record) = self.vault.take::<RefreshRecord>(REFRESH, &key).await? else {
            return self.refresh_again(client, &key, grace).await;
        };
        if record.client_id != client.client_id {
            self.revoke_family(&record.family).await;
            self.audit_token("token.refused", "refresh_other_client", &client.client_id, None, None);
            return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
        }
        let used =
            UsedRefresh { family: record.family.clone(), client_id: client.client_id.clone(), at: now() };
        self.vault
            .put(USED_REFRESH, &key, &used, Duration::from_secs(self.settings.refresh_token_ttl_s))
            .await?;
        let Some(mut family) = self.vault.get::<Family>(FAMILY, &record.family).await? else {
            self.audit_token("token.refused", "family_revoked", &client.client_id, None, None);
            return Err(OAuthError::invalid_grant("the login was revoked; sign in again"));
        };
        // Refresh upstream when its access token has (nearly) expired, so the user's standing at
        // the IdP (disabled account, changed permissions) is checked again.
        let upstream_due = family.upstream.expires_at <= now() + 30;
        if upstream_due {
            let Some(upstream_refresh) = family.upstream.refresh_token.clone() else {
                self.revoke_family(&record.family).await;
                return Err(OAuthError::invalid_grant(
                    "the identity provider's session has ended (no upstream refresh token); sign in again",
                ));
            };
            match self.upstream.refresh(&upstream_refresh, &family.claims).await {
                Ok(login) => {
                    // Permissions withdrawn at the IdP are withdrawn here too.
                    let still = self.grant(&login.claims, &[]);
                    family.scope.retain(|s| still.contains(s));
                    family.claims = login.claims;
                    family.upstream = login.tokens;
                }
                Err(UpstreamError::Unavailable(e)) => {
                    // Keep the user's session: put the refresh token back and let them retry.
                    tracing::warn!(error = %e, "upstream refresh: the IdP is unavailable");
                    self.vault.delete(USED_REFRESH, &key).await?;
                    self.vault
                        .put(REFRESH, &key, &record, Duration::from_secs(self.settings.refresh_token_ttl_s))
                        .await?;
                    return Err(OAuthError::unavailable(
                        "the identity provider is temporarily unavailable; try again",
                    ));
                }
                Err(e) => {
                    tracing::info!(error = %e, "upstream refresh refused: revoking the login");
                    self.revoke_family(&record.family).await;
                    self.audit_token(
                        "token.refused",
                        "upstream_refresh_refused",
                        &client.client_id,
                        Some(&family),
                        None,
                    );
                    return Err(OAuthError::invalid_grant(
                        "the identity provider ended the session; sign in again",
                    ));
                }
            }
        }
        let scope = match &form.scope {
            Some(asked) => {
                let asked: Vec<String> = asked.split_whitespace().map(str::to_owned).collect();
                if let Some(extra) = asked.iter().find(|s| !family.scope.contains(s)) {
                    return Err(OAuthError::bad(
                        "invalid_scope",
                        format!("{extra:?} was not granted to this login"),
                    ));
                }
                asked
            }
            None => family.scope.clone(),
        };
        let ttl = Duration::from_secs(self.settings.refresh_token_ttl_s);
        self.vault.put(FAMILY, &record.family, &family, ttl).await?;
        let response = self.issue(&record.family, &family, client, &scope).await?;
        self.vault.put(GRACE, &key, &response, Duration::from_secs(grace.max(1))).await?;
        let note = upstream_due.then_some("upstream tokens refreshed at the IdP");
        self.audit_token("token.refreshed", "ok", &client.client_id, Some(&family), note);
        Ok(response)
    }

    /// A refresh token that is not (or no longer) live: a retry within the grace window gets
    /// the pair already issued; anything later is reuse, and revokes the family.
    async fn refresh_again(
        &self,
        client: &Client,
        key: &str,
        grace: u64,
    ) -> Result<TokenResponse, OAuthError> {
        // A concurrent first use may still be minting: wait briefly for its answer.
        for _ in 0..20 {
            if let Some(response) = self.vault.get::<TokenResponse>(GRACE, key).await? {
                let used = self.vault.get::<UsedRefresh>(USED_REFRESH, key).await?;
                if used.is_some_and(|u| u.client_id == client.client_id) {
                    self.audit_token("token.refreshed", "grace_retry", &client.client_id, None, None);
                    return Ok(response);
                }
                return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
            }
            let Some(used) = self.vault.get::<UsedRefresh>(USED_REFRESH, key).await? else {
                self.audit_token("token.refused", "unknown_refresh_token", &client.client_id, None, None);
                return Err(OAuthError::invalid_grant("unknown or expired refresh token"));
            };
            if now().saturating_sub(used.at) > grace {
                self.revoke_family(&used.family).await;
                self.audit_token(
                    "token.refused",
                    "refresh_reuse",
                    &client.client_id,
                    None,
                    Some("refresh token reused after the grace window: family revoked"),
                );
                return Err(OAuthError::invalid_grant(
                    "the refresh token was already used; every token of this login is revoked",
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(OAuthError::invalid_grant("unknown or expired refresh token"))
    }
}

/// `POST /token`.
pub(super) async fn token(
    State(proxy): State<Arc<OidcProxy>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let form = parse_form(&body)?;
        let client = proxy.authenticate_client(&headers, &form).await?;
        if let Some(resource) = &form.resource
            && resource.trim_end_matches('/') != proxy.resource.trim_end_matches('/')
        {
            return Err(OAuthError::bad(
                "invalid_target",
                "this server only issues tokens for its own MCP endpoint",
            ));
        }
        match form.grant_type.as_deref() {
            Some("authorization_code") => proxy.code_grant(&client, &form).await,
            Some("refresh_token") if client.may_refresh() => proxy.refresh_grant(&client, &form).await,
            Some("refresh_token") => {
                Err(OAuthError::bad("unauthorized_client", "this client did not register for refresh_token"))
            }
            Some(other) => {
                Err(OAuthError::bad("unsupported_grant_type", format!("{other:?} is not supported")))
            }
            None => Err(OAuthError::invalid_request("grant_type is required")),
        }
    }
    .await;
    match result {
        Ok(response) => ok_json(&response),
        Err(e) => e.into_response(),
    }
}

/// `POST /revoke` (RFC 7009): revoking a refresh token revokes its whole family (and the
/// upstream refresh token). Access tokens are short-lived JWTs and expire on their own. The
/// answer is 200 whether or not the token was known.
pub(super) async fn revoke(
    State(proxy): State<Arc<OidcProxy>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let form = parse_form(&body)?;
        let client = proxy.authenticate_client(&headers, &form).await?;
        let Some(token) = &form.token else { return Err(OAuthError::invalid_request("token is required")) };
        let key = digest_key(token);
        if let Some(record) = proxy.vault.get::<RefreshRecord>(REFRESH, &key).await?
            && record.client_id == client.client_id
        {
            proxy.vault.delete(REFRESH, &key).await?;
            proxy.revoke_family(&record.family).await;
            proxy.audit_token("token.revoked", "ok", &client.client_id, None, None);
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            let mut r = http::StatusCode::OK.into_response();
            no_store(r.headers_mut());
            r
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_form_parameters_are_refused() {
        assert!(parse_form(b"grant_type=a&grant_type=b").is_err());
        let f = parse_form(b"grant_type=refresh_token&refresh_token=x&scope=").unwrap_or_default();
        assert_eq!(f.grant_type.as_deref(), Some("refresh_token"));
        assert_eq!(f.scope, None);
    }
}
