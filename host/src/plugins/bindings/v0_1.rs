//! Contract 0.1 (`wit/0.1/plugin.wit`): tools that return JSON text.

wasmtime::component::bindgen!({
    path: "../wit/0.1",
    world: "plugin",
    imports: { default: async },
    exports: { default: async },
    with: {
        "warden:plugin/database.query-handle": crate::plugins::host_state::QueryHandle,
    },
});

/// The interface name (with version) a 0.1 plugin exports.
pub(crate) const EXPORT: &str = "warden:plugin/tools@0.1.0";
