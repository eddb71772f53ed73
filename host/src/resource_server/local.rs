//! `local` mode: Warden is its own token issuer, with an ES256 key generated at first start under
//! the data directory (`keys/local-es256.p8`, owner-only). `warden token` mints tokens with it.
//! The OIDC proxy signs its access tokens with the same key. Rollover (`warden rotate-keys`):
//! the key file moves to `keys/retired/`; at the next start a new key signs and the retired one
//! is still published.

use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Why the local key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LocalKeyError {
    /// Reading or writing the key file failed.
    #[error("local signing key {path}: {reason}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// The key file is not a P-256 PKCS#8 key.
    #[error("local signing key {0} is not a P-256 PKCS#8 key; delete it to have a new one generated")]
    Corrupt(PathBuf),
    /// Signing failed.
    #[error("cannot sign a token: {0}")]
    Sign(String),
}

/// The local issuer's key pair.
pub struct LocalIssuer {
    pkcs8: Vec<u8>,
    kid: String,
    jwk: Value,
    /// Public keys of `<keys_dir>/retired/*.p8`.
    retired: Vec<Value>,
}

/// The key id (RFC 7638 thumbprint) and public JWK of a P-256 PKCS#8 key.
fn public_jwk(pkcs8: &[u8]) -> Option<(String, Value)> {
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).ok()?;
    // Uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
    let point = pair.public_key().as_ref();
    if point.len() != 65 || point[0] != 4 {
        return None;
    }
    let (x, y) = (URL_SAFE_NO_PAD.encode(&point[1..33]), URL_SAFE_NO_PAD.encode(&point[33..65]));
    // RFC 7638 thumbprint as key id, so the id changes exactly when the key does.
    let thumbprint = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint.as_bytes()));
    let jwk =
        json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig" });
    Some((kid, jwk))
}

impl LocalIssuer {
    /// Loads `<keys_dir>/local-es256.p8`, generating it on first use.
    pub fn load_or_create(keys_dir: &Path) -> Result<LocalIssuer, LocalKeyError> {
        let dir = keys_dir.to_path_buf();
        let path = dir.join("local-es256.p8");
        let io = |e: std::io::Error| LocalKeyError::Io { path: path.clone(), reason: e.to_string() };
        let pkcs8 = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&dir).map_err(io)?;
                let doc =
                    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                        .map_err(|_| LocalKeyError::Sign("key generation failed".into()))?;
                match crate::shared::private_files::write_new(&path, doc.as_ref()) {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), "generated the signing key");
                        doc.as_ref().to_vec()
                    }
                    // Another replica sharing the key directory generated it first: use that one.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        std::fs::read(&path).map_err(io)?
                    }
                    Err(e) => return Err(io(e)),
                }
            }
            Err(e) => return Err(io(e)),
        };
        let (kid, jwk) = public_jwk(&pkcs8).ok_or_else(|| LocalKeyError::Corrupt(path.clone()))?;
        // Keys retired by a rollover stay published (verification only) until removed, so tokens
        // they signed stay valid for their short remaining life.
        let mut retired = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir.join("retired")) {
            for entry in entries.flatten() {
                let p = entry.path();
                if p.extension().is_some_and(|e| e == "p8")
                    && let Ok(bytes) = std::fs::read(&p)
                {
                    let (_, jwk) = public_jwk(&bytes).ok_or_else(|| LocalKeyError::Corrupt(p.clone()))?;
                    retired.push(jwk);
                }
            }
        }
        Ok(LocalIssuer { pkcs8, kid, jwk, retired })
    }

    /// The public key set (`/.well-known/jwks.json`): the signing key, then retired ones.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> =
            std::iter::once(self.jwk.clone()).chain(self.retired.iter().cloned()).collect();
        json!({ "keys": keys })
    }

    /// Mints an access token.
    pub fn mint(
        &self,
        issuer: &str,
        audience: &str,
        subject: &str,
        scope: &str,
        ttl_s: u64,
    ) -> Result<String, LocalKeyError> {
        self.mint_with(issuer, audience, subject, scope, ttl_s, serde_json::Map::new())
    }

    /// Like [`LocalIssuer::mint`], with `extra` claims (e.g. `org_id` or `groups` for teams).
    /// The registered claims cannot be overridden by `extra`.
    pub fn mint_with(
        &self,
        issuer: &str,
        audience: &str,
        subject: &str,
        scope: &str,
        ttl_s: u64,
        extra: serde_json::Map<String, Value>,
    ) -> Result<String, LocalKeyError> {
        let now = jsonwebtoken::get_current_timestamp();
        let mut claims = Value::Object(extra);
        let registered = json!({
            "iss": issuer, "aud": audience, "sub": subject, "scope": scope,
            "iat": now, "nbf": now, "exp": now + ttl_s, "client_id": "warden-cli",
        });
        if let (Some(all), Value::Object(r)) = (claims.as_object_mut(), registered) {
            all.extend(r);
        }
        self.sign(&claims)
    }

    /// Signs `claims` as an `at+jwt` access token with this key (ES256, `kid` set). The caller
    /// provides every claim.
    pub fn sign(&self, claims: &Value) -> Result<String, LocalKeyError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8))
            .map_err(|e| LocalKeyError::Sign(e.to_string()))
    }
}
