//! The state store behind the OIDC proxy: short-lived, single-use items (authorization
//! codes, login transactions, refresh tokens) and long-lived ones (client registrations), shared
//! by every replica.
//!
//! Two backends with one behaviour: [`EmbeddedStore`] (one redb file under the data directory, for
//! a single replica) and [`RedisStore`] (for several replicas). Every item has an optional time to
//! live; [`Store::take`] reads and deletes in one atomic step (a redb write transaction, Redis
//! `GETDEL`), so a code or refresh token can be redeemed once even when two replicas race.
//! Secrets are sealed with [`Sealer`] before they reach either backend.

mod embedded;
mod redis_store;
mod sealer;

use std::time::Duration;

pub(crate) use embedded::EmbeddedStore;
pub(crate) use redis_store::RedisStore;
pub(crate) use sealer::{SealError, Sealer};

/// Why the store could not do what was asked. Messages never include stored values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The embedded database file could not be opened or written.
    #[error("the embedded state store failed: {0}")]
    Embedded(String),
    /// Redis could not be reached or refused the command.
    #[error("the Redis state store failed: {0}")]
    Redis(String),
    /// A namespace or key is unusable (empty, or containing the separator).
    #[error("invalid store key: {0}")]
    Key(String),
}

/// A state store: the embedded file or Redis.
pub(crate) enum Store {
    /// One redb file (single replica).
    Embedded(EmbeddedStore),
    /// Redis (several replicas).
    Redis(RedisStore),
}

/// Checks that `ns` and `key` can be joined unambiguously.
fn check_key(ns: &str, key: &str) -> Result<(), StoreError> {
    if ns.is_empty() || key.is_empty() || ns.contains(':') || ns.contains('\0') || key.contains('\0') {
        return Err(StoreError::Key(format!("namespace {ns:?} / key of {} bytes", key.len())));
    }
    Ok(())
}

impl Store {
    /// Stores `value` under `ns`/`key`, replacing what was there, for `ttl` (or for good).
    pub(crate) async fn put(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        check_key(ns, key)?;
        match self {
            Store::Embedded(s) => s.put(ns, key, value, ttl, false).await.map(|_| ()),
            Store::Redis(s) => s.put(ns, key, value, ttl, false).await.map(|_| ()),
        }
    }

    /// Stores `value` only if nothing (unexpired) is there yet; true if it was stored.
    pub(crate) async fn put_new(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        check_key(ns, key)?;
        match self {
            Store::Embedded(s) => s.put(ns, key, value, ttl, true).await,
            Store::Redis(s) => s.put(ns, key, value, ttl, true).await,
        }
    }

    /// The value under `ns`/`key`, unless absent or expired.
    pub(crate) async fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_key(ns, key)?;
        match self {
            Store::Embedded(s) => s.get(ns, key, false).await,
            Store::Redis(s) => s.get(ns, key, false).await,
        }
    }

    /// Reads and deletes `ns`/`key` in one atomic step: of several concurrent callers (on any
    /// replica), exactly one gets the value.
    pub(crate) async fn take(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_key(ns, key)?;
        match self {
            Store::Embedded(s) => s.get(ns, key, true).await,
            Store::Redis(s) => s.get(ns, key, true).await,
        }
    }

    /// Deletes `ns`/`key`; true if something (unexpired) was there.
    pub(crate) async fn delete(&self, ns: &str, key: &str) -> Result<bool, StoreError> {
        Ok(self.take(ns, key).await?.is_some())
    }
}

#[cfg(test)]
mod tests;
