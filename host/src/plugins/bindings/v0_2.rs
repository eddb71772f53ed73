//! Contract 0.2 (`wit/0.2/plugin.wit`): tools, resources, prompts and completion, with a
//! per-request context for progress and log notifications.

wasmtime::component::bindgen!({
    path: "../wit/0.2",
    world: "plugin",
    imports: { default: async },
    exports: { default: async },
    with: {
        "warden:plugin/database.query-handle": crate::plugins::host_state::QueryHandle,
        "warden:plugin/context.call-context": crate::plugins::host_state::CallContext,
    },
});

/// The interface name (with version) a 0.2 plugin exports.
pub(crate) const EXPORT: &str = "warden:plugin/server@0.2.0";
