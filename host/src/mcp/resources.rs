//! `resources/list`, `resources/templates/list` and `resources/read`.

use std::time::Instant;

use rmcp::model::{
    CacheScope, ErrorData, ListResourceTemplatesResult, ListResourcesResult, LoggingLevel,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceTemplate,
};
use serde_json::json;

use super::request_state::Binding;
use super::rounds::{self, Ended, Failed, Round, Scope};
use super::{CACHE_TTL_MS, McpState, event, page_start, paginate};
use crate::plugins::{CallError, ToolFailure};
use crate::shared::Identity;

/// The answer to a read of a URI that does not exist or that the caller may not see: the same
/// in both cases, so nothing confirms another team's resources exist. -32002 on 2025-11-25;
/// rmcp answers 2026-07-28 requests with -32602 instead, as that revision asks. `data.uri`
/// names the URI.
fn not_found(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(format!("resource not found: {uri}"), Some(json!({ "uri": uri })))
}

/// Refuses resource methods when no plugin offers resources (the capability is not declared).
fn offered(state: &McpState) -> Result<(), ErrorData> {
    if state.offers().resources {
        Ok(())
    } else {
        Err(ErrorData::method_not_found::<rmcp::model::ListResourcesRequestMethod>())
    }
}

/// `resources/list`: the fixed-URI resources `caller` may read, one page.
// rmcp result types are `#[non_exhaustive]`: no struct literals outside rmcp.
#[allow(clippy::field_reassign_with_default)]
pub(super) fn list(
    state: &McpState,
    request: Option<PaginatedRequestParams>,
    caller: &Identity,
) -> Result<ListResourcesResult, ErrorData> {
    offered(state)?;
    let after = page_start(request)?;
    let snapshot = state.registry.snapshot();
    let visible: Vec<Resource> = snapshot
        .resources()
        .filter(|r| after.as_deref().is_none_or(|a| r.resource().uri.as_str() > a))
        .filter(|r| state.admits(caller, &r.plugin, &r.resource().grant))
        .take(state.page_size + 1)
        .map(|r| {
            let s = r.resource();
            let mut out = Resource::new(s.uri.clone(), s.name.clone());
            if let Some(t) = &s.title {
                out = out.with_title(t.clone());
            }
            if let Some(d) = &s.description {
                out = out.with_description(d.clone());
            }
            if let Some(m) = &s.mime_type {
                out = out.with_mime_type(m.clone());
            }
            out
        })
        .collect();
    let (resources, next_cursor) = paginate(visible, state.page_size, |r| r.uri.clone());
    let mut result = ListResourcesResult::default();
    result.resources = resources;
    result.next_cursor = next_cursor;
    result.ttl_ms = Some(CACHE_TTL_MS);
    result.cache_scope = Some(CacheScope::Private);
    Ok(result)
}

/// `resources/templates/list`: the templates `caller` may read through, one page.
// rmcp result types are `#[non_exhaustive]`: no struct literals outside rmcp.
#[allow(clippy::field_reassign_with_default)]
pub(super) fn list_templates(
    state: &McpState,
    request: Option<PaginatedRequestParams>,
    caller: &Identity,
) -> Result<ListResourceTemplatesResult, ErrorData> {
    offered(state)?;
    let after = page_start(request)?;
    let snapshot = state.registry.snapshot();
    let mut visible: Vec<ResourceTemplate> = snapshot
        .templates()
        .filter(|t| state.admits(caller, &t.plugin, &t.template().grant))
        .map(|t| {
            let s = t.template();
            let mut out = ResourceTemplate::new(s.template.as_str(), s.name.clone());
            if let Some(x) = &s.title {
                out = out.with_title(x.clone());
            }
            if let Some(d) = &s.description {
                out = out.with_description(d.clone());
            }
            if let Some(m) = &s.mime_type {
                out = out.with_mime_type(m.clone());
            }
            out
        })
        .collect();
    visible.sort_by(|a, b| a.uri_template.cmp(&b.uri_template));
    visible.retain(|t| after.as_deref().is_none_or(|a| t.uri_template.as_str() > a));
    let (templates, next_cursor) = paginate(visible, state.page_size, |t| t.uri_template.clone());
    let mut result = ListResourceTemplatesResult::default();
    result.resource_templates = templates;
    result.next_cursor = next_cursor;
    result.ttl_ms = Some(CACHE_TTL_MS);
    result.cache_scope = Some(CacheScope::Private);
    Ok(result)
}

/// `resources/read`: runs the owning plugin's `read-resource` in a fresh instance.
pub(super) async fn read(
    state: &McpState,
    request: ReadResourceRequestParams,
    scope: Scope<'_>,
    caller: &Identity,
    log_level: Option<LoggingLevel>,
) -> Result<ReadResourceResponse, ErrorData> {
    let uri = request.uri.clone();
    let telemetry = &state.telemetry;
    let routed = state.registry.snapshot().route_resource(&uri, |p, g| state.admits(caller, p, g));
    let Some((plugin, served)) = routed else {
        // Not the URI: a template's variables may be argument values.
        let mut e = event("resource.refused", "refused", caller, "(unknown)");
        e.reason = Some("unknown resource, or not visible to the caller".into());
        telemetry.audit.record(&e);
        return Err(not_found(&uri));
    };
    let started = Instant::now();
    let round = Round {
        scope,
        caller,
        plugin: &plugin.manifest.name,
        binding: Binding {
            method: "resources/read",
            name: &uri,
            arguments: None,
            caller,
            plugin_sha256: &plugin.sha256,
        },
        states: &state.request_states,
        log_level,
    };
    let runtime = &state.runtime;
    let ended = rounds::run(round, request.input_responses, request.request_state, |req| {
        plugin.read_resource(runtime, &uri, req)
    })
    .await;
    let (response, outcome) = match ended {
        Ok(Ended::Complete(contents)) => (
            Ok(ReadResourceResult::new(contents)
                .with_ttl_ms(CACHE_TTL_MS)
                .with_cache_scope(CacheScope::Private)
                .into()),
            "ok",
        ),
        Ok(Ended::InputRequired(ir)) => (Ok(ReadResourceResponse::InputRequired(ir)), "input_required"),
        Err(Failed::Call(CallError::Tool(ToolFailure::NotFound(_)))) => (Err(not_found(&uri)), "not_found"),
        Err(Failed::Call(CallError::Tool(ToolFailure::MissingCapabilities(m)))) => {
            (Err(rounds::missing_capability(m)), "refused")
        }
        Err(Failed::Call(e)) => {
            let outcome = if matches!(e, CallError::Cancelled) { "cancelled" } else { "error" };
            (Err(ErrorData::internal_error(format!("reading {uri} failed: {e}"), None)), outcome)
        }
        Err(Failed::Protocol(e)) => (Err(e), "refused"),
    };
    // The fixed URI or the template that matched, never the requested URI's variable parts.
    let mut e = event("resource.read", outcome, caller, &served);
    e.team = plugin.manifest.team.clone();
    e.plugin = Some(plugin.manifest.namespace());
    e.plugin_sha256 = Some(plugin.sha256.clone());
    e.db_user = state.database_user(caller, &plugin);
    e.duration_ms = Some(started.elapsed().as_secs_f64() * 1e3);
    telemetry.audit.record(&e);
    response
}
