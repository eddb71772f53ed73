//! Contract 0.2's records to and from the MCP model types (rmcp), so the MCP layer never sees
//! WIT types. Anything a plugin returns that the protocol cannot carry is an error naming it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rmcp::model::{
    CallToolResult, ContentBlock, GetPromptResult, InputRequest, PromptMessage, Resource, ResourceContents,
    Role,
};
use serde_json::{Value, json};

use super::bindings::v0_2::warden::plugin::types as wit;
use super::request::{ClientCaps, InputNeeded};
use crate::shared::Identity;

/// The caller as a 0.2 record.
pub(super) fn identity(id: &Identity) -> wit::Identity {
    let d = id.data();
    wit::Identity {
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

/// Client capabilities as WIT flags.
pub(super) fn caps_to_wit(caps: ClientCaps) -> wit::ClientCapabilities {
    let mut flags = wit::ClientCapabilities::empty();
    if caps.elicitation {
        flags |= wit::ClientCapabilities::ELICITATION;
    }
    if caps.sampling {
        flags |= wit::ClientCapabilities::SAMPLING;
    }
    if caps.roots {
        flags |= wit::ClientCapabilities::ROOTS;
    }
    flags
}

/// WIT flags as client capabilities.
pub(super) fn caps_from_wit(flags: wit::ClientCapabilities) -> ClientCaps {
    let has = |f: wit::ClientCapabilities| (flags & f) == f;
    ClientCaps {
        elicitation: has(wit::ClientCapabilities::ELICITATION),
        sampling: has(wit::ClientCapabilities::SAMPLING),
        roots: has(wit::ClientCapabilities::ROOTS),
    }
}

fn role(r: wit::Role) -> Role {
    match r {
        wit::Role::User => Role::User,
        wit::Role::Assistant => Role::Assistant,
    }
}

/// One resource's contents.
pub(super) fn resource_contents(c: wit::ResourceContents) -> ResourceContents {
    let contents = match c.body {
        wit::ResourceBody::Text(text) => {
            ResourceContents::TextResourceContents { uri: c.uri, mime_type: None, text, meta: None }
        }
        wit::ResourceBody::Blob(bytes) => ResourceContents::blob(BASE64.encode(bytes), c.uri),
    };
    match c.mime_type {
        Some(m) => contents.with_mime_type(m),
        None => contents,
    }
}

/// One content block.
pub(super) fn content(c: wit::Content) -> ContentBlock {
    match c {
        wit::Content::Text(text) => ContentBlock::text(text),
        wit::Content::Image(m) => ContentBlock::image(BASE64.encode(m.data), m.mime_type),
        wit::Content::Audio(m) => ContentBlock::audio(BASE64.encode(m.data), m.mime_type),
        wit::Content::ResourceLink(link) => {
            let mut r = Resource::new(link.uri, link.name);
            if let Some(t) = link.title {
                r = r.with_title(t);
            }
            if let Some(d) = link.description {
                r = r.with_description(d);
            }
            if let Some(m) = link.mime_type {
                r = r.with_mime_type(m);
            }
            ContentBlock::resource_link(r)
        }
        wit::Content::Embedded(contents) => ContentBlock::resource(resource_contents(contents)),
    }
}

/// A tool result; its structured content must be JSON.
pub(super) fn tool_result(r: wit::ToolResult) -> Result<CallToolResult, String> {
    let blocks: Vec<ContentBlock> = r.content.into_iter().map(content).collect();
    let structured = match r.structured_json {
        None => None,
        Some(text) => Some(
            serde_json::from_str::<Value>(&text)
                .map_err(|e| format!("structured content is not JSON: {e}"))?,
        ),
    };
    let mut result = if r.is_error { CallToolResult::error(blocks) } else { CallToolResult::success(blocks) };
    result.structured_content = structured;
    Ok(result)
}

/// A rendered prompt.
pub(super) fn prompt_result(r: wit::PromptResult) -> GetPromptResult {
    let mut result = GetPromptResult::default();
    result.description = r.description;
    result.messages =
        r.messages.into_iter().map(|m| PromptMessage::new(role(m.role), content(m.content))).collect();
    result
}

/// The JSON-RPC shape (`{method, params}`) of one input request.
fn input_request_json(r: wit::InputRequest) -> Result<Value, String> {
    Ok(match r {
        wit::InputRequest::Elicitation(e) => {
            let schema: Value = serde_json::from_str(&e.requested_schema)
                .map_err(|err| format!("the elicitation's requested schema is not JSON: {err}"))?;
            json!({ "method": "elicitation/create", "params": {
                "mode": "form", "message": e.message, "requestedSchema": schema } })
        }
        wit::InputRequest::Sampling(s) => {
            let messages: Vec<Value> = s
                .messages
                .into_iter()
                .map(|m| {
                    let content = serde_json::to_value(content(m.content)).unwrap_or(Value::Null);
                    json!({ "role": role(m.role), "content": content })
                })
                .collect();
            let mut params = json!({ "messages": messages, "maxTokens": s.max_tokens });
            if let (Some(p), Some(obj)) = (s.system_prompt, params.as_object_mut()) {
                obj.insert("systemPrompt".into(), Value::String(p));
            }
            json!({ "method": "sampling/createMessage", "params": params })
        }
        wit::InputRequest::Roots => json!({ "method": "roots/list" }),
    })
}

/// "I need input first", checked against the protocol's request types.
pub(super) fn input_needed(r: wit::InputRequired) -> Result<InputNeeded, String> {
    let mut requests = Vec::with_capacity(r.requests.len());
    let mut seen = std::collections::BTreeSet::new();
    for (key, request) in r.requests {
        if key.is_empty() || key.len() > 128 || !seen.insert(key.clone()) {
            return Err(format!("input request key {key:?} is empty, longer than 128 bytes, or repeated"));
        }
        let value = input_request_json(request)?;
        let parsed: InputRequest = serde_json::from_value(value)
            .map_err(|e| format!("input request {key:?} is not a valid MCP request: {e}"))?;
        requests.push((key, parsed));
    }
    if requests.is_empty() && r.state.is_none() {
        return Err("an input-required outcome must hold at least one request or a state".into());
    }
    Ok(InputNeeded { requests, state: r.state })
}
