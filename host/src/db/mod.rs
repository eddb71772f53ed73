//! The database a plugin reaches through its query handle: an ODBC pool (odbc-api) whose every
//! call runs in its own transaction, as the calling user, with only statements the guard passed.
//!
//! One call, in order (see [`session`]): take a connection, impersonate the caller as the
//! transaction's first statement (user name bound, never spliced), confirm `current_user`, run
//! the plugin's checked statements with bound parameters and row/byte/time caps, end the
//! transaction, confirm the session is the pool login again, then return the connection, or
//! drop it if anything about its state is in doubt.

mod breaker;
mod demo;
mod dialect;
pub mod guard;
mod pool;
mod rows;
mod session;

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, NameCase};
use crate::shared::Identity;
use crate::shared::PoolStats;

pub use dialect::Plan;
pub use guard::{Grant, Purpose};
pub use session::CallSession;

/// A SQL value bound as a parameter or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// Any integer type.
    Int(i64),
    /// REAL / FLOAT / DOUBLE.
    Float(f64),
    /// Text, and any type without a closer match (DECIMAL, dates) in its text form.
    Text(String),
    /// Binary data.
    Bytes(Vec<u8>),
}

/// A result set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rows {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<SqlValue>>,
    /// True when the row or byte cap cut the result short.
    pub truncated: bool,
}

/// Why a statement did not run, as the plugin sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// The manifest's grant or the guard refuses it.
    #[error("not permitted: {0}")]
    NotPermitted(String),
    /// The database refused it for the calling user.
    #[error("denied: {0}")]
    Denied(String),
    /// The statement or its parameters are not acceptable.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The statement ran past its time limit.
    #[error("timeout")]
    Timeout,
    /// The database cannot be reached, or no connection became free in time.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// Why the database could not be set up at start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The connection string could not be resolved.
    #[error("database.connection_string: {0}")]
    ConnectionString(crate::shared::ReferenceError),
    /// The ODBC environment could not be created (is unixODBC installed?).
    #[error("ODBC environment: {0}")]
    Environment(String),
    /// The embedded demo database could not be created.
    #[error("embedded demo database: {0}")]
    Demo(demo::DemoError),
}

/// What one plugin call may spend on the database, over all its statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Statements the call may send (refused ones count too).
    pub statements: u64,
    /// Rows the call's queries may read in total.
    pub rows: u64,
}

impl Budget {
    /// The server's ceiling from `[database]`, the budget of a manifest that does not narrow it.
    pub fn ceiling(config: &crate::config::DatabaseConfig) -> Budget {
        Budget { statements: config.max_statements_per_call, rows: config.max_rows_per_call }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::ceiling(&crate::config::DatabaseConfig::default())
    }
}

/// Resolved per-call rules from `[database]`.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub plan: Plan,
    pub name_case: NameCase,
    pub statement_timeout: Duration,
    pub max_rows: usize,
    pub max_bytes: usize,
    pub health_check_idle: Duration,
}

/// The configured database: a connection pool plus the rules every call follows.
pub struct Database {
    pool: pool::Pool,
    settings: Settings,
    breakers: breaker::Breakers,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string may hold a password: never printed.
        f.debug_struct("Database").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Database {
    /// Sets up the database from `config`, creating the embedded demo on first start. `None` when
    /// `database.enabled` is false. Connections are opened on first use, so a database that is
    /// down at start does not keep Warden from starting.
    pub fn open(config: &Config) -> Result<Option<Arc<Database>>, OpenError> {
        let db = &config.database;
        if !db.enabled {
            return Ok(None);
        }
        let connection_string =
            db.resolved_connection_string(&config.server.data_dir).map_err(OpenError::ConnectionString)?;
        let env = odbc_api::environment().map_err(|e| OpenError::Environment(e.to_string()))?;
        if db.is_embedded_demo() {
            demo::ensure(env, &config.server.data_dir, &connection_string).map_err(OpenError::Demo)?;
        }
        let plan = Plan::from_config(db);
        let settings = Settings {
            plan,
            name_case: db.name_case,
            statement_timeout: Duration::from_millis(db.statement_timeout_ms),
            max_rows: db.max_rows,
            max_bytes: db.max_bytes,
            health_check_idle: Duration::from_millis(db.health_check_idle_ms),
        };
        let pool = pool::Pool::new(
            env,
            connection_string,
            db.pool_size,
            Duration::from_millis(db.acquire_timeout_ms),
        );
        let breakers = breaker::Breakers::new(breaker::BreakerRule {
            losses: db.breaker_losses,
            window: Duration::from_millis(db.breaker_window_ms),
            pause: Duration::from_millis(db.breaker_pause_ms),
        });
        Ok(Some(Arc::new(Database { pool, settings, breakers })))
    }

    /// A session for one call of `plugin` (its namespace, which its breaker is kept under) by
    /// `caller` under `grant` and `budget`. It takes a connection only when the plugin sends its
    /// first statement, and must be ended with [`CallSession::finish`].
    pub fn session(
        self: &Arc<Self>,
        plugin: &str,
        caller: &Identity,
        grant: Grant,
        budget: Budget,
        deadline: std::time::Instant,
    ) -> CallSession {
        CallSession::new(self.clone(), plugin, self.database_user(caller), grant, budget, deadline)
    }

    /// The database user `caller`'s calls act as, when impersonation is on and a safe name
    /// resolves (for the audit log).
    pub fn acting_user(&self, caller: &Identity) -> Option<String> {
        self.database_user(caller).ok().filter(|u| !u.is_empty())
    }

    /// Pool use, for metrics and the benchmark.
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.stats()
    }

    /// The database user `caller` acts as, or why there is none. Not needed (and `Ok("")`) when
    /// impersonation is off.
    fn database_user(&self, caller: &Identity) -> Result<String, DbError> {
        if !self.settings.plan.impersonates() {
            return Ok(String::new());
        }
        let Some(name) = caller.data().username.as_deref() else {
            return Err(DbError::NotPermitted(
                "no database user name could be resolved from the caller's token (see auth.username_claims); \
                 the call is refused rather than run as the pool login"
                    .into(),
            ));
        };
        let name = match self.settings.name_case {
            NameCase::Preserve => name.to_owned(),
            NameCase::Lower => name.to_ascii_lowercase(),
            NameCase::Upper => name.to_ascii_uppercase(),
        };
        if crate::shared::is_safe_username(&name) {
            Ok(name)
        } else {
            Err(DbError::NotPermitted("the caller's user name is not a valid database user name".into()))
        }
    }
}
