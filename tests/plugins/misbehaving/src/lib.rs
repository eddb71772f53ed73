//! TEST FIXTURE: tools that attack the host the ways a buggy or hostile plugin would.
//! Each must end as a tool error within its limit while the host keeps serving others.

use schemars::JsonSchema;
use serde::Deserialize;
use warden_sdk::{Context, NoArgs, ToolError, Tools, export_tools};

/// Never returns: only the epoch deadline can stop it.
fn spin(_: &Context, _: NoArgs) -> Result<String, ToolError> {
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

/// Allocates until the memory limit stops it.
fn hog(_: &Context, _: NoArgs) -> Result<String, ToolError> {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        chunks.push(std::hint::black_box(vec![1u8; 1 << 20]));
    }
}

/// Panics (a trap in the host).
fn panic(_: &Context, _: NoArgs) -> Result<String, ToolError> {
    panic!("this tool panics on purpose")
}

/// Returns 10 MB of text, more than the host accepts.
fn flood(_: &Context, _: NoArgs) -> Result<String, ToolError> {
    Ok("x".repeat(10 * 1024 * 1024))
}

#[inline(never)]
#[allow(unconditional_recursion)] // the point of this fixture
fn deeper(n: u64) -> u64 {
    // Small frames: the recursion lives on the wasm (native) stack, which the host bounds.
    std::hint::black_box(deeper(std::hint::black_box(n) + 1)).wrapping_add(1)
}

/// Recurses until the wasm call stack overflows.
fn recurse(_: &Context, _: NoArgs) -> Result<String, ToolError> {
    Ok(deeper(0).to_string())
}

#[inline(never)]
#[allow(unconditional_recursion)] // the point of this fixture
fn smash_frame(n: u64, pad: [u64; 64]) -> u64 {
    // Large frames: the recursion exhausts Rust's shadow stack in linear memory first.
    let pad = std::hint::black_box(pad);
    smash_frame(n + 1, pad).wrapping_add(pad[(n % 64) as usize])
}

/// Recurses with big frames until the in-memory shadow stack runs out.
fn smash(_: &Context, _: NoArgs) -> Result<String, ToolError> {
    Ok(smash_frame(0, [7; 64]).to_string())
}

#[derive(Deserialize, JsonSchema)]
struct EchoArgs {
    text: String,
}

/// Behaves: returns its argument.
fn echo(_: &Context, args: EchoArgs) -> Result<String, ToolError> {
    Ok(args.text)
}

#[derive(Deserialize, JsonSchema)]
struct WorkArgs {
    /// How long to keep busy, in milliseconds.
    ms: u64,
}

/// Keeps the CPU busy for `ms` milliseconds, then succeeds: a slow but well-behaved call.
fn work(_: &Context, args: WorkArgs) -> Result<String, ToolError> {
    let started = std::time::Instant::now();
    let mut x: u64 = 0;
    while started.elapsed().as_millis() < u128::from(args.ms) {
        x = std::hint::black_box(x.wrapping_add(1));
    }
    Ok(format!("worked {} ms", args.ms))
}

/// What the previous call left behind, if anything survived (it must not).
static LEFT_BEHIND: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Stores `text` in a global and returns what the global held before: always empty when every
/// call gets a fresh instance.
fn remember(_: &Context, args: EchoArgs) -> Result<String, ToolError> {
    let mut slot = LEFT_BEHIND.lock().map_err(|_| ToolError::failed("poisoned"))?;
    let previous = std::mem::replace(&mut *slot, args.text);
    // Also leave the secret in a large heap buffer, where a reused memory slot would keep it.
    let buffer = std::hint::black_box(slot.repeat(1000));
    std::mem::forget(buffer);
    Ok(format!("previous={previous:?}"))
}

/// Pages of initialized data (in the memory image, not zero-filled) for `scatter`.
const PROBE_PAGES: usize = 256;
/// What every byte of [`PROBE`] holds in the image.
const PROBE_INITIAL: u8 = 0x5a;
/// A 1 MiB data segment: a reused memory slot must bring every page back to this.
static PROBE: std::sync::Mutex<[u8; PROBE_PAGES * 4096]> =
    std::sync::Mutex::new([PROBE_INITIAL; PROBE_PAGES * 4096]);

/// Counts the probe pages that do not hold their image contents (always 0 when the host resets
/// memory between calls), then writes `text` into every other page: 128 separate dirty regions,
/// more than one dirty-page scan of the host returns at once.
fn scatter(_: &Context, args: EchoArgs) -> Result<String, ToolError> {
    let mut probe = PROBE.lock().map_err(|_| ToolError::failed("poisoned"))?;
    let changed = probe.chunks(4096).filter(|page| page.iter().any(|b| *b != PROBE_INITIAL)).count();
    let text = args.text.as_bytes();
    for page in probe.chunks_mut(4096).step_by(2) {
        let n = text.len().min(page.len());
        page[..n].copy_from_slice(&text[..n]);
    }
    std::hint::black_box(&*probe);
    Ok(format!("changed_pages={changed}"))
}

fn tools() -> Tools {
    Tools::new()
        .tool("spin", "Loops forever", spin)
        .tool("hog", "Allocates without bound", hog)
        .tool("panic", "Panics", panic)
        .tool("flood", "Returns 10 MB", flood)
        .tool("recurse", "Overflows the wasm call stack", recurse)
        .tool("smash", "Overflows the shadow stack in linear memory", smash)
        .tool("echo", "Returns its text argument", echo)
        .tool("work", "Stays busy for a while, then succeeds", work)
        .tool("remember", "Stores its text and returns what the previous call stored", remember)
        .tool("scatter", "Counts changed probe pages, then writes its text into every other one", scatter)
}

export_tools!(tools());
