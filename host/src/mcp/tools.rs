//! `tools/list` and `tools/call`.

use std::time::Instant;

use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    ListToolsResult, LoggingLevel, PaginatedRequestParams, Tool,
};
use serde_json::Value;

use super::request_state::Binding;
use super::rounds::{self, Ended, Failed, Round, Scope};
use super::{CACHE_TTL_MS, McpState, event, page_start, paginate, results};
use crate::plugins::{CallError, ToolFailure, ToolRef};
use crate::shared::Identity;

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

/// `tools/list`: the tools `caller` may use, one page.
// rmcp result types are `#[non_exhaustive]`: no struct literals outside rmcp.
#[allow(clippy::field_reassign_with_default)]
pub(super) fn list(
    state: &McpState,
    request: Option<PaginatedRequestParams>,
    caller: &Identity,
) -> Result<ListToolsResult, ErrorData> {
    let after = page_start(request)?;
    let snapshot = state.registry.snapshot();
    let visible: Vec<Tool> = snapshot
        .tools()
        .filter(|t| after.as_deref().is_none_or(|a| t.tool().name.as_str() > a))
        .filter(|t| state.admits(caller, &t.plugin, &t.tool().grant))
        .take(state.page_size + 1)
        .map(|t| to_mcp_tool(&t))
        .collect();
    let (tools, next_cursor) = paginate(visible, state.page_size, |t| t.name.to_string());
    let mut result = ListToolsResult::default();
    result.tools = tools;
    result.next_cursor = next_cursor;
    result.ttl_ms = Some(CACHE_TTL_MS);
    result.cache_scope = Some(CacheScope::Private);
    Ok(result)
}

/// `tools/call`: checks, then runs the tool in a fresh instance (over as many input rounds as it
/// needs), and audits the outcome.
pub(super) async fn call(
    state: &McpState,
    request: CallToolRequestParams,
    scope: Scope<'_>,
    caller: &Identity,
    log_level: Option<LoggingLevel>,
) -> Result<CallToolResponse, ErrorData> {
    let telemetry = &state.telemetry;
    let unknown = || ErrorData::invalid_params(format!("unknown tool: {:?}", request.name), None);
    let Some(tool_ref) = state.registry.snapshot().tool(&request.name) else {
        let mut e = event("tool.refused", "refused", caller, &request.name);
        e.reason = Some("unknown tool".into());
        telemetry.audit.record(&e);
        return Err(unknown());
    };
    let tool = tool_ref.tool();
    let plugin = &tool_ref.plugin;
    let team = plugin.manifest.team.clone();
    if !state.teams.admits(caller, team.as_deref()) {
        // Answered exactly like an unknown tool: another team's tools are not even confirmed
        // to exist.
        let mut e = event("tool.refused", "refused", caller, &tool.name);
        e.team = team;
        e.reason = Some("the caller is not a member of the tool's team".into());
        telemetry.audit.record(&e);
        telemetry.metrics.tool_call(&tool.name, "refused", None);
        return Err(unknown());
    }
    if !state.holds(caller, &tool.grant) {
        // The HTTP layer answers this with 403 and a step-up challenge first; this is the
        // backstop for any path that reaches the handler without passing it.
        let mut e = event("tool.refused", "refused", caller, &tool.name);
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
        let mut e = event("tool.refused", "invalid_arguments", caller, &tool.name);
        e.team = team;
        e.arguments = Some(argument_names);
        // Not the validator's message: it may quote an argument value.
        e.reason = Some("the arguments do not match the tool's input schema".into());
        telemetry.audit.record(&e);
        telemetry.metrics.tool_call(&tool.name, "invalid_arguments", None);
        // Input validation errors are tool errors, so the model can correct itself.
        return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
            "invalid arguments for {}: {problem}",
            tool.name
        ))])
        .into());
    }
    let started = Instant::now();
    let round = Round {
        scope,
        caller,
        plugin: &plugin.manifest.name,
        binding: Binding {
            method: "tools/call",
            name: &tool.name,
            arguments: Some(&arguments),
            caller,
            plugin_sha256: &plugin.sha256,
        },
        states: &state.request_states,
        log_level,
    };
    let arguments_json = arguments.to_string();
    let runtime = &state.runtime;
    let ended = rounds::run(round, request.input_responses, request.request_state, |req| {
        plugin.call_tool(runtime, &tool.local_name, arguments_json.clone(), req)
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();

    let (response, outcome, reason) = match ended {
        Ok(Ended::Complete(output)) => {
            let result = results::to_call_result(tool, Ok(output));
            let outcome = if result.is_error == Some(true) { "error" } else { "ok" };
            (Ok(result.into()), outcome, None)
        }
        Ok(Ended::InputRequired(ir)) => (Ok(CallToolResponse::InputRequired(ir)), "input_required", None),
        Err(Failed::Call(CallError::Tool(ToolFailure::MissingCapabilities(missing)))) => (
            Err(rounds::missing_capability(missing)),
            "refused",
            Some("the client lacks a capability the tool needs".to_owned()),
        ),
        Err(Failed::Call(e)) => {
            let outcome = match e {
                CallError::Busy => "busy",
                CallError::Cancelled => "cancelled",
                _ => "error",
            };
            // Host-side reasons only: a plugin's own error text may echo argument values.
            let reason = match &e {
                CallError::Tool(_) => "the tool reported an error".to_owned(),
                other => other.to_string(),
            };
            (Ok(results::to_call_result(tool, Err(e)).into()), outcome, Some(reason))
        }
        Err(Failed::Protocol(e)) => {
            let reason = e.message.to_string();
            (Err(e), "refused", Some(reason))
        }
    };
    tracing::info!(
        tool = %tool.name,
        plugin_sha256 = %plugin.sha256,
        subject = %caller.data().subject,
        outcome,
        duration_ms = elapsed * 1e3,
        "tool called"
    );
    telemetry.metrics.tool_call(&tool.name, outcome, Some(elapsed));
    let mut e =
        event(if outcome == "refused" { "tool.refused" } else { "tool.called" }, outcome, caller, &tool.name);
    e.team = team;
    e.plugin = Some(plugin.manifest.namespace());
    e.plugin_sha256 = Some(plugin.sha256.clone());
    e.db_user = state.database_user(caller, plugin);
    e.arguments = Some(argument_names);
    e.reason = reason;
    e.duration_ms = Some(elapsed * 1e3);
    telemetry.audit.record(&e);
    response
}
