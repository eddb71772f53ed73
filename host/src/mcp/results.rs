//! Turns a plugin's tool outcome into an MCP `CallToolResult`.

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::Value;

use crate::plugins::{CallError, ServedTool, ToolOutput};

/// Builds the MCP result for `tool` from what the plugin returned.
///
/// 0.1 JSON text: a JSON string becomes text content; an object becomes structured content (with
/// its JSON as text for older clients). 0.2 results keep their content blocks. Either way a tool
/// with an output schema must match it. Every failure becomes a tool error (`isError: true`)
/// with a short reason, never a protocol error.
pub(super) fn to_call_result(tool: &ServedTool, outcome: Result<ToolOutput, CallError>) -> CallToolResult {
    let output = match outcome {
        Ok(output) => output,
        Err(e) => {
            tracing::warn!(tool = %tool.name, reason = %e, "tool call failed");
            return error(format!("{} failed: {e}", tool.name));
        }
    };
    match output {
        ToolOutput::Json(text) => from_json_text(tool, &text),
        ToolOutput::Result(result) => {
            if result.is_error != Some(true) {
                match (&result.structured_content, &tool.output_schema) {
                    (None, Some(_)) => {
                        return error(format!(
                            "{} declares an output schema but returned no structured content",
                            tool.name
                        ));
                    }
                    (Some(value), _) => {
                        if let Err(problem) = tool.check_output(value) {
                            return error(format!(
                                "{} returned a result that does not match its output schema: {problem}",
                                tool.name
                            ));
                        }
                    }
                    (None, None) => {}
                }
            }
            result
        }
    }
}

fn from_json_text(tool: &ServedTool, text: &str) -> CallToolResult {
    let value: Value = match serde_json::from_str(text) {
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
