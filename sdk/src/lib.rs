//! `warden-sdk`: write Warden MCP plugins (tools, resources, prompts) as typed Rust functions.
//!
//! A plugin is a `cdylib` crate built for `wasm32-wasip2` against the plugin contract
//! `warden:plugin@0.2.0`. Each tool is one function that takes a [`Context`] and a
//! serde-deserializable argument type; its JSON Schema is generated with `schemars`, and its
//! result is serialized for you. Every request runs in a fresh instance.
//!
//! ```ignore
//! use warden_sdk::{Context, ToolError, Tools, export_tools};
//! use warden_sdk::{schemars::JsonSchema, serde::Deserialize};
//!
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(crate = "warden_sdk::serde")]
//! #[schemars(crate = "warden_sdk::schemars")]
//! struct GreetArgs { name: String }
//!
//! fn greet(cx: &Context, args: GreetArgs) -> Result<String, ToolError> {
//!     Ok(format!("Hello, {}! (called by {})", args.name, cx.caller.subject))
//! }
//!
//! fn tools() -> Tools {
//!     Tools::new().tool("greet", "Greets someone by name", greet)
//! }
//! export_tools!(tools());
//! ```
//!
//! A tool's result becomes MCP content: a `String` is one text block; a type whose schema is an
//! object (a struct) is structured content, with its JSON text as a text block for older clients;
//! any other value is its JSON text.
//!
//! Errors: [`ToolError::InvalidArguments`], [`ToolError::Forbidden`] and [`ToolError::Failed`]
//! from a tool are shown to the model as a tool error (`isError: true`);
//! [`ToolError::NotFound`] (no such resource or prompt) and
//! [`ToolError::MissingClientCapabilities`] become protocol errors; [`ToolError::InputRequired`]
//! asks the client for input (see below).
//!
//! # Rich tool results
//!
//! Register with [`Tools::tool_with_content`] and return a [`ToolResult`]: any mix of text,
//! images, audio, resource links and embedded resources, structured content, and `isError`.
//!
//! ```ignore
//! use warden_sdk::{Content, ResourceLink, ToolResult};
//!
//! fn chart(_: &Context, _: NoArgs) -> Result<ToolResult, ToolError> {
//!     Ok(ToolResult::text("Here is the chart:")
//!         .with(Content::image(PNG_BYTES.to_vec(), "image/png"))
//!         .with(Content::embedded_text("chart://data", "application/json", r#"{"points":3}"#))
//!         .with(ResourceLink::new("chart://full", "full chart")))
//! }
//! // ToolResult::error("no data for that day") is a tool error the model sees (isError: true);
//! // ToolResult::structured(json!({"total": 3})) is structured content plus its JSON text.
//! Tools::new().tool_with_content("chart", "Draws the chart", chart)
//! ```
//!
//! # Outbound HTTP
//!
//! [`http`] sends requests through the standard `wasi:http/outgoing-handler`; the manifest's
//! `[http.destinations.<name>]` says where the plugin may go and which credential the host
//! attaches (the plugin never sees it), and [`http::destination`] reads that destination's URL.
//!
//! ```ignore
//! let url = warden_sdk::http::destination("idp")?;
//! let me = warden_sdk::http::Request::get(&url).send()?.json::<serde_json::Value>()?;
//! ```
//!
//! # Resources and resource templates
//!
//! A resource has a fixed URI; a template such as `docs://{team}/{page}` stands for a family. The
//! SDK matches a requested URI against each template (every `{name}` matches one non-empty run of
//! characters without `/`) and hands the function the variables as [`Params`].
//!
//! ```ignore
//! use warden_sdk::{Params, ResourceBody};
//!
//! fn motd(_: &Context) -> Result<ResourceBody, ToolError> {
//!     Ok(ResourceBody::text("Be excellent to each other."))
//! }
//!
//! fn page(_: &Context, vars: &Params) -> Result<ResourceBody, ToolError> {
//!     let (team, page) = (vars.require("team")?, vars.require("page")?);
//!     if team != "core" {
//!         return Err(ToolError::not_found(format!("no team {team}")));
//!     }
//!     Ok(ResourceBody::text(format!("# {page}\n...")))  // or ResourceBody::blob(bytes)
//! }
//!
//! Tools::new()
//!     .resource("docs://motd", "motd", "Message of the day", "text/plain", motd)
//!     .resource_template("docs://{team}/{page}", "page", "A team's page", "text/markdown", page)
//! ```
//!
//! # Prompts and completion
//!
//! A prompt declares its arguments ([`PromptArg`]); required ones are checked before the
//! function runs. [`Tools::completion`] suggests values for an argument of the prompt (or
//! template) added just before; arguments without one complete to an empty list.
//!
//! ```ignore
//! use warden_sdk::{Params, PromptArg, PromptMessage, PromptResult};
//!
//! fn review(_: &Context, args: &Params) -> Result<PromptResult, ToolError> {
//!     let language = args.get("language").unwrap_or("Rust");
//!     Ok(PromptResult::new(vec![
//!         PromptMessage::user(format!("Review this {language} code:")),
//!         PromptMessage::user(args.require("code")?.to_owned()),
//!     ]))
//! }
//!
//! Tools::new()
//!     .prompt("review", "Asks for a code review", &[
//!         PromptArg::required("code", "The code to review"),
//!         PromptArg::optional("language", "Its language"),
//!     ], review)
//!     .completion("language", |req| Ok(req.matching(&["Go", "Python", "Rust"])))
//! ```
//!
//! # Progress, logging, cancellation, client capabilities
//!
//! ```ignore
//! fn import(cx: &Context, args: ImportArgs) -> Result<String, ToolError> {
//!     for (i, file) in args.files.iter().enumerate() {
//!         if cx.is_cancelled() {
//!             return Err(ToolError::failed("cancelled"));
//!         }
//!         cx.progress(i as f64, Some(args.files.len() as f64), Some(file.as_str()));
//!         cx.log(LogLevel::Info, &format!("importing {file}"));
//!     }
//!     let can_ask = cx.client_capabilities().elicitation;
//!     Ok(format!("imported {} files (client can be asked: {can_ask})", args.files.len()))
//! }
//! ```
//! Progress and log messages reach the client only if it asked for them; the host also logs
//! them, attributed to the plugin.
//!
//! # Asking the client for input
//!
//! [`Context::elicit`] (ask the user), [`Context::sample`] (ask the client's model) and
//! [`Context::roots`] (the client's roots) return the answer when this round carries one for
//! their key. Otherwise they queue the request and return [`ToolError::InputRequired`]:
//! propagated with `?`, it makes the SDK answer "input required" with every request queued this
//! round. The client answers and the handler runs again, in a fresh instance, with the answers.
//! Answers that do not match the request (an elicitation content that does not fit its schema,
//! say) are asked for again. A client without the needed capability gives
//! [`ToolError::MissingClientCapabilities`].
//!
//! ```ignore
//! use warden_sdk::serde_json::json;
//!
//! fn book(cx: &Context, _: NoArgs) -> Result<String, ToolError> {
//!     let schema = json!({"type": "object", "properties": {"date": {"type": "string"}}, "required": ["date"]});
//!     let answer = cx.elicit("date", "Which day?", schema)?;
//!     Ok(format!("booked for {}", answer["date"]))
//! }
//! ```
//!
//! Several requests in one round: make them all, then propagate.
//!
//! ```ignore
//! let name = cx.elicit("user_name", "What is your name?", schema);
//! let greeting = cx.sample("greeting", "Write a one-line greeting", 50);
//! let roots = cx.roots("client_roots");
//! let (name, greeting, roots) = (name?, greeting?, roots?);
//! ```
//!
//! State across rounds: [`Context::set_state`] sets the string sent with this round's requests
//! (unless set, the state that came in goes out again); [`Context::state`] is the one that came
//! back (the host seals it, so it can be trusted). Only the answers to the previous round's
//! requests come back, so carry what later rounds need in the state. A round can also carry
//! state alone: `cx.set_state(s); return Err(ToolError::InputRequired);`.
//!
//! ```ignore
//! fn wizard(cx: &Context, _: NoArgs) -> Result<String, ToolError> {
//!     let name = match cx.state() {
//!         Some(name) => name.to_owned(),                                  // round 3
//!         None => {
//!             let answer = cx.elicit("name", "Your name?", name_schema())?; // round 1 asks
//!             let name = answer["name"].as_str().unwrap_or_default().to_owned();
//!             cx.set_state(name.clone());                                   // round 2 answered
//!             name
//!         }
//!     };
//!     let color = cx.elicit("color", "Favourite colour?", color_schema())?; // round 2 asks
//!     Ok(format!("{name} likes {}", color["color"]))
//! }
//! ```
//!
//! Resource and prompt handlers get the same [`Context`] and can ask for input the same way.

mod content;
mod context;
pub mod db;
mod error;
pub mod http;
mod input;
mod template;
mod tools;

pub use content::{
    Content, EmbeddedResource, PromptMessage, PromptResult, ResourceBody, ResourceLink, Role, ToolResult,
};
pub use context::{Caller, ClientCapabilities, Context, Database, LogLevel, Root};
pub use error::ToolError;
pub use tools::{CompletionRequest, NoArgs, Params, PromptArg, Tools};

pub use schemars;
pub use serde;
pub use serde_json;

/// Raw bindings generated from `wit/0.2/plugin.wit`. Plugin authors normally never touch these.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/0.2",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin_bindings",
        default_bindings_module: "warden_sdk::bindings",
    });
}

/// Glue used by [`export_tools!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::exports::warden::plugin::server::Guest;
    pub use crate::bindings::warden::plugin::context::CallContext;
    pub use crate::bindings::warden::plugin::database::QueryHandle;
    pub use crate::bindings::warden::plugin::types::{
        Completion, CompletionRef, Identity, Offer, PluginError, PromptOutcome, ReadOutcome, Request,
        ToolOutcome,
    };
    pub use crate::tools::{call_tool, complete, describe, get_prompt, read_resource};
}

/// Exports a [`Tools`] set as this component's plugin implementation (contract 0.2).
///
/// The expression is evaluated per host call (each call runs in a fresh instance), so build the
/// set in a plain function: `export_tools!(tools());`.
#[macro_export]
macro_rules! export_tools {
    ($tools:expr) => {
        struct __WardenPlugin;

        impl $crate::__private::Guest for __WardenPlugin {
            fn describe() -> $crate::__private::Offer {
                $crate::__private::describe(&$tools)
            }

            fn call_tool(
                name: ::std::string::String,
                arguments_json: ::std::string::String,
                req: $crate::__private::Request,
                cx: &$crate::__private::CallContext,
                db: ::std::option::Option<&$crate::__private::QueryHandle>,
            ) -> ::std::result::Result<$crate::__private::ToolOutcome, $crate::__private::PluginError> {
                $crate::__private::call_tool(&$tools, &name, &arguments_json, req, cx, db)
            }

            fn read_resource(
                uri: ::std::string::String,
                req: $crate::__private::Request,
                cx: &$crate::__private::CallContext,
                db: ::std::option::Option<&$crate::__private::QueryHandle>,
            ) -> ::std::result::Result<$crate::__private::ReadOutcome, $crate::__private::PluginError> {
                $crate::__private::read_resource(&$tools, &uri, req, cx, db)
            }

            fn get_prompt(
                name: ::std::string::String,
                arguments: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                req: $crate::__private::Request,
                cx: &$crate::__private::CallContext,
                db: ::std::option::Option<&$crate::__private::QueryHandle>,
            ) -> ::std::result::Result<$crate::__private::PromptOutcome, $crate::__private::PluginError> {
                $crate::__private::get_prompt(&$tools, &name, arguments, req, cx, db)
            }

            fn complete(
                of: $crate::__private::CompletionRef,
                argument: ::std::string::String,
                value: ::std::string::String,
                context_arguments: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                caller: $crate::__private::Identity,
            ) -> ::std::result::Result<$crate::__private::Completion, $crate::__private::PluginError> {
                $crate::__private::complete(&$tools, of, &argument, &value, context_arguments, caller)
            }
        }

        $crate::bindings::__export_plugin_bindings!(__WardenPlugin with_types_in $crate::bindings);
    };
}
