//! Turns verified token claims into an [`Identity`].

use serde_json::{Map, Value};

use crate::shared::{Identity, IdentityData, is_safe_username};

/// How claims map to identity fields (from `[auth]`).
#[derive(Debug, Clone)]
pub struct ClaimRules {
    /// Count Auth0 `permissions` as scopes.
    pub permissions_as_scopes: bool,
    /// Claim order for the user name.
    pub username_claims: Vec<String>,
}

/// Builds the identity from verified `claims`; `None` if there is no usable `sub`.
pub fn identity_from_claims(claims: Map<String, Value>, rules: &ClaimRules) -> Option<Identity> {
    let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
    let subject = text("sub").filter(|s| !s.is_empty())?;
    let mut scopes: Vec<String> = match claims.get("scope").or_else(|| claims.get("scp")) {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    let permissions: Vec<String> = match claims.get("permissions") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    if rules.permissions_as_scopes {
        for p in &permissions {
            if !scopes.contains(p) {
                scopes.push(p.clone());
            }
        }
    }
    let username = resolve_username(&claims, &rules.username_claims);
    Some(Identity::new(IdentityData {
        issuer: text("iss").unwrap_or_default(),
        email: text("email"),
        client_id: text("azp").or_else(|| text("client_id")),
        username,
        subject,
        scopes,
        permissions,
        claims: Value::Object(claims),
    }))
}

/// The user name from the first claim in `order` that is present. If that claim's value is not a
/// safe user name, there is no user name: falling through to a later claim would act as someone
/// the IdP did not name, so the database refuses the call instead.
fn resolve_username(claims: &Map<String, Value>, order: &[String]) -> Option<String> {
    let candidate = order.iter().find_map(|rule| match rule.as_str() {
        "email_prefix" => Some(claims.get("email")?.as_str()?.split_once('@')?.0.to_owned()),
        // Federated subjects look like "google-oauth2|1234": keep the part after the last '|'.
        "sub" => Some(claims.get("sub")?.as_str()?.rsplit('|').next()?.to_owned()),
        other => Some(claims.get(other)?.as_str()?.to_owned()),
    })?;
    is_safe_username(&candidate).then_some(candidate)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rules() -> ClaimRules {
        let defaults = crate::config::AuthConfig::default();
        ClaimRules {
            permissions_as_scopes: defaults.permissions_as_scopes,
            username_claims: defaults.username_claims,
        }
    }

    fn id(claims: Value) -> Option<Identity> {
        let Value::Object(m) = claims else { return None };
        identity_from_claims(m, &rules())
    }

    #[test]
    fn scopes_come_from_scope_or_scp_and_merge_permissions() {
        let i = id(json!({"sub": "a", "scope": "x y", "permissions": ["y", "z"]})).unwrap();
        assert_eq!(i.data().scopes, ["x", "y", "z"]);
        assert_eq!(i.data().permissions, ["y", "z"]);
        let i = id(json!({"sub": "a", "scp": ["x"]})).unwrap();
        assert_eq!(i.data().scopes, ["x"]);
    }

    #[test]
    fn username_follows_the_claim_order_and_an_unsafe_value_gives_none() {
        let i = id(json!({"sub": "auth0|u1", "email": "jane.doe@example.com"})).unwrap();
        assert_eq!(i.data().username.as_deref(), Some("jane.doe"));
        let i =
            id(json!({"sub": "google-oauth2|bob", "preferred_username": "x\"; DROP TABLE t; --"})).unwrap();
        assert_eq!(i.data().username, None, "an unsafe claim is not replaced by a later one");
        let i = id(json!({"sub": "auth0|1234"})).unwrap();
        assert_eq!(i.data().username, None, "a name must start with a letter");
        let long = "a".repeat(70);
        let i = id(json!({"sub": long})).unwrap();
        assert_eq!(i.data().username, None, "70 bytes is over the limit");
    }

    #[test]
    fn client_id_from_azp_or_client_id_and_sub_is_required() {
        assert_eq!(id(json!({"sub": "s", "azp": "c1"})).unwrap().data().client_id.as_deref(), Some("c1"));
        assert_eq!(
            id(json!({"sub": "s", "client_id": "c2"})).unwrap().data().client_id.as_deref(),
            Some("c2")
        );
        assert!(id(json!({"scope": "x"})).is_none());
        assert!(id(json!({"sub": ""})).is_none());
    }
}
