//! Client ID Metadata Documents (MCP 2025-11-25, draft-ietf-oauth-client-id-metadata-document):
//! a client whose id is an https URL is described by the JSON document at that URL.
//!
//! Fetching a URL an anonymous caller chose is a server-side request forgery risk, so:
//! - https only, default or explicit port, no userinfo, no fragment, a non-empty path;
//! - the host is resolved once and **every** address must be public (no loopback, private,
//!   link-local, CGNAT, multicast, documentation or other reserved ranges, IPv4-mapped included);
//!   the connection then goes to that checked address (no second lookup, so no DNS rebinding);
//! - no redirects, a short timeout, and at most [`MAX_DOCUMENT_BYTES`] read;
//! - the document must name the same `client_id`, list redirect URIs that pass the redirect
//!   policy, and be a public client (`token_endpoint_auth_method` `none`);
//! - accepted documents are cached (sealed in the store) for [`CACHE_TTL`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;
use url::{Host, Url};

use super::clients::Client;
use super::vault::{Vault, VaultError, digest_key};
use crate::outbound::address::is_public;
use crate::shared::redirect_uri::RedirectPolicy;

/// The largest document read.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 16 * 1024;
/// How long an accepted document is reused.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(3600);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const NAMESPACE: &str = "cimd";

/// Why a metadata document was refused. The text is shown on the error page.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DocumentError {
    /// The client id is not an acceptable https URL.
    #[error("the client id {0:?} is not an acceptable https URL: {1}")]
    Url(String, &'static str),
    /// The host resolves to an address Warden will not connect to.
    #[error(
        "the client id's host resolves to a non-public address ({0}); metadata documents must be on the public internet"
    )]
    PrivateAddress(IpAddr),
    /// The host could not be resolved.
    #[error("the client id's host could not be resolved")]
    Resolve,
    /// Fetching failed.
    #[error("the metadata document could not be fetched: {0}")]
    Fetch(String),
    /// The document is not acceptable.
    #[error("the metadata document is not acceptable: {0}")]
    Document(String),
    /// The store failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

#[derive(Deserialize)]
struct Document {
    client_id: String,
    client_name: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    token_endpoint_auth_method: Option<String>,
}

/// True if `client_id` is in the form of a metadata-document client id (an https URL).
pub(crate) fn is_document_id(client_id: &str) -> bool {
    client_id.starts_with("https://")
}

fn check_url(client_id: &str) -> Result<Url, DocumentError> {
    let bad = |why| DocumentError::Url(client_id.to_owned(), why);
    let url = Url::parse(client_id).map_err(|_| bad("not a URL"))?;
    if url.scheme() != "https" {
        return Err(bad("not https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("userinfo is not allowed"));
    }
    if url.fragment().is_some() {
        return Err(bad("a fragment is not allowed"));
    }
    // The URL parser resolves dot segments away, so look at the text as given.
    let raw_path =
        client_id.split("://").nth(1).and_then(|rest| rest.find('/').map(|i| &rest[i..])).unwrap_or("");
    if url.path() == "/"
        || raw_path
            .split(['/', '?'])
            .any(|seg| seg == "." || seg == ".." || seg.eq_ignore_ascii_case("%2e%2e"))
    {
        return Err(bad("the path must name a document"));
    }
    if client_id.len() > 512 {
        return Err(bad("longer than 512 characters"));
    }
    Ok(url)
}

/// The address to connect to for `url`: its one checked, public address.
async fn public_address(url: &Url) -> Result<SocketAddr, DocumentError> {
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<SocketAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(Host::Domain(d)) => {
            tokio::net::lookup_host((d, port)).await.map_err(|_| DocumentError::Resolve)?.collect()
        }
        None => return Err(DocumentError::Resolve),
    };
    if let Some(bad) = addresses.iter().find(|a| !is_public(a.ip())) {
        return Err(DocumentError::PrivateAddress(bad.ip()));
    }
    addresses.into_iter().next().ok_or(DocumentError::Resolve)
}

/// Finds the client `client_id` (an https URL): from the cache, or by fetching its document.
pub(crate) async fn resolve(
    vault: &Vault,
    policy: &RedirectPolicy,
    client_id: &str,
) -> Result<Client, DocumentError> {
    let url = check_url(client_id)?;
    let key = digest_key(client_id);
    if let Some(client) = vault.get::<Client>(NAMESPACE, &key).await? {
        return Ok(client);
    }
    let address = public_address(&url).await?;
    let mut builder = reqwest::Client::builder()
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT);
    if let Some(Host::Domain(domain)) = url.host() {
        builder = builder.resolve(domain, address);
    }
    let http = builder.build().map_err(|e| DocumentError::Fetch(e.to_string()))?;
    let mut response = http
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|_| DocumentError::Fetch("connection failed or timed out".into()))?;
    if !response.status().is_success() {
        return Err(DocumentError::Fetch(format!("it answered {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|_| DocumentError::Fetch("the body could not be read".into()))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(DocumentError::Document(format!("larger than {MAX_DOCUMENT_BYTES} bytes")));
        }
    }
    let document: Document = serde_json::from_slice(&body)
        .map_err(|_| DocumentError::Document("not a JSON client metadata object".into()))?;
    let client = accept(document, client_id, policy)?;
    vault.put(NAMESPACE, &key, &client, CACHE_TTL).await?;
    Ok(client)
}

fn accept(document: Document, client_id: &str, policy: &RedirectPolicy) -> Result<Client, DocumentError> {
    let bad = |m: String| DocumentError::Document(m);
    if document.client_id != client_id {
        return Err(bad("its client_id is not the URL it was fetched from".into()));
    }
    if document.token_endpoint_auth_method.as_deref().is_some_and(|m| m != "none") {
        return Err(bad("only public clients (token_endpoint_auth_method \"none\") are supported".into()));
    }
    if document.redirect_uris.is_empty() || document.redirect_uris.len() > 10 {
        return Err(bad("redirect_uris must list 1 to 10 URIs".into()));
    }
    let uris = document
        .redirect_uris
        .iter()
        .map(|u| policy.check_registration(u).map(|url| url.to_string()).map_err(|e| bad(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let name = document.client_name.filter(|n| n.chars().count() <= 100 && !n.chars().any(char::is_control));
    Ok(Client::known(client_id.to_owned(), name, uris, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_urls_are_checked() {
        assert!(check_url("https://app.example.com/client.json").is_ok());
        for bad in [
            "http://app.example.com/client.json",
            "https://user:pw@app.example.com/c.json",
            "https://app.example.com/",
            "https://app.example.com/c.json#x",
            "https://app.example.com/a/../c.json",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_private_host_is_refused_before_any_connection() {
        let url = check_url("https://127.0.0.1:9/client.json").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(public_address(&url).await, Err(DocumentError::PrivateAddress(_))));
        let url = check_url("https://localhost/client.json").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(public_address(&url).await, Err(DocumentError::PrivateAddress(_))));
    }

    #[test]
    fn documents_must_match_their_url_and_be_public_clients() {
        let policy = RedirectPolicy::default();
        let id = "https://app.example.com/c.json";
        let doc = |cid: &str, method: Option<&str>, uris: &[&str]| Document {
            client_id: cid.into(),
            client_name: Some("App".into()),
            redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
            token_endpoint_auth_method: method.map(str::to_owned),
        };
        let ok =
            accept(doc(id, None, &["http://127.0.0.1/cb"]), id, &policy).unwrap_or_else(|e| panic!("{e}"));
        assert!(ok.is_public() && ok.allows_redirect("http://127.0.0.1:5555/cb"));
        assert!(
            accept(doc("https://other.example.com/c.json", None, &["http://127.0.0.1/cb"]), id, &policy)
                .is_err()
        );
        assert!(accept(doc(id, Some("client_secret_basic"), &["http://127.0.0.1/cb"]), id, &policy).is_err());
        assert!(accept(doc(id, None, &["javascript:alert(1)"]), id, &policy).is_err());
        assert!(accept(doc(id, None, &[]), id, &policy).is_err());
    }
}
