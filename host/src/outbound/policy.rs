//! What a plugin may call: its manifest's destinations (origin, path prefix, methods, the
//! credential the host attaches) and per-call limits, and the check of one request against them.
//! A request URL is parsed strictly first: no userinfo, no percent-encoded host, no dot segments
//! or encoded separators in the path, so a prefix match means what it says.

use std::time::Duration;

use http::{HeaderName, Method, Uri};

/// The outbound HTTP a manifest grants.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpGrant {
    /// Where the plugin may send requests.
    pub destinations: Vec<Destination>,
    /// Per-call limits.
    pub limits: HttpLimits,
}

/// Per-call limits on outbound HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Requests one call may make.
    pub requests_per_call: u32,
    /// Response body bytes one call may read, over all its requests.
    pub response_bytes: u64,
    /// Time one request may take, connect to last body byte.
    pub request_timeout: Duration,
}

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `http` / `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// One `[http.destinations.<name>]` of a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    /// The destination's name (metrics label, `WARDEN_HTTP_<NAME>` in the plugin's environment).
    pub name: String,
    /// Scheme of the origin.
    pub scheme: Scheme,
    /// Host of the origin, lower case (IPv6 without brackets).
    pub host: String,
    /// Port of the origin.
    pub port: u16,
    /// Path prefix requests must stay under (`/` for the whole origin).
    pub path_prefix: String,
    /// Methods allowed.
    pub methods: Vec<Method>,
    /// The credential the host attaches.
    pub credential: Credential,
    /// The header the credential goes in (replacing any the plugin set).
    pub header: HeaderName,
}

/// The credential the host attaches to a destination's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// Nothing.
    None,
    /// The caller's upstream access token (`oidc-proxy` mode), refreshed when expired.
    Caller,
    /// A token for `audience`/`resource` exchanged for the caller's (RFC 8693).
    Exchange {
        /// `audience` sent to the IdP.
        audience: Option<String>,
        /// `resource` sent to the IdP (RFC 8707).
        resource: Option<String>,
        /// Scopes asked for.
        scopes: Vec<String>,
    },
    /// A header value from a secret the operator configured, by name.
    Secret {
        /// The secret's name in `http.secrets` / `teams[].http_secrets`.
        name: String,
    },
}

impl Credential {
    /// `none`, `caller`, `exchange` or `secret` (audit lines and metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::None => "none",
            Credential::Caller => "caller",
            Credential::Exchange { .. } => "exchange",
            Credential::Secret { .. } => "secret",
        }
    }
}

impl Destination {
    /// `scheme://host:port` as written in audit lines.
    pub fn origin(&self) -> String {
        origin(self.scheme, &self.host, self.port)
    }

    /// The destination's URL (origin and path prefix), as the plugin sees it.
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == self.scheme.default_port() {
            format!("{}://{host}{}", self.scheme.as_str(), self.path_prefix)
        } else {
            format!("{}://{host}:{}{}", self.scheme.as_str(), self.port, self.path_prefix)
        }
    }

    /// Builds a destination from its checked URL.
    pub fn from_url(
        name: &str,
        url: &url::Url,
        methods: Vec<Method>,
        credential: Credential,
        header: HeaderName,
    ) -> Option<Destination> {
        let scheme = match url.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return None,
        };
        let host = match url.host()? {
            url::Host::Domain(d) => d.to_ascii_lowercase(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        let port = url.port_or_known_default()?;
        Some(Destination {
            name: name.to_owned(),
            scheme,
            host,
            port,
            path_prefix: url.path().to_owned(),
            methods,
            credential,
            header,
        })
    }

    /// True if `path` lies under this destination's prefix, at a segment boundary.
    fn covers(&self, path: &str) -> bool {
        path_within(path, &self.path_prefix)
    }
}

/// True if `path` lies under `prefix` at a segment boundary (`/v1` covers `/v1` and `/v1/x`,
/// not `/v10`).
pub fn path_within(path: &str, prefix: &str) -> bool {
    if prefix.ends_with('/') {
        path.starts_with(prefix)
    } else {
        path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
    }
}

fn origin(scheme: Scheme, host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("{}://[{host}]:{port}", scheme.as_str())
    } else {
        format!("{}://{host}:{port}", scheme.as_str())
    }
}

/// A request URL, parsed strictly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Scheme.
    pub scheme: Scheme,
    /// Host, lower case, IPv6 without brackets.
    pub host: String,
    /// Port (the scheme's default when the URL has none).
    pub port: u16,
    /// Path, without the query.
    pub path: String,
}

impl Target {
    /// Parses a request URI, refusing what could make a prefix check lie.
    pub fn parse(uri: &Uri) -> Result<Target, String> {
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            Some(other) => return Err(format!("scheme {other:?} is not allowed (only http and https)")),
            None => return Err("the URL has no scheme".into()),
        };
        let authority = uri.authority().ok_or("the URL has no host")?;
        if authority.as_str().contains('@') {
            return Err("credentials (userinfo) in the URL are not allowed".into());
        }
        let raw_host = authority.host();
        if raw_host.is_empty() || raw_host.contains('%') {
            return Err(format!("host {raw_host:?} is not allowed (empty or percent-encoded)"));
        }
        let host = raw_host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let host = host.strip_suffix('.').unwrap_or(&host).to_owned();
        let port = authority.port_u16().unwrap_or(scheme.default_port());
        let path = uri.path();
        let path = if path.is_empty() { "/" } else { path };
        check_path(path)?;
        Ok(Target { scheme, host, port, path: path.to_owned() })
    }

    /// `scheme://host:port` as written in audit lines.
    pub fn origin(&self) -> String {
        origin(self.scheme, &self.host, self.port)
    }
}

/// Refuses paths whose meaning a server could read differently from a prefix check: dot
/// segments, backslashes, and percent-encoded dots, slashes, backslashes or NULs.
fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err("the path must start with '/'".into());
    }
    if path.contains('\\') {
        return Err("backslashes in the path are not allowed".into());
    }
    let lower = path.to_ascii_lowercase();
    for encoded in ["%2e", "%2f", "%5c", "%00"] {
        if lower.contains(encoded) {
            return Err(format!(
                "{encoded} (an encoded dot, slash, backslash or NUL) in the path is not allowed"
            ));
        }
    }
    if path.split('/').any(|segment| segment == "." || segment == "..") {
        return Err("dot segments ('.' or '..') in the path are not allowed".into());
    }
    Ok(())
}

/// Why a request does not match the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// No destination has this origin.
    Origin,
    /// The origin is granted, but not under this path.
    Path,
    /// The path is granted, but not for this method.
    Method,
}

impl HttpGrant {
    /// The destination covering `target` and `method`: the longest matching path prefix.
    pub fn find(&self, target: &Target, method: &Method) -> Result<&Destination, Mismatch> {
        let same_origin = self
            .destinations
            .iter()
            .filter(|d| d.scheme == target.scheme && d.host == target.host && d.port == target.port);
        let mut best: Option<&Destination> = None;
        let mut origin_seen = false;
        let mut path_seen = false;
        for d in same_origin {
            origin_seen = true;
            if !d.covers(&target.path) {
                continue;
            }
            path_seen = true;
            if d.methods.contains(method) && best.is_none_or(|b| d.path_prefix.len() > b.path_prefix.len()) {
                best = Some(d);
            }
        }
        match best {
            Some(d) => Ok(d),
            None if path_seen => Err(Mismatch::Method),
            None if origin_seen => Err(Mismatch::Path),
            None => Err(Mismatch::Origin),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> HttpGrant {
        let url = url::Url::parse("https://api.example.com/v1").unwrap();
        let d = Destination::from_url(
            "api",
            &url,
            vec![Method::GET],
            Credential::None,
            http::header::AUTHORIZATION,
        )
        .unwrap();
        HttpGrant {
            destinations: vec![d],
            limits: HttpLimits {
                requests_per_call: 1,
                response_bytes: 1,
                request_timeout: Duration::from_secs(1),
            },
        }
    }

    fn target(url: &str) -> Result<Target, String> {
        Target::parse(&url.parse::<Uri>().map_err(|e| e.to_string())?)
    }

    #[test]
    fn requests_match_origin_path_prefix_and_method() {
        let g = grant();
        let get = Method::GET;
        assert!(g.find(&target("https://api.example.com/v1").unwrap(), &get).is_ok());
        assert!(g.find(&target("https://API.example.com:443/v1/users?x=1").unwrap(), &get).is_ok());
        assert_eq!(g.find(&target("https://api.example.com/v10").unwrap(), &get), Err(Mismatch::Path));
        assert_eq!(
            g.find(&target("https://api.example.com/v1/x").unwrap(), &Method::POST),
            Err(Mismatch::Method)
        );
        assert_eq!(g.find(&target("http://api.example.com/v1").unwrap(), &get), Err(Mismatch::Origin));
        assert_eq!(g.find(&target("https://api.example.com:8443/v1").unwrap(), &get), Err(Mismatch::Origin));
        assert_eq!(
            g.find(&target("https://api.example.com.evil.net/v1").unwrap(), &get),
            Err(Mismatch::Origin)
        );
    }

    #[test]
    fn urls_that_could_fool_a_prefix_check_are_refused() {
        for url in [
            "https://user:pw@api.example.com/v1",
            "https://api.example.com@evil.net/v1",
            "https://api.example.com/v1/../admin",
            "https://api.example.com/v1/%2e%2e/admin",
            "https://api.example.com/v1/%2Fadmin",
            "https://api.example.com/v1/./x",
            "https://api%2eexample.com/v1",
            "ftp://api.example.com/v1",
        ] {
            assert!(target(url).is_err(), "{url} should be refused");
        }
    }
}
