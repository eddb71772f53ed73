//! What the host adds to a plugin's outbound GET (destination policy, credential, address check,
//! per-call budget, audit line and metrics), measured side by side in one run against the same
//! GET from a native Rust client, on loopback:
//!
//! - `native_hyper_new_connection`: hyper's HTTP/1.1 client on a fresh connection per request
//!   (what the host does for every plugin request).
//! - `native_reqwest_pooled`: reqwest with its connection pool (a warm keep-alive connection).
//! - `host_get_no_credential`, `host_get_secret`: `CallHttp::send` for a destination without a
//!   credential, and with a secret header; `host_get_no_credential_audit_off` without the audit
//!   log (its writer thread shares the two cores), to see what the audit line costs.
//! - `host_get_exchange_first` / `host_get_exchange_cached`: an RFC 8693 exchange at a loopback
//!   token endpoint on the first call of a caller, then the cached token on later calls.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may stop at a broken set-up

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use warden::config::Config;
use warden::outbound::Outbound;
use warden::outbound::policy::{Credential, Destination, HttpGrant, HttpLimits};
use warden::shared::{Identity, IdentityData};
use warden::telemetry::{AuditLog, Metrics, Telemetry};

const BODY: &str = r#"{"ok":true,"items":[1,2,3]}"#;
const TOKEN: &str = r#"{"access_token":"exchanged-token-for-bench","token_type":"Bearer","expires_in":3600}"#;

/// A loopback server: answers GETs with a small JSON body and POST /token with a token, keeping
/// connections alive.
async fn server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut have = Vec::new();
                loop {
                    let Ok(n) = s.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    have.extend_from_slice(&buf[..n]);
                    while let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&have[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if have.len() < end + 4 + len {
                            break;
                        }
                        have.drain(..end + 4 + len);
                        let body = if head.starts_with("post /token") { TOKEN } else { BODY };
                        let reply = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if s.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}

fn caller(n: u64) -> Identity {
    Identity::new(IdentityData {
        subject: format!("auth0|user-{n}"),
        issuer: "https://tenant.example/".into(),
        username: None,
        email: None,
        client_id: Some("client".into()),
        scopes: Vec::new(),
        permissions: Vec::new(),
        claims: serde_json::json!({}),
    })
    .with_bearer("the-callers-idp-token")
}

fn destination(name: &str, port: u16, credential: Credential) -> Destination {
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/{name}/")).unwrap();
    let header = http::HeaderName::from_static("authorization");
    Destination::from_url(name, &url, vec![http::Method::GET], credential, header).unwrap()
}

async fn native_hyper(port: u16) -> usize {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let request = http::Request::get("/plain/items")
        .header("host", format!("127.0.0.1:{port}"))
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    response.into_body().collect().await.unwrap().to_bytes().len()
}

fn outbound(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let port = rt.block_on(server());
    let data = tempfile::tempdir().unwrap();
    let config: Config = toml::from_str(&format!(
        "[http]\nallow_cidrs = [\"127.0.0.1/32\"]\nallow_plain_http_credentials = true\n\
         [http.secrets]\nkey = \"Bearer bench-secret\"\n\
         [http.exchange]\ntoken_url = \"http://127.0.0.1:{port}/token\"\nclient_id = \"warden\"\nclient_secret = \"s\"\n"
    ))
    .unwrap();
    let telemetry = Telemetry {
        audit: Arc::new(AuditLog::open(&data.path().join("audit.jsonl")).unwrap()),
        metrics: Arc::new(Metrics::default()),
    };
    let outbound = Arc::new(Outbound::new(&config, telemetry).unwrap());
    let quiet = Telemetry { audit: Arc::new(AuditLog::disabled()), metrics: Arc::new(Metrics::default()) };
    let outbound_no_audit = Arc::new(Outbound::new(&config, quiet).unwrap());
    let exchange =
        Credential::Exchange { audience: Some("https://api".into()), resource: None, scopes: Vec::new() };
    let grant = Arc::new(HttpGrant {
        destinations: vec![
            destination("plain", port, Credential::None),
            destination("keyed", port, Credential::Secret { name: "key".into() }),
            destination("exch", port, exchange),
        ],
        limits: HttpLimits {
            requests_per_call: 16,
            response_bytes: 1 << 20,
            request_timeout: Duration::from_secs(5),
        },
    });
    let send_via = |outbound: &Arc<Outbound>, path: &'static str, who: Identity| {
        let (outbound, grant) = (outbound.clone(), grant.clone());
        async move {
            let call = outbound.call(grant, "bench", None, &who, Instant::now() + Duration::from_secs(5));
            let request = http::Request::get(format!("http://127.0.0.1:{port}{path}"))
                .header("host", format!("127.0.0.1:{port}"))
                .body(Empty::<bytes::Bytes>::new())
                .unwrap();
            let response = call.send(request).await.unwrap();
            assert_eq!(response.status(), 200);
            response.into_body().collect().await.unwrap().to_bytes().len()
        }
    };
    let send = |path: &'static str, who: Identity| send_via(&outbound, path, who);
    let pooled = reqwest::Client::new();

    let mut group = c.benchmark_group("outbound");
    group.bench_function("native_hyper_new_connection", |b| b.iter(|| rt.block_on(native_hyper(port))));
    group.bench_function("native_reqwest_pooled", |b| {
        b.iter(|| {
            rt.block_on(async {
                let r = pooled.get(format!("http://127.0.0.1:{port}/plain/items")).send().await.unwrap();
                r.bytes().await.unwrap().len()
            })
        });
    });
    let alice = caller(0);
    group.bench_function("host_get_no_credential", |b| {
        b.iter(|| rt.block_on(send("/plain/items", alice.clone())));
    });
    group.bench_function("host_get_no_credential_audit_off", |b| {
        b.iter(|| rt.block_on(send_via(&outbound_no_audit, "/plain/items", alice.clone())));
    });
    group.bench_function("host_get_secret", |b| b.iter(|| rt.block_on(send("/keyed/items", alice.clone()))));
    let fresh = AtomicU64::new(1);
    group.bench_function("host_get_exchange_first", |b| {
        b.iter(|| rt.block_on(send("/exch/items", caller(fresh.fetch_add(1, Ordering::Relaxed)))));
    });
    rt.block_on(send("/exch/items", alice.clone()));
    group.bench_function("host_get_exchange_cached", |b| {
        b.iter(|| rt.block_on(send("/exch/items", alice.clone())));
    });
    group.finish();
}

criterion_group!(benches, outbound);
criterion_main!(benches);
