//! Per-call store state and the host side of the plugin's imports: log and database (0.1),
//! context and database (0.2).
// MCP logging is deprecated (SEP-2577) but still part of the 2026-07-28 protocol, which
// this host serves.
#![allow(deprecated)]

use std::time::Instant;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::v0_1::warden::plugin::log;
use super::bindings::{v0_1, v0_2};
use super::events::{CallEvents, LogLevel};
use super::http_host::HttpHooks;
use crate::db::CallSession;
use crate::outbound::CallHttp;

/// Longest log line a plugin may write; longer ones are cut.
const MAX_LOG_LINE: usize = 2048;
/// Log lines a plugin may write per call; further lines are dropped.
const MAX_LOG_LINES: u32 = 64;

/// The database capability lent to a plugin for one call. It holds no connection or
/// credential: statements go through the store's [`CallSession`], which the host ends after the call.
#[derive(Debug)]
pub struct QueryHandle;

/// The running request lent to a 0.2 plugin (progress, log, cancellation). It holds nothing:
/// what it sends goes through the store's [`CallEvents`].
#[derive(Debug)]
pub struct CallContext;

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
    events: Option<CallEvents>,
    http: WasiHttpCtx,
    http_hooks: HttpHooks,
}

impl StoreState {
    /// State for one call of `plugin` with `memory_bytes` of linear memory, ending at `deadline`,
    /// with `env` as its environment (the URLs of its HTTP destinations).
    pub fn new(plugin: &str, memory_bytes: usize, deadline: Instant, env: &[(String, String)]) -> Self {
        StoreState {
            // No preopened directories, no arguments, no sockets, closed stdio: a plugin gets
            // clocks, randomness, the URLs of its destinations, and HTTP only as lent below.
            wasi: WasiCtx::builder().envs(env).build(),
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
            events: None,
            http: WasiHttpCtx::new(),
            http_hooks: HttpHooks::default(),
        }
    }

    /// Lends the call's outbound HTTP (its manifest's `[http]` grant).
    pub fn lend_http(&mut self, call: CallHttp) {
        self.http_hooks.call = Some(call);
    }

    /// Lends the running request's context (0.2), backed by `events`.
    pub fn lend_call_context(&mut self, events: CallEvents) -> wasmtime::Result<Resource<CallContext>> {
        self.events = Some(events);
        Ok(self.table.push(CallContext)?)
    }

    /// Writes one plugin log line to Warden's log, within the per-call line cap.
    fn host_log(&mut self, level: LogLevel, message: &str) {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            if self.log_lines == MAX_LOG_LINES + 1 {
                tracing::warn!(plugin = %self.plugin, "plugin log limit reached; dropping further lines of this call");
            }
            return;
        }
        let message = truncate(message, MAX_LOG_LINE);
        let plugin = self.plugin.as_str();
        match level {
            LogLevel::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
            LogLevel::Info | LogLevel::Notice => tracing::info!(target: "plugin", plugin, "{message}"),
            LogLevel::Warning => tracing::warn!(target: "plugin", plugin, "{message}"),
            LogLevel::Error => tracing::error!(target: "plugin", plugin, "{message}"),
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

impl WasiHttpView for StoreState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.http_hooks }
    }
}

impl log::Host for StoreState {
    async fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warning,
            log::Level::Error => LogLevel::Error,
        };
        self.host_log(level, &message);
    }
}

impl v0_2::warden::plugin::context::Host for StoreState {}

impl v0_2::warden::plugin::context::HostCallContext for StoreState {
    async fn progress(
        &mut self,
        _cx: Resource<CallContext>,
        progress: f64,
        total: Option<f64>,
        message: Option<String>,
    ) {
        if let Some(events) = self.events.as_mut() {
            events.progress(progress, total, message.map(|m| truncate(&m, MAX_LOG_LINE).to_owned()));
        }
    }

    async fn log(
        &mut self,
        _cx: Resource<CallContext>,
        level: v0_2::warden::plugin::context::Level,
        logger: Option<String>,
        message: String,
    ) {
        use v0_2::warden::plugin::context::Level as L;
        let mcp_level = match level {
            L::Debug => rmcp::model::LoggingLevel::Debug,
            L::Info => rmcp::model::LoggingLevel::Info,
            L::Notice => rmcp::model::LoggingLevel::Notice,
            L::Warning => rmcp::model::LoggingLevel::Warning,
            L::Error => rmcp::model::LoggingLevel::Error,
            L::Critical => rmcp::model::LoggingLevel::Critical,
            L::Alert => rmcp::model::LoggingLevel::Alert,
            L::Emergency => rmcp::model::LoggingLevel::Emergency,
        };
        let host_level = match level {
            L::Debug => LogLevel::Debug,
            L::Info => LogLevel::Info,
            L::Notice => LogLevel::Notice,
            L::Warning => LogLevel::Warning,
            _ => LogLevel::Error,
        };
        self.host_log(host_level, &message);
        let message = truncate(&message, MAX_LOG_LINE).to_owned();
        let logger = logger.map(|l| truncate(&l, 128).to_owned());
        if let Some(events) = self.events.as_mut() {
            events.log(mcp_level, logger, message);
        }
    }

    async fn is_cancelled(&mut self, _cx: Resource<CallContext>) -> bool {
        self.events.as_ref().is_some_and(CallEvents::is_cancelled)
    }

    async fn drop(&mut self, cx: Resource<CallContext>) -> wasmtime::Result<()> {
        self.table.delete(cx)?;
        Ok(())
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

/// Implements one contract version's `database` interface over the store's [`CallSession`]
/// (the versions' generated types have the same shape).
macro_rules! database_host {
    () => {
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
    };
}

/// Contract 0.1's database interface.
mod database_v0_1 {
    use super::{NO_DATABASE, QueryHandle, Resource, StoreState};
    use crate::db::{DbError, Rows, SqlValue};
    use crate::plugins::bindings::v0_1::warden::plugin::database;
    database_host!();
}

/// Contract 0.2's database interface.
mod database_v0_2 {
    use super::{NO_DATABASE, QueryHandle, Resource, StoreState};
    use crate::db::{DbError, Rows, SqlValue};
    use crate::plugins::bindings::v0_2::warden::plugin::database;
    database_host!();
}

impl v0_1::warden::plugin::types::Host for StoreState {}
impl v0_2::warden::plugin::types::Host for StoreState {}
