//! TEST FIXTURE: a plugin that talks a lot while it runs. `flood` sends many 1 KB log and
//! progress notifications (the host must cap them), `slow` runs until its time is up or the
//! client cancels, `chatty://secret` is a resource behind a scope, and `hello` is a prompt.

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Deserialize;
use warden_sdk::{
    Context, LogLevel, Params, PromptArg, PromptMessage, PromptResult, ResourceBody, ToolError, Tools,
    export_tools,
};

#[derive(Deserialize, JsonSchema)]
struct FloodArgs {
    /// How many log lines and progress reports to send.
    count: u32,
}

/// Sends `count` log lines and `count` progress reports, each with a 1 KB message.
fn flood(cx: &Context, args: FloodArgs) -> Result<String, ToolError> {
    let filler = "x".repeat(1000);
    for i in 0..args.count {
        let message = format!("{i:06} {filler}");
        cx.log(LogLevel::Info, &message);
        cx.progress(f64::from(i), Some(f64::from(args.count)), Some(&message));
    }
    Ok(format!("done {}", args.count))
}

#[derive(Deserialize, JsonSchema)]
struct SlowArgs {
    /// How long to run, in milliseconds.
    ms: u32,
}

/// Runs for `ms` milliseconds, checking for cancellation about every 10 ms.
fn slow(cx: &Context, args: SlowArgs) -> Result<String, ToolError> {
    let started = Instant::now();
    let until = Duration::from_millis(u64::from(args.ms));
    while started.elapsed() < until {
        if cx.is_cancelled() {
            return Ok("cancelled".to_owned());
        }
        std::thread::sleep(Duration::from_millis(10).min(until.saturating_sub(started.elapsed())));
    }
    Ok("finished".to_owned())
}

fn secret(_: &Context) -> Result<ResourceBody, ToolError> {
    Ok(ResourceBody::text("the chatty secret"))
}

fn hello(_: &Context, args: &Params) -> Result<PromptResult, ToolError> {
    let name = args.require("name")?;
    Ok(PromptResult::new(vec![PromptMessage::user(format!("Say hello to {name}."))]))
}

fn tools() -> Tools {
    Tools::new()
        .tool("flood", "Sends `count` 1 KB log messages and progress reports, then returns", flood)
        .tool("slow", "Runs for `ms` milliseconds unless cancelled first", slow)
        .resource(
            "chatty://secret",
            "secret",
            "A secret only callers with chatty:secret may read",
            "text/plain",
            secret,
        )
        .prompt(
            "hello",
            "Asks the model to greet someone",
            &[PromptArg::required("name", "Who to greet")],
            hello,
        )
}

export_tools!(tools());
