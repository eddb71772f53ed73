//! The fixtures of the official MCP conformance suite (`@modelcontextprotocol/conformance`,
//! `--requirements 2026-07-28`): tools, resources, a resource template, prompts and completion,
//! with the names, texts and behaviours its scenarios check (see
//! `docs/contract-0.2-research.md`, sections 1.3 and 1.4). The everything-server of the
//! TypeScript SDK is the model answer.

use std::time::Duration;

use warden_sdk::serde_json::{Value, json};
use warden_sdk::{
    ClientCapabilities, Content, Context, LogLevel, NoArgs, Params, PromptArg, PromptMessage, PromptResult,
    ResourceBody, ToolError, ToolResult, Tools, export_tools,
};

/// A 1x1 PNG (one transparent-black RGBA pixel).
const PNG: [u8; 70] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00,
    0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05,
    0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42,
    0x60, 0x82,
];

/// A minimal WAV: PCM, mono, 8 kHz, 16-bit, one silent sample.
const WAV: [u8; 46] = [
    b'R', b'I', b'F', b'F', 38, 0, 0, 0, b'W', b'A', b'V', b'E', // RIFF header
    b'f', b'm', b't', b' ', 16, 0, 0, 0, 1, 0, 1, 0, // fmt chunk: PCM, mono
    0x40, 0x1f, 0, 0, 0x80, 0x3e, 0, 0, 2, 0, 16, 0, // 8000 Hz, 16000 B/s, align 2, 16 bit
    b'd', b'a', b't', b'a', 2, 0, 0, 0, 0, 0, // data chunk: one sample
];

// ---------------------------------------------------------------------------------------------
// Content tools

fn simple_text(_: &Context, _: NoArgs) -> Result<String, ToolError> {
    Ok("This is a simple text response for testing.".to_owned())
}

fn image_content(_: &Context, _: NoArgs) -> Result<ToolResult, ToolError> {
    Ok(ToolResult::new().with(Content::image(PNG.to_vec(), "image/png")))
}

fn audio_content(_: &Context, _: NoArgs) -> Result<ToolResult, ToolError> {
    Ok(ToolResult::new().with(Content::audio(WAV.to_vec(), "audio/wav")))
}

fn embedded_resource(_: &Context, _: NoArgs) -> Result<ToolResult, ToolError> {
    Ok(ToolResult::new().with(Content::embedded_text(
        "test://embedded-resource",
        "text/plain",
        "This is an embedded resource content.",
    )))
}

fn multiple_content_types(_: &Context, _: NoArgs) -> Result<ToolResult, ToolError> {
    Ok(ToolResult::text("Multiple content types test:").with(Content::image(PNG.to_vec(), "image/png")).with(
        Content::embedded_text(
            "test://mixed-content-resource",
            "application/json",
            json!({"test": "data", "value": 123}).to_string(),
        ),
    ))
}

fn error_handling(_: &Context, _: NoArgs) -> Result<ToolResult, ToolError> {
    Ok(ToolResult::error("This tool intentionally returns an error for testing"))
}

fn tool_with_progress(cx: &Context, _: NoArgs) -> Result<String, ToolError> {
    for (i, progress) in [0.0, 50.0, 100.0].into_iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        cx.progress(progress, Some(100.0), Some(&format!("Completed step {} of 3", i + 1)));
    }
    Ok("Progress test completed".to_owned())
}

fn logging_tool(cx: &Context, _: NoArgs) -> Result<String, ToolError> {
    cx.log(LogLevel::Info, "Tool execution started");
    cx.log(LogLevel::Info, "Tool processing data");
    cx.log(LogLevel::Info, "Tool execution completed");
    Ok("Logging test completed".to_owned())
}

fn missing_capability(cx: &Context, _: NoArgs) -> Result<String, ToolError> {
    if !cx.client_capabilities().sampling {
        return Err(ToolError::MissingClientCapabilities(ClientCapabilities::SAMPLING));
    }
    Ok("The client declared the sampling capability this tool requires.".to_owned())
}

// ---------------------------------------------------------------------------------------------
// Input-required tools

/// An object schema with one required property of `kind`.
fn one_property(name: &str, kind: &str) -> Value {
    json!({"type": "object", "properties": {name: {"type": kind}}, "required": [name]})
}

fn name_schema() -> Value {
    one_property("name", "string")
}

fn ok_schema() -> Value {
    one_property("ok", "boolean")
}

/// The text of a string property of an elicitation answer.
fn text_of<'v>(answer: &'v Value, name: &str) -> &'v str {
    answer.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn streaming_elicitation(cx: &Context, _: NoArgs) -> Result<String, ToolError> {
    let answer = cx.elicit("confirmation", "Please confirm to continue.", ok_schema())?;
    Ok(format!("Elicitation answered in-band (ok: {}).", answer["ok"]))
}

fn input_elicitation(cx: &Context, _: NoArgs) -> Result<String, ToolError> {
    let answer = cx.elicit("user_name", "What is your name?", name_schema())?;
    Ok(format!("Hello, {}!", text_of(&answer, "name")))
}

fn input_sampling(cx: &Context, _: NoArgs) -> Result<String, ToolError> {
    let answer = cx.sample("capital_question", "What is the capital of France?", 100)?;
    Ok(format!("The model answered: {answer}"))
}

fn input_list_roots(cx: &Context, _: NoArgs) -> Result<String, ToolError> {
    let roots = cx.roots("client_roots")?;
    let uris: Vec<&str> = roots.iter().map(|r| r.uri.as_str()).collect();
    Ok(format!("The client has {} root(s): {}", roots.len(), uris.join(", ")))
}

const REQUEST_STATE: &str = "request-state:v1";

fn input_request_state(cx: &Context, _: NoArgs) -> Result<String, ToolError> {
    let came_back = cx.state() == Some(REQUEST_STATE);
    cx.set_state(REQUEST_STATE);
    let answer = cx.elicit("confirm", "Please confirm.", ok_schema())?;
    let state = if came_back { "state-ok" } else { "state-missing" };
    Ok(format!("Confirmed (ok: {}); {state}", answer["ok"]))
}

const MULTIPLE_INPUTS_STATE: &str = "multiple-inputs";

fn input_multiple_inputs(cx: &Context, _: NoArgs) -> Result<String, ToolError> {
    let came_back = cx.state() == Some(MULTIPLE_INPUTS_STATE);
    cx.set_state(MULTIPLE_INPUTS_STATE);
    let name = cx.elicit("user_name", "What is your name?", name_schema());
    let greeting = cx.sample("greeting", "Generate a greeting", 50);
    let roots = cx.roots("client_roots");
    let (name, greeting, roots) = (name?, greeting?, roots?);
    let state = if came_back { "state-ok" } else { "state-missing" };
    Ok(format!("Name: {}; greeting: {greeting}; roots: {}; {state}", text_of(&name, "name"), roots.len()))
}

fn input_multi_round(cx: &Context, _: NoArgs) -> Result<String, ToolError> {
    if cx.state() == Some("round-2") {
        let color =
            cx.elicit("step2", "Step 2: What is your favorite color?", one_property("color", "string"))?;
        return Ok(format!("Multi-round input complete: favorite color {}.", text_of(&color, "color")));
    }
    cx.set_state("round-1");
    let name = cx.elicit("step1", "Step 1: What is your name?", name_schema())?;
    cx.set_state("round-2");
    let color =
        cx.elicit("step2", "Step 2: What is your favorite color?", one_property("color", "string"))?;
    Ok(format!("Multi-round input complete: {} likes {}.", text_of(&name, "name"), text_of(&color, "color")))
}

fn input_tampered_state(cx: &Context, _: NoArgs) -> Result<String, ToolError> {
    cx.set_state("tamper-check");
    let answer = cx.elicit("confirm", "Please confirm.", ok_schema())?;
    Ok(format!("Confirmed with an intact requestState (ok: {}).", answer["ok"]))
}

fn input_capabilities(cx: &Context, _: NoArgs) -> Result<String, ToolError> {
    let caps = cx.client_capabilities();
    if !caps.sampling && !caps.elicitation {
        return Err(ToolError::MissingClientCapabilities(ClientCapabilities::SAMPLING));
    }
    // Ask only for what the client declared.
    let name = caps.elicitation.then(|| cx.elicit("user_name", "What is your name?", name_schema()));
    let summary =
        caps.sampling.then(|| cx.sample("summary", "Summarize the declared client capabilities", 50));
    let (name, summary) = (name.transpose()?, summary.transpose()?);
    Ok(format!(
        "Asked only for what the client declared: elicitation {}, sampling {}.",
        name.as_ref().map_or("not asked", |n| text_of(n, "name")),
        summary.as_deref().unwrap_or("not asked"),
    ))
}

// ---------------------------------------------------------------------------------------------
// Resources

fn static_text(_: &Context) -> Result<ResourceBody, ToolError> {
    Ok(ResourceBody::text("This is the content of the static text resource."))
}

fn static_binary(_: &Context) -> Result<ResourceBody, ToolError> {
    Ok(ResourceBody::blob(PNG.to_vec()))
}

fn template_data(_: &Context, vars: &Params) -> Result<ResourceBody, ToolError> {
    let id = vars.require("id")?;
    let data = json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
    Ok(ResourceBody::text(data.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Prompts

fn simple_prompt(_: &Context, _: &Params) -> Result<PromptResult, ToolError> {
    Ok(PromptResult::new(vec![PromptMessage::user("This is a simple prompt for testing.")]))
}

fn prompt_with_arguments(_: &Context, args: &Params) -> Result<PromptResult, ToolError> {
    let (arg1, arg2) = (args.require("arg1")?, args.require("arg2")?);
    Ok(PromptResult::new(vec![PromptMessage::user(format!(
        "Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"
    ))]))
}

fn prompt_with_embedded_resource(_: &Context, args: &Params) -> Result<PromptResult, ToolError> {
    let uri = args.require("resourceUri")?;
    Ok(PromptResult::new(vec![
        PromptMessage::user(Content::embedded_text(
            uri,
            "text/plain",
            "Embedded resource content for testing.",
        )),
        PromptMessage::user("Please process the embedded resource above."),
    ]))
}

fn prompt_with_image(_: &Context, _: &Params) -> Result<PromptResult, ToolError> {
    Ok(PromptResult::new(vec![
        PromptMessage::user(Content::image(PNG.to_vec(), "image/png")),
        PromptMessage::user("Please analyze the image above."),
    ]))
}

fn input_required_prompt(cx: &Context, _: &Params) -> Result<PromptResult, ToolError> {
    let answer =
        cx.elicit("user_context", "What context should the prompt use?", one_property("context", "string"))?;
    Ok(PromptResult::new(vec![PromptMessage::user(format!(
        "Use this context for the conversation: {}",
        text_of(&answer, "context")
    ))]))
}

fn tools() -> Tools {
    Tools::new()
        // Content
        .tool("test_simple_text", "Returns a simple text response", simple_text)
        .tool_with_content("test_image_content", "Returns a 1x1 PNG image", image_content)
        .tool_with_content("test_audio_content", "Returns a minimal WAV audio clip", audio_content)
        .tool_with_content("test_embedded_resource", "Returns an embedded text resource", embedded_resource)
        .tool_with_content(
            "test_multiple_content_types",
            "Returns text, an image and an embedded resource",
            multiple_content_types,
        )
        .tool_with_content(
            "test_error_handling",
            "Always returns a tool error (isError: true)",
            error_handling,
        )
        .tool(
            "test_tool_with_progress",
            "Reports progress 0, 50 and 100 of 100, then returns",
            tool_with_progress,
        )
        .tool("test_logging_tool", "Sends three info log messages, then returns", logging_tool)
        .tool(
            "test_missing_capability",
            "Requires the sampling client capability; fails with a missing-capability error without it",
            missing_capability,
        )
        .tool(
            "test_streaming_elicitation",
            "Asks for confirmation in-band (an input-required result), never as a server request",
            streaming_elicitation,
        )
        // Input-required results (multi-round)
        .tool(
            "test_input_required_result_elicitation",
            "Asks the user for their name (elicitation)",
            input_elicitation,
        )
        .tool(
            "test_input_required_result_sampling",
            "Asks the client's model a question (sampling)",
            input_sampling,
        )
        .tool("test_input_required_result_list_roots", "Asks for the client's roots", input_list_roots)
        .tool(
            "test_input_required_result_request_state",
            "Asks for confirmation and round-trips a request state",
            input_request_state,
        )
        .tool(
            "test_input_required_result_multiple_inputs",
            "Asks for elicitation, sampling and roots input in one round",
            input_multiple_inputs,
        )
        .tool(
            "test_input_required_result_multi_round",
            "Asks two questions over two rounds with evolving state, then completes",
            input_multi_round,
        )
        .tool(
            "test_input_required_result_tampered_state",
            "Asks for confirmation with a request state the host must verify",
            input_tampered_state,
        )
        .tool(
            "test_input_required_result_capabilities",
            "Asks only for the input kinds the client declared",
            input_capabilities,
        )
        // Resources
        .resource("test://static-text", "static-text", "A static text resource", "text/plain", static_text)
        .resource(
            "test://static-binary",
            "static-binary",
            "A static binary resource (a PNG)",
            "image/png",
            static_binary,
        )
        .resource_template(
            "test://template/{id}/data",
            "template-data",
            "JSON data for any ID",
            "application/json",
            template_data,
        )
        // Prompts
        .prompt("test_simple_prompt", "A prompt without arguments", &[], simple_prompt)
        .prompt(
            "test_prompt_with_arguments",
            "A prompt with two required arguments",
            &[PromptArg::required("arg1", "First argument"), PromptArg::required("arg2", "Second argument")],
            prompt_with_arguments,
        )
        .completion("arg1", |req| Ok(req.matching(&["testValue1", "testValue2", "sample"])))
        .completion("arg2", |req| Ok(req.matching(&["testValue1", "testValue2", "sample"])))
        .prompt(
            "test_prompt_with_embedded_resource",
            "A prompt that embeds the resource it is given",
            &[PromptArg::required("resourceUri", "URI of the resource to embed")],
            prompt_with_embedded_resource,
        )
        .prompt("test_prompt_with_image", "A prompt with an image", &[], prompt_with_image)
        .prompt(
            "test_input_required_result_prompt",
            "A prompt that first asks the user for context (input-required)",
            &[],
            input_required_prompt,
        )
}

export_tools!(tools());
