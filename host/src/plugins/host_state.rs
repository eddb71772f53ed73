//! Per-call store state and the host side of the plugin's imports (log, database).

use std::time::Instant;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::warden::plugin::{database, log};
use crate::db::{CallSession, DbError, Rows, SqlValue};

/// Longest log line a plugin may write; longer ones are cut.
const MAX_LOG_LINE: usize = 2048;
/// Log lines a plugin may write per call; further lines are dropped.
const MAX_LOG_LINES: u32 = 64;

/// The database capability lent to a plugin for one call. It holds no connection or
/// credential: statements go through the store's [`CallSession`], which the host ends after the call.
#[derive(Debug)]
pub struct QueryHandle;

/// Everything a plugin's store holds for one call. Dropped with the store when the call ends,
/// so nothing survives between calls or callers.
pub struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub(crate) deadline: Instant,
    plugin: String,
    log_lines: u32,
    db: Option<CallSession>,
}

impl StoreState {
    /// State for one call of `plugin` with `memory_bytes` of linear memory, ending at `deadline`.
    pub fn new(plugin: &str, memory_bytes: usize, deadline: Instant) -> Self {
        StoreState {
            // No preopened directories, no environment, no arguments, no network, closed stdio:
            // a plugin gets clocks and randomness only.
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .instances(16)
                .memories(8)
                .tables(16)
                .trap_on_grow_failure(true)
                .build(),
            deadline,
            plugin: plugin.to_owned(),
            log_lines: 0,
            db: None,
        }
    }

    /// Lends a query handle for this call, backed by `session` (`None`: the server has no
    /// database, and every statement is answered `unavailable`).
    pub fn lend_query_handle(
        &mut self,
        session: Option<CallSession>,
    ) -> wasmtime::Result<Resource<QueryHandle>> {
        self.db = session;
        Ok(self.table.push(QueryHandle)?)
    }

    /// Takes the call's database session back so the host can end it.
    pub fn take_db_session(&mut self) -> Option<CallSession> {
        self.db.take()
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl log::Host for StoreState {
    async fn log(&mut self, level: log::Level, message: String) {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            if self.log_lines == MAX_LOG_LINES + 1 {
                tracing::warn!(plugin = %self.plugin, "plugin log limit reached; dropping further lines of this call");
            }
            return;
        }
        let message = truncate(&message, MAX_LOG_LINE);
        let plugin = self.plugin.as_str();
        match level {
            log::Level::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
            log::Level::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
            log::Level::Info => tracing::info!(target: "plugin", plugin, "{message}"),
            log::Level::Warn => tracing::warn!(target: "plugin", plugin, "{message}"),
            log::Level::Error => tracing::error!(target: "plugin", plugin, "{message}"),
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

const NO_DATABASE: &str = "this server has no database configured (database.enabled = false)";

impl database::Host for StoreState {}

impl database::HostQueryHandle for StoreState {
    async fn query(
        &mut self,
        _handle: Resource<QueryHandle>,
        sql: String,
        params: Vec<database::Value>,
    ) -> Result<database::Rows, database::DbError> {
        let Some(session) = self.db.as_mut() else {
            return Err(database::DbError::Unavailable(NO_DATABASE.into()));
        };
        let params = params.into_iter().map(from_wit).collect();
        session.query(&sql, params).await.map(to_wit_rows).map_err(to_wit_error)
    }

    async fn execute(
        &mut self,
        _handle: Resource<QueryHandle>,
        sql: String,
        params: Vec<database::Value>,
    ) -> Result<u64, database::DbError> {
        let Some(session) = self.db.as_mut() else {
            return Err(database::DbError::Unavailable(NO_DATABASE.into()));
        };
        let params = params.into_iter().map(from_wit).collect();
        session.execute(&sql, params).await.map_err(to_wit_error)
    }

    async fn drop(&mut self, handle: Resource<QueryHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl super::bindings::warden::plugin::types::Host for StoreState {}

fn from_wit(v: database::Value) -> SqlValue {
    match v {
        database::Value::Null => SqlValue::Null,
        database::Value::Boolean(b) => SqlValue::Bool(b),
        database::Value::Int(i) => SqlValue::Int(i),
        database::Value::Float(f) => SqlValue::Float(f),
        database::Value::Text(s) => SqlValue::Text(s),
        database::Value::Bytes(b) => SqlValue::Bytes(b),
    }
}

fn to_wit_value(v: SqlValue) -> database::Value {
    match v {
        SqlValue::Null => database::Value::Null,
        SqlValue::Bool(b) => database::Value::Boolean(b),
        SqlValue::Int(i) => database::Value::Int(i),
        SqlValue::Float(f) => database::Value::Float(f),
        SqlValue::Text(s) => database::Value::Text(s),
        SqlValue::Bytes(b) => database::Value::Bytes(b),
    }
}

fn to_wit_rows(rows: Rows) -> database::Rows {
    database::Rows {
        columns: rows.columns,
        rows: rows.rows.into_iter().map(|r| r.into_iter().map(to_wit_value).collect()).collect(),
        truncated: rows.truncated,
    }
}

fn to_wit_error(e: DbError) -> database::DbError {
    match e {
        DbError::NotPermitted(m) => database::DbError::NotPermitted(m),
        DbError::Denied(m) => database::DbError::Denied(m),
        DbError::Invalid(m) => database::DbError::Invalid(m),
        DbError::Timeout => database::DbError::Timeout,
        DbError::Unavailable(m) => database::DbError::Unavailable(m),
    }
}
