//! Test HTTP servers that plugins call out to: each counts the TCP connections it accepts (so a
//! test can show a refused request made none) and records every request it reads, headers and
//! all. Written on plain tokio sockets so that misbehaviour (never answering, streaming forever,
//! a huge body) is exactly what the test asks for.
//!
//! [`Upstream::api`] is the downstream API of the token-exchange tests: it verifies the bearer
//! token's signature against the IdP's published keys, its issuer and its audience, and answers
//! with data of the token's subject.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a test server does with each request.
#[derive(Clone)]
pub enum Behaviour {
    /// 200 with a JSON body naming the method, path and header names (never header values).
    Echo,
    /// Reads the request and never answers.
    Silent,
    /// 200, chunked, 1 KiB every 10 ms, forever.
    Endless,
    /// 200 with `mb` MiB of body, chunked (`sized` false) or with a Content-Length.
    Huge {
        /// MiB to send.
        mb: usize,
        /// Send a Content-Length.
        sized: bool,
    },
    /// 302 to this location.
    Redirect(String),
    /// The downstream API: verifies the bearer token (RS256 against `jwks`, `iss`, `aud`) and
    /// answers `{"subject": sub, "records": [...]}`; 401 otherwise.
    Api {
        /// The IdP's key set.
        jwks: Value,
        /// The IdP's issuer.
        issuer: String,
        /// The audience tokens must be for.
        audience: String,
    },
}

/// A request a test server read.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Request target (path and query).
    pub target: String,
    /// Headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
}

/// A running test server; stops when dropped.
pub struct Upstream {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its port.
    pub port: u16,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    /// Starts a server with `behaviour` on a free loopback port.
    pub async fn start(behaviour: Behaviour) -> anyhow::Result<Upstream> {
        Upstream::start_with(behaviour, None).await
    }

    /// Starts an HTTPS server with `behaviour`, its certificate from `pki` (for `localhost` and
    /// `127.0.0.1`); [`Upstream::url`] is then `https://127.0.0.1:PORT`.
    pub async fn start_tls(behaviour: Behaviour, pki: &crate::pki::TestPki) -> anyhow::Result<Upstream> {
        use rustls::pki_types::pem::PemObject;
        let certs = vec![rustls::pki_types::CertificateDer::from_pem_slice(pki.cert_pem.as_bytes())?];
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes())?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        let mut upstream =
            Upstream::start_with(behaviour, Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await?;
        upstream.url = upstream.url.replace("http://", "https://");
        Ok(upstream)
    }

    async fn start_with(
        behaviour: Behaviour,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> anyhow::Result<Upstream> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (c, r) = (connections.clone(), requests.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let (behaviour, r, tls) = (behaviour.clone(), r.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = serve(stream, behaviour, r).await;
                            }
                        }
                        None => {
                            let _ = serve(stream, behaviour, r).await;
                        }
                    }
                });
            }
        });
        Ok(Upstream { url: format!("http://127.0.0.1:{port}"), port, connections, requests, task })
    }

    /// The downstream API for tokens of `issuer` for `audience`, verified with `jwks`.
    pub async fn api(jwks: Value, issuer: &str, audience: &str) -> anyhow::Result<Upstream> {
        Upstream::start(Behaviour::Api { jwks, issuer: issuer.to_owned(), audience: audience.to_owned() })
            .await
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Requests read so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> anyhow::Result<Option<Recorded>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let mut first = lines.next().unwrap_or_default().split(' ');
            let method = first.next().unwrap_or_default().to_owned();
            let target = first.next().unwrap_or_default().to_owned();
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect::<BTreeMap<_, _>>();
            // Read (and drop) a body with a Content-Length.
            let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            let mut have = buf.len() - end - 4;
            while have < len {
                let n = stream.read(&mut byte).await?;
                if n == 0 {
                    break;
                }
                have += n;
            }
            return Ok(Some(Recorded { method, target, headers }));
        }
        let n = stream.read(&mut byte).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&byte[..n]);
        if buf.len() > 64 * 1024 {
            return Ok(None);
        }
    }
}

async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: &str,
    extra: &str,
    body: &str,
) -> anyhow::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    Ok(())
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    behaviour: Behaviour,
    requests: Arc<Mutex<Vec<Recorded>>>,
) -> anyhow::Result<()> {
    while let Some(request) = read_head(&mut stream).await? {
        if let Ok(mut r) = requests.lock() {
            r.push(request.clone());
        }
        match &behaviour {
            Behaviour::Echo => {
                let names: Vec<&String> = request.headers.keys().collect();
                let body = json!({"method": request.method, "target": request.target, "header_names": names});
                respond(&mut stream, "200 OK", "", &body.to_string()).await?;
            }
            Behaviour::Silent => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Behaviour::Endless => {
                stream.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").await?;
                let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
                loop {
                    stream.write_all(chunk.as_bytes()).await?;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            Behaviour::Huge { mb, sized } => {
                let block = vec![b'y'; 64 * 1024];
                let blocks = mb * 16;
                if *sized {
                    let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", blocks * block.len());
                    stream.write_all(head.as_bytes()).await?;
                    for _ in 0..blocks {
                        stream.write_all(&block).await?;
                    }
                } else {
                    stream.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").await?;
                    for _ in 0..blocks {
                        stream.write_all(format!("{:x}\r\n", block.len()).as_bytes()).await?;
                        stream.write_all(&block).await?;
                        stream.write_all(b"\r\n").await?;
                    }
                    stream.write_all(b"0\r\n\r\n").await?;
                }
            }
            Behaviour::Redirect(location) => {
                respond(&mut stream, "302 Found", &format!("location: {location}\r\n"), "{}").await?;
            }
            Behaviour::Api { jwks, issuer, audience } => {
                let token = request
                    .headers
                    .get("authorization")
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or_default();
                match verify(token, jwks, issuer, audience) {
                    Some(sub) => {
                        let body = json!({"subject": sub, "records": [format!("record-1 of {sub}"), format!("record-2 of {sub}")]});
                        respond(&mut stream, "200 OK", "", &body.to_string()).await?;
                    }
                    None => {
                        respond(&mut stream, "401 Unauthorized", "", r#"{"error":"invalid_token"}"#).await?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The subject of `token` if it is an RS256 JWT signed by a key in `jwks`, for `audience`,
/// from `issuer`, and unexpired.
fn verify(token: &str, jwks: &Value, issuer: &str, audience: &str) -> Option<String> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).ok()?;
    let jwk = set.find(header.kid.as_deref()?)?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).ok()?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation).ok()?;
    data.claims["sub"].as_str().map(str::to_owned)
}
