//! Host-side bindings generated from `wit/plugin.wit`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    imports: { default: async },
    exports: { default: async },
    with: {
        "warden:plugin/database.query-handle": super::host_state::QueryHandle,
    },
});

/// The interface name (with version) a compatible plugin exports.
pub(super) const TOOLS_INTERFACE: &str = "warden:plugin/tools@0.1.0";
