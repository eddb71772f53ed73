//! Redirect URIs: what a client may register (RFC 7591 with the OAuth 2.1 / RFC 8252 / RFC 9700
//! rules) and whether a presented URI matches a registered one.
//!
//! - Registered URIs must be absolute, without fragment, userinfo or wildcard.
//! - `https` is always allowed.
//! - `http` is allowed only for loopback hosts (`127.0.0.1`, `[::1]`, `localhost`).
//! - A native app's private-use scheme is allowed when it looks like a reverse domain name
//!   (`com.example.app:/callback`, RFC 8252 §7.1).
//! - Schemes that run code or read local data (`javascript:`, `data:`, `file:` ...) never are.
//! - Optional allow patterns narrow this further (`*` matches within one host label or path
//!   segment).
//! - Matching is exact, except that a loopback IP redirect may use any port (RFC 8252 §7.3),
//!   since native apps get an ephemeral port from the OS.

use url::{Host, Url};

/// Why a redirect URI is refused. The message is safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectError {
    /// Not an absolute URI.
    #[error("redirect_uri {0:?} is not an absolute URI")]
    NotAbsolute(String),
    /// A fragment, userinfo or wildcard is present.
    #[error("redirect_uri {uri:?} must not contain {what}")]
    Forbidden {
        /// The URI.
        uri: String,
        /// What it contains.
        what: &'static str,
    },
    /// The scheme is not allowed.
    #[error("redirect_uri {uri:?}: {reason}")]
    Scheme {
        /// The URI.
        uri: String,
        /// Why.
        reason: &'static str,
    },
    /// No configured allow pattern matches.
    #[error("redirect_uri {0:?} is not allowed by this server's redirect patterns")]
    NotAllowed(String),
}

/// Schemes that must never receive an authorization response.
const DANGEROUS_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "file",
    "vbscript",
    "about",
    "blob",
    "filesystem",
    "view-source",
    "chrome",
    "ftp",
    "ws",
    "wss",
];

/// Which redirect URIs clients may register here.
#[derive(Debug, Clone, Default)]
pub struct RedirectPolicy {
    /// If not empty, a registered URI must also match one of these (e.g.
    /// `https://*.example.com/callback`, `http://127.0.0.1/*`).
    pub allow_patterns: Vec<String>,
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn is_loopback_ip(url: &Url) -> bool {
    matches!(url.host(), Some(Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(Host::Ipv6(ip)) if ip.is_loopback())
}

impl RedirectPolicy {
    /// Checks a URI a client wants to register; returns it parsed.
    pub fn check_registration(&self, uri: &str) -> Result<Url, RedirectError> {
        let forbidden = |what| RedirectError::Forbidden { uri: uri.to_owned(), what };
        let scheme_error = |reason| RedirectError::Scheme { uri: uri.to_owned(), reason };
        if uri.contains('*') {
            return Err(forbidden("a wildcard (register each URI exactly)"));
        }
        let url = Url::parse(uri).map_err(|_| RedirectError::NotAbsolute(uri.to_owned()))?;
        if url.fragment().is_some() || uri.contains('#') {
            return Err(forbidden("a fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(forbidden("userinfo (user:password@)"));
        }
        let scheme = url.scheme();
        if DANGEROUS_SCHEMES.contains(&scheme) {
            return Err(scheme_error("this scheme can run code or read local data and is never allowed"));
        }
        match scheme {
            "https" => {
                if url.host().is_none() {
                    return Err(scheme_error("an https redirect needs a host"));
                }
            }
            "http" => {
                if !is_loopback(&url) {
                    return Err(scheme_error(
                        "plain http is allowed only for loopback (127.0.0.1, [::1], localhost)",
                    ));
                }
            }
            // Private-use scheme of a native app: a reverse domain name (RFC 8252 §7.1).
            other if other.contains('.') => {}
            _ => {
                return Err(scheme_error(
                    "use https, http on loopback, or a reverse-domain private-use scheme such as com.example.app",
                ));
            }
        }
        if !self.allow_patterns.is_empty()
            && !self.allow_patterns.iter().any(|p| pattern_matches(p, url.as_str()))
        {
            return Err(RedirectError::NotAllowed(uri.to_owned()));
        }
        Ok(url)
    }
}

/// True if `presented` (from an authorization request) matches `registered`: the same URI, or,
/// for a loopback IP literal over http, the same URI on any port.
pub fn matches_registered(registered: &Url, presented: &str) -> bool {
    let Ok(presented) = Url::parse(presented) else { return false };
    if presented.fragment().is_some() || !presented.username().is_empty() || presented.password().is_some() {
        return false;
    }
    if presented == *registered {
        return true;
    }
    registered.scheme() == "http"
        && presented.scheme() == "http"
        && is_loopback_ip(registered)
        && registered.host() == presented.host()
        && registered.path() == presented.path()
        && registered.query() == presented.query()
}

/// `*` matches any run of characters other than `/`, `.` and `:` (within one host label, port or
/// path segment); everything else must match exactly.
fn pattern_matches(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => {
                let mut i = 0;
                loop {
                    if go(rest, &t[i..]) {
                        return true;
                    }
                    match t.get(i) {
                        Some(c) if !matches!(c, b'/' | b'.' | b':') => i += 1,
                        _ => return false,
                    }
                }
            }
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(p, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> RedirectPolicy {
        RedirectPolicy::default()
    }

    #[test]
    fn safe_redirects_register() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com/cb?tenant=1",
            "http://127.0.0.1:33418/callback",
            "http://[::1]/callback",
            "http://localhost:6274/oauth/callback",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(open().check_registration(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn dangerous_redirects_are_refused_with_the_reason() {
        let cases = [
            ("javascript:alert(1)", "never allowed"),
            ("data:text/html,<script>alert(1)</script>", "never allowed"),
            ("file:///etc/passwd", "never allowed"),
            ("http://evil.example/callback", "only for loopback"),
            ("https://user:pw@app.example.com/cb", "userinfo"),
            ("https://app.example.com/cb#frag", "fragment"),
            ("https://*.example.com/cb", "wildcard"),
            ("myapp:/callback", "reverse-domain"),
            ("/relative/callback", "absolute"),
        ];
        for (uri, reason) in cases {
            let err = open().check_registration(uri).unwrap_err().to_string();
            assert!(err.contains(reason), "{uri}: {err}");
        }
    }

    #[test]
    fn allow_patterns_narrow_what_may_register() {
        let policy = RedirectPolicy {
            allow_patterns: vec![
                "https://*.example.com/callback".into(),
                "http://127.0.0.1:*/callback".into(),
            ],
        };
        assert!(policy.check_registration("https://app.example.com/callback").is_ok());
        assert!(policy.check_registration("http://127.0.0.1:5000/callback").is_ok());
        for refused in [
            "https://app.example.com.evil.net/callback",
            "https://a.b.example.com/callback",
            "https://app.example.com/callback/../x",
            "https://example.com/callback",
            "http://localhost:5000/callback",
        ] {
            assert!(
                matches!(policy.check_registration(refused), Err(RedirectError::NotAllowed(_))),
                "{refused}"
            );
        }
    }

    #[test]
    fn matching_is_exact_except_the_loopback_port() {
        let registered = open().check_registration("http://127.0.0.1:33418/callback").unwrap();
        assert!(matches_registered(&registered, "http://127.0.0.1:33418/callback"));
        assert!(matches_registered(&registered, "http://127.0.0.1:51515/callback"), "any port on loopback");
        for no in [
            "http://127.0.0.1:51515/callback/",
            "http://127.0.0.1:51515/other",
            "http://127.0.0.1:51515/callback?x=1",
            "http://127.0.0.2:51515/callback",
            "http://localhost:33418/callback",
            "https://127.0.0.1:33418/callback",
            "http://user@127.0.0.1:33418/callback",
            "http://127.0.0.1:33418/callback#x",
        ] {
            assert!(!matches_registered(&registered, no), "{no}");
        }
        let https = open().check_registration("https://app.example.com/cb").unwrap();
        assert!(matches_registered(&https, "https://app.example.com/cb"));
        assert!(!matches_registered(&https, "https://app.example.com:8443/cb"), "no port change for https");
        assert!(!matches_registered(&https, "https://APP.example.com/cb/"));
    }
}
