//! The caller's upstream access token for outbound HTTP (`credential = "caller"`): found through
//! the `sid` claim of Warden's own access token (the login's token family), read from the sealed
//! store, and refreshed at the IdP when it has (nearly) expired. Refreshes of one login are
//! serialized, so concurrent calls do not spend its refresh token twice.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use serde_json::Value;

use super::OidcProxy;
use super::token::{FAMILY, Family};
use super::upstream::UpstreamError;
use crate::outbound::credentials::{CallerTokens, CredentialError, TokenFuture};
use crate::shared::Identity;

/// Locks striping the refreshes of logins.
pub(super) const REFRESH_STRIPES: usize = 64;

/// An upstream token is refreshed this long before it expires.
const REFRESH_MARGIN: u64 = 30;

impl OidcProxy {
    async fn caller_upstream_token(&self, caller: &Identity) -> Result<String, CredentialError> {
        let data = caller.data();
        if data.issuer != self.issuer {
            return Err(CredentialError::NotConfigured(
                "the caller's token was not issued by this Warden's login, so no upstream token is kept for it".into(),
            ));
        }
        let Some(family_id) = data.claims.get("sid").and_then(Value::as_str) else {
            return Err(CredentialError::NotConfigured(
                "the caller's token names no login (sid); log in again".into(),
            ));
        };
        let store = |e: super::vault::VaultError| {
            CredentialError::IdpUnavailable(format!("Warden's token store: {e}"))
        };
        let ended = || {
            CredentialError::Refused("the caller's login has ended (revoked or expired); log in again".into())
        };
        let now = jsonwebtoken::get_current_timestamp();
        let family: Family = self.vault.get(FAMILY, family_id).await.map_err(store)?.ok_or_else(ended)?;
        if family.upstream.expires_at > now + REFRESH_MARGIN {
            return Ok(family.upstream.access_token);
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        family_id.hash(&mut hasher);
        let stripe = usize::try_from(hasher.finish()).unwrap_or(0) % REFRESH_STRIPES;
        let _guard = self.refresh_locks[stripe].lock().await;
        // Another call may have refreshed while this one waited.
        let mut family: Family = self.vault.get(FAMILY, family_id).await.map_err(store)?.ok_or_else(ended)?;
        if family.upstream.expires_at > now + REFRESH_MARGIN {
            return Ok(family.upstream.access_token);
        }
        let Some(refresh_token) = family.upstream.refresh_token.clone() else {
            return Err(CredentialError::Refused(
                "the caller's upstream token has expired and the login has no refresh token (offline_access); log in again"
                    .into(),
            ));
        };
        let login = self.upstream.refresh(&refresh_token, &family.claims).await.map_err(|e| match e {
            UpstreamError::Unavailable(e) => CredentialError::IdpUnavailable(e),
            other => CredentialError::Refused(other.to_string()),
        })?;
        family.claims = login.claims;
        family.upstream = login.tokens;
        let ttl = Duration::from_secs(self.settings.refresh_token_ttl_s);
        self.vault.put(FAMILY, family_id, &family, ttl).await.map_err(store)?;
        Ok(family.upstream.access_token)
    }
}

impl CallerTokens for OidcProxy {
    fn upstream_access_token<'a>(&'a self, caller: &'a Identity) -> TokenFuture<'a> {
        Box::pin(self.caller_upstream_token(caller))
    }
}
