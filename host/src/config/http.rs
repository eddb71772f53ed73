//! `[http]`: outbound HTTP lent to plugins (their manifests' `[http.destinations.*]`). What a
//! destination may resolve to, which roots TLS trusts, the per-call ceilings, the secrets the
//! shared directory's manifests may name, and the token-exchange client. Every setting here is
//! the operator's: no manifest can widen it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::Config;
use super::Secret;
use crate::shared::resolve_reference;

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address ranges (CIDR) plugins may reach although they are loopback, private, link-local,
    /// metadata or otherwise refused by default, e.g. `["10.20.0.0/16"]`.
    pub allow_cidrs: Vec<String>,
    /// Attach credentials to plain `http://` destinations too (tests on loopback; never in
    /// production).
    pub allow_plain_http_credentials: bool,
    /// A PEM bundle of extra root certificates, trusted besides the system's.
    pub ca_bundle: Option<PathBuf>,
    /// Requests one call may make: the default and the most a manifest may ask for.
    pub max_requests_per_call: u32,
    /// Response bytes one call may read, in KiB: the default and the most a manifest may ask for.
    pub max_response_kb: u64,
    /// Time one request may take (connect to the last body byte), in milliseconds: the default
    /// and the most a manifest may ask for. Always within the plugin's own wall-time limit.
    pub max_request_ms: u64,
    /// Secrets the shared directory's manifests may name (`credential = "secret"`), each an
    /// `env:`/`file:` reference (or the value itself). Teams have their own (`teams[].http_secrets`).
    pub secrets: BTreeMap<String, Secret>,
    /// The RFC 8693 token-exchange client (`credential = "exchange"`).
    pub exchange: ExchangeConfig,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            allow_cidrs: Vec::new(),
            allow_plain_http_credentials: false,
            ca_bundle: None,
            max_requests_per_call: 16,
            max_response_kb: 4096,
            max_request_ms: 10_000,
            secrets: BTreeMap::new(),
            exchange: ExchangeConfig::default(),
        }
    }
}

/// `[http.exchange]`: where and as whom Warden exchanges a caller's token (RFC 8693).
/// Defaults: in `oidc-proxy` mode the upstream IdP's token endpoint and Warden's client there
/// (`oidc.client_id`/`oidc.client_secret`); otherwise these must be set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExchangeConfig {
    /// The IdP's token endpoint.
    pub token_url: Option<String>,
    /// Warden's client id at the IdP.
    pub client_id: Option<String>,
    /// Its secret (an `env:`/`file:` reference, or the value).
    pub client_secret: Option<Secret>,
}

impl Config {
    pub(super) fn validate_http(&self, bad: &mut impl FnMut(&str, String, &str)) {
        let h = &self.http;
        for (i, cidr) in h.allow_cidrs.iter().enumerate() {
            if cidr.parse::<ipnet::IpNet>().is_err() {
                bad(
                    &format!("http.allow_cidrs[{i}]"),
                    format!("{cidr:?} is not a CIDR range"),
                    "write an address and prefix length, e.g. \"10.20.0.0/16\" or \"127.0.0.1/32\"",
                );
            }
        }
        if let Some(path) = &h.ca_bundle
            && !path.is_file()
        {
            bad(
                "http.ca_bundle",
                format!("{} is not a readable file", path.display()),
                "point it at a PEM file of root certificates, or remove it to trust only the system's",
            );
        }
        let ranges: [(&str, u64); 3] = [
            ("http.max_requests_per_call", u64::from(h.max_requests_per_call)),
            ("http.max_response_kb", h.max_response_kb),
            ("http.max_request_ms", h.max_request_ms),
        ];
        for (field, value) in ranges {
            if value == 0 {
                bad(field, "is 0, so no plugin could make a request".into(), "set a positive value");
            }
        }
        let secrets = std::iter::once(("http.secrets".to_owned(), &h.secrets)).chain(
            self.teams.iter().enumerate().map(|(i, t)| (format!("teams[{i}].http_secrets"), &t.http_secrets)),
        );
        for (at, map) in secrets {
            for (name, value) in map {
                let field = format!("{at}.{name}");
                if let Err(e) = resolve_reference(&field, value.expose()) {
                    bad(&field, e.to_string(), "set the environment variable or create the file it names");
                }
            }
        }
        for (i, team) in self.teams.iter().enumerate() {
            for (j, d) in team.http_destinations.iter().enumerate() {
                if let Err(problem) = check_destination_url(d) {
                    bad(
                        &format!("teams[{i}].http_destinations[{j}]"),
                        problem,
                        "write scheme://host[:port]/path/prefix",
                    );
                }
            }
        }
        if let Some(url) = &h.exchange.token_url
            && url::Url::parse(url).is_err()
        {
            bad(
                "http.exchange.token_url",
                format!("{url:?} is not a URL"),
                "use the IdP's token endpoint URL",
            );
        }
        if let Some(s) = &h.exchange.client_secret
            && let Err(e) = resolve_reference("http.exchange.client_secret", s.expose())
        {
            bad(
                "http.exchange.client_secret",
                e.to_string(),
                "set the environment variable or create the file it names",
            );
        }
    }
}

/// Checks a destination URL (`scheme://host[:port]/path`): `http`/`https`, a host, no userinfo,
/// query or fragment.
pub fn check_destination_url(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{raw:?}: only http and https destinations are allowed"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{raw:?} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{raw:?} carries credentials in the URL; name a credential instead"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{raw:?} has a query or fragment; a destination is an origin and a path prefix"));
    }
    Ok(url)
}
