//! TLS with rustls: the certificate and key come from PEM files and are reloaded when either
//! file's content changes. Connections already open keep the certificate they were made with;
//! new connections get the new one. A file that fails to load is reported and the previous
//! certificate stays in use.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::config::TlsConfig;

/// Why the certificate or key could not be used. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("server.tls.{field}: cannot read {path}: {reason}")]
    Read {
        /// `cert` or `key`.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// The certificate file holds no PEM certificate.
    #[error("server.tls.cert: {0} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate(PathBuf),
    /// The key file holds no usable private key.
    #[error("server.tls.key: {0} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey(PathBuf),
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("server.tls: the certificate and key cannot be used together: {0}")]
    Refused(String),
}

/// The certificate and key files' contents, and their digest to notice changes.
struct Material {
    cert: Vec<u8>,
    key: Vec<u8>,
    digest: [u8; 32],
}

fn read(field: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Read { field, path: path.to_path_buf(), reason: e.to_string() })
}

fn read_material(tls: &TlsConfig) -> Result<Material, TlsError> {
    let cert = read("cert", &tls.cert)?;
    let key = read("key", &tls.key)?;
    let mut h = Sha256::new();
    h.update(&cert);
    h.update([0]);
    h.update(&key);
    Ok(Material { cert, key, digest: h.finalize().into() })
}

/// A rustls server configuration from PEM bytes, offering HTTP/2 and HTTP/1.1 (ALPN).
fn server_config(tls: &TlsConfig, m: &Material) -> Result<ServerConfig, TlsError> {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&m.cert).filter_map(Result::ok).collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(tls.cert.clone()));
    }
    let key = PrivateKeyDer::from_pem_slice(&m.key).map_err(|_| TlsError::NoKey(tls.key.clone()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Refused(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Refused(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Loads the certificate now (an error stops start-up) and keeps it fresh: every
/// `reload_interval_ms` the files are read and, if their content changed, swapped in.
pub(crate) fn load_and_watch(tls: &TlsConfig) -> Result<RustlsConfig, TlsError> {
    let material = read_material(tls)?;
    let rustls = RustlsConfig::from_config(Arc::new(server_config(tls, &material)?));
    let watched = rustls.clone();
    let tls = tls.clone();
    let mut current = material.digest;
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(tls.reload_interval_ms));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let next = match read_material(&tls) {
                Ok(m) if m.digest != current => m,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the TLS files; keeping the current certificate");
                    continue;
                }
            };
            // Remember the content either way, so a bad pair is reported once, not every tick.
            current = next.digest;
            match server_config(&tls, &next) {
                Ok(config) => {
                    watched.reload_from_config(Arc::new(config));
                    tracing::info!(cert = %tls.cert.display(), "TLS certificate reloaded");
                }
                Err(e) => {
                    tracing::error!(error = %e, "new TLS files refused; keeping the current certificate");
                }
            }
        }
    });
    Ok(rustls)
}
