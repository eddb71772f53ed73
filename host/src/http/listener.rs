//! Serving a router on a socket with axum-server (hyper underneath): HTTP/1.1 and HTTP/2, TLS
//! when configured, limits on request heads, timeouts against slow clients, and graceful
//! shutdown through a [`Handle`].

use std::future::{Ready, ready};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use hyper_util::rt::TokioTimer;
use tokio::net::TcpStream;

use crate::config::ServerConfig;

/// HTTP/2 streams one connection may have open at once.
const MAX_H2_STREAMS: u32 = 128;

/// Sets `TCP_NODELAY` on every accepted connection: MCP responses go out as several small SSE
/// writes, and Nagle's algorithm with delayed ACKs would add ~40 ms to each call.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NoDelay;

impl<S> Accept<TcpStream, S> for NoDelay {
    type Stream = TcpStream;
    type Service = S;
    type Future = Ready<io::Result<(TcpStream, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        ready(Ok((stream, service)))
    }
}

/// Serves `app` on `listener` until `handle` shuts it down. With `tls`, every connection is
/// TLS (ALPN picks HTTP/2 or HTTP/1.1).
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    server: &ServerConfig,
    tls: Option<RustlsConfig>,
    handle: Handle<SocketAddr>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let head_timeout = Duration::from_millis(server.header_read_timeout_ms);
    let mut base = axum_server::from_tcp(listener)?.handle(handle);
    configure(base.http_builder(), server, head_timeout);
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        Some(config) => {
            let acceptor = RustlsAcceptor::new(config).handshake_timeout(head_timeout).acceptor(NoDelay);
            base.acceptor(acceptor).serve(service).await
        }
        None => base.acceptor(NoDelay).serve(service).await,
    }
}

/// hyper's limits and timeouts for both protocol versions.
fn configure(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    server: &ServerConfig,
    head_timeout: Duration,
) {
    // hyper's read buffer bounds the request head; it cannot be below 8 KiB.
    let head_bytes = server.max_header_bytes.max(8192);
    builder.http1().timer(TokioTimer::new()).header_read_timeout(head_timeout).max_buf_size(head_bytes);
    let h2 = &mut builder.http2();
    h2.timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(server.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(MAX_H2_STREAMS);
    if server.http2_keep_alive_s > 0 {
        let every = Duration::from_secs(server.http2_keep_alive_s);
        h2.keep_alive_interval(every).keep_alive_timeout(every);
    }
}
