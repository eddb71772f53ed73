//! One loaded plugin: validated against its manifest and the contract, pre-instantiated, and
//! callable in a fresh, limited store per call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use wasmtime::component::types::ComponentItem;
use wasmtime::{Store, Trap, UpdateDeadline};

use super::bindings::warden::plugin::types as wit;
use super::bindings::{PluginPre, TOOLS_INTERFACE};
use super::host_state::StoreState;
use super::manifest::{Manifest, ToolGrant, is_valid_tool_name};
use super::runtime::Runtime;
use crate::db::Grant;
use crate::shared::DatabaseAccess;
use crate::shared::Identity;

/// Extra wall time allowed past the epoch deadline before the call future itself is dropped
/// (covers a guest parked in a host call, which an epoch cannot interrupt).
const TIMEOUT_GRACE: Duration = Duration::from_millis(250);

/// Why a plugin could not be loaded. Every message names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not a WebAssembly component wasmtime can compile.
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
    /// Built against another version of the plugin contract, or not a Warden plugin at all.
    #[error("{0}")]
    Contract(String),
    /// The component imports something this host does not provide.
    #[error(
        "the component imports something this host does not provide (plugins get the warden:plugin imports plus WASI clocks and random only): {0}"
    )]
    Link(String),
    /// `describe` failed or returned something unusable.
    #[error("describe() failed: {0}")]
    Describe(String),
    /// The manifest and the component disagree.
    #[error("{0}")]
    Mismatch(String),
}

/// A tool the plugin serves: listed in its manifest and described by the component.
pub struct ServedTool {
    /// Local name within the plugin.
    pub local_name: String,
    /// Namespaced name served over MCP: `<plugin>.<tool>`.
    pub name: String,
    /// Human-readable title.
    pub title: Option<String>,
    /// Description for the model.
    pub description: String,
    /// JSON Schema of the arguments (an object schema).
    pub input_schema: Arc<Map<String, Value>>,
    /// JSON Schema of the structured result.
    pub output_schema: Option<Arc<Map<String, Value>>>,
    /// What the caller must hold.
    pub grant: ToolGrant,
    input_validator: jsonschema::Validator,
    output_validator: Option<jsonschema::Validator>,
}

impl ServedTool {
    /// Checks `arguments` against the input schema; the error names the offending field.
    pub fn check_arguments(&self, arguments: &Value) -> Result<(), SchemaViolation> {
        first_error(&self.input_validator, arguments)
    }

    /// Checks a structured result against the output schema, if there is one.
    pub fn check_output(&self, output: &Value) -> Result<(), SchemaViolation> {
        match &self.output_validator {
            Some(v) => first_error(v, output),
            None => Ok(()),
        }
    }
}

/// A value that breaks a tool's schema, naming where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {reason}")]
pub struct SchemaViolation {
    /// `field /path/to/it`, or `the arguments` for the value as a whole.
    pub at: String,
    /// What the schema says is wrong.
    pub reason: String,
}

/// Why a schema a component describes is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The text is JSON, but not an object.
    #[error("is not a JSON object")]
    NotAnObject,
    /// The text is not JSON.
    #[error("is not valid JSON: {0}")]
    NotJson(String),
    /// The object is not a JSON Schema the validator can compile.
    #[error("is not a usable JSON Schema: {0}")]
    Unusable(String),
}

fn first_error(validator: &jsonschema::Validator, value: &Value) -> Result<(), SchemaViolation> {
    match validator.iter_errors(value).next() {
        None => Ok(()),
        Some(e) => {
            let path = e.instance_path().to_string();
            let at = if path.is_empty() { "the arguments".to_owned() } else { format!("field {path}") };
            Err(SchemaViolation { at, reason: e.to_string() })
        }
    }
}

/// A plugin ready to serve: immutable once loaded; a reload builds a new one.
pub struct LoadedPlugin {
    /// The manifest it was loaded with.
    pub manifest: Manifest,
    /// SHA-256 of the `.wasm`, hex.
    pub sha256: String,
    /// Tools served, sorted by name.
    pub tools: Vec<ServedTool>,
    /// Tools the component describes but the manifest does not list (not served).
    pub unlisted: Vec<String>,
    pre: PluginPre<StoreState>,
}

/// How a call failed. `Display` is the short reason shown to the MCP client.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No instance slot came free in time.
    #[error("the server is busy: no plugin instance became free in time; retry later")]
    Busy,
    /// The wall-time limit passed.
    #[error("the tool exceeded its time limit of {0} ms")]
    Timeout(u64),
    /// The memory limit was hit.
    #[error("the tool exceeded its memory limit of {0} MiB")]
    Memory(usize),
    /// The wasm stack overflowed.
    #[error("the tool overflowed its stack")]
    StackOverflow,
    /// The fuel budget ran out.
    #[error("the tool used up its instruction budget")]
    Fuel,
    /// The guest trapped (a Rust panic shows up as `unreachable`).
    #[error("the tool crashed: {0}")]
    Trap(String),
    /// The result was larger than allowed.
    #[error("the tool's result of {size} bytes exceeds the limit of {limit} bytes")]
    OutputTooLarge {
        /// Result size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// The plugin returned its own error.
    #[error("{0}")]
    Tool(ToolFailure),
    /// Host-side failure (instantiation and the like).
    #[error("internal error running the tool: {0}")]
    Internal(String),
}

/// An error the plugin itself returned.
#[derive(Debug, thiserror::Error)]
pub enum ToolFailure {
    /// The plugin refused the arguments.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The plugin refused the caller.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The plugin failed.
    #[error("{0}")]
    Failed(String),
}

impl LoadedPlugin {
    /// Compiles (or loads from cache) `wasm`, checks the contract, pre-instantiates it, calls
    /// `describe`, and reconciles the described tools with `manifest`. Returns the plugin and
    /// warnings for the operator.
    pub async fn load(
        runtime: &Runtime,
        manifest: Manifest,
        wasm: Vec<u8>,
    ) -> Result<(LoadedPlugin, Vec<String>), LoadError> {
        let sha256 = hex::encode(Sha256::digest(&wasm));
        if let Some(pin) = &manifest.wasm_sha256
            && *pin != sha256
        {
            return Err(LoadError::Mismatch(format!(
                "the manifest pins plugin.wasm_sha256 = {pin}, but the component's SHA-256 is {sha256}"
            )));
        }
        // Compiling is CPU-heavy and synchronous: keep it off the async workers.
        let (engine, cache, key) = (runtime.engine.clone(), runtime.cache.clone(), sha256.clone());
        let component = tokio::task::spawn_blocking(move || cache.load_or_compile(&engine, &wasm, &key))
            .await
            .map_err(|e| LoadError::Compile(format!("the compiler task failed: {e}")))?
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        check_contract(&component, &runtime.engine)?;
        let instance_pre =
            runtime.linker.instantiate_pre(&component).map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let pre = PluginPre::new(instance_pre).map_err(|e| {
            LoadError::Contract(format!(
                "the component does not export {TOOLS_INTERFACE} in the expected shape: {e:#}"
            ))
        })?;

        let mut plugin = LoadedPlugin { manifest, sha256, tools: Vec::new(), unlisted: Vec::new(), pre };
        let specs = plugin.describe(runtime).await?;
        let warnings = plugin.reconcile(specs)?;
        Ok((plugin, warnings))
    }

    async fn describe(&self, runtime: &Runtime) -> Result<Vec<wit::ToolSpec>, LoadError> {
        let mut store = self.new_store(runtime).map_err(|e| LoadError::Describe(e.to_string()))?;
        let run = async {
            let plugin = self.pre.instantiate_async(&mut store).await?;
            plugin.warden_plugin_tools().call_describe(&mut store).await
        };
        self.run_limited(run).await.map_err(|e| LoadError::Describe(e.to_string()))
    }

    /// Runs a guest call under this plugin's wall-time limit, mapping traps to short reasons.
    async fn run_limited<T>(&self, run: impl Future<Output = wasmtime::Result<T>>) -> Result<T, CallError> {
        let timeout_ms = self.manifest.limits.timeout_ms;
        match tokio::time::timeout(Duration::from_millis(timeout_ms) + TIMEOUT_GRACE, run).await {
            Err(_) => Err(CallError::Timeout(timeout_ms)),
            Ok(Err(e)) => Err(classify(e, &self.manifest)),
            Ok(Ok(value)) => Ok(value),
        }
    }

    /// Keeps the tools both the manifest and the component name; refuses tools the manifest lists
    /// that the component lacks; warns about (and does not serve) described-but-unlisted tools.
    fn reconcile(&mut self, specs: Vec<wit::ToolSpec>) -> Result<Vec<String>, LoadError> {
        let plugin = self.manifest.namespace();
        let mismatch = |m: String| LoadError::Mismatch(m);
        let mut warnings = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for spec in specs {
            if !is_valid_tool_name(&spec.name) {
                return Err(mismatch(format!(
                    "the component describes a tool named {:?}, which is not a valid tool name ([A-Za-z0-9_-], 1-64 characters)",
                    spec.name
                )));
            }
            if !seen.insert(spec.name.clone()) {
                return Err(mismatch(format!("the component describes tool {:?} twice", spec.name)));
            }
            let Some(grant) = self.manifest.tools.get(&spec.name).cloned() else {
                warnings.push(format!(
                    "tool {:?} is offered by the component but not listed in the manifest, so it is not served",
                    spec.name
                ));
                self.unlisted.push(spec.name);
                continue;
            };
            let input_schema = parse_schema(&spec.input_schema)
                .map_err(|e| mismatch(format!("tool {:?}: input schema {e}", spec.name)))?;
            if input_schema.get("type").and_then(Value::as_str) != Some("object") {
                return Err(mismatch(format!(
                    "tool {:?}: input schema must have \"type\": \"object\" (MCP requires it)",
                    spec.name
                )));
            }
            let input_validator = compile_schema(&input_schema)
                .map_err(|e| mismatch(format!("tool {:?}: input schema {e}", spec.name)))?;
            let (output_schema, output_validator) = match &spec.output_schema {
                None => (None, None),
                Some(text) => {
                    let s = parse_schema(text)
                        .map_err(|e| mismatch(format!("tool {:?}: output schema {e}", spec.name)))?;
                    let v = compile_schema(&s)
                        .map_err(|e| mismatch(format!("tool {:?}: output schema {e}", spec.name)))?;
                    (Some(Arc::new(s)), Some(v))
                }
            };
            self.tools.push(ServedTool {
                name: format!("{plugin}.{}", spec.name),
                local_name: spec.name,
                title: spec.title,
                description: spec.description,
                input_schema: Arc::new(input_schema),
                output_schema,
                grant,
                input_validator,
                output_validator,
            });
        }
        let missing: Vec<&String> = self.manifest.tools.keys().filter(|t| !seen.contains(*t)).collect();
        if !missing.is_empty() {
            return Err(mismatch(format!(
                "the manifest lists tool(s) {} that the component does not offer; remove them from the manifest or rebuild the plugin",
                missing.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join(", ")
            )));
        }
        self.tools.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(warnings)
    }

    /// A fresh store for one call, whose deadline is this plugin's timeout from now.
    fn new_store(&self, runtime: &Runtime) -> wasmtime::Result<Store<StoreState>> {
        let limits = self.manifest.limits;
        let deadline = Instant::now() + Duration::from_millis(limits.timeout_ms);
        let mut store =
            Store::new(&runtime.engine, StoreState::new(&self.manifest.name, limits.memory_bytes, deadline));
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                // Give other tasks on this worker thread a turn, then keep going.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        if runtime.fuel_metering {
            store.set_fuel(limits.fuel.unwrap_or(u64::MAX))?;
            store.fuel_async_yield_interval(Some(1_000_000))?;
        }
        Ok(store)
    }

    /// Runs `tool` (local name) with already-validated `arguments_json` for `caller`, in a fresh
    /// store with this plugin's limits. Returns the plugin's JSON result text.
    pub async fn call(
        &self,
        runtime: &Runtime,
        tool: &str,
        arguments_json: String,
        caller: &Identity,
    ) -> Result<String, CallError> {
        let _slot = runtime.acquire_slot().await.ok_or(CallError::Busy)?;
        let limits = self.manifest.limits;
        let mut store = self.new_store(runtime).map_err(|e| CallError::Internal(e.to_string()))?;
        let identity = to_wit_identity(caller);
        let grant = match self.manifest.database {
            DatabaseAccess::None => None,
            DatabaseAccess::ReadOnly => Some(Grant::ReadOnly),
            DatabaseAccess::ReadWrite => Some(Grant::ReadWrite),
        };
        let deadline = store.data().deadline;
        let run = async {
            let db = match grant {
                None => None,
                Some(grant) => {
                    let session = runtime.database.as_ref().map(|db| db.session(caller, grant, deadline));
                    Some(store.data_mut().lend_query_handle(session)?)
                }
            };
            let plugin = self.pre.instantiate_async(&mut store).await?;
            let borrowed = db.as_ref().map(|r| wasmtime::component::Resource::new_borrow(r.rep()));
            plugin
                .warden_plugin_tools()
                .call_call(&mut store, tool, &arguments_json, &identity, borrowed)
                .await
        };
        let result = self.run_limited(run).await;
        if let Some(session) = store.data_mut().take_db_session() {
            session.finish(matches!(result, Ok(Ok(_)))).await;
        }
        match result? {
            Ok(text) if text.len() > limits.max_output_bytes => {
                Err(CallError::OutputTooLarge { size: text.len(), limit: limits.max_output_bytes })
            }
            Ok(text) => Ok(text),
            Err(e) => Err(CallError::Tool(match e {
                wit::ToolError::InvalidArguments(m) => ToolFailure::InvalidArguments(m),
                wit::ToolError::Forbidden(m) => ToolFailure::Forbidden(m),
                wit::ToolError::Failed(m) => ToolFailure::Failed(m),
            })),
        }
    }

    /// Finds a served tool by its local name.
    pub fn tool(&self, local_name: &str) -> Option<&ServedTool> {
        self.tools.iter().find(|t| t.local_name == local_name)
    }
}

/// Maps a wasmtime error from a guest call to a short, specific reason.
fn classify(e: wasmtime::Error, manifest: &Manifest) -> CallError {
    let limits = manifest.limits;
    if let Some(trap) = e.downcast_ref::<Trap>() {
        return match trap {
            Trap::Interrupt => CallError::Timeout(limits.timeout_ms),
            Trap::StackOverflow => CallError::StackOverflow,
            Trap::OutOfFuel => CallError::Fuel,
            Trap::UnreachableCodeReached => CallError::Trap("it panicked or reached unreachable code".into()),
            // Rust and C keep a shadow stack in linear memory; running off its end shows up as an
            // out-of-bounds access rather than a stack overflow.
            Trap::MemoryOutOfBounds => CallError::Trap(
                "out-of-bounds memory access (often the plugin's in-memory stack running out)".into(),
            ),
            other => CallError::Trap(other.to_string()),
        };
    }
    let text = format!("{e:#}");
    if text.contains("growing memory") {
        return CallError::Memory(limits.memory_bytes / (1024 * 1024));
    }
    CallError::Internal(first_line(&text))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().chars().take(300).collect()
}

fn parse_schema(text: &str) -> Result<Map<String, Value>, SchemaError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(SchemaError::NotAnObject),
        Err(e) => Err(SchemaError::NotJson(e.to_string())),
    }
}

fn compile_schema(schema: &Map<String, Value>) -> Result<jsonschema::Validator, SchemaError> {
    jsonschema::validator_for(&Value::Object(schema.clone()))
        .map_err(|e| SchemaError::Unusable(e.to_string()))
}

/// Refuses components that are not Warden plugins or were built against another contract version.
fn check_contract(
    component: &wasmtime::component::Component,
    engine: &wasmtime::Engine,
) -> Result<(), LoadError> {
    let ty = component.component_type();
    let mut found: Vec<String> = Vec::new();
    for (name, item) in ty.exports(engine) {
        if name.starts_with("warden:plugin/tools") && matches!(item.ty, ComponentItem::ComponentInstance(_)) {
            found.push(name.to_owned());
        }
    }
    if found.iter().any(|n| contract_compatible(n, TOOLS_INTERFACE)) {
        return Ok(());
    }
    let wanted = TOOLS_INTERFACE;
    Err(LoadError::Contract(match found.first() {
        Some(other) => format!(
            "incompatible plugin contract: the component was built against {other}, but this host serves {wanted} \
             (rebuild the plugin with a warden-sdk that matches this host)"
        ),
        None => format!(
            "not a Warden plugin: the component exports no warden:plugin/tools interface (this host expects {wanted}); \
             build it with warden-sdk"
        ),
    }))
}

/// True if `name` (`pkg/iface@x.y.z`) is semver-compatible with `wanted` (same major, or for 0.x the
/// same minor).
fn contract_compatible(name: &str, wanted: &str) -> bool {
    let (Some((base_a, ver_a)), Some((base_b, ver_b))) = (name.split_once('@'), wanted.split_once('@'))
    else {
        return false;
    };
    let parts = |v: &str| -> Vec<u64> { v.split('.').filter_map(|p| p.parse().ok()).collect() };
    let (a, b) = (parts(ver_a), parts(ver_b));
    base_a == base_b && a.len() == 3 && b.len() == 3 && a[0] == b[0] && (a[0] != 0 || a[1] == b[1])
}

fn to_wit_identity(id: &Identity) -> wit::Identity {
    let d = id.data();
    wit::Identity {
        subject: d.subject.clone(),
        issuer: d.issuer.clone(),
        username: d.username.clone(),
        email: d.email.clone(),
        client_id: d.client_id.clone(),
        scopes: d.scopes.clone(),
        permissions: d.permissions.clone(),
        claims_json: d.claims.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::contract_compatible;

    #[test]
    fn contract_versions_follow_semver() {
        let w = "warden:plugin/tools@0.1.0";
        assert!(contract_compatible("warden:plugin/tools@0.1.0", w));
        assert!(contract_compatible("warden:plugin/tools@0.1.7", w));
        assert!(!contract_compatible("warden:plugin/tools@0.2.0", w));
        assert!(!contract_compatible("warden:plugin/tools@1.1.0", w));
        assert!(!contract_compatible("warden:plugin/tools", w));
    }
}
