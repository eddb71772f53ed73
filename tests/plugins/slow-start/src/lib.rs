//! TEST FIXTURE: a plugin that, like a large interpreter component on a busy machine, needs more
//! time to start than its manifest's `timeout_ms`. Building its tool set keeps the CPU busy for
//! one second, so `describe` at load runs past the 200 ms tool limit (the host gives describe a
//! floor of 10 s) while every call still runs out of its 200 ms.

use std::time::{Duration, Instant};

use warden_sdk::{Context, NoArgs, ToolError, Tools, export_tools};

/// How long each instance spends starting up.
const START_UP: Duration = Duration::from_secs(1);

/// Answers, once the start-up is over.
fn hello(_: &Context, _: NoArgs) -> Result<String, ToolError> {
    Ok("hello after a slow start".into())
}

fn tools() -> Tools {
    let started = Instant::now();
    let mut x: u64 = 0;
    while started.elapsed() < START_UP {
        x = std::hint::black_box(x.wrapping_add(1));
    }
    Tools::new().tool("hello", "Answers after a one-second start-up.", hello)
}

export_tools!(tools());
