//! The wasmtime engine shared by all plugins: pooling allocator, epoch ticker, linker with the
//! host imports, and the instance-slot semaphore that queues calls when every slot is busy.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{
    Config as EngineConfig, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};

use super::bindings::{v0_1, v0_2};
use super::cache::CompiledCache;
use super::host_state::StoreState;
use crate::config::RuntimeConfig;
use crate::db::Database;
use crate::outbound::Outbound;

/// How often the epoch advances; wall-time limits are checked (and long-running guests yield to
/// other tasks) at this granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of each pooled linear memory that stay resident between calls: the pages a call
/// dirtied are reset in place (found with PAGEMAP_SCAN, copied back from the image) instead of
/// being dropped with madvise and faulted in again by the next call. Python and JavaScript
/// interpreters dirty megabytes per call, in hundreds of separate runs of pages: wasmtime's scan
/// stops after 32 runs, so Warden builds it from `vendor/wasmtime` with the scan continued (see
/// `vendor/README.md`; `py-sample.greet` 2.3 → 1.15 ms alone, about 5× the calls per second
/// under load). 16 MiB covers what a `greet` call of either dirties (64 MiB measured the same);
/// a warm server keeps up to this much per used slot resident.
const KEEP_RESIDENT_MEMORY: usize = 16 << 20;

/// The same for tables: a componentize-py component's function tables are refilled at every
/// instantiation, and keeping 1 MiB (instead of 64 KiB) of them resident took `py-sample.greet`
/// from 0.83 to 0.72-0.78 ms and `ts-sample.greet` from 0.47 to 0.40-0.43 ms
/// (`cargo bench --bench languages`). Only the pages a call dirtied stay, up to this much.
const KEEP_RESIDENT_TABLE: usize = 1 << 20;

/// Slots whose memory is decommitted together in one batch.
const DECOMMIT_BATCH: usize = 16;

/// Instance slots kept back for load-time `describe` calls, so loading never waits on traffic.
const LOAD_SLOTS: u32 = 4;

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// wasmtime refused the engine configuration.
    #[error("cannot configure the WebAssembly engine: {0}")]
    Engine(String),
    /// The compiled-code cache directory is unusable.
    #[error("cannot use the compiled-plugin cache under {dir}: {reason}")]
    Cache {
        /// The data directory.
        dir: String,
        /// The OS error.
        reason: String,
    },
}

/// The shared engine and everything needed to instantiate plugins.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<StoreState>,
    pub(crate) cache: CompiledCache,
    pub(crate) fuel_metering: bool,
    slots: Arc<Semaphore>,
    max_slots: usize,
    queue_timeout: Duration,
    ticker_stop: Arc<AtomicBool>,
    /// The database lent to plugins whose manifest grants access (`None`: no database).
    pub(crate) database: Option<Arc<Database>>,
    /// Outbound HTTP lent to plugins whose manifest declares destinations.
    pub(crate) outbound: Option<Arc<Outbound>>,
}

impl Runtime {
    /// Lends `database` to plugins whose manifest grants access.
    pub fn with_database(mut self, database: Option<Arc<Database>>) -> Runtime {
        self.database = database;
        self
    }

    /// Lends outbound HTTP to plugins whose manifest declares destinations.
    pub fn with_outbound(mut self, outbound: Option<Arc<Outbound>>) -> Runtime {
        self.outbound = outbound;
        self
    }

    /// Builds the engine from the `[runtime]` settings, with its cache under `data_dir`.
    pub fn new(config: &RuntimeConfig, data_dir: &Path) -> Result<Runtime, RuntimeError> {
        let engine_err = |e: wasmtime::Error| RuntimeError::Engine(format!("{e:#}"));
        let slots = config.max_instances + LOAD_SLOTS;

        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(slots)
            // A componentize-py component is 14 core instances (CPython and its libraries), a Rust
            // one 1-3: 16 per slot lets every slot hold a Python call at once.
            .total_core_instances(slots * 16)
            .total_memories(slots * 2)
            .total_tables(slots * 4)
            .total_stacks(slots)
            .max_memory_size(usize::try_from(config.max_memory_mb * 1024 * 1024).unwrap_or(usize::MAX))
            .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY)
            .table_keep_resident(KEEP_RESIDENT_TABLE)
            // Reset only the pages a call dirtied (Linux 6.7+; ignored elsewhere) and batch the
            // remaining decommits: each madvise in a multithreaded process costs a TLB-shootdown
            // IPI to every core, which dominated the profile under load.
            .pagemap_scan(Enabled::Auto)
            .decommit_batch_size(DECOMMIT_BATCH);

        let mut ec = EngineConfig::new();
        ec.epoch_interruption(true)
            .consume_fuel(config.fuel_metering)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&ec).map_err(engine_err)?;

        let mut linker = Linker::<StoreState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_err)?;
        // wasi:http/outgoing-handler and types: every request goes through the call's grant.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(engine_err)?;
        // Both contract versions side by side: their interface names differ (`@0.1` / `@0.2`).
        v0_1::Plugin::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |s| s)
            .map_err(engine_err)?;
        v0_2::Plugin::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |s| s)
            .map_err(engine_err)?;

        let cache = CompiledCache::open(data_dir, &engine).map_err(|e| RuntimeError::Cache {
            dir: data_dir.display().to_string(),
            reason: e.to_string(),
        })?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), ticker_stop.clone());

        Ok(Runtime {
            engine,
            linker,
            cache,
            fuel_metering: config.fuel_metering,
            slots: Arc::new(Semaphore::new(config.max_instances as usize)),
            max_slots: config.max_instances as usize,
            queue_timeout: Duration::from_millis(config.queue_timeout_ms),
            ticker_stop,
            database: None,
            outbound: None,
        })
    }

    /// Waits (up to the queue timeout) for a free instance slot.
    pub(crate) async fn acquire_slot(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Instance slots currently free.
    pub fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }

    /// Instance slots in all (`runtime.max_instances`).
    pub fn max_slots(&self) -> usize {
        self.max_slots
    }

    /// The database lent to plugins, if any.
    pub fn database(&self) -> Option<&Arc<Database>> {
        self.database.as_ref()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// Advances the engine epoch every [`EPOCH_TICK`] on a dedicated thread (so a busy async runtime
/// cannot delay deadlines) until `stop` is set.
fn spawn_epoch_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new().name("warden-epoch".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(EPOCH_TICK);
            engine.increment_epoch();
        }
    });
    if let Err(e) = spawned {
        // Without the ticker, deadlines still hold through the tokio timeout around each call.
        tracing::error!(error = %e, "could not start the epoch ticker thread");
    }
}
