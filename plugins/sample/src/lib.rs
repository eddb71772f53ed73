//! The three tools of Auth0's MCP sample server, as one Warden plugin.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_sdk::{Context, NoArgs, ToolError, Tools, export_tools};

/// The caller as the host verified it.
#[derive(Serialize, JsonSchema)]
struct WhoAmI {
    subject: String,
    issuer: String,
    email: Option<String>,
    client_id: Option<String>,
    scopes: Vec<String>,
    permissions: Vec<String>,
}

fn whoami(cx: &Context, _: NoArgs) -> Result<WhoAmI, ToolError> {
    let c = &cx.caller;
    Ok(WhoAmI {
        subject: c.subject.clone(),
        issuer: c.issuer.clone(),
        email: c.email.clone(),
        client_id: c.client_id.clone(),
        scopes: c.scopes.clone(),
        permissions: c.permissions.clone(),
    })
}

#[derive(Deserialize, JsonSchema)]
struct GreetArgs {
    /// Who to greet.
    name: String,
}

fn greet(cx: &Context, args: GreetArgs) -> Result<String, ToolError> {
    let name = args.name.trim();
    if name.is_empty() {
        return Err(ToolError::InvalidArguments("name must not be empty".into()));
    }
    Ok(format!("Hello, {name}! You are {}.", cx.caller.subject))
}

/// The current time.
#[derive(Serialize, JsonSchema)]
struct DateTime {
    /// UTC, ISO-8601 with millisecond precision.
    utc: String,
}

fn get_datetime(_: &Context, _: NoArgs) -> Result<DateTime, ToolError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| ToolError::failed("the clock is before 1970"))?;
    Ok(DateTime { utc: iso8601(now.as_secs() as i64, now.subsec_millis()) })
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic Gregorian, UTC).
fn iso8601(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn tools() -> Tools {
    Tools::new()
        .tool("whoami", "Returns the verified identity of the caller", whoami)
        .titled("Who am I?")
        .tool("greet", "Greets someone by name and names the caller", greet)
        .titled("Greet")
        .tool("get_datetime", "Returns the current UTC date and time (ISO-8601)", get_datetime)
        .titled("Current date and time")
}

export_tools!(tools());
