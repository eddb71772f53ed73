//! Calling a 0.2 component's `server` functions without type-checking them on every request.
//!
//! wasmtime's generated `PluginPre::instantiate_async` looks up and type-checks every export of
//! the interface on each instantiation (`get_typed_func` per function). Contract 0.2's records are
//! large, so that alone doubled the cost of a plain tool call. Here each function's signature is
//! checked once, when the plugin loads, against the same component every later instance comes
//! from; a request then only looks its function up by index.

use wasmtime::component::{ComponentExportIndex, Func, Instance, InstancePre, Resource, TypedFunc};
use wasmtime::{AsContextMut, Store};

use super::bindings::v0_2::warden::plugin::types as wit;
use super::host_state::{CallContext, QueryHandle, StoreState};

/// `call-tool(name, arguments-json, req, cx, db)`.
pub(super) type CallToolParams<'a> =
    (&'a str, &'a str, &'a wit::Request, Resource<CallContext>, Option<Resource<QueryHandle>>);
/// What `call-tool` returns.
pub(super) type CallToolResults = (Result<wit::ToolOutcome, wit::PluginError>,);
/// `read-resource(uri, req, cx, db)`.
pub(super) type ReadParams<'a> =
    (&'a str, &'a wit::Request, Resource<CallContext>, Option<Resource<QueryHandle>>);
/// What `read-resource` returns.
pub(super) type ReadResults = (Result<wit::ReadOutcome, wit::PluginError>,);
/// `get-prompt(name, arguments, req, cx, db)`.
pub(super) type PromptParams<'a> =
    (&'a str, &'a [(String, String)], &'a wit::Request, Resource<CallContext>, Option<Resource<QueryHandle>>);
/// What `get-prompt` returns.
pub(super) type PromptResults = (Result<wit::PromptOutcome, wit::PluginError>,);
/// `complete(of, argument, value, context-arguments, caller)`.
pub(super) type CompleteParams<'a> =
    (&'a wit::CompletionRef, &'a str, &'a str, &'a [(String, String)], &'a wit::Identity);
/// What `complete` returns.
pub(super) type CompleteResults = (Result<wit::Completion, wit::PluginError>,);

/// The indices of the `server` functions, each type-checked once against the signatures above.
pub(super) struct ServerExports {
    call_tool: ComponentExportIndex,
    read_resource: ComponentExportIndex,
    get_prompt: ComponentExportIndex,
    complete: ComponentExportIndex,
}

/// Which function to call.
#[derive(Clone, Copy)]
pub(super) enum Export {
    /// `call-tool`.
    CallTool,
    /// `read-resource`.
    ReadResource,
    /// `get-prompt`.
    GetPrompt,
    /// `complete`.
    Complete,
}

impl ServerExports {
    /// Finds the functions in `pre`'s component and type-checks them on `instance` (an instance of
    /// that component in `store`).
    pub(super) fn check(
        pre: &InstancePre<StoreState>,
        store: &mut Store<StoreState>,
        instance: &Instance,
        interface: &str,
    ) -> wasmtime::Result<ServerExports> {
        let component = pre.component();
        let iface = component
            .get_export_index(None, interface)
            .ok_or_else(|| wasmtime::format_err!("no export `{interface}`"))?;
        let index = |name: &str| {
            component
                .get_export_index(Some(&iface), name)
                .ok_or_else(|| wasmtime::format_err!("no export `{name}` in `{interface}`"))
        };
        let exports = ServerExports {
            call_tool: index("call-tool")?,
            read_resource: index("read-resource")?,
            get_prompt: index("get-prompt")?,
            complete: index("complete")?,
        };
        instance.get_typed_func::<CallToolParams<'_>, CallToolResults>(&mut *store, &exports.call_tool)?;
        instance.get_typed_func::<ReadParams<'_>, ReadResults>(&mut *store, &exports.read_resource)?;
        instance.get_typed_func::<PromptParams<'_>, PromptResults>(&mut *store, &exports.get_prompt)?;
        instance.get_typed_func::<CompleteParams<'_>, CompleteResults>(&mut *store, &exports.complete)?;
        Ok(exports)
    }

    /// The function `which` of `instance`.
    pub(super) fn func(
        &self,
        store: impl AsContextMut<Data = StoreState>,
        instance: &Instance,
        which: Export,
    ) -> wasmtime::Result<Func> {
        let index = match which {
            Export::CallTool => &self.call_tool,
            Export::ReadResource => &self.read_resource,
            Export::GetPrompt => &self.get_prompt,
            Export::Complete => &self.complete,
        };
        instance.get_func(store, index).ok_or_else(|| wasmtime::format_err!("the export vanished"))
    }
}

/// `func` as a typed function, without checking its type again.
///
/// Callers pass only functions returned by [`ServerExports::func`] for the export whose
/// signature `P`/`R` [`ServerExports::check`] verified on an instance of the same component
/// (every instance of one component has the same export types).
#[allow(unsafe_code)]
pub(super) fn typed<P, R>(func: Func) -> TypedFunc<P, R>
where
    P: wasmtime::component::ComponentNamedList + wasmtime::component::Lower,
    R: wasmtime::component::ComponentNamedList + wasmtime::component::Lift,
{
    // SAFETY: see above: `P` and `R` are exactly the types `check` type-checked this export
    // against when the plugin loaded, and the export's type cannot change between instances.
    unsafe { TypedFunc::new_unchecked(func) }
}
