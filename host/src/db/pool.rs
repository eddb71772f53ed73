//! A small bounded pool of ODBC connections.
//!
//! odbc-api has no pool of its own and unixODBC's is process-global and opaque, so this one is
//! ours: a semaphore bounds how many connections exist, idle ones wait in a stack (the most
//! recently used first, so a quiet pool keeps warm connections), and a connection whose state is
//! in doubt is dropped rather than returned. Connecting and everything else that talks to the
//! driver happens on blocking threads.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use odbc_api::{Connection, ConnectionOptions, Environment};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::DbError;
use crate::shared::PoolStats;

pub(crate) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    env: &'static Environment,
    connection_string: String,
    size: usize,
    acquire_timeout: Duration,
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<Idle>>,
    opened: AtomicU64,
    discarded: AtomicU64,
    acquire_timeouts: AtomicU64,
}

struct Idle {
    conn: Connection<'static>,
    login: String,
    baseline: Vec<(String, String)>,
    since: Instant,
}

/// A slot in the pool, and the connection in it once one is open. Must go back through
/// [`Lease::release`]; dropped otherwise, its connection is rolled back and closed.
pub(crate) struct Lease {
    inner: Arc<Inner>,
    _permit: OwnedSemaphorePermit,
    /// The connection, once opened or taken from the idle stack.
    pub conn: Option<Connection<'static>>,
    /// The pool login's user name, learnt when the connection opened ("" when not impersonating).
    pub login: String,
    /// The settings the driver itself set on the session when it connected (name, value),
    /// restored after each call's session reset.
    pub baseline: Vec<(String, String)>,
    /// How long the connection sat idle before this lease (zero if new).
    pub idle_for: Duration,
}

impl Pool {
    pub(super) fn new(
        env: &'static Environment,
        connection_string: String,
        size: usize,
        acquire_timeout: Duration,
    ) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                env,
                connection_string,
                size,
                acquire_timeout,
                slots: Arc::new(Semaphore::new(size)),
                idle: Mutex::new(Vec::with_capacity(size)),
                opened: AtomicU64::new(0),
                discarded: AtomicU64::new(0),
                acquire_timeouts: AtomicU64::new(0),
            }),
        }
    }

    /// Waits up to the acquire timeout for a slot, and takes an idle connection if there is one.
    pub(super) async fn acquire(&self) -> Result<Lease, DbError> {
        let inner = &self.inner;
        let permit =
            match tokio::time::timeout(inner.acquire_timeout, inner.slots.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => return Err(DbError::Unavailable("the database pool is closed".into())),
                Err(_) => {
                    inner.acquire_timeouts.fetch_add(1, Ordering::Relaxed);
                    return Err(DbError::Unavailable(format!(
                        "no database connection became free within {} ms (all {} in use); \
                     raise database.pool_size or database.acquire_timeout_ms",
                        inner.acquire_timeout.as_millis(),
                        inner.size
                    )));
                }
            };
        let idle = inner.idle.lock().ok().and_then(|mut stack| stack.pop());
        let (conn, login, baseline, idle_for) = match idle {
            Some(i) => (Some(i.conn), i.login, i.baseline, i.since.elapsed()),
            None => (None, String::new(), Vec::new(), Duration::ZERO),
        };
        Ok(Lease { inner: inner.clone(), _permit: permit, conn, login, baseline, idle_for })
    }

    pub(super) fn stats(&self) -> PoolStats {
        let inner = &self.inner;
        let idle = inner.idle.lock().map_or(0, |s| s.len());
        PoolStats {
            size: inner.size,
            in_use: inner.size - inner.slots.available_permits(),
            idle,
            opened: inner.opened.load(Ordering::Relaxed),
            discarded: inner.discarded.load(Ordering::Relaxed),
            acquire_timeouts: inner.acquire_timeouts.load(Ordering::Relaxed),
        }
    }
}

impl Lease {
    /// Opens a new connection in this slot (blocking), in manual-commit mode.
    pub(super) fn connect(&mut self) -> Result<&Connection<'static>, odbc_api::Error> {
        self.discard();
        let conn = self
            .inner
            .env
            .connect_with_connection_string(&self.inner.connection_string, ConnectionOptions::default())?;
        self.inner.opened.fetch_add(1, Ordering::Relaxed);
        conn.set_autocommit(false)?;
        self.idle_for = Duration::ZERO;
        self.login.clear();
        self.baseline.clear();
        Ok(self.conn.insert(conn))
    }

    /// Drops the connection (blocking): rolled back, then closed. The slot stays taken.
    pub(super) fn discard(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.inner.discarded.fetch_add(1, Ordering::Relaxed);
            close(conn);
        }
    }

    /// Returns the connection to the idle stack (its transaction must have ended) and frees the slot.
    pub(super) fn release(mut self) {
        if let Some(conn) = self.conn.take() {
            let idle = Idle {
                conn,
                login: std::mem::take(&mut self.login),
                baseline: std::mem::take(&mut self.baseline),
                since: Instant::now(),
            };
            match self.inner.idle.lock() {
                Ok(mut stack) => stack.push(idle),
                Err(_) => close(idle.conn),
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Reached only when a call did not finish normally (cancelled by its deadline, or a
        // panic): the connection's state is unknown, so it is not reused.
        self.discard();
    }
}

/// Rolls back and closes `conn`. odbc-api panics if a disconnect fails; a broken connection
/// must never take the host down, so that is contained here.
fn close(conn: Connection<'static>) {
    let closed = std::panic::catch_unwind(AssertUnwindSafe(move || {
        let _ = conn.rollback();
        drop(conn);
    }));
    if closed.is_err() {
        tracing::warn!("closing a database connection failed; it was abandoned");
    }
}
