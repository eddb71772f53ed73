//! One loaded plugin: validated against its manifest and the contract, pre-instantiated, and
//! callable in a fresh, limited store per call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::{BTreeMap, BTreeSet};

use rmcp::model::CompletionInfo;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::Resource;
use wasmtime::component::types::ComponentItem;
use wasmtime::{Store, Trap, UpdateDeadline};

use super::bindings::{v0_1, v0_2};
use super::convert;
use super::exports::{
    CallToolParams, CallToolResults, CompleteParams, CompleteResults, Export, PromptParams, PromptResults,
    ReadParams, ReadResults, ServerExports, typed,
};
use super::host_state::{CallContext, QueryHandle, StoreState};
use super::manifest::{Manifest, ToolGrant, is_valid_tool_name};
use super::request::{ClientCaps, Outcome, PromptOutput, ReadOutput, Request, ToolOutput};
use super::runtime::Runtime;
use super::served::{
    PromptArgument, ServedPrompt, ServedResource, ServedTemplate, ServedTool, compile_schema, parse_schema,
};
use super::uri_template::UriTemplate;
use crate::db::Grant;
use crate::outbound::CallHttp;
use crate::shared::DatabaseAccess;
use crate::shared::Identity;

/// Extra wall time allowed past the epoch deadline before the call future itself is dropped
/// (covers a guest parked in a host call, which an epoch cannot interrupt).
const TIMEOUT_GRACE: Duration = Duration::from_millis(250);

/// The least wall time `describe` gets at load, whatever the manifest's `timeout_ms`: the first
/// instance of a large interpreter component on a busy machine can need more than a tool call's
/// budget, and a good plugin must not be refused for it. A hostile `describe` still ends: it holds
/// one of the load slots for at most this long.
const DESCRIBE_MIN_TIME: Duration = Duration::from_secs(10);

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

/// The contract a component was built against, with its pre-instantiated form.
enum Contract {
    /// `warden:plugin@0.1.x`: tools returning JSON text.
    V0_1(v0_1::PluginPre<StoreState>),
    /// `warden:plugin@0.2.x`: the whole MCP server surface, with its export functions
    /// type-checked once (set by `describe`, before the plugin serves anything).
    V0_2(v0_2::PluginPre<StoreState>, Option<ServerExports>),
}

/// Which contract a component exports (from its export names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractVersion {
    /// 0.1.x.
    V0_1,
    /// 0.2.x.
    V0_2,
}

impl ContractVersion {
    /// `0.1` or `0.2`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContractVersion::V0_1 => "0.1",
            ContractVersion::V0_2 => "0.2",
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
    /// Fixed-URI resources served, sorted by URI.
    pub resources: Vec<ServedResource>,
    /// Resource templates served, sorted by template.
    pub templates: Vec<ServedTemplate>,
    /// Prompts served, sorted by name.
    pub prompts: Vec<ServedPrompt>,
    /// What the component offers but the manifest does not list (not served), e.g. `tool "x"`.
    pub unlisted: Vec<String>,
    contract: Contract,
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
    /// The client cancelled the request or went away; the instance was stopped.
    #[error("the request was cancelled")]
    Cancelled,
    /// The plugin returned something the protocol cannot carry.
    #[error("the plugin returned an unusable answer: {0}")]
    Unusable(String),
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
    /// No such resource or prompt.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request needs client capabilities the client did not declare.
    #[error("the client lacks a capability this needs")]
    MissingCapabilities(ClientCaps),
    /// The plugin failed.
    #[error("{0}")]
    Failed(String),
}

/// A fresh store for one request, holding its instance slot and the lent handles.
struct Prepared {
    _slot: OwnedSemaphorePermit,
    store: Store<StoreState>,
    db: Option<Resource<QueryHandle>>,
}

impl Prepared {
    fn db(&self) -> Option<Resource<QueryHandle>> {
        self.db.as_ref().map(|r| Resource::new_borrow(r.rep()))
    }

    /// Ends the request's database session (committing if `ok`).
    async fn finish(mut self, ok: bool) {
        if let Some(session) = self.store.data_mut().take_db_session() {
            session.finish(ok).await;
        }
    }
}

/// A 0.2 request made ready to run: its store, the request record, the lent call context, and
/// the token that cancels it.
struct PreparedV0_2 {
    p: Prepared,
    req: v0_2::warden::plugin::types::Request,
    cx: Resource<CallContext>,
    cancel: tokio_util::sync::CancellationToken,
}

/// "Input required": the plugin's requests, checked and within the output limit.
fn input_required<T>(
    ir: v0_2::warden::plugin::types::InputRequired,
    limit: usize,
) -> Result<Outcome<T>, CallError> {
    let needed = convert::input_needed(ir).map_err(CallError::Unusable)?;
    Ok(Outcome::InputRequired(within_limit(needed, limit)?))
}

fn failure_v0_2(e: v0_2::warden::plugin::types::PluginError) -> CallError {
    use v0_2::warden::plugin::types::PluginError as E;
    CallError::Tool(match e {
        E::InvalidArguments(m) => ToolFailure::InvalidArguments(m),
        E::Forbidden(m) => ToolFailure::Forbidden(m),
        E::NotFound(m) => ToolFailure::NotFound(m),
        E::MissingClientCapabilities(caps) => ToolFailure::MissingCapabilities(convert::caps_from_wit(caps)),
        E::Failed(m) => ToolFailure::Failed(m),
    })
}

/// Checks an answer's size against the plugin's output limit.
fn within_limit<T: serde::Serialize>(value: T, limit: usize) -> Result<T, CallError> {
    let size = serde_json::to_vec(&value).map_or(usize::MAX, |v| v.len());
    if size > limit {
        return Err(CallError::OutputTooLarge { size, limit });
    }
    Ok(value)
}

fn wit_request<'r>(
    request: &'r Request<'_>,
    responses: &'r [(String, String)],
) -> v0_2::warden::plugin::types::Request {
    v0_2::warden::plugin::types::Request {
        caller: convert::identity(request.caller),
        client_capabilities: convert::caps_to_wit(request.client),
        input_responses: responses
            .iter()
            .map(|(key, json)| v0_2::warden::plugin::types::InputResponse {
                key: key.clone(),
                result_json: json.clone(),
            })
            .collect(),
        state: request.state.clone(),
    }
}

impl LoadedPlugin {
    /// Compiles (or loads from cache) `wasm`, checks the contract, pre-instantiates it, calls
    /// `describe`, and reconciles what the component offers with `manifest`. Returns the plugin
    /// and warnings for the operator.
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
        let version = check_contract(&component, &runtime.engine)?;
        let instance_pre =
            runtime.linker.instantiate_pre(&component).map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let shape = |export: &str, e: wasmtime::Error| {
            LoadError::Contract(format!(
                "the component does not export {export} in the expected shape: {e:#}"
            ))
        };
        let contract = match version {
            ContractVersion::V0_1 => {
                Contract::V0_1(v0_1::PluginPre::new(instance_pre).map_err(|e| shape(v0_1::EXPORT, e))?)
            }
            ContractVersion::V0_2 => {
                Contract::V0_2(v0_2::PluginPre::new(instance_pre).map_err(|e| shape(v0_2::EXPORT, e))?, None)
            }
        };

        let mut plugin = LoadedPlugin {
            manifest,
            sha256,
            tools: Vec::new(),
            resources: Vec::new(),
            templates: Vec::new(),
            prompts: Vec::new(),
            unlisted: Vec::new(),
            contract,
        };
        let (offer, exports) = plugin.describe(runtime).await?;
        if let Contract::V0_2(_, slot) = &mut plugin.contract {
            *slot = exports;
        }
        let warnings = plugin.reconcile(offer)?;
        Ok((plugin, warnings))
    }

    /// The contract version the component was built against.
    pub fn contract_version(&self) -> ContractVersion {
        match self.contract {
            Contract::V0_1(_) => ContractVersion::V0_1,
            Contract::V0_2(..) => ContractVersion::V0_2,
        }
    }

    /// Calls `describe`; for 0.2 also type-checks the export functions later requests call.
    async fn describe(
        &self,
        runtime: &Runtime,
    ) -> Result<(v0_2::warden::plugin::types::Offer, Option<ServerExports>), LoadError> {
        let describe_error = |e: CallError| LoadError::Describe(e.to_string());
        let time = Duration::from_millis(self.manifest.limits.timeout_ms).max(DESCRIBE_MIN_TIME);
        let mut store = self.new_store_for(runtime, time).map_err(|e| LoadError::Describe(e.to_string()))?;
        match &self.contract {
            Contract::V0_1(pre) => {
                let run = async {
                    let plugin = pre.instantiate_async(&mut store).await?;
                    plugin.warden_plugin_tools().call_describe(&mut store).await
                };
                let specs = self.run_limited_for(run, None, time).await.map_err(describe_error)?;
                let offer = v0_2::warden::plugin::types::Offer {
                    tools: specs
                        .into_iter()
                        .map(|t| v0_2::warden::plugin::types::ToolSpec {
                            name: t.name,
                            title: t.title,
                            description: t.description,
                            input_schema: t.input_schema,
                            output_schema: t.output_schema,
                        })
                        .collect(),
                    resources: Vec::new(),
                    resource_templates: Vec::new(),
                    prompts: Vec::new(),
                };
                Ok((offer, None))
            }
            Contract::V0_2(pre, _) => {
                let run = async {
                    let instance = pre.instance_pre().instantiate_async(&mut store).await?;
                    let exports =
                        ServerExports::check(pre.instance_pre(), &mut store, &instance, v0_2::EXPORT)?;
                    let plugin = v0_2::Plugin::new(&mut store, &instance)?;
                    let offer = plugin.warden_plugin_server().call_describe(&mut store).await?;
                    Ok((offer, Some(exports)))
                };
                self.run_limited_for(run, None, time).await.map_err(describe_error)
            }
        }
    }

    /// Runs a guest call under this plugin's wall-time limit, mapping traps to short reasons;
    /// `cancel` (when given) stops it early.
    async fn run_limited<T>(
        &self,
        run: impl Future<Output = wasmtime::Result<T>>,
        cancel: Option<&tokio_util::sync::CancellationToken>,
    ) -> Result<T, CallError> {
        let time = Duration::from_millis(self.manifest.limits.timeout_ms);
        self.run_limited_for(run, cancel, time).await
    }

    /// [`Self::run_limited`] with `time` instead of the manifest's limit (load-time `describe`).
    async fn run_limited_for<T>(
        &self,
        run: impl Future<Output = wasmtime::Result<T>>,
        cancel: Option<&tokio_util::sync::CancellationToken>,
        time: Duration,
    ) -> Result<T, CallError> {
        let timeout_ms = u64::try_from(time.as_millis()).unwrap_or(u64::MAX);
        let limited = tokio::time::timeout(time + TIMEOUT_GRACE, run);
        let outcome = match cancel {
            None => limited.await,
            Some(token) => tokio::select! {
                outcome = limited => outcome,
                () = token.cancelled() => return Err(CallError::Cancelled),
            },
        };
        match outcome {
            Err(_) => Err(CallError::Timeout(timeout_ms)),
            Ok(Err(e)) => Err(classify(e, &self.manifest, timeout_ms)),
            Ok(Ok(value)) => Ok(value),
        }
    }

    /// Keeps what both the manifest and the component name; refuses what the manifest lists but
    /// the component lacks; warns about (and does not serve) what is offered but not listed.
    fn reconcile(&mut self, offer: v0_2::warden::plugin::types::Offer) -> Result<Vec<String>, LoadError> {
        let mismatch = LoadError::Mismatch;
        let mut warnings = Vec::new();
        let unlisted = |kind: &str, name: &str, warnings: &mut Vec<String>, list: &mut Vec<String>| {
            warnings.push(format!(
                "{kind} {name:?} is offered by the component but not listed in the manifest, so it is not served"
            ));
            list.push(format!("{kind} {name:?}"));
        };
        let mut unlisted_names = Vec::new();

        let mut seen = BTreeSet::new();
        for spec in offer.tools {
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
                unlisted("tool", &spec.name, &mut warnings, &mut unlisted_names);
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
                name: self.manifest.served_name(&spec.name),
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
        missing("tool", &self.manifest.tools, &seen)?;

        let mut seen = BTreeSet::new();
        for spec in offer.resources {
            if !seen.insert(spec.uri.clone()) {
                return Err(mismatch(format!("the component describes resource {:?} twice", spec.uri)));
            }
            let Some(grant) = self.manifest.resources.get(&spec.uri).cloned() else {
                unlisted("resource", &spec.uri, &mut warnings, &mut unlisted_names);
                continue;
            };
            self.resources.push(ServedResource {
                uri: spec.uri,
                name: spec.name,
                title: spec.title,
                description: spec.description,
                mime_type: spec.mime_type,
                grant,
            });
        }
        missing("resource", &self.manifest.resources, &seen)?;

        let mut seen = BTreeSet::new();
        for spec in offer.resource_templates {
            if !seen.insert(spec.uri_template.clone()) {
                return Err(mismatch(format!(
                    "the component describes resource template {:?} twice",
                    spec.uri_template
                )));
            }
            let Some(grant) = self.manifest.resource_templates.get(&spec.uri_template).cloned() else {
                unlisted("resource template", &spec.uri_template, &mut warnings, &mut unlisted_names);
                continue;
            };
            let template = UriTemplate::parse(&spec.uri_template)
                .map_err(|e| mismatch(format!("resource template: {e}")))?;
            self.templates.push(ServedTemplate {
                template,
                name: spec.name,
                title: spec.title,
                description: spec.description,
                mime_type: spec.mime_type,
                grant,
            });
        }
        missing("resource template", &self.manifest.resource_templates, &seen)?;

        let mut seen = BTreeSet::new();
        for spec in offer.prompts {
            if !is_valid_tool_name(&spec.name) {
                return Err(mismatch(format!(
                    "the component describes a prompt named {:?}, which is not a valid name ([A-Za-z0-9_-], 1-64 characters)",
                    spec.name
                )));
            }
            if !seen.insert(spec.name.clone()) {
                return Err(mismatch(format!("the component describes prompt {:?} twice", spec.name)));
            }
            let Some(grant) = self.manifest.prompts.get(&spec.name).cloned() else {
                unlisted("prompt", &spec.name, &mut warnings, &mut unlisted_names);
                continue;
            };
            let mut argument_names = BTreeSet::new();
            for a in &spec.arguments {
                if a.name.is_empty() || !argument_names.insert(a.name.clone()) {
                    return Err(mismatch(format!(
                        "prompt {:?}: argument name {:?} is empty or repeated",
                        spec.name, a.name
                    )));
                }
            }
            self.prompts.push(ServedPrompt {
                name: self.manifest.served_name(&spec.name),
                local_name: spec.name,
                title: spec.title,
                description: spec.description,
                arguments: spec
                    .arguments
                    .into_iter()
                    .map(|a| PromptArgument {
                        name: a.name,
                        description: a.description,
                        required: a.required,
                    })
                    .collect(),
                grant,
            });
        }
        missing("prompt", &self.manifest.prompts, &seen)?;

        self.unlisted = unlisted_names;
        self.tools.sort_by(|a, b| a.name.cmp(&b.name));
        self.resources.sort_by(|a, b| a.uri.cmp(&b.uri));
        self.templates.sort_by(|a, b| a.template.as_str().cmp(b.template.as_str()));
        self.prompts.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(warnings)
    }

    /// A fresh store for one call, whose deadline is this plugin's timeout from now.
    fn new_store(&self, runtime: &Runtime) -> wasmtime::Result<Store<StoreState>> {
        self.new_store_for(runtime, Duration::from_millis(self.manifest.limits.timeout_ms))
    }

    /// A fresh store whose deadline is `time` from now.
    fn new_store_for(&self, runtime: &Runtime, time: Duration) -> wasmtime::Result<Store<StoreState>> {
        let limits = self.manifest.limits;
        let deadline = Instant::now() + time;
        let env = self.manifest.http.as_deref().map(CallHttp::environment).unwrap_or_default();
        let mut store = Store::new(
            &runtime.engine,
            StoreState::new(&self.manifest.name, limits.memory_bytes, deadline, &env),
        );
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

    /// Takes an instance slot and builds the store, lending the database when granted.
    async fn prepare(&self, runtime: &Runtime, caller: &Identity) -> Result<Prepared, CallError> {
        let slot = runtime.acquire_slot().await.ok_or(CallError::Busy)?;
        let mut store = self.new_store(runtime).map_err(|e| CallError::Internal(e.to_string()))?;
        let grant = match self.manifest.database {
            DatabaseAccess::None => None,
            DatabaseAccess::ReadOnly => Some(Grant::ReadOnly),
            DatabaseAccess::ReadWrite => Some(Grant::ReadWrite),
        };
        let deadline = store.data().deadline;
        let db = match grant {
            None => None,
            Some(grant) => {
                let namespace = self.manifest.namespace();
                let budget = self.manifest.database_budget;
                let session = runtime
                    .database
                    .as_ref()
                    .map(|db| db.session(&namespace, caller, grant, budget, deadline));
                Some(
                    store
                        .data_mut()
                        .lend_query_handle(session)
                        .map_err(|e| CallError::Internal(e.to_string()))?,
                )
            }
        };
        if let (Some(grant), Some(outbound)) = (&self.manifest.http, &runtime.outbound) {
            let call = outbound.call(
                grant.clone(),
                &self.manifest.namespace(),
                self.manifest.team.as_deref(),
                caller,
                deadline,
            );
            store.data_mut().lend_http(call);
        }
        Ok(Prepared { _slot: slot, store, db })
    }

    /// [`Self::prepare`] for a 0.2 request, also lending it the call context.
    async fn prepare_v0_2(&self, runtime: &Runtime, request: Request<'_>) -> Result<PreparedV0_2, CallError> {
        let mut p = self.prepare(runtime, request.caller).await?;
        let req = wit_request(&request, &request.input_responses);
        let cancel = request.events.cancel_token();
        let cx = p
            .store
            .data_mut()
            .lend_call_context(request.events)
            .map_err(|e| CallError::Internal(e.to_string()))?;
        Ok(PreparedV0_2 { p, req, cx, cancel })
    }

    /// Runs `tool` (local name) with already-validated `arguments_json` for `caller` in a fresh
    /// store: the first round, with no client features.
    pub async fn call(
        &self,
        runtime: &Runtime,
        tool: &str,
        arguments_json: String,
        caller: &Identity,
    ) -> Result<ToolOutput, CallError> {
        match self
            .call_tool(runtime, tool, arguments_json, Request::simple(caller, &self.manifest.name))
            .await?
        {
            Outcome::Complete(output) => Ok(output),
            Outcome::InputRequired(_) => Err(CallError::Unusable("the tool asked for client input".into())),
        }
    }

    /// Runs `tool` (local name) with already-validated `arguments_json` for `request`, in a
    /// fresh store with this plugin's limits.
    pub async fn call_tool(
        &self,
        runtime: &Runtime,
        tool: &str,
        arguments_json: String,
        request: Request<'_>,
    ) -> Result<Outcome<ToolOutput>, CallError> {
        let limit = self.manifest.limits.max_output_bytes;
        match &self.contract {
            Contract::V0_1(pre) => {
                let mut p = self.prepare(runtime, request.caller).await?;
                let identity = to_wit_identity(request.caller);
                let db = p.db();
                let cancel = request.events.cancel_token();
                let store = &mut p.store;
                let run = async {
                    let plugin = pre.instantiate_async(&mut *store).await?;
                    plugin
                        .warden_plugin_tools()
                        .call_call(&mut *store, tool, &arguments_json, &identity, db)
                        .await
                };
                let result = self.run_limited(run, Some(&cancel)).await;
                p.finish(matches!(result, Ok(Ok(_)))).await;
                match result? {
                    Ok(text) if text.len() > limit => {
                        Err(CallError::OutputTooLarge { size: text.len(), limit })
                    }
                    Ok(text) => Ok(Outcome::Complete(ToolOutput::Json(text))),
                    Err(e) => Err(CallError::Tool(match e {
                        v0_1::warden::plugin::types::ToolError::InvalidArguments(m) => {
                            ToolFailure::InvalidArguments(m)
                        }
                        v0_1::warden::plugin::types::ToolError::Forbidden(m) => ToolFailure::Forbidden(m),
                        v0_1::warden::plugin::types::ToolError::Failed(m) => ToolFailure::Failed(m),
                    })),
                }
            }
            Contract::V0_2(pre, exports) => {
                let exports = exports.as_ref().ok_or_else(not_described)?;
                let PreparedV0_2 { mut p, req: wit_req, cx, cancel } =
                    self.prepare_v0_2(runtime, request).await?;
                let db = p.db();
                let store = &mut p.store;
                let run = async {
                    let instance = pre.instance_pre().instantiate_async(&mut *store).await?;
                    let func = exports.func(&mut *store, &instance, Export::CallTool)?;
                    let cx = Resource::new_borrow(cx.rep());
                    let params = (tool, arguments_json.as_str(), &wit_req, cx, db);
                    let (out,) = typed::<CallToolParams<'_>, CallToolResults>(func)
                        .call_async(&mut *store, params)
                        .await?;
                    Ok(out)
                };
                let result = self.run_limited(run, Some(&cancel)).await;
                p.finish(matches!(result, Ok(Ok(_)))).await;
                use v0_2::warden::plugin::types::ToolOutcome;
                match result?.map_err(failure_v0_2)? {
                    ToolOutcome::Complete(r) => {
                        let r = convert::tool_result(r).map_err(CallError::Unusable)?;
                        Ok(Outcome::Complete(ToolOutput::Result(within_limit(r, limit)?)))
                    }
                    ToolOutcome::InputRequired(ir) => input_required(ir, limit),
                }
            }
        }
    }

    /// Reads `uri` (one of this plugin's resources or matching one of its templates).
    pub async fn read_resource(
        &self,
        runtime: &Runtime,
        uri: &str,
        request: Request<'_>,
    ) -> Result<Outcome<ReadOutput>, CallError> {
        let Contract::V0_2(pre, exports) = &self.contract else {
            return Err(CallError::Internal("a 0.1 plugin serves no resources".into()));
        };
        let exports = exports.as_ref().ok_or_else(not_described)?;
        let limit = self.manifest.limits.max_output_bytes;
        let PreparedV0_2 { mut p, req: wit_req, cx, cancel } = self.prepare_v0_2(runtime, request).await?;
        let db = p.db();
        let store = &mut p.store;
        let run = async {
            let instance = pre.instance_pre().instantiate_async(&mut *store).await?;
            let func = exports.func(&mut *store, &instance, Export::ReadResource)?;
            let cx = Resource::new_borrow(cx.rep());
            let (out,) = typed::<ReadParams<'_>, ReadResults>(func)
                .call_async(&mut *store, (uri, &wit_req, cx, db))
                .await?;
            Ok(out)
        };
        let result = self.run_limited(run, Some(&cancel)).await;
        p.finish(matches!(result, Ok(Ok(_)))).await;
        use v0_2::warden::plugin::types::ReadOutcome;
        match result?.map_err(failure_v0_2)? {
            ReadOutcome::Complete(contents) if contents.is_empty() => {
                Err(CallError::Unusable(format!("reading {uri:?} returned no contents")))
            }
            ReadOutcome::Complete(contents) => {
                let contents: Vec<_> = contents.into_iter().map(convert::resource_contents).collect();
                Ok(Outcome::Complete(within_limit(contents, limit)?))
            }
            ReadOutcome::InputRequired(ir) => input_required(ir, limit),
        }
    }

    /// Renders `prompt` (local name) with `arguments`.
    pub async fn get_prompt(
        &self,
        runtime: &Runtime,
        prompt: &str,
        arguments: Vec<(String, String)>,
        request: Request<'_>,
    ) -> Result<Outcome<PromptOutput>, CallError> {
        let Contract::V0_2(pre, exports) = &self.contract else {
            return Err(CallError::Internal("a 0.1 plugin serves no prompts".into()));
        };
        let exports = exports.as_ref().ok_or_else(not_described)?;
        let limit = self.manifest.limits.max_output_bytes;
        let PreparedV0_2 { mut p, req: wit_req, cx, cancel } = self.prepare_v0_2(runtime, request).await?;
        let db = p.db();
        let store = &mut p.store;
        let run = async {
            let instance = pre.instance_pre().instantiate_async(&mut *store).await?;
            let func = exports.func(&mut *store, &instance, Export::GetPrompt)?;
            let cx = Resource::new_borrow(cx.rep());
            let params = (prompt, arguments.as_slice(), &wit_req, cx, db);
            let (out,) =
                typed::<PromptParams<'_>, PromptResults>(func).call_async(&mut *store, params).await?;
            Ok(out)
        };
        let result = self.run_limited(run, Some(&cancel)).await;
        p.finish(matches!(result, Ok(Ok(_)))).await;
        use v0_2::warden::plugin::types::PromptOutcome;
        match result?.map_err(failure_v0_2)? {
            PromptOutcome::Complete(r) => {
                Ok(Outcome::Complete(within_limit(convert::prompt_result(r), limit)?))
            }
            PromptOutcome::InputRequired(ir) => input_required(ir, limit),
        }
    }

    /// Suggests values for `argument` of a prompt (local name) or resource template.
    pub async fn complete(
        &self,
        runtime: &Runtime,
        of: Completing<'_>,
        argument: &str,
        value: &str,
        context: Vec<(String, String)>,
        caller: &Identity,
    ) -> Result<CompletionInfo, CallError> {
        let Contract::V0_2(pre, exports) = &self.contract else {
            return Ok(CompletionInfo::default());
        };
        let exports = exports.as_ref().ok_or_else(not_described)?;
        let _slot = runtime.acquire_slot().await.ok_or(CallError::Busy)?;
        let mut store = self.new_store(runtime).map_err(|e| CallError::Internal(e.to_string()))?;
        use v0_2::warden::plugin::types::CompletionRef;
        let of = match of {
            Completing::Prompt(name) => CompletionRef::Prompt(name.to_owned()),
            Completing::Template(t) => CompletionRef::ResourceTemplate(t.to_owned()),
        };
        let identity = convert::identity(caller);
        let run = async {
            let instance = pre.instance_pre().instantiate_async(&mut store).await?;
            let func = exports.func(&mut store, &instance, Export::Complete)?;
            let params = (&of, argument, value, context.as_slice(), &identity);
            let (out,) =
                typed::<CompleteParams<'_>, CompleteResults>(func).call_async(&mut store, params).await?;
            Ok(out)
        };
        let c = self.run_limited(run, None).await?.map_err(failure_v0_2)?;
        let mut values = c.values;
        let cut = values.len() > CompletionInfo::MAX_VALUES;
        values.truncate(CompletionInfo::MAX_VALUES);
        let info = CompletionInfo::with_pagination(values, c.total, c.has_more || cut)
            .map_err(CallError::Unusable)?;
        within_limit(info, self.manifest.limits.max_output_bytes)
    }

    /// Finds a served tool by its local name.
    pub fn tool(&self, local_name: &str) -> Option<&ServedTool> {
        self.tools.iter().find(|t| t.local_name == local_name)
    }
}

/// What a completion is for.
#[derive(Debug, Clone, Copy)]
pub enum Completing<'a> {
    /// A prompt, by local name.
    Prompt(&'a str),
    /// A resource template, by its template text.
    Template(&'a str),
}

/// A 0.2 plugin asked to serve before `describe` checked its exports (cannot happen: loading
/// fails first).
fn not_described() -> CallError {
    CallError::Internal("the plugin's exports were not checked at load".into())
}

/// Refuses a manifest that lists `kind`s the component does not offer.
fn missing(
    kind: &str,
    listed: &BTreeMap<String, ToolGrant>,
    offered: &BTreeSet<String>,
) -> Result<(), LoadError> {
    let missing: Vec<String> =
        listed.keys().filter(|t| !offered.contains(*t)).map(|t| format!("{t:?}")).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(LoadError::Mismatch(format!(
        "the manifest lists {kind}(s) {} that the component does not offer; remove them from the manifest or rebuild the plugin",
        missing.join(", ")
    )))
}

/// Maps a wasmtime error from a guest call that ran under `timeout_ms` to a short, specific reason.
fn classify(e: wasmtime::Error, manifest: &Manifest, timeout_ms: u64) -> CallError {
    let limits = manifest.limits;
    if let Some(trap) = e.downcast_ref::<Trap>() {
        return match trap {
            Trap::Interrupt => CallError::Timeout(timeout_ms),
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

/// Tells which contract a component was built against; refuses anything else, naming it.
fn check_contract(
    component: &wasmtime::component::Component,
    engine: &wasmtime::Engine,
) -> Result<ContractVersion, LoadError> {
    let ty = component.component_type();
    let mut found: Vec<String> = Vec::new();
    for (name, item) in ty.exports(engine) {
        if name.starts_with("warden:plugin/") && matches!(item.ty, ComponentItem::ComponentInstance(_)) {
            found.push(name.to_owned());
        }
    }
    if found.iter().any(|n| contract_compatible(n, v0_2::EXPORT)) {
        return Ok(ContractVersion::V0_2);
    }
    if found.iter().any(|n| contract_compatible(n, v0_1::EXPORT)) {
        return Ok(ContractVersion::V0_1);
    }
    let wanted = format!("{} or {}", v0_2::EXPORT, v0_1::EXPORT);
    Err(LoadError::Contract(match found.first() {
        Some(other) => format!(
            "incompatible plugin contract: the component was built against {other}, but this host serves {wanted} \
             (rebuild the plugin with a warden-sdk that matches this host)"
        ),
        None => format!(
            "not a Warden plugin: the component exports no warden:plugin interface (this host expects {wanted}); \
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

fn to_wit_identity(id: &Identity) -> v0_1::warden::plugin::types::Identity {
    let d = id.data();
    v0_1::warden::plugin::types::Identity {
        subject: d.subject.clone(),
        issuer: d.issuer.clone(),
        username: d.username.clone(),
        email: d.email.clone(),
        client_id: d.client_id.clone(),
        scopes: d.scopes.clone(),
        permissions: d.permissions.clone(),
        claims_json: id.claims_json().to_string(),
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
        assert!(contract_compatible("warden:plugin/server@0.2.3", "warden:plugin/server@0.2.0"));
        assert!(!contract_compatible("warden:plugin/tools@0.2.0", "warden:plugin/server@0.2.0"));
    }
}
