//! The connection of one outbound request: the host resolves the name itself, keeps only the
//! addresses the [`AddressPolicy`] allows, connects to exactly one of those (so nothing can
//! rebind between check and connect), speaks TLS with rustls, and reads the answer through a
//! [`ResponseBody`] that enforces the call's byte budget and the request's deadline.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::OutboundError;
use super::address::AddressPolicy;
use super::policy::{Scheme, Target};

/// How long a connection outlives its request's deadline before it is dropped regardless.
const CONNECTION_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Resolves `target`'s host and returns the first address the policy allows.
pub(super) async fn resolve(policy: &AddressPolicy, target: &Target) -> Result<SocketAddr, OutboundError> {
    let addrs: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|e| OutboundError::Dns { host: target.host.clone(), reason: e.to_string() })?
            .collect(),
    };
    let mut refused = None;
    for addr in &addrs {
        match policy.refusal(addr.ip()) {
            None => return Ok(*addr),
            Some(class) => refused = refused.or(Some((addr.ip(), class))),
        }
    }
    match refused {
        Some((ip, class)) => Err(OutboundError::Refused(format!(
            "{} resolves to {ip} ({class}), which plugins may not reach; the operator can allow it in http.allow_cidrs",
            target.host
        ))),
        None => Err(OutboundError::Dns { host: target.host.clone(), reason: "no addresses".into() }),
    }
}

/// Connects to `addr` (already checked) and hands back an HTTP/1.1 sender; the connection is
/// driven on its own task until `deadline`.
pub(super) async fn connect<B>(
    addr: SocketAddr,
    target: &Target,
    tls: &Arc<rustls::ClientConfig>,
    deadline: Instant,
) -> Result<hyper::client::conn::http1::SendRequest<B>, OutboundError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| OutboundError::Connect(format!("{}: {e}", target.origin())))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Stream> = match target.scheme {
        Scheme::Http => Box::new(tcp),
        Scheme::Https => {
            let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                .map_err(|e| OutboundError::Tls(target.origin(), e.to_string()))?;
            let connector = tokio_rustls::TlsConnector::from(tls.clone());
            let stream = connector
                .connect(name, tcp)
                .await
                .map_err(|e| OutboundError::Tls(target.origin(), e.to_string()))?;
            Box::new(stream)
        }
    };
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(64 * 1024)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| OutboundError::Protocol(e.to_string()))?;
    tokio::spawn(async move {
        // The connection ends with its request (the body is dropped), or just after the deadline
        // (the request's own timeout fires first and says so).
        let _ = tokio::time::timeout_at((deadline + CONNECTION_GRACE).into(), conn).await;
    });
    Ok(sender)
}

/// What happened to a request, for its audit line once the body is done.
pub(super) trait Finish: Send + Sync {
    /// Called once, when the body ends or is dropped, with the bytes read and the outcome.
    fn finish(&self, bytes: u64, outcome: &'static str, reason: Option<String>);
}

/// A response body that stops at the call's byte budget and the request's deadline, and
/// reports how it ended.
pub struct ResponseBody {
    inner: Incoming,
    budget: Arc<AtomicU64>,
    limit_kb: u64,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout_ms: u64,
    bytes: u64,
    outcome: &'static str,
    reason: Option<String>,
    done: bool,
    finish: Option<Box<dyn Finish>>,
}

impl ResponseBody {
    pub(super) fn new(
        inner: Incoming,
        budget: Arc<AtomicU64>,
        limit_kb: u64,
        deadline: Instant,
        timeout_ms: u64,
        finish: Box<dyn Finish>,
    ) -> ResponseBody {
        ResponseBody {
            inner,
            budget,
            limit_kb,
            deadline: Box::pin(tokio::time::sleep_until(deadline.into())),
            timeout_ms,
            bytes: 0,
            outcome: "ok",
            reason: None,
            done: false,
            finish: Some(finish),
        }
    }

    fn fail(
        &mut self,
        outcome: &'static str,
        error: OutboundError,
    ) -> Poll<Option<Result<Frame<Bytes>, OutboundError>>> {
        self.outcome = outcome;
        self.reason = Some(error.to_string());
        self.done = true;
        Poll::Ready(Some(Err(error)))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = OutboundError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, OutboundError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let ms = self.timeout_ms;
            return self.fail("timeout", OutboundError::Timeout(ms));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => self.fail("error", OutboundError::Protocol(e.to_string())),
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    let took = self
                        .budget
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| left.checked_sub(len));
                    if took.is_err() {
                        let kb = self.limit_kb;
                        return self.fail("too_large", OutboundError::TooLarge(kb));
                    }
                    self.bytes += len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let Some(finish) = self.finish.take() {
            finish.finish(self.bytes, self.outcome, self.reason.take());
        }
    }
}
