//! The verified caller, as the host hands it to plugins.

use std::sync::{Arc, OnceLock};

/// The verified caller of a request. Cheap to clone.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity(Arc<Verified>, Option<BearerToken>);

/// An identity's fields and what is derived from them once: a cached token's identity serves
/// every call that token makes, so its claims are serialized and its rate-limit key built once,
/// not per call.
#[derive(Debug)]
struct Verified {
    data: IdentityData,
    claims_json: OnceLock<Arc<str>>,
    caller_key: OnceLock<Arc<str>>,
}

impl PartialEq for Verified {
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data
    }
}

/// The bearer token the caller presented, kept for the host alone (RFC 8693 exchange in `jwt`
/// mode). `Debug` never shows it; it is never handed to a plugin or forwarded as is.
#[derive(Clone, PartialEq)]
pub(crate) struct BearerToken(Arc<str>);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// The fields of an [`Identity`].
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityData {
    /// Token subject.
    pub subject: String,
    /// Token issuer.
    pub issuer: String,
    /// Resolved user name.
    pub username: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// OAuth client id.
    pub client_id: Option<String>,
    /// OAuth scopes.
    pub scopes: Vec<String>,
    /// Auth0 RBAC permissions.
    pub permissions: Vec<String>,
    /// Every verified claim.
    pub claims: serde_json::Value,
}

impl Identity {
    /// Wraps verified identity fields.
    pub fn new(data: IdentityData) -> Self {
        Identity(Arc::new(Verified { data, claims_json: OnceLock::new(), caller_key: OnceLock::new() }), None)
    }

    /// This identity, remembering the bearer token it was verified from.
    pub fn with_bearer(&self, token: &str) -> Self {
        Identity(self.0.clone(), Some(BearerToken(Arc::from(token))))
    }

    /// The bearer token this identity was verified from, if the host kept it.
    pub fn bearer(&self) -> Option<&str> {
        self.1.as_ref().map(|t| &*t.0)
    }

    /// The identity every caller gets under `auth.mode = "none"`.
    pub fn anonymous() -> Self {
        Identity::new(IdentityData {
            subject: "anonymous".into(),
            issuer: "warden:none".into(),
            username: None,
            email: None,
            client_id: None,
            scopes: Vec::new(),
            permissions: Vec::new(),
            claims: serde_json::json!({ "sub": "anonymous" }),
        })
    }

    /// The identity's fields.
    pub fn data(&self) -> &IdentityData {
        &self.0.data
    }

    /// Every verified claim as JSON text (what a plugin receives), serialized once per identity.
    pub fn claims_json(&self) -> Arc<str> {
        self.0.claims_json.get_or_init(|| Arc::from(self.0.data.claims.to_string())).clone()
    }

    /// `issuer|subject`: who the per-caller limits count, built once per identity.
    pub fn caller_key(&self) -> Arc<str> {
        self.0
            .caller_key
            .get_or_init(|| Arc::from(format!("{}|{}", self.0.data.issuer, self.0.data.subject)))
            .clone()
    }

    /// True if the caller holds `scope` (RBAC permissions count when configured so).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.data.scopes.iter().any(|s| s == scope)
    }

    /// The scopes of `needed` the caller does not hold.
    pub fn missing_scopes<'a>(&self, needed: &'a [String]) -> Vec<&'a String> {
        needed.iter().filter(|s| !self.has_scope(s)).collect()
    }
}
