//! Typed tool registration and the dispatch behind the exported `describe` / `call`.

use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};

use crate::bindings::warden::plugin::{database, types};
use crate::context::{Caller, Context};

/// Why a tool failed. Shown to the MCP client as a tool error (`isError: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// The arguments are well-formed but not acceptable.
    InvalidArguments(String),
    /// The caller may not do this.
    Forbidden(String),
    /// Anything else.
    Failed(String),
}

impl ToolError {
    /// Shorthand for [`ToolError::Failed`].
    pub fn failed(message: impl Into<String>) -> Self {
        ToolError::Failed(message.into())
    }
}

impl From<ToolError> for types::ToolError {
    fn from(e: ToolError) -> Self {
        match e {
            ToolError::InvalidArguments(m) => types::ToolError::InvalidArguments(m),
            ToolError::Forbidden(m) => types::ToolError::Forbidden(m),
            ToolError::Failed(m) => types::ToolError::Failed(m),
        }
    }
}

/// Argument type for tools that take no arguments.
#[derive(Debug, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

type Handler = Box<dyn Fn(&Context<'_>, &str) -> Result<String, ToolError>>;

/// Builds `(input schema, output schema)` as JSON text. Kept as a function pointer so the schemas
/// are generated only when the host asks (`describe`, once per load), never on the call path:
/// every call runs in a fresh instance that rebuilds the tool set.
type SchemaFn = fn() -> (String, Option<String>);

struct Tool {
    name: String,
    title: Option<String>,
    description: String,
    schemas: SchemaFn,
    handler: Handler,
}

fn schemas<A: JsonSchema, R: JsonSchema>() -> (String, Option<String>) {
    let input = schemars::schema_for!(A);
    let output = schemars::schema_for!(R);
    let is_object = output.get("type").and_then(|t| t.as_str()) == Some("object");
    (input.to_value().to_string(), is_object.then(|| output.to_value().to_string()))
}

/// The set of tools a plugin exports. Build it with [`Tools::new`] and [`Tools::tool`].
#[derive(Default)]
pub struct Tools {
    tools: Vec<Tool>,
}

impl Tools {
    /// An empty set.
    pub fn new() -> Self {
        Tools::default()
    }

    /// Adds a tool: `name` (`[A-Za-z0-9_-]`, the host namespaces it with the plugin name), a
    /// description for the model, and the function that implements it. The argument type's JSON
    /// Schema becomes the tool's input schema; a result type whose schema is an object also becomes
    /// the tool's output schema (structured content).
    pub fn tool<A, R, F>(mut self, name: &str, description: &str, function: F) -> Self
    where
        A: DeserializeOwned + JsonSchema,
        R: Serialize + JsonSchema,
        F: Fn(&Context<'_>, A) -> Result<R, ToolError> + 'static,
    {
        let handler: Handler = Box::new(move |cx, arguments_json| {
            let arguments: A = serde_json::from_str(arguments_json)
                .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
            let result = function(cx, arguments)?;
            serde_json::to_string(&result)
                .map_err(|e| ToolError::Failed(format!("could not serialize the result: {e}")))
        });
        self.tools.push(Tool {
            name: name.to_owned(),
            title: None,
            description: description.to_owned(),
            schemas: schemas::<A, R>,
            handler,
        });
        self
    }

    /// Sets a human-readable title on the tool added last.
    pub fn titled(mut self, title: &str) -> Self {
        if let Some(tool) = self.tools.last_mut() {
            tool.title = Some(title.to_owned());
        }
        self
    }
}

/// Implements the exported `describe`.
pub fn describe(tools: &Tools) -> Vec<types::ToolSpec> {
    tools
        .tools
        .iter()
        .map(|t| {
            let (input_schema, output_schema) = (t.schemas)();
            types::ToolSpec {
                name: t.name.clone(),
                title: t.title.clone(),
                description: t.description.clone(),
                input_schema,
                output_schema,
            }
        })
        .collect()
}

/// Implements the exported `call`.
pub fn call(
    tools: &Tools,
    tool: &str,
    arguments_json: &str,
    caller: types::Identity,
    db: Option<&database::QueryHandle>,
) -> Result<String, types::ToolError> {
    let found = tools.tools.iter().find(|t| t.name == tool);
    let Some(found) = found else {
        return Err(types::ToolError::Failed(format!("this plugin has no tool named {tool:?}")));
    };
    let cx = Context::new(Caller::from(caller), db);
    (found.handler)(&cx, arguments_json).map_err(Into::into)
}
