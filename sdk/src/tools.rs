//! Typed registration of tools, resources, prompts and completions, and the dispatch behind the
//! exported `server` interface.

use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};

use crate::bindings::warden::plugin::context::CallContext;
use crate::bindings::warden::plugin::{database, types};
use crate::content::{PromptResult, ResourceBody, ToolResult};
use crate::context::{Caller, Context};
use crate::error::ToolError;
use crate::template;

/// Argument type for tools that take no arguments.
#[derive(Debug, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Named string values: a resource template's variables or a prompt's arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: Vec<(String, String)>,
}

impl Params {
    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The value of `name`, or an `InvalidArguments` error naming it.
    pub fn require(&self, name: &str) -> Result<&str, ToolError> {
        self.get(name).ok_or_else(|| ToolError::InvalidArguments(format!("missing argument {name:?}")))
    }

    /// Every `(name, value)` pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

impl From<Vec<(String, String)>> for Params {
    fn from(values: Vec<(String, String)>) -> Self {
        Params { values }
    }
}

/// One argument of a prompt, for [`Tools::prompt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptArg<'a> {
    /// Its name.
    pub name: &'a str,
    /// What it is for (empty for none).
    pub description: &'a str,
    /// Whether the prompt needs it.
    pub required: bool,
}

impl<'a> PromptArg<'a> {
    /// An argument the prompt cannot do without.
    pub const fn required(name: &'a str, description: &'a str) -> Self {
        PromptArg { name, description, required: true }
    }

    /// An argument the prompt can do without.
    pub const fn optional(name: &'a str, description: &'a str) -> Self {
        PromptArg { name, description, required: false }
    }
}

/// What a completion handler is asked: suggest values for `argument`, which the user has
/// typed as far as `value`.
#[derive(Debug, Clone)]
pub struct CompletionRequest {
    /// Who is asking.
    pub caller: Caller,
    /// The argument (or template variable) being completed.
    pub argument: String,
    /// What the user has typed so far.
    pub value: String,
    /// Values already given for the other arguments.
    pub context: Params,
}

impl CompletionRequest {
    /// The candidates that start with what the user has typed.
    pub fn matching(&self, candidates: &[&str]) -> Vec<String> {
        candidates.iter().filter(|c| c.starts_with(self.value.as_str())).map(|c| (*c).to_owned()).collect()
    }
}

type ToolHandler = Box<dyn Fn(&Context<'_>, &str) -> Result<ToolResult, ToolError>>;
type ResourceHandler = Box<dyn Fn(&Context<'_>) -> Result<ResourceBody, ToolError>>;
type TemplateHandler = Box<dyn Fn(&Context<'_>, &Params) -> Result<ResourceBody, ToolError>>;
type PromptHandler = Box<dyn Fn(&Context<'_>, &Params) -> Result<PromptResult, ToolError>>;
type CompletionHandler = Box<dyn Fn(&CompletionRequest) -> Result<Vec<String>, ToolError>>;

/// Builds `(input schema, output schema)` as JSON text. Kept as a function pointer so the schemas
/// are generated only when the host asks (`describe`, once per load), never on the call path:
/// every call runs in a fresh instance that rebuilds the set.
type SchemaFn = fn() -> (String, Option<String>);

struct Tool {
    name: String,
    title: Option<String>,
    description: String,
    schemas: SchemaFn,
    handler: ToolHandler,
}

struct Resource {
    uri: String,
    name: String,
    title: Option<String>,
    description: Option<String>,
    mime_type: Option<String>,
    handler: ResourceHandler,
}

struct Template {
    uri_template: String,
    name: String,
    title: Option<String>,
    description: Option<String>,
    mime_type: Option<String>,
    handler: TemplateHandler,
}

struct Prompt {
    name: String,
    title: Option<String>,
    description: String,
    arguments: Vec<types::PromptArgument>,
    handler: PromptHandler,
}

#[derive(Clone, PartialEq, Eq)]
enum Completes {
    Prompt(String),
    Template(String),
}

struct Completer {
    of: Completes,
    argument: String,
    handler: CompletionHandler,
}

/// What was added last (the target of [`Tools::titled`] and [`Tools::completion`]).
#[derive(Clone, Copy)]
enum Last {
    Nothing,
    Tool,
    Resource,
    Template,
    Prompt,
}

fn schemas<A: JsonSchema, R: JsonSchema>() -> (String, Option<String>) {
    let input = schemars::schema_for!(A);
    let output = schemars::schema_for!(R);
    let is_object = output.get("type").and_then(|t| t.as_str()) == Some("object");
    (input.to_value().to_string(), is_object.then(|| output.to_value().to_string()))
}

fn input_schema_only<A: JsonSchema>() -> (String, Option<String>) {
    (schemars::schema_for!(A).to_value().to_string(), None)
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn parse_arguments<A: DeserializeOwned>(arguments_json: &str) -> Result<A, ToolError> {
    // A call without arguments is a call with no arguments.
    let json = match arguments_json.trim() {
        "" | "null" => "{}",
        other => other,
    };
    serde_json::from_str(json).map_err(|e| ToolError::InvalidArguments(e.to_string()))
}

/// The result of a [`Tools::tool`] function as MCP content: a string becomes one text block, an
/// object becomes structured content (with its JSON text as a text block), anything else
/// becomes its JSON text.
fn to_tool_result(value: serde_json::Value) -> ToolResult {
    match value {
        serde_json::Value::String(s) => ToolResult::text(s),
        serde_json::Value::Object(_) => ToolResult::structured(value),
        other => ToolResult::text(other.to_string()),
    }
}

/// Everything a plugin exports: tools, resources, resource templates, prompts and completions.
/// Build it with [`Tools::new`] and the methods below, then hand it to [`crate::export_tools!`].
pub struct Tools {
    tools: Vec<Tool>,
    resources: Vec<Resource>,
    templates: Vec<Template>,
    prompts: Vec<Prompt>,
    completers: Vec<Completer>,
    last: Last,
}

impl Default for Tools {
    fn default() -> Self {
        Tools {
            tools: Vec::new(),
            resources: Vec::new(),
            templates: Vec::new(),
            prompts: Vec::new(),
            completers: Vec::new(),
            last: Last::Nothing,
        }
    }
}

impl Tools {
    /// An empty set.
    pub fn new() -> Self {
        Tools::default()
    }

    /// Adds a tool: `name` (`[A-Za-z0-9_-]`, the host namespaces it with the plugin name), a
    /// description for the model, and the function that implements it. The argument type's JSON
    /// Schema becomes the tool's input schema; a result type whose schema is an object also becomes
    /// the tool's output schema (structured content). A `String` result is one text block.
    pub fn tool<A, R, F>(self, name: &str, description: &str, function: F) -> Self
    where
        A: DeserializeOwned + JsonSchema,
        R: Serialize + JsonSchema,
        F: Fn(&Context<'_>, A) -> Result<R, ToolError> + 'static,
    {
        let handler: ToolHandler = Box::new(move |cx, arguments_json| {
            let result = function(cx, parse_arguments(arguments_json)?)?;
            let value = serde_json::to_value(&result)
                .map_err(|e| ToolError::Failed(format!("could not serialize the result: {e}")))?;
            Ok(to_tool_result(value))
        });
        self.push_tool(name, description, schemas::<A, R>, handler)
    }

    /// Adds a tool that builds its own [`ToolResult`]: images, audio, resources, links, several
    /// blocks, structured content, `isError`. It has no output schema.
    pub fn tool_with_content<A, F>(self, name: &str, description: &str, function: F) -> Self
    where
        A: DeserializeOwned + JsonSchema,
        F: Fn(&Context<'_>, A) -> Result<ToolResult, ToolError> + 'static,
    {
        let handler: ToolHandler =
            Box::new(move |cx, arguments_json| function(cx, parse_arguments(arguments_json)?));
        self.push_tool(name, description, input_schema_only::<A>, handler)
    }

    fn push_tool(mut self, name: &str, description: &str, schemas: SchemaFn, handler: ToolHandler) -> Self {
        self.tools.push(Tool {
            name: name.to_owned(),
            title: None,
            description: description.to_owned(),
            schemas,
            handler,
        });
        self.last = Last::Tool;
        self
    }

    /// Adds a resource with a fixed URI: its URI, a short name, a description and a media type
    /// (each may be empty), and the function that reads it.
    pub fn resource<F>(
        mut self,
        uri: &str,
        name: &str,
        description: &str,
        mime_type: &str,
        function: F,
    ) -> Self
    where
        F: Fn(&Context<'_>) -> Result<ResourceBody, ToolError> + 'static,
    {
        self.resources.push(Resource {
            uri: uri.to_owned(),
            name: name.to_owned(),
            title: None,
            description: non_empty(description),
            mime_type: non_empty(mime_type),
            handler: Box::new(function),
        });
        self.last = Last::Resource;
        self
    }

    /// Adds a family of resources: an RFC 6570 level-1 URI template such as
    /// `docs://{team}/{page}`. The SDK matches a URI against it (each `{name}` matches one
    /// non-empty run of characters without `/`; the host uses the same rule) and hands the
    /// function the variables.
    pub fn resource_template<F>(
        mut self,
        uri_template: &str,
        name: &str,
        description: &str,
        mime_type: &str,
        function: F,
    ) -> Self
    where
        F: Fn(&Context<'_>, &Params) -> Result<ResourceBody, ToolError> + 'static,
    {
        self.templates.push(Template {
            uri_template: uri_template.to_owned(),
            name: name.to_owned(),
            title: None,
            description: non_empty(description),
            mime_type: non_empty(mime_type),
            handler: Box::new(function),
        });
        self.last = Last::Template;
        self
    }

    /// Adds a prompt: its name (`[A-Za-z0-9_-]`, namespaced by the host like tools), a
    /// description, its arguments, and the function that renders it. Required arguments are
    /// checked before the function runs.
    pub fn prompt<F>(
        mut self,
        name: &str,
        description: &str,
        arguments: &[PromptArg<'_>],
        function: F,
    ) -> Self
    where
        F: Fn(&Context<'_>, &Params) -> Result<PromptResult, ToolError> + 'static,
    {
        self.prompts.push(Prompt {
            name: name.to_owned(),
            title: None,
            description: description.to_owned(),
            arguments: arguments
                .iter()
                .map(|a| types::PromptArgument {
                    name: a.name.to_owned(),
                    description: non_empty(a.description),
                    required: a.required,
                })
                .collect(),
            handler: Box::new(function),
        });
        self.last = Last::Prompt;
        self
    }

    /// Sets a human-readable title on the tool, resource, template or prompt added last.
    pub fn titled(mut self, title: &str) -> Self {
        let slot = match self.last {
            Last::Nothing => None,
            Last::Tool => self.tools.last_mut().map(|t| &mut t.title),
            Last::Resource => self.resources.last_mut().map(|r| &mut r.title),
            Last::Template => self.templates.last_mut().map(|t| &mut t.title),
            Last::Prompt => self.prompts.last_mut().map(|p| &mut p.title),
        };
        if let Some(slot) = slot {
            *slot = Some(title.to_owned());
        }
        self
    }

    /// Suggests values for `argument` of the prompt or resource template added last. Arguments
    /// without a completion get an empty list.
    ///
    /// # Panics
    /// If the item added last is not a prompt or resource template (a mistake in the plugin that
    /// shows as soon as the host loads it).
    pub fn completion<F>(mut self, argument: &str, function: F) -> Self
    where
        F: Fn(&CompletionRequest) -> Result<Vec<String>, ToolError> + 'static,
    {
        let of = match self.last {
            Last::Prompt => self.prompts.last().map(|p| Completes::Prompt(p.name.clone())),
            Last::Template => self.templates.last().map(|t| Completes::Template(t.uri_template.clone())),
            Last::Nothing | Last::Tool | Last::Resource => None,
        };
        let Some(of) = of else {
            panic!("Tools::completion({argument:?}) must follow a prompt() or resource_template()");
        };
        self.completers.push(Completer { of, argument: argument.to_owned(), handler: Box::new(function) });
        self
    }
}

/// A handler's result, with the input it asked for turned into an input-required outcome.
enum Outcome<T> {
    Complete(T),
    InputRequired(types::InputRequired),
}

fn finish<T>(cx: &Context<'_>, result: Result<T, ToolError>) -> Result<Outcome<T>, types::PluginError> {
    match result {
        Ok(value) => Ok(Outcome::Complete(value)),
        Err(ToolError::InputRequired) => match cx.take_input_required() {
            Some(required) => Ok(Outcome::InputRequired(required)),
            None => Err(ToolError::InputRequired.into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// Implements the exported `describe`.
pub fn describe(tools: &Tools) -> types::Offer {
    types::Offer {
        tools: tools
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
            .collect(),
        resources: tools
            .resources
            .iter()
            .map(|r| types::ResourceSpec {
                uri: r.uri.clone(),
                name: r.name.clone(),
                title: r.title.clone(),
                description: r.description.clone(),
                mime_type: r.mime_type.clone(),
            })
            .collect(),
        resource_templates: tools
            .templates
            .iter()
            .map(|t| types::ResourceTemplateSpec {
                uri_template: t.uri_template.clone(),
                name: t.name.clone(),
                title: t.title.clone(),
                description: t.description.clone(),
                mime_type: t.mime_type.clone(),
            })
            .collect(),
        prompts: tools
            .prompts
            .iter()
            .map(|p| types::PromptSpec {
                name: p.name.clone(),
                title: p.title.clone(),
                description: p.description.clone(),
                arguments: p.arguments.clone(),
            })
            .collect(),
    }
}

/// Implements the exported `call-tool`.
pub fn call_tool(
    tools: &Tools,
    name: &str,
    arguments_json: &str,
    request: types::Request,
    call: &CallContext,
    db: Option<&database::QueryHandle>,
) -> Result<types::ToolOutcome, types::PluginError> {
    let Some(tool) = tools.tools.iter().find(|t| t.name == name) else {
        return Err(types::PluginError::NotFound(format!("this plugin has no tool named {name:?}")));
    };
    let cx = Context::new(request, call, db);
    Ok(match finish(&cx, (tool.handler)(&cx, arguments_json))? {
        Outcome::Complete(result) => types::ToolOutcome::Complete(result.into()),
        Outcome::InputRequired(required) => types::ToolOutcome::InputRequired(required),
    })
}

/// Implements the exported `read-resource`.
pub fn read_resource(
    tools: &Tools,
    uri: &str,
    request: types::Request,
    call: &CallContext,
    db: Option<&database::QueryHandle>,
) -> Result<types::ReadOutcome, types::PluginError> {
    let (mime_type, result) = if let Some(resource) = tools.resources.iter().find(|r| r.uri == uri) {
        let cx = Context::new(request, call, db);
        let result = (resource.handler)(&cx);
        (resource.mime_type.clone(), finish(&cx, result)?)
    } else {
        // The most specific match, as the host routes it: the longest literal prefix, then the
        // template text.
        let prefix = |t: &str| t.find('{').unwrap_or(t.len());
        let found = tools
            .templates
            .iter()
            .filter_map(|t| Some((t, template::matches(&t.uri_template, uri)?)))
            .max_by(|(a, _), (b, _)| {
                prefix(&a.uri_template)
                    .cmp(&prefix(&b.uri_template))
                    .then_with(|| b.uri_template.cmp(&a.uri_template))
            });
        let Some((template, variables)) = found else {
            return Err(types::PluginError::NotFound(format!("this plugin has no resource {uri:?}")));
        };
        let cx = Context::new(request, call, db);
        let result = (template.handler)(&cx, &Params::from(variables));
        (template.mime_type.clone(), finish(&cx, result)?)
    };
    Ok(match result {
        Outcome::Complete(body) => types::ReadOutcome::Complete(vec![types::ResourceContents {
            uri: uri.to_owned(),
            mime_type,
            body: body.into(),
        }]),
        Outcome::InputRequired(required) => types::ReadOutcome::InputRequired(required),
    })
}

/// Implements the exported `get-prompt`.
pub fn get_prompt(
    tools: &Tools,
    name: &str,
    arguments: Vec<(String, String)>,
    request: types::Request,
    call: &CallContext,
    db: Option<&database::QueryHandle>,
) -> Result<types::PromptOutcome, types::PluginError> {
    let Some(prompt) = tools.prompts.iter().find(|p| p.name == name) else {
        return Err(types::PluginError::NotFound(format!("this plugin has no prompt named {name:?}")));
    };
    let params = Params::from(arguments);
    if let Some(missing) = prompt.arguments.iter().find(|a| a.required && params.get(&a.name).is_none()) {
        return Err(types::PluginError::InvalidArguments(format!(
            "missing required argument {:?}",
            missing.name
        )));
    }
    let cx = Context::new(request, call, db);
    Ok(match finish(&cx, (prompt.handler)(&cx, &params))? {
        Outcome::Complete(result) => types::PromptOutcome::Complete(result.into()),
        Outcome::InputRequired(required) => types::PromptOutcome::InputRequired(required),
    })
}

/// Most values one completion returns (the protocol's limit).
const MAX_COMPLETIONS: usize = 100;

/// Implements the exported `complete`.
pub fn complete(
    tools: &Tools,
    of: types::CompletionRef,
    argument: &str,
    value: &str,
    context_arguments: Vec<(String, String)>,
    caller: types::Identity,
) -> Result<types::Completion, types::PluginError> {
    let of = match of {
        types::CompletionRef::Prompt(name) => {
            if !tools.prompts.iter().any(|p| p.name == name) {
                return Err(types::PluginError::NotFound(format!(
                    "this plugin has no prompt named {name:?}"
                )));
            }
            Completes::Prompt(name)
        }
        types::CompletionRef::ResourceTemplate(uri_template) => {
            if !tools.templates.iter().any(|t| t.uri_template == uri_template) {
                return Err(types::PluginError::NotFound(format!(
                    "this plugin has no resource template {uri_template:?}"
                )));
            }
            Completes::Template(uri_template)
        }
    };
    let Some(completer) = tools.completers.iter().find(|c| c.of == of && c.argument == argument) else {
        return Ok(types::Completion { values: Vec::new(), total: Some(0), has_more: false });
    };
    let request = CompletionRequest {
        caller: Caller::from(caller),
        argument: argument.to_owned(),
        value: value.to_owned(),
        context: Params::from(context_arguments),
    };
    let mut values = (completer.handler)(&request).map_err(types::PluginError::from)?;
    let total = values.len();
    values.truncate(MAX_COMPLETIONS);
    Ok(types::Completion {
        values,
        total: Some(u32::try_from(total).unwrap_or(u32::MAX)),
        has_more: total > MAX_COMPLETIONS,
    })
}

#[cfg(test)]
mod tests {
    use std::mem::ManuallyDrop;

    use serde::Serialize;
    use serde_json::{Value, json};

    use super::*;
    use crate::content::PromptMessage;
    use crate::context::ClientCapabilities;

    /// A call-context handle that is never used for a host call nor dropped (there is no host in
    /// a native test; the handlers below only use what the request carries).
    fn call_context() -> ManuallyDrop<CallContext> {
        // SAFETY: the handle is never passed to the host: not called, not dropped.
        ManuallyDrop::new(unsafe { CallContext::from_handle(1) })
    }

    fn request(caps: ClientCapabilities, responses: &[(&str, Value)], state: Option<&str>) -> types::Request {
        types::Request {
            caller: types::Identity {
                subject: "alice".into(),
                issuer: "https://issuer".into(),
                username: None,
                email: None,
                client_id: None,
                scopes: vec![],
                permissions: vec![],
                claims_json: "{}".into(),
            },
            client_capabilities: caps.into(),
            input_responses: responses
                .iter()
                .map(|(k, v)| types::InputResponse { key: (*k).into(), result_json: v.to_string() })
                .collect(),
            state: state.map(str::to_owned),
        }
    }

    const ALL: ClientCapabilities = ClientCapabilities { elicitation: true, sampling: true, roots: true };

    fn name_schema() -> Value {
        json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]})
    }

    #[derive(Serialize, JsonSchema)]
    struct Pair {
        a: u32,
    }

    fn plugin() -> Tools {
        Tools::new()
            .tool("text", "t", |_, _: NoArgs| Ok("plain".to_owned()))
            .tool("object", "o", |_, _: NoArgs| Ok(Pair { a: 1 }))
            .tool("number", "n", |_, _: NoArgs| Ok(5))
            .tool("ask", "a", |cx, _: NoArgs| {
                let answer = cx.elicit("user_name", "Name?", name_schema())?;
                Ok(format!("hi {}", answer["name"].as_str().unwrap_or_default()))
            })
            .tool("many", "m", |cx, _: NoArgs| {
                cx.set_state("s1");
                let name = cx.elicit("user_name", "Name?", name_schema());
                let text = cx.sample("greeting", "Greet", 50);
                let roots = cx.roots("client_roots");
                let (_, text, roots) = (name?, text?, roots?);
                Ok(format!("{text} {}", roots.len()))
            })
            .tool("rounds", "r", |cx, _: NoArgs| {
                if cx.state() == Some("round-2") {
                    cx.elicit("step2", "2?", name_schema())?;
                    return Ok("done".to_owned());
                }
                cx.set_state("round-1");
                cx.elicit("step1", "1?", name_schema())?;
                cx.set_state("round-2");
                cx.elicit("step2", "2?", name_schema())?;
                Ok("done at once".to_owned())
            })
            .resource("x://fixed", "fixed", "", "text/plain", |_| Ok("fixed".into()))
            .resource_template("x://item/{id}", "item", "", "", |_, vars| {
                Ok(format!("item {}", vars.require("id")?).into())
            })
            .prompt("p", "a prompt", &[PromptArg::required("who", "")], |_, args| {
                Ok(vec![PromptMessage::user(format!("hello {}", args.require("who")?))].into())
            })
            .completion("who", |req| Ok(req.matching(&["alice", "bob", "alfred"])))
    }

    fn call(name: &str, req: types::Request) -> Result<types::ToolOutcome, types::PluginError> {
        call_tool(&plugin(), name, "", req, &call_context(), None)
    }

    fn complete_of(outcome: Result<types::ToolOutcome, types::PluginError>) -> types::ToolResult {
        match outcome {
            Ok(types::ToolOutcome::Complete(r)) => r,
            other => panic!("not complete: {other:?}"),
        }
    }

    fn asked(outcome: Result<types::ToolOutcome, types::PluginError>) -> (Vec<String>, Option<String>) {
        match outcome {
            Ok(types::ToolOutcome::InputRequired(r)) => {
                (r.requests.into_iter().map(|(k, _)| k).collect(), r.state)
            }
            other => panic!("not input-required: {other:?}"),
        }
    }

    fn text(result: &types::ToolResult) -> &str {
        match result.content.first() {
            Some(types::Content::Text(t)) => t,
            other => panic!("not text: {other:?}"),
        }
    }

    #[test]
    fn results_keep_the_0_1_mapping() {
        let plain = complete_of(call("text", request(ALL, &[], None)));
        assert_eq!((text(&plain), plain.structured_json.as_deref()), ("plain", None));
        let object = complete_of(call("object", request(ALL, &[], None)));
        assert_eq!((text(&object), object.structured_json.as_deref()), (r#"{"a":1}"#, Some(r#"{"a":1}"#)));
        let number = complete_of(call("number", request(ALL, &[], None)));
        assert_eq!((text(&number), number.structured_json.as_deref()), ("5", None));
        let offer = describe(&plugin());
        assert!(offer.tools.iter().find(|t| t.name == "object").is_some_and(|t| t.output_schema.is_some()));
        assert!(offer.tools.iter().find(|t| t.name == "text").is_some_and(|t| t.output_schema.is_none()));
        assert!(matches!(call("nope", request(ALL, &[], None)), Err(types::PluginError::NotFound(_))));
    }

    #[test]
    fn elicitation_asks_then_completes_and_re_asks_on_bad_answers() {
        assert_eq!(asked(call("ask", request(ALL, &[], None))), (vec!["user_name".to_owned()], None));
        let good = json!({"action": "accept", "content": {"name": "Ada"}});
        assert_eq!(
            text(&complete_of(call("ask", request(ALL, &[("user_name", good.clone())], None)))),
            "hi Ada"
        );
        let extra = [("user_name", good), ("unrelated", json!(1))];
        assert_eq!(text(&complete_of(call("ask", request(ALL, &extra, None)))), "hi Ada");
        for bad in [json!(12345), json!(null), json!({"action": "accept", "content": {"name": 3}})] {
            assert_eq!(
                asked(call("ask", request(ALL, &[("user_name", bad)], None))).0,
                vec!["user_name".to_owned()]
            );
        }
        let declined = call("ask", request(ALL, &[("user_name", json!({"action": "decline"}))], None));
        assert!(matches!(declined, Err(types::PluginError::Failed(_))));
        let refused = call("ask", request(ClientCapabilities::SAMPLING, &[], None));
        let Err(types::PluginError::MissingClientCapabilities(caps)) = refused else { panic!("{refused:?}") };
        assert_eq!(ClientCapabilities::from(caps), ClientCapabilities::ELICITATION);
    }

    #[test]
    fn several_requests_go_out_in_one_round_with_the_state() {
        let (keys, state) = asked(call("many", request(ALL, &[], None)));
        assert_eq!(keys, ["user_name", "greeting", "client_roots"]);
        assert_eq!(state.as_deref(), Some("s1"));
        let answers = [
            ("user_name", json!({"action": "accept", "content": {"name": "Ada"}})),
            (
                "greeting",
                json!({"role": "assistant", "content": {"type": "text", "text": "Hello"}, "model": "m"}),
            ),
            ("client_roots", json!({"roots": [{"uri": "file:///r"}]})),
        ];
        assert_eq!(text(&complete_of(call("many", request(ALL, &answers, Some("s1"))))), "Hello 1");
    }

    #[test]
    fn multi_round_state_evolves() {
        let accept = json!({"action": "accept", "content": {"name": "x"}});
        assert_eq!(
            asked(call("rounds", request(ALL, &[], None))),
            (vec!["step1".into()], Some("round-1".into()))
        );
        let round2 = call("rounds", request(ALL, &[("step1", accept.clone())], Some("round-1")));
        assert_eq!(asked(round2), (vec!["step2".into()], Some("round-2".into())));
        let round3 = call("rounds", request(ALL, &[("step2", accept.clone())], Some("round-2")));
        assert_eq!(text(&complete_of(round3)), "done");
        // A re-asked round keeps the state that came in.
        let again = call("rounds", request(ALL, &[("step2", json!(1))], Some("round-2")));
        assert_eq!(asked(again), (vec!["step2".into()], Some("round-2".into())));
    }

    #[test]
    fn resources_templates_prompts_and_completion() {
        let cx = call_context();
        let read = |uri: &str| read_resource(&plugin(), uri, request(ALL, &[], None), &cx, None);
        let Ok(types::ReadOutcome::Complete(contents)) = read("x://item/42") else { panic!() };
        assert_eq!(contents[0].uri, "x://item/42");
        assert!(matches!(&contents[0].body, types::ResourceBody::Text(t) if t == "item 42"));
        let Ok(types::ReadOutcome::Complete(contents)) = read("x://fixed") else { panic!() };
        assert_eq!(contents[0].mime_type.as_deref(), Some("text/plain"));
        assert!(matches!(read("x://item/1/2"), Err(types::PluginError::NotFound(_))));

        let prompt = |args: Vec<(String, String)>| {
            get_prompt(&plugin(), "p", args, request(ALL, &[], None), &cx, None)
        };
        let Ok(types::PromptOutcome::Complete(p)) = prompt(vec![("who".into(), "Ada".into())]) else {
            panic!()
        };
        assert!(matches!(&p.messages[0].content, types::Content::Text(t) if t == "hello Ada"));
        assert!(matches!(prompt(vec![]), Err(types::PluginError::InvalidArguments(_))));

        let caller = request(ALL, &[], None).caller;
        let done = complete(
            &plugin(),
            types::CompletionRef::Prompt("p".into()),
            "who",
            "al",
            vec![],
            caller.clone(),
        );
        assert_eq!(done.map(|c| c.values).ok(), Some(vec!["alice".to_owned(), "alfred".to_owned()]));
        let other =
            complete(&plugin(), types::CompletionRef::Prompt("p".into()), "else", "", vec![], caller.clone());
        assert_eq!(other.map(|c| c.values).ok(), Some(vec![]));
        let unknown = complete(
            &plugin(),
            types::CompletionRef::ResourceTemplate("y://{a}".into()),
            "a",
            "",
            vec![],
            caller,
        );
        assert!(matches!(unknown, Err(types::PluginError::NotFound(_))));
    }
}
