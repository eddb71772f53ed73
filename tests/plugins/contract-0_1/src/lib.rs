//! TEST FIXTURE: a plugin built against contract 0.1, proving the host still serves it.
//!
//! Written against the raw `warden:plugin@0.1.0` bindings (not the SDK, which follows the current
//! contract): `describe` lists the tools, `call` returns each result as JSON text.

wit_bindgen::generate!({ path: "../../../wit/0.1", world: "plugin" });

use exports::warden::plugin::tools::{Guest, Identity, QueryHandle, ToolError, ToolSpec};
use warden::plugin::log::{Level, log};

const GREET_INPUT: &str = r#"{"type":"object","properties":{"name":{"type":"string","description":"Who to greet."}},"required":["name"]}"#;
const NO_INPUT: &str = r#"{"type":"object","properties":{}}"#;
const WHOAMI_OUTPUT: &str = r#"{"type":"object","properties":{"subject":{"type":"string"},"issuer":{"type":"string"}},"required":["subject","issuer"]}"#;

struct Legacy;

impl Guest for Legacy {
    fn describe() -> Vec<ToolSpec> {
        vec![
            ToolSpec {
                name: "greet".to_owned(),
                title: Some("Greet".to_owned()),
                description: "Greets someone by name and names the caller".to_owned(),
                input_schema: GREET_INPUT.to_owned(),
                output_schema: None,
            },
            ToolSpec {
                name: "whoami".to_owned(),
                title: Some("Who am I?".to_owned()),
                description: "Returns the subject and issuer of the caller".to_owned(),
                input_schema: NO_INPUT.to_owned(),
                output_schema: Some(WHOAMI_OUTPUT.to_owned()),
            },
        ]
    }

    fn call(
        tool: String,
        arguments_json: String,
        caller: Identity,
        _db: Option<&QueryHandle>,
    ) -> Result<String, ToolError> {
        log(Level::Debug, &format!("legacy plugin: {tool}"));
        match tool.as_str() {
            "greet" => {
                let arguments: serde_json::Value = serde_json::from_str(&arguments_json)
                    .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
                let name = arguments
                    .get("name")
                    .and_then(serde_json::Value::as_str)
                    .ok_or_else(|| ToolError::InvalidArguments("name must be a string".to_owned()))?
                    .trim();
                if name.is_empty() {
                    return Err(ToolError::InvalidArguments("name must not be empty".to_owned()));
                }
                let greeting = format!("Hello, {name}! You are {}.", caller.subject);
                Ok(serde_json::Value::String(greeting).to_string())
            }
            "whoami" => {
                Ok(serde_json::json!({"subject": caller.subject, "issuer": caller.issuer}).to_string())
            }
            other => Err(ToolError::Failed(format!("this plugin has no tool named {other:?}"))),
        }
    }
}

export!(Legacy);
