//! The embedded backend: one redb file. Each entry holds its expiry (Unix milliseconds, 0 for
//! none) before the value; expired entries read as absent and are removed when next written to
//! or swept.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::StoreError;

const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");

fn now_ms() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis())
        .unwrap_or(u64::MAX)
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Embedded(e.to_string())
}

/// `expiry (8 bytes, big endian) || value`.
fn encode(value: &[u8], ttl: Option<Duration>) -> Vec<u8> {
    let expires =
        ttl.map_or(0, |t| now_ms().saturating_add(u64::try_from(t.as_millis()).unwrap_or(u64::MAX)));
    let mut out = Vec::with_capacity(8 + value.len());
    out.extend_from_slice(&expires.to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// The value of a stored entry, or `None` if it has expired (or is malformed).
fn decode(stored: &[u8], now: u64) -> Option<Vec<u8>> {
    let (head, value) = stored.split_at_checked(8)?;
    let expires = u64::from_be_bytes(head.try_into().ok()?);
    (expires == 0 || expires > now).then(|| value.to_vec())
}

/// The redb-backed store. Cheap to clone.
#[derive(Clone)]
pub(crate) struct EmbeddedStore {
    db: Arc<Database>,
}

impl EmbeddedStore {
    /// Opens (or creates) the store file at `path`.
    pub(crate) fn open(path: &Path) -> Result<EmbeddedStore, StoreError> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let db =
            Database::create(path).map_err(|e| StoreError::Embedded(format!("{}: {e}", path.display())))?;
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(ENTRIES).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(EmbeddedStore { db: Arc::new(db) })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&db)).await.map_err(err)?
    }

    pub(super) async fn put(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        only_if_new: bool,
    ) -> Result<bool, StoreError> {
        let (id, entry) = (format!("{ns}:{key}"), encode(value, ttl));
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            let stored = {
                let mut table = txn.open_table(ENTRIES).map_err(err)?;
                let live = match table.get(id.as_str()).map_err(err)? {
                    Some(v) => decode(v.value(), now_ms()).is_some(),
                    None => false,
                };
                if only_if_new && live {
                    false
                } else {
                    table.insert(id.as_str(), entry.as_slice()).map_err(err)?;
                    true
                }
            };
            txn.commit().map_err(err)?;
            Ok(stored)
        })
        .await
    }

    pub(super) async fn get(&self, ns: &str, key: &str, remove: bool) -> Result<Option<Vec<u8>>, StoreError> {
        let id = format!("{ns}:{key}");
        self.blocking(move |db| {
            let now = now_ms();
            if !remove {
                let txn = db.begin_read().map_err(err)?;
                let table = txn.open_table(ENTRIES).map_err(err)?;
                return Ok(table.get(id.as_str()).map_err(err)?.and_then(|v| decode(v.value(), now)));
            }
            // One write transaction at a time in redb: the read and the delete are atomic.
            let txn = db.begin_write().map_err(err)?;
            let value = {
                let mut table = txn.open_table(ENTRIES).map_err(err)?;
                let removed = table.remove(id.as_str()).map_err(err)?;
                removed.and_then(|v| decode(v.value(), now))
            };
            txn.commit().map_err(err)?;
            Ok(value)
        })
        .await
    }

    /// Removes every expired entry; returns how many. Run it now and then.
    pub(crate) async fn sweep(&self) -> Result<usize, StoreError> {
        self.blocking(|db| {
            let now = now_ms();
            let txn = db.begin_write().map_err(err)?;
            let removed = {
                let mut table = txn.open_table(ENTRIES).map_err(err)?;
                let before = table.len().map_err(err)?;
                table.retain(|_, v| decode(v, now).is_some()).map_err(err)?;
                before.saturating_sub(table.len().map_err(err)?)
            };
            txn.commit().map_err(err)?;
            Ok(usize::try_from(removed).unwrap_or(usize::MAX))
        })
        .await
    }
}
