//! `warden-sdk`: write Warden MCP tool plugins as typed Rust functions.
//!
//! A plugin is a `cdylib` crate built for `wasm32-wasip2`. Each tool is one function that takes a
//! [`Context`] and a serde-deserializable argument type; its JSON Schema is generated with
//! `schemars`, and its result is serialized for you.
//!
//! ```ignore
//! use warden_sdk::{Context, ToolError, Tools, export_tools};
//! use warden_sdk::{schemars::JsonSchema, serde::Deserialize};
//!
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(crate = "warden_sdk::serde")]
//! #[schemars(crate = "warden_sdk::schemars")]
//! struct GreetArgs { name: String }
//!
//! fn greet(cx: &Context, args: GreetArgs) -> Result<String, ToolError> {
//!     Ok(format!("Hello, {}! (called by {})", args.name, cx.caller.subject))
//! }
//!
//! fn tools() -> Tools {
//!     Tools::new().tool("greet", "Greets someone by name", greet)
//! }
//! export_tools!(tools());
//! ```

mod context;
pub mod db;
mod tools;

pub use context::{Caller, Context, Database, LogLevel};
pub use tools::{NoArgs, ToolError, Tools};

pub use schemars;
pub use serde;
pub use serde_json;

/// Raw bindings generated from `wit/plugin.wit`. Plugin authors normally never touch these.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin_bindings",
        default_bindings_module: "warden_sdk::bindings",
    });
}

/// Glue used by [`export_tools!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::tools::{call, describe};
}

/// Exports a [`Tools`] set as this component's plugin implementation.
///
/// The expression is evaluated per host call (each call runs in a fresh instance), so build the
/// set in a plain function: `export_tools!(tools());`.
#[macro_export]
macro_rules! export_tools {
    ($tools:expr) => {
        struct __WardenPlugin;

        impl $crate::bindings::exports::warden::plugin::tools::Guest for __WardenPlugin {
            fn describe() -> ::std::vec::Vec<$crate::bindings::warden::plugin::types::ToolSpec> {
                $crate::__private::describe(&$tools)
            }

            fn call(
                tool: ::std::string::String,
                arguments_json: ::std::string::String,
                caller: $crate::bindings::warden::plugin::types::Identity,
                db: ::std::option::Option<&$crate::bindings::warden::plugin::database::QueryHandle>,
            ) -> ::std::result::Result<
                ::std::string::String,
                $crate::bindings::warden::plugin::types::ToolError,
            > {
                $crate::__private::call(&$tools, &tool, &arguments_json, caller, db)
            }
        }

        $crate::bindings::__export_plugin_bindings!(__WardenPlugin with_types_in $crate::bindings);
    };
}
