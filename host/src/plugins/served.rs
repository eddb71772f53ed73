//! What a loaded plugin serves: its tools, resources, resource templates and prompts, each
//! listed in the manifest and described by the component, with what a caller must hold.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::manifest::ToolGrant;
use super::uri_template::UriTemplate;

/// A tool the plugin serves: listed in its manifest and described by the component.
pub struct ServedTool {
    /// Local name within the plugin.
    pub local_name: String,
    /// Name served over MCP: `<plugin>.<tool>` (or the local name with `bare_names`).
    pub name: String,
    /// Human-readable title.
    pub title: Option<String>,
    /// Description for the model.
    pub description: String,
    /// JSON Schema of the arguments (an object schema).
    pub input_schema: Arc<Map<String, Value>>,
    /// JSON Schema of the structured result.
    pub output_schema: Option<Arc<Map<String, Value>>>,
    /// What the caller must hold.
    pub grant: ToolGrant,
    pub(super) input_validator: jsonschema::Validator,
    pub(super) output_validator: Option<jsonschema::Validator>,
}

impl ServedTool {
    /// Checks `arguments` against the input schema; the error names the offending field.
    pub fn check_arguments(&self, arguments: &Value) -> Result<(), SchemaViolation> {
        first_error(&self.input_validator, arguments)
    }

    /// Checks a structured result against the output schema, if there is one.
    pub fn check_output(&self, output: &Value) -> Result<(), SchemaViolation> {
        match &self.output_validator {
            Some(v) => first_error(v, output),
            None => Ok(()),
        }
    }
}

/// A fixed-URI resource the plugin serves.
#[derive(Debug, Clone)]
pub struct ServedResource {
    /// The URI.
    pub uri: String,
    /// A short name.
    pub name: String,
    /// Human-readable title.
    pub title: Option<String>,
    /// What it holds.
    pub description: Option<String>,
    /// Media type, if known.
    pub mime_type: Option<String>,
    /// What the caller must hold.
    pub grant: ToolGrant,
}

/// A resource template the plugin serves.
#[derive(Debug, Clone)]
pub struct ServedTemplate {
    /// The parsed template.
    pub template: UriTemplate,
    /// A short name.
    pub name: String,
    /// Human-readable title.
    pub title: Option<String>,
    /// What it holds.
    pub description: Option<String>,
    /// Media type, if uniform.
    pub mime_type: Option<String>,
    /// What the caller must hold.
    pub grant: ToolGrant,
}

/// One argument of a served prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptArgument {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Whether it must be given.
    pub required: bool,
}

/// A prompt the plugin serves.
#[derive(Debug, Clone)]
pub struct ServedPrompt {
    /// Local name within the plugin.
    pub local_name: String,
    /// Name served over MCP (namespaced like tools).
    pub name: String,
    /// Human-readable title.
    pub title: Option<String>,
    /// What it is for.
    pub description: String,
    /// Its arguments.
    pub arguments: Vec<PromptArgument>,
    /// What the caller must hold.
    pub grant: ToolGrant,
}

/// A value that breaks a tool's schema, naming where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {reason}")]
pub struct SchemaViolation {
    /// `field /path/to/it`, or `the arguments` for the value as a whole.
    pub at: String,
    /// What the schema says is wrong.
    pub reason: String,
}

/// Why a schema a component describes is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The text is JSON, but not an object.
    #[error("is not a JSON object")]
    NotAnObject,
    /// The text is not JSON.
    #[error("is not valid JSON: {0}")]
    NotJson(String),
    /// The object is not a JSON Schema the validator can compile.
    #[error("is not a usable JSON Schema: {0}")]
    Unusable(String),
}

fn first_error(validator: &jsonschema::Validator, value: &Value) -> Result<(), SchemaViolation> {
    match validator.iter_errors(value).next() {
        None => Ok(()),
        Some(e) => {
            let path = e.instance_path().to_string();
            let at = if path.is_empty() { "the arguments".to_owned() } else { format!("field {path}") };
            Err(SchemaViolation { at, reason: e.to_string() })
        }
    }
}

/// Parses schema text into a JSON object.
pub(super) fn parse_schema(text: &str) -> Result<Map<String, Value>, SchemaError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(SchemaError::NotAnObject),
        Err(e) => Err(SchemaError::NotJson(e.to_string())),
    }
}

/// Compiles a JSON Schema.
pub(super) fn compile_schema(schema: &Map<String, Value>) -> Result<jsonschema::Validator, SchemaError> {
    jsonschema::validator_for(&Value::Object(schema.clone()))
        .map_err(|e| SchemaError::Unusable(e.to_string()))
}
