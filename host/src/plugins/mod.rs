//! Plugins: manifests, the wasmtime runtime, the compiled-code cache, the hot-swappable registry
//! and the directory watcher.

mod bindings;
mod cache;
pub mod directory;
pub mod host_state;
pub mod loaded;
pub mod manifest;
pub mod registry;
pub mod runtime;
pub mod signature;

pub use directory::{LoadReport, PluginDirectory, Refusal};
pub use loaded::{CallError, LoadedPlugin, ServedTool, ToolFailure};
pub use manifest::{Ceilings, Manifest};
pub use registry::{Registry, Snapshot, ToolRef};
pub use runtime::{Runtime, RuntimeError};
