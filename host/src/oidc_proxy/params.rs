//! Request parameters of the authorization server's endpoints (query strings and
//! `application/x-www-form-urlencoded` bodies), read one way everywhere: a parameter sent twice
//! is an error (RFC 6749 §3.1), even if one of the two is empty, and an empty value counts as
//! absent.

use std::collections::HashMap;

/// A parameter sent twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the parameter {0:?} is repeated")]
pub(super) struct RepeatedParameter(String);

/// The parameters of `encoded`, or why they are refused.
pub(super) fn parse(encoded: &[u8]) -> Result<HashMap<String, String>, RepeatedParameter> {
    let mut map = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for (k, v) in url::form_urlencoded::parse(encoded) {
        if !seen.insert(k.to_string()) {
            return Err(RepeatedParameter(k.into_owned()));
        }
        if !v.is_empty() {
            map.insert(k.into_owned(), v.into_owned());
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        assert!(parse(b"a=1&a=2").is_err());
        assert!(parse(b"a=&a=2").is_err(), "an empty repeat is still a repeat");
        let p = parse(b"a=1&b=&c=x%20y").unwrap_or_default();
        assert_eq!(p.get("a").map(String::as_str), Some("1"));
        assert!(!p.contains_key("b"));
        assert_eq!(p.get("c").map(String::as_str), Some("x y"));
    }
}
