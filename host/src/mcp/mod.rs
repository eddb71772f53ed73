//! The MCP server (rmcp `ServerHandler`): lists the live tools and calls them in their plugins.

mod results;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{RoleServer, ServerHandler};
use serde_json::Value;

use crate::plugins::{Registry, Runtime, ToolRef};
use crate::shared::DatabaseAccess;
use crate::shared::Identity;
use crate::teams::Teams;
use crate::telemetry::{AuditEvent, Telemetry};

/// How often an idle list-changed notifier checks whether its session is gone.
const NOTIFIER_LIVENESS_CHECK: Duration = Duration::from_secs(30);
/// Prefix of `tools/list` cursors (the rest is the last tool name of the previous page).
const CURSOR_PREFIX: &str = "after:";

/// What every MCP session shares.
pub(crate) struct McpState {
    /// Live plugins.
    pub registry: Arc<Registry>,
    /// The engine that runs them.
    pub runtime: Arc<Runtime>,
    /// Tools per `tools/list` page.
    pub page_size: usize,
    /// Hide and refuse tools whose scopes the caller lacks (every auth mode but `none`).
    pub enforce_scopes: bool,
    /// Team membership rules.
    pub teams: Teams,
    /// Audit log and metrics.
    pub telemetry: Telemetry,
    /// Tool calls running now (graceful shutdown waits for these).
    pub in_flight: AtomicUsize,
}

/// Counts one running call in [`McpState::in_flight`] until dropped.
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
    /// True if `caller` may see and call `tool`: a member of its team (or it is shared) and
    /// holding its scopes.
    pub(crate) fn may_use(&self, caller: &Identity, tool: &ToolRef) -> bool {
        self.teams.admits(caller, tool.plugin.manifest.team.as_deref()) && self.holds_scopes(caller, tool)
    }

    /// True if `caller` holds every scope `tool` requires (or scopes are not enforced).
    fn holds_scopes(&self, caller: &Identity, tool: &ToolRef) -> bool {
        !self.enforce_scopes || caller.missing_scopes(&tool.tool().grant.scopes).is_empty()
    }

    /// The database user a call of `tool` by `caller` acts as, for the audit log.
    fn database_user(&self, caller: &Identity, tool: &ToolRef) -> Option<String> {
        if tool.plugin.manifest.database == DatabaseAccess::None {
            return None;
        }
        self.runtime.database().and_then(|db| db.acting_user(caller))
    }
}

/// An audit event about `caller` calling `tool`.
fn call_event(event: &'static str, outcome: &'static str, caller: &Identity, tool: &str) -> AuditEvent {
    AuditEvent { tool: Some(tool.to_owned()), ..AuditEvent::by(event, outcome, caller) }
}

/// One MCP session's handler. Cheap: it only holds the shared state.
#[derive(Clone)]
pub(crate) struct WardenMcp {
    state: Arc<McpState>,
}

impl WardenMcp {
    /// A handler over `state`.
    pub(crate) fn new(state: Arc<McpState>) -> Self {
        WardenMcp { state }
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

fn to_mcp_tool(t: &ToolRef) -> Tool {
    let served = t.tool();
    let mut tool = Tool::new(served.name.clone(), served.description.clone(), served.input_schema.clone());
    if let Some(title) = &served.title {
        tool = tool.with_title(title.clone());
    }
    if let Some(output) = &served.output_schema {
        tool = tool.with_raw_output_schema(output.clone());
    }
    tool
}

impl ServerHandler for WardenMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_tool_list_changed().build())
            .with_server_info(Implementation::new("warden", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Tools are served as <plugin>.<tool>; each runs in its own WebAssembly sandbox.",
            )
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = caller(&context)?;
        let after = match request.and_then(|r| r.cursor) {
            None => None,
            Some(c) => match c.strip_prefix(CURSOR_PREFIX) {
                Some(name) => Some(name.to_owned()),
                None => return Err(ErrorData::invalid_params(format!("invalid cursor {c:?}"), None)),
            },
        };
        let snapshot = self.state.registry.snapshot();
        let mut page: Vec<Tool> = snapshot
            .tools()
            .filter(|t| after.as_deref().is_none_or(|a| t.tool().name.as_str() > a))
            .filter(|t| self.state.may_use(&caller, t))
            .take(self.state.page_size + 1)
            .map(|t| to_mcp_tool(&t))
            .collect();
        let mut result = ListToolsResult::default();
        if page.len() > self.state.page_size {
            page.truncate(self.state.page_size);
            result.next_cursor = page.last().map(|t| format!("{CURSOR_PREFIX}{}", t.name));
        }
        result.tools = page;
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let _running = Running::start(&self.state.in_flight);
        let caller = caller(&context)?;
        let telemetry = &self.state.telemetry;
        let snapshot = self.state.registry.snapshot();
        let unknown = || ErrorData::invalid_params(format!("unknown tool: {:?}", request.name), None);
        let Some(tool_ref) = snapshot.tool(&request.name) else {
            let mut e = call_event("tool.refused", "refused", &caller, &request.name);
            e.reason = Some("unknown tool".into());
            telemetry.audit.record(&e);
            return Err(unknown());
        };
        drop(snapshot);
        let tool = tool_ref.tool();
        let team = tool_ref.plugin.manifest.team.clone();
        if !self.state.teams.admits(&caller, team.as_deref()) {
            // Answered exactly like an unknown tool: another team's tools are not even confirmed
            // to exist.
            let mut e = call_event("tool.refused", "refused", &caller, &tool.name);
            e.team = team;
            e.reason = Some("the caller is not a member of the tool's team".into());
            telemetry.audit.record(&e);
            telemetry.metrics.tool_call(&tool.name, "refused", None);
            return Err(unknown());
        }
        if !self.state.holds_scopes(&caller, &tool_ref) {
            // The HTTP layer answers this with 403 and a step-up challenge first; this is the
            // backstop for any path that reaches the handler without passing it.
            let mut e = call_event("tool.refused", "refused", &caller, &tool.name);
            e.team = team;
            e.reason = Some(format!("insufficient scope: needs {}", tool.grant.scopes.join(" ")));
            telemetry.audit.record(&e);
            telemetry.metrics.tool_call(&tool.name, "refused", None);
            return Err(ErrorData::invalid_request(
                format!("insufficient scope: {} needs {}", tool.name, tool.grant.scopes.join(" ")),
                None,
            ));
        }
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let argument_names: Vec<String> =
            arguments.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        if let Err(problem) = tool.check_arguments(&arguments) {
            let mut e = call_event("tool.refused", "invalid_arguments", &caller, &tool.name);
            e.team = team;
            e.arguments = Some(argument_names);
            // Not the validator's message: it may quote an argument value.
            e.reason = Some("the arguments do not match the tool's input schema".into());
            telemetry.audit.record(&e);
            telemetry.metrics.tool_call(&tool.name, "invalid_arguments", None);
            // MCP 2025-11-25: input validation errors are tool errors, so the model can correct itself.
            return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                "invalid arguments for {}: {problem}",
                tool.name
            ))])
            .into());
        }
        let started = Instant::now();
        let outcome =
            tool_ref.plugin.call(&self.state.runtime, &tool.local_name, arguments.to_string(), &caller).await;
        let elapsed = started.elapsed().as_secs_f64();
        // Host-side reasons only: a plugin's own error text may echo argument values.
        let failure = outcome.as_ref().err().map(|e| match e {
            crate::plugins::CallError::Tool(_) => "the tool reported an error".to_owned(),
            other => other.to_string(),
        });
        let busy = matches!(outcome, Err(crate::plugins::CallError::Busy));
        let result = results::to_call_result(tool, outcome);
        let failed = result.is_error == Some(true);
        let outcome = match (busy, failed) {
            (true, _) => "busy",
            (false, true) => "error",
            (false, false) => "ok",
        };
        tracing::info!(
            tool = %tool.name,
            plugin_sha256 = %tool_ref.plugin.sha256,
            subject = %caller.data().subject,
            outcome,
            duration_ms = elapsed * 1e3,
            "tool called"
        );
        telemetry.metrics.tool_call(&tool.name, outcome, Some(elapsed));
        let mut e = call_event("tool.called", outcome, &caller, &tool.name);
        e.team = team;
        e.plugin = Some(tool_ref.plugin.manifest.namespace());
        e.plugin_sha256 = Some(tool_ref.plugin.sha256.clone());
        e.db_user = self.state.database_user(&caller, &tool_ref);
        e.arguments = Some(argument_names);
        e.reason = failure;
        e.duration_ms = Some(elapsed * 1e3);
        telemetry.audit.record(&e);
        Ok(result.into())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let mut changes = self.state.registry.subscribe();
        let peer = context.peer;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = changes.changed() => {
                        if changed.is_err() || peer.notify_tool_list_changed().await.is_err() {
                            return;
                        }
                    }
                    () = tokio::time::sleep(NOTIFIER_LIVENESS_CHECK) => {
                        if peer.is_transport_closed() {
                            return;
                        }
                    }
                }
            }
        });
    }
}
