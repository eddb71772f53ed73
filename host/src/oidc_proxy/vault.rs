//! The proxy's records in the state store, sealed: every value is encrypted with the [`Sealer`]
//! (AES-256-GCM) before it reaches the embedded file or Redis, and bound to its namespace and key
//! (the AEAD's associated data), so a value cannot be moved to another key. Keys derived from
//! tokens are their SHA-256, so the store never holds a usable code or token in a key either.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::store::{SealError, Sealer, Store, StoreError};

/// Why a record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealing failed, or a value did not open (wrong key, or tampered with).
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A value did not (de)serialize.
    #[error("a stored record is malformed: {0}")]
    Format(String),
    /// The system's random number generator failed.
    #[error("no randomness available")]
    Random,
}

/// Sealed, typed access to the state store.
pub(crate) struct Vault {
    store: Arc<Store>,
    sealer: Sealer,
}

/// The store key of a secret value (a code or token): its SHA-256, hex.
pub(crate) fn digest_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A random, URL-safe token of `bytes` random bytes.
pub(crate) fn random_token(bytes: usize) -> Result<String, VaultError> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new().fill(&mut buf).map_err(|_| VaultError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

impl Vault {
    /// Records in `store`, sealed by `sealer`.
    pub(crate) fn new(store: Arc<Store>, sealer: Sealer) -> Vault {
        Vault { store, sealer }
    }

    /// The underlying store (for unsealed records such as client registrations).
    pub(crate) fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The sealer (also used for browser cookies).
    pub(crate) fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    fn seal<T: Serialize>(&self, ns: &str, key: &str, value: &T) -> Result<Vec<u8>, VaultError> {
        let plain = serde_json::to_vec(value).map_err(|e| VaultError::Format(e.to_string()))?;
        Ok(self.sealer.seal(format!("{ns}:{key}").as_bytes(), &plain)?)
    }

    fn open<T: DeserializeOwned>(&self, ns: &str, key: &str, sealed: &[u8]) -> Result<T, VaultError> {
        let plain = self.sealer.open(format!("{ns}:{key}").as_bytes(), sealed)?;
        serde_json::from_slice(&plain).map_err(|e| VaultError::Format(e.to_string()))
    }

    /// Stores `value` under `ns`/`key` for `ttl`.
    pub(crate) async fn put<T: Serialize>(
        &self,
        ns: &str,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), VaultError> {
        let sealed = self.seal(ns, key, value)?;
        Ok(self.store.put(ns, key, &sealed, Some(ttl)).await?)
    }

    /// The value under `ns`/`key`, if present and unexpired.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        ns: &str,
        key: &str,
    ) -> Result<Option<T>, VaultError> {
        match self.store.get(ns, key).await? {
            Some(sealed) => Ok(Some(self.open(ns, key, &sealed)?)),
            None => Ok(None),
        }
    }

    /// Reads and deletes `ns`/`key` atomically: of concurrent callers on any replica, one wins.
    pub(crate) async fn take<T: DeserializeOwned>(
        &self,
        ns: &str,
        key: &str,
    ) -> Result<Option<T>, VaultError> {
        match self.store.take(ns, key).await? {
            Some(sealed) => Ok(Some(self.open(ns, key, &sealed)?)),
            None => Ok(None),
        }
    }

    /// Deletes `ns`/`key`.
    pub(crate) async fn delete(&self, ns: &str, key: &str) -> Result<bool, VaultError> {
        Ok(self.store.delete(ns, key).await?)
    }
}
