//! Per-call store state and the host side of the plugin's imports (log, database).

use std::time::Instant;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::warden::plugin::{database, log};

/// Longest log line a plugin may write; longer ones are cut.
const MAX_LOG_LINE: usize = 2048;
/// Log lines a plugin may write per call; further lines are dropped.
const MAX_LOG_LINES: u32 = 64;

/// The database capability lent to a plugin for one call. Until the database work lands it
/// grants nothing: every statement is answered `not-permitted`.
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
        }
    }

    /// Lends a query handle for this call.
    pub fn lend_query_handle(&mut self) -> wasmtime::Result<Resource<QueryHandle>> {
        Ok(self.table.push(QueryHandle)?)
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

const NOT_YET: &str = "database access is not available on this server yet";

impl database::Host for StoreState {}

impl database::HostQueryHandle for StoreState {
    async fn query(
        &mut self,
        _handle: Resource<QueryHandle>,
        _sql: String,
        _params: Vec<database::Value>,
    ) -> Result<database::Rows, database::DbError> {
        Err(database::DbError::NotPermitted(NOT_YET.into()))
    }

    async fn execute(
        &mut self,
        _handle: Resource<QueryHandle>,
        _sql: String,
        _params: Vec<database::Value>,
    ) -> Result<u64, database::DbError> {
        Err(database::DbError::NotPermitted(NOT_YET.into()))
    }

    async fn drop(&mut self, handle: Resource<QueryHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl super::bindings::warden::plugin::types::Host for StoreState {}
