//! TLS end to end: a certificate made by the test (rcgen), clients that trust only its CA, HTTP/2
//! and HTTP/1.1, and a certificate swapped while a client stays connected.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warden_tests::pki::{TestPki, pki};
use warden_tests::{Warden, call, eventually, free_port, install, text_of, tool_names, warden_binary};

/// A reqwest client whose only trusted root is `ca_pem`.
fn client_trusting(ca_pem: &str) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("ca pem");
    reqwest::Client::builder().tls_certs_only([ca]).build().expect("client")
}

/// Installs `pki`'s certificate and key under `dir` (temporary names, then rename).
fn install_cert(dir: &Path, pki: &TestPki) {
    for (name, text) in [("key.pem", &pki.key_pem), ("cert.pem", &pki.cert_pem)] {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).expect("write pem");
        std::fs::rename(&tmp, dir.join(name)).expect("rename pem");
    }
}

/// One raw TLS connection (trusting only `ca_der`) on which HTTP/1.1 keep-alive requests are sent.
struct RawConnection {
    stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
}

impl RawConnection {
    async fn open(port: u16, ca_der: &[u8]) -> anyhow::Result<RawConnection> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(rustls::pki_types::CertificateDer::from(ca_der.to_vec()))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let name = rustls::pki_types::ServerName::try_from("localhost")?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await?;
        Ok(RawConnection { stream })
    }

    /// `GET /healthz` on this connection; returns the status line.
    async fn healthz(&mut self) -> anyhow::Result<String> {
        self.stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        // The response is small: read until the "ok" body has arrived.
        while !buf.ends_with(b"ok") {
            let n = tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut chunk)).await??;
            anyhow::ensure!(n > 0, "the server closed the connection");
            buf.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&buf);
        Ok(text.lines().next().unwrap_or_default().to_owned())
    }
}

#[tokio::test]
async fn tls_end_to_end_with_a_certificate_swapped_under_a_connected_client() -> anyhow::Result<()> {
    let (first, second) = (pki("first"), pki("second"));
    let root = tempfile::tempdir()?;
    let tls_dir = root.path().join("tls");
    std::fs::create_dir_all(&tls_dir)?;
    install_cert(&tls_dir, &first);
    let port = free_port();
    let config = format!(
        "[server]\nbind = \"127.0.0.1:{port}\"\npublic_url = \"https://localhost:{port}\"\n\
         [server.tls]\ncert = {:?}\nkey = {:?}\nreload_interval_ms = 200\n",
        tls_dir.join("cert.pem"),
        tls_dir.join("key.pem"),
    );
    let mut warden = Warden::spawn_in(root, &config, |dir| install(dir, "sample", "sample")).await?;
    assert!(warden.base_url.starts_with("https://"), "{}", warden.base_url);
    warden.http = client_trusting(&first.ca_pem);
    warden.base_url = format!("https://localhost:{port}");
    warden.wait_ready(Duration::from_secs(60)).await?;

    // A real MCP client over TLS.
    let client = warden.client().await?;
    assert!(tool_names(&client).await?.contains(&"sample.greet".to_owned()));
    let greeting = call(&client, "sample.greet", json!({ "name": "TLS" })).await?;
    assert!(text_of(&greeting).contains("TLS"), "{greeting:?}");

    // HTTP/2 by ALPN, and HTTP/1.1 for clients that only speak that.
    let url = format!("{}/healthz", warden.base_url);
    let h2 = warden.http.get(&url).send().await?;
    assert_eq!(h2.version(), reqwest::Version::HTTP_2);
    let h1_client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(first.ca_pem.as_bytes())?])
        .http1_only()
        .build()?;
    assert_eq!(h1_client.get(&url).send().await?.version(), reqwest::Version::HTTP_11);

    // No plain-HTTP fallback, and a client trusting another CA is refused.
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
    assert!(!plain.is_ok_and(|r| r.status().is_success()), "plain HTTP must not be served on the TLS port");
    assert!(client_trusting(&second.ca_pem).get(&url).send().await.is_err());

    // Swap the certificate while a connection stays open.
    let mut open = RawConnection::open(port, &first.ca_der).await?;
    assert!(open.healthz().await?.contains("200"));
    install_cert(&tls_dir, &second);
    let second_client = client_trusting(&second.ca_pem);
    let swapped = eventually(Duration::from_secs(10), || {
        let (c, u) = (second_client.clone(), url.clone());
        async move { c.get(&u).send().await.is_ok() }
    })
    .await;
    assert!(swapped, "new connections never got the new certificate:\n{}", warden.log());
    assert!(
        open.healthz().await?.contains("200"),
        "the connection made before the swap must keep working on its certificate"
    );
    assert!(
        client_trusting(&first.ca_pem).get(&url).send().await.is_err(),
        "new connections must get the new certificate"
    );
    assert!(warden.log().contains("TLS certificate reloaded"));

    // A broken replacement is refused and the current certificate stays.
    std::fs::write(tls_dir.join("cert.pem"), "not a certificate")?;
    let reported =
        eventually(Duration::from_secs(10), || async { warden.log().contains("new TLS files refused") })
            .await;
    assert!(reported, "{}", warden.log());
    assert!(second_client.get(&url).send().await?.status().is_success());
    Ok(())
}

#[test]
fn tls_with_an_http_public_url_is_refused_at_start() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pki = pki("check");
    install_cert(dir.path(), &pki);
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\npublic_url = \"http://mcp.example.com\"\ndata_dir = {:?}\n[server.tls]\ncert = {:?}\nkey = {:?}\n[plugins]\ndir = {:?}\n",
            dir.path().join("data"),
            dir.path().join("cert.pem"),
            dir.path().join("missing-key.pem"),
            dir.path().join("plugins"),
        ),
    )?;
    let out =
        std::process::Command::new(warden_binary()).args(["check", "--config"]).arg(&config).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    // Both problems at once, each with its field.
    assert!(stderr.contains("server.public_url") && stderr.contains("https"), "{stderr}");
    assert!(stderr.contains("server.tls.key"), "{stderr}");
    Ok(())
}
