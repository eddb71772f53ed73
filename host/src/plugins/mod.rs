//! Plugins: manifests, the wasmtime runtime, the compiled-code cache, the hot-swappable registry
//! and the directory watcher.

mod bindings;
mod cache;
mod convert;
pub mod directory;
pub mod events;
mod exports;
pub mod host_state;
mod http_host;
pub mod loaded;
pub mod manifest;
pub mod registry;
pub mod request;
pub mod runtime;
pub mod served;
pub mod signature;
pub mod uri_template;

pub use directory::{LoadReport, PluginDirectory, Refusal};
pub use events::{CallEvent, CallEvents};
pub use loaded::{CallError, Completing, ContractVersion, LoadedPlugin, ToolFailure};
pub use manifest::{Ceilings, Manifest};
pub use registry::{Registry, Snapshot, ToolRef};
pub use request::{ClientCaps, InputNeeded, Outcome, Request, ToolOutput};
pub use runtime::{Runtime, RuntimeError};
pub use served::{ServedPrompt, ServedResource, ServedTemplate, ServedTool};
