//! The Redis backend, for several replicas: `SET … PX` (with `NX` for [`super::Store::put_new`]),
//! `GET`, and `GETDEL` for atomic single-use reads (Redis 6.2+). Keys are
//! `<prefix>:<namespace>:<key>`, so one Redis can serve several deployments.

use std::time::Duration;

use redis::aio::ConnectionManager;

use super::StoreError;

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Redis(e.to_string())
}

/// The Redis-backed store. Cheap to clone; reconnects on its own.
#[derive(Clone)]
pub(crate) struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
}

impl RedisStore {
    /// Connects to `url` (`redis://` or `rediss://`), naming keys under `prefix`.
    pub(crate) async fn connect(url: &str, prefix: &str) -> Result<RedisStore, StoreError> {
        let client =
            redis::Client::open(url).map_err(|e| StoreError::Redis(format!("invalid redis URL: {e}")))?;
        let connection = ConnectionManager::new(client).await.map_err(err)?;
        Ok(RedisStore { connection, prefix: prefix.to_owned() })
    }

    fn key(&self, ns: &str, key: &str) -> String {
        format!("{}:{ns}:{key}", self.prefix)
    }

    pub(super) async fn put(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        only_if_new: bool,
    ) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(ns, key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1));
        }
        if only_if_new {
            cmd.arg("NX");
        }
        let mut c = self.connection.clone();
        let reply: Option<String> = cmd.query_async(&mut c).await.map_err(err)?;
        Ok(reply.is_some())
    }

    pub(super) async fn get(&self, ns: &str, key: &str, remove: bool) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.connection.clone();
        redis::cmd(if remove { "GETDEL" } else { "GET" })
            .arg(self.key(ns, key))
            .query_async(&mut c)
            .await
            .map_err(err)
    }
}
