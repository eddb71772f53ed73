//! Turns a plugin's outcome into an MCP `CallToolResult`.

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::Value;

use crate::plugins::{CallError, ServedTool};

/// Builds the MCP result for `tool` from what the plugin returned.
///
/// A JSON string becomes text content; an object becomes structured content (with its JSON as
/// text for older clients); a tool with an output schema must match it. Every failure becomes a
/// tool error (`isError: true`) with a short reason, never a protocol error.
pub(super) fn to_call_result(tool: &ServedTool, outcome: Result<String, CallError>) -> CallToolResult {
    let text = match outcome {
        Ok(text) => text,
        Err(e) => {
            tracing::warn!(tool = %tool.name, reason = %e, "tool call failed");
            return error(format!("{} failed: {e}", tool.name));
        }
    };
    let value: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return error(format!("{} returned malformed JSON: {e}", tool.name)),
    };
    if let Err(problem) = tool.check_output(&value) {
        return error(format!(
            "{} returned a result that does not match its output schema: {problem}",
            tool.name
        ));
    }
    match value {
        Value::String(s) if tool.output_schema.is_none() => {
            CallToolResult::success(vec![ContentBlock::text(s)])
        }
        Value::Object(_) => CallToolResult::structured(value),
        other if tool.output_schema.is_some() => CallToolResult::structured(other),
        other => CallToolResult::success(vec![ContentBlock::text(other.to_string())]),
    }
}

fn error(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}
