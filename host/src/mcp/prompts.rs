//! `prompts/list`, `prompts/get` and `completion/complete`.

use std::time::Instant;

use rmcp::model::{
    CompleteRequestParams, CompleteResult, ErrorData, GetPromptRequestParams, GetPromptResponse,
    ListPromptsResult, LoggingLevel, PaginatedRequestParams, Prompt, PromptArgument, Reference,
};
use serde_json::Value;

use super::request_state::Binding;
use super::rounds::{self, Ended, Failed, Round, Scope};
use super::{McpState, event, page_start, paginate};
use crate::plugins::{CallError, Completing, ToolFailure};
use crate::shared::Identity;

fn unknown(name: &str) -> ErrorData {
    ErrorData::invalid_params(format!("unknown prompt: {name:?}"), None)
}

/// `prompts/list`: the prompts `caller` may use, one page.
// rmcp result types are `#[non_exhaustive]`: no struct literals outside rmcp.
#[allow(clippy::field_reassign_with_default)]
pub(super) fn list(
    state: &McpState,
    request: Option<PaginatedRequestParams>,
    caller: &Identity,
) -> Result<ListPromptsResult, ErrorData> {
    if !state.offers().prompts {
        return Err(ErrorData::method_not_found::<rmcp::model::ListPromptsRequestMethod>());
    }
    let after = page_start(request)?;
    let snapshot = state.registry.snapshot();
    let visible: Vec<Prompt> = snapshot
        .prompts()
        .filter(|p| after.as_deref().is_none_or(|a| p.prompt().name.as_str() > a))
        .filter(|p| state.admits(caller, &p.plugin, &p.prompt().grant))
        .take(state.page_size + 1)
        .map(|p| {
            let s = p.prompt();
            let arguments = s
                .arguments
                .iter()
                .map(|a| {
                    let mut arg = PromptArgument::new(a.name.clone()).with_required(a.required);
                    if let Some(d) = &a.description {
                        arg = arg.with_description(d.clone());
                    }
                    arg
                })
                .collect::<Vec<_>>();
            let mut prompt = Prompt::new(s.name.clone(), Some(s.description.clone()), Some(arguments));
            if let Some(t) = &s.title {
                prompt = prompt.with_title(t.clone());
            }
            prompt
        })
        .collect();
    let (prompts, next_cursor) = paginate(visible, state.page_size, |p| p.name.clone());
    let mut result = ListPromptsResult::default();
    result.prompts = prompts;
    result.next_cursor = next_cursor;
    result.ttl_ms = Some(super::CACHE_TTL_MS);
    result.cache_scope = Some(rmcp::model::CacheScope::Private);
    Ok(result)
}

/// `prompts/get`: renders the prompt in a fresh instance of its plugin.
pub(super) async fn get(
    state: &McpState,
    request: GetPromptRequestParams,
    scope: Scope<'_>,
    caller: &Identity,
    log_level: Option<LoggingLevel>,
) -> Result<GetPromptResponse, ErrorData> {
    let telemetry = &state.telemetry;
    let found = state
        .registry
        .snapshot()
        .prompt(&request.name)
        .filter(|p| state.admits(caller, &p.plugin, &p.prompt().grant));
    let Some(prompt_ref) = found else {
        // Unknown and not visible are answered alike.
        let mut e = event("prompt.refused", "refused", caller, &request.name);
        e.reason = Some("unknown prompt, or not visible to the caller".into());
        telemetry.audit.record(&e);
        return Err(unknown(&request.name));
    };
    let prompt = prompt_ref.prompt();
    let plugin = &prompt_ref.plugin;
    let raw = request.arguments.clone().unwrap_or_default();
    let mut arguments = Vec::with_capacity(raw.len());
    for (name, value) in &raw {
        let text = match value {
            Value::String(s) => s.clone(),
            _ => {
                return Err(ErrorData::invalid_params(
                    format!("prompt argument {name:?} must be a string"),
                    None,
                ));
            }
        };
        arguments.push((name.clone(), text));
    }
    if let Some(missing) = prompt.arguments.iter().find(|a| a.required && !raw.contains_key(&a.name)) {
        return Err(ErrorData::invalid_params(
            format!("prompt {} needs argument {:?}", prompt.name, missing.name),
            None,
        ));
    }
    let started = Instant::now();
    let bound = Value::Object(raw);
    let round = Round {
        scope,
        caller,
        plugin: &plugin.manifest.name,
        binding: Binding {
            method: "prompts/get",
            name: &prompt.name,
            arguments: Some(&bound),
            caller,
            plugin_sha256: &plugin.sha256,
        },
        states: &state.request_states,
        log_level,
    };
    let runtime = &state.runtime;
    let ended = rounds::run(round, request.input_responses, request.request_state, |req| {
        plugin.get_prompt(runtime, &prompt.local_name, arguments.clone(), req)
    })
    .await;
    let (response, outcome) = match ended {
        Ok(Ended::Complete(result)) => (Ok(result.into()), "ok"),
        Ok(Ended::InputRequired(ir)) => (Ok(GetPromptResponse::InputRequired(ir)), "input_required"),
        Err(Failed::Call(CallError::Tool(ToolFailure::NotFound(m)))) => {
            (Err(ErrorData::invalid_params(format!("prompt {}: {m}", prompt.name), None)), "not_found")
        }
        Err(Failed::Call(CallError::Tool(ToolFailure::InvalidArguments(m)))) => (
            Err(ErrorData::invalid_params(format!("prompt {}: {m}", prompt.name), None)),
            "invalid_arguments",
        ),
        Err(Failed::Call(CallError::Tool(ToolFailure::MissingCapabilities(m)))) => {
            (Err(rounds::missing_capability(m)), "refused")
        }
        Err(Failed::Call(e)) => {
            let outcome = if matches!(e, CallError::Cancelled) { "cancelled" } else { "error" };
            (Err(ErrorData::internal_error(format!("prompt {} failed: {e}", prompt.name), None)), outcome)
        }
        Err(Failed::Protocol(e)) => (Err(e), "refused"),
    };
    let mut e = event("prompt.got", outcome, caller, &prompt.name);
    e.team = plugin.manifest.team.clone();
    e.plugin = Some(plugin.manifest.namespace());
    e.plugin_sha256 = Some(plugin.sha256.clone());
    e.db_user = state.database_user(caller, plugin);
    e.arguments = Some(arguments.iter().map(|(k, _)| k.clone()).collect());
    e.duration_ms = Some(started.elapsed().as_secs_f64() * 1e3);
    telemetry.audit.record(&e);
    response
}

/// `completion/complete` for a prompt argument or a resource-template variable.
// rmcp result types are `#[non_exhaustive]`: no struct literals outside rmcp.
#[allow(clippy::field_reassign_with_default)]
pub(super) async fn complete(
    state: &McpState,
    request: CompleteRequestParams,
    caller: &Identity,
) -> Result<CompleteResult, ErrorData> {
    let snapshot = state.registry.snapshot();
    let context: Vec<(String, String)> =
        request.context.and_then(|c| c.arguments).map(|args| args.into_iter().collect()).unwrap_or_default();
    let (argument, value) = (request.argument.name, request.argument.value);
    let info = match &request.r#ref {
        Reference::Prompt(p) => {
            let found =
                snapshot.prompt(&p.name).filter(|r| state.admits(caller, &r.plugin, &r.prompt().grant));
            let Some(r) = found else { return Err(unknown(&p.name)) };
            let of = Completing::Prompt(&r.prompt().local_name);
            r.plugin.complete(&state.runtime, of, &argument, &value, context, caller).await
        }
        Reference::Resource(t) => {
            let found = snapshot.templates().find(|r| {
                r.template().template.as_str() == t.uri
                    && state.admits(caller, &r.plugin, &r.template().grant)
            });
            let Some(r) = found else {
                return Err(ErrorData::invalid_params(
                    format!("unknown resource template: {:?}", t.uri),
                    None,
                ));
            };
            let of = Completing::Template(r.template().template.as_str());
            r.plugin.complete(&state.runtime, of, &argument, &value, context, caller).await
        }
        _ => return Err(ErrorData::invalid_params("unsupported completion reference", None)),
    };
    let info = info.map_err(|e| match e {
        CallError::Tool(ToolFailure::NotFound(m) | ToolFailure::InvalidArguments(m)) => {
            ErrorData::invalid_params(m, None)
        }
        other => ErrorData::internal_error(format!("completion failed: {other}"), None),
    })?;
    let mut result = CompleteResult::default();
    result.completion = info;
    Ok(result)
}
