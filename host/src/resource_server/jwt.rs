//! JWT access-token verification: allow-listed asymmetric algorithms only, `iss`, `aud` (string or
//! array), `exp`/`nbf` with leeway, `typ` `JWT`/`at+jwt`, key chosen by `kid` from the IdP's JWKS.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde_json::{Map, Value};

use super::claims::{ClaimRules, identity_from_claims};
use super::jwks::KeySet;
use crate::shared::Identity;

/// Why a token was rejected. The text goes to logs and to `error_description`; it never
/// contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejection(pub String);

fn reject(reason: impl Into<String>) -> Rejection {
    Rejection(reason.into())
}

/// Verifies JWT access tokens against one issuer and audience.
pub struct JwtVerifier {
    keys: Arc<KeySet>,
    issuer: String,
    audience: String,
    algorithms: Vec<Algorithm>,
    leeway_s: u64,
    rules: ClaimRules,
}

impl JwtVerifier {
    /// A verifier for tokens from `issuer` for `audience`, signed with one of `algorithms`.
    pub fn new(
        keys: Arc<KeySet>,
        issuer: String,
        audience: String,
        algorithms: Vec<Algorithm>,
        leeway_s: u64,
        rules: ClaimRules,
    ) -> Self {
        JwtVerifier { keys, issuer, audience, algorithms, leeway_s, rules }
    }

    /// The key set (for readiness).
    pub fn keys(&self) -> &Arc<KeySet> {
        &self.keys
    }

    /// Verifies `token`; returns the identity and how long the token stays valid.
    pub async fn verify(&self, token: &str) -> Result<(Identity, Duration), Rejection> {
        let header = decode_header(token).map_err(|_| reject("malformed token (not a signed JWT)"))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(reject(format!("algorithm {:?} is not accepted", header.alg)));
        }
        if let Some(typ) = &header.typ {
            let typ = typ.to_ascii_lowercase();
            if !matches!(typ.as_str(), "jwt" | "at+jwt" | "application/at+jwt") {
                return Err(reject(format!("token type {typ:?} is not an access token")));
            }
        }
        let kid = header.kid.as_deref();
        let key = match self.keys.find(kid) {
            Some(k) => k,
            None => {
                self.keys.refetch_for_unknown_kid().await;
                self.keys.find(kid).ok_or_else(|| reject("unknown signing key"))?
            }
        };
        if key.alg.is_some_and(|a| a != header.alg) {
            return Err(reject("the signing key is not for this algorithm"));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.leeway_s;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let data =
            decode::<Map<String, Value>>(token, &key.key, &validation).map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => reject("token expired"),
                ErrorKind::ImmatureSignature => reject("token not valid yet (nbf)"),
                ErrorKind::InvalidIssuer => reject("wrong issuer"),
                ErrorKind::InvalidAudience => reject("wrong audience (token is for another resource)"),
                ErrorKind::InvalidSignature => reject("bad signature"),
                ErrorKind::MissingRequiredClaim(c) => reject(format!("missing claim {c:?}")),
                ErrorKind::InvalidAlgorithm => reject("algorithm does not match the key"),
                _ => reject("invalid token"),
            })?;
        let exp = data.claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let now = jsonwebtoken::get_current_timestamp();
        let remaining = Duration::from_secs(exp.saturating_sub(now));
        let identity =
            identity_from_claims(data.claims, &self.rules).ok_or_else(|| reject("token has no subject"))?;
        Ok((identity, remaining))
    }
}
