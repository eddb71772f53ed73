//! The MCP server (rmcp `ServerHandler`): lists what the live plugins serve (tools, resources,
//! resource templates, prompts) to callers allowed to see it, and runs each request in a fresh
//! sandboxed instance of its plugin.
//!
//! One room per MCP feature: `tools`, `resources`, `prompts` (with completion), `subscriptions`
//! (list-changed notifications); `rounds` drives input-required results and forwards progress
//! and log notifications; `request_state` seals what a plugin keeps between rounds; `stateless`
//! is Warden's own dispatch of the hot request (a plain 2026-07-28 `tools/call`).

// MCP logging is deprecated (SEP-2577) but still part of the 2026-07-28 protocol.
#![allow(deprecated)]

mod prompts;
mod request_state;
mod resources;
mod results;
mod rounds;
pub(crate) mod stateless;
mod subscriptions;
mod tools;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult, ErrorData,
    GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig, SetLevelRequestParams,
    SubscriptionFilter,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{RoleServer, ServerHandler};

pub(crate) use request_state::RequestStates;

use crate::plugins::manifest::ToolGrant;
use crate::plugins::{ContractVersion, LoadedPlugin, Registry, Runtime};
use crate::shared::{DatabaseAccess, Identity};
use crate::teams::Teams;
use crate::telemetry::{AuditEvent, Telemetry};

/// How long clients may cache list and read results (they depend on the caller, so `private`).
const CACHE_TTL_MS: u64 = 0;

/// What every MCP session shares.
pub(crate) struct McpState {
    /// Live plugins.
    pub registry: Arc<Registry>,
    /// The engine that runs them.
    pub runtime: Arc<Runtime>,
    /// Entries per list page.
    pub page_size: usize,
    /// Hide and refuse what the caller lacks the scopes for (every auth mode but `none`).
    pub enforce_scopes: bool,
    /// Team membership rules.
    pub teams: Teams,
    /// Audit log and metrics.
    pub telemetry: Telemetry,
    /// Plugin requests running now (graceful shutdown waits for these).
    pub in_flight: AtomicUsize,
    /// `POST /mcp` requests received and not yet answered in full, counted by the HTTP layer from
    /// the moment a request arrives until its response body is sent or dropped: graceful shutdown
    /// waits for these too, so a call that has not reached its plugin yet, or whose answer is
    /// still being written, is not cut.
    pub posts_in_flight: AtomicUsize,
    /// Sealing of `requestState` between input-required rounds.
    pub request_states: RequestStates,
}

/// Counts one running request in [`McpState::in_flight`] until dropped.
struct Running<'a>(&'a AtomicUsize);

impl<'a> Running<'a> {
    fn start(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Running(counter)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl McpState {
    /// True if `caller` may see and use something of `plugin` that requires `grant`: a member of
    /// the plugin's team (or it is shared) and holding the scopes.
    pub(crate) fn admits(&self, caller: &Identity, plugin: &LoadedPlugin, grant: &ToolGrant) -> bool {
        self.teams.admits(caller, plugin.manifest.team.as_deref()) && self.holds(caller, grant)
    }

    /// True if `caller` holds every scope `grant` requires (or scopes are not enforced).
    fn holds(&self, caller: &Identity, grant: &ToolGrant) -> bool {
        !self.enforce_scopes || caller.missing_scopes(&grant.scopes).is_empty()
    }

    /// The database user a request of `plugin` by `caller` acts as, for the audit log.
    fn database_user(&self, caller: &Identity, plugin: &LoadedPlugin) -> Option<String> {
        if plugin.manifest.database == DatabaseAccess::None {
            return None;
        }
        self.runtime.database().and_then(|db| db.acting_user(caller))
    }

    /// What the live plugins offer, for the capabilities Warden declares.
    fn offers(&self) -> Offers {
        let snapshot = self.registry.snapshot();
        let mut offers = Offers::default();
        for plugin in snapshot.plugins().values() {
            offers.prompts |= !plugin.prompts.is_empty();
            offers.resources |= !plugin.resources.is_empty() || !plugin.templates.is_empty();
            offers.v0_2 |= plugin.contract_version() == ContractVersion::V0_2;
        }
        offers
    }
}

/// Which optional features some live plugin offers.
#[derive(Debug, Clone, Copy, Default)]
struct Offers {
    prompts: bool,
    resources: bool,
    v0_2: bool,
}

/// An audit event about `caller` using `what` (a tool, a prompt or a resource URI).
fn event(event: &'static str, outcome: &'static str, caller: &Identity, what: &str) -> AuditEvent {
    AuditEvent { tool: Some(what.to_owned()), ..AuditEvent::by(event, outcome, caller) }
}

/// One MCP session's handler (one per request on the stateless protocol). Cheap: it holds the
/// shared state and the session's log level.
#[derive(Clone)]
pub(crate) struct WardenMcp {
    state: Arc<McpState>,
    /// The level a 2025-11-25 session set with `logging/setLevel` (`None`: no log messages).
    session_log_level: Arc<Mutex<Option<LoggingLevel>>>,
}

impl WardenMcp {
    /// A handler over `state`.
    pub(crate) fn new(state: Arc<McpState>) -> Self {
        WardenMcp { state, session_log_level: Arc::new(Mutex::new(None)) }
    }

    /// The minimum log level this request's client asked for.
    fn log_level(&self, context: &RequestContext<RoleServer>) -> Option<LoggingLevel> {
        if rounds::is_stateless(context) {
            context.meta.log_level()
        } else {
            *self.session_log_level.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }
}

/// The verified caller the HTTP layer attached to this request.
fn caller(context: &RequestContext<RoleServer>) -> Result<Identity, ErrorData> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Identity>())
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("request reached the MCP handler without an identity", None))
}

/// A list cursor: `after:<last key of the previous page>`.
const CURSOR_PREFIX: &str = "after:";

/// The key after which a list page starts.
fn page_start(request: Option<PaginatedRequestParams>) -> Result<Option<String>, ErrorData> {
    match request.and_then(|r| r.cursor) {
        None => Ok(None),
        Some(c) => match c.strip_prefix(CURSOR_PREFIX) {
            Some(key) => Ok(Some(key.to_owned())),
            None => Err(ErrorData::invalid_params(format!("invalid cursor {c:?}"), None)),
        },
    }
}

/// Cuts `items` (already after the cursor, in key order) to one page; the cursor for the next.
fn paginate<T>(mut items: Vec<T>, page_size: usize, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    if items.len() > page_size {
        items.truncate(page_size);
        let next = items.last().map(|t| format!("{CURSOR_PREFIX}{}", key(t)));
        return (items, next);
    }
    (items, None)
}

impl ServerHandler for WardenMcp {
    fn get_info(&self) -> ServerConfig {
        let offers = self.state.offers();
        let mut caps = ServerCapabilities::builder().enable_tools().enable_tool_list_changed().build();
        if offers.prompts {
            caps.prompts =
                ServerCapabilities::builder().enable_prompts().enable_prompts_list_changed().build().prompts;
        }
        if offers.resources {
            caps.resources = ServerCapabilities::builder()
                .enable_resources()
                .enable_resources_list_changed()
                .build()
                .resources;
        }
        if offers.prompts || offers.resources {
            caps.completions = ServerCapabilities::builder().enable_completions().build().completions;
        }
        if offers.v0_2 {
            caps.logging = ServerCapabilities::builder().enable_logging().build().logging;
        }
        ServerConfig::new(caps)
            .with_server_info(Implementation::new("warden", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Tools and prompts are served as <plugin>.<name>; each request runs in its own WebAssembly sandbox.",
            )
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        tools::list(&self.state, request, &caller(&context)?)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let _running = Running::start(&self.state.in_flight);
        let caller = caller(&context)?;
        tools::call(&self.state, request, rounds::Scope::of(&context), &caller, self.log_level(&context))
            .await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        resources::list(&self.state, request, &caller(&context)?)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        resources::list_templates(&self.state, request, &caller(&context)?)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let _running = Running::start(&self.state.in_flight);
        let caller = caller(&context)?;
        resources::read(&self.state, request, rounds::Scope::of(&context), &caller, self.log_level(&context))
            .await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        prompts::list(&self.state, request, &caller(&context)?)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let _running = Running::start(&self.state.in_flight);
        let caller = caller(&context)?;
        prompts::get(&self.state, request, rounds::Scope::of(&context), &caller, self.log_level(&context))
            .await
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let _running = Running::start(&self.state.in_flight);
        prompts::complete(&self.state, request, &caller(&context)?).await
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if rounds::is_stateless(&context) {
            // 2026-07-28 removed logging/setLevel: the level comes with each request's _meta.
            return Err(ErrorData::method_not_found::<rmcp::model::SetLevelRequestMethod>());
        }
        *self.session_log_level.lock().unwrap_or_else(PoisonError::into_inner) = Some(request.level);
        Ok(())
    }

    fn accepted_subscription_filter(&self, requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        Some(subscriptions::accepted(requested))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        subscriptions::listen(&self.state, context).await
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        subscriptions::notify_session(self.state.clone(), context);
    }
}
