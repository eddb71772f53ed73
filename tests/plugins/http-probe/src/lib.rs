//! Test fixture: sends the requests it is asked to through `wasi:http` (the SDK's helper) and
//! reports everything it can see: status, every response header, the body, every environment
//! variable, and each error. Tests use it to show that a plugin never sees a credential and that
//! refusals reach the plugin with their reason.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_sdk::http::Request;
use warden_sdk::{Context, ToolError, Tools, export_tools};

#[derive(Deserialize, JsonSchema)]
struct FetchArgs {
    /// The URL.
    url: String,
    /// The method (default GET).
    method: Option<String>,
    /// Headers to set.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Follow up to this many redirects (each a new request the host checks).
    #[serde(default)]
    follow: u32,
    /// Send the request this many times (default 1).
    repeat: Option<u32>,
}

/// Everything the plugin saw.
#[derive(Serialize, JsonSchema)]
struct Seen {
    /// One entry per request sent.
    hops: Vec<Hop>,
    /// The plugin's whole environment.
    env: BTreeMap<String, String>,
}

#[derive(Serialize, JsonSchema)]
struct Hop {
    url: String,
    status: Option<u16>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    body_bytes: usize,
    error: Option<String>,
}

fn fetch(_: &Context, args: FetchArgs) -> Result<Seen, ToolError> {
    let mut hops = Vec::new();
    let method = args.method.clone().unwrap_or_else(|| "GET".into());
    for _ in 0..args.repeat.unwrap_or(1).max(1) {
        let mut url = args.url.clone();
        for _ in 0..=args.follow {
            let mut request = Request::new(&method, &url);
            for (k, v) in &args.headers {
                request = request.header(k, v);
            }
            match request.send() {
                Ok(r) => {
                    let location = r.header("location").map(str::to_owned);
                    let text = r.text();
                    hops.push(Hop {
                        url: url.clone(),
                        status: Some(r.status),
                        headers: r.headers.clone(),
                        body_bytes: r.body.len(),
                        body: Some(text.chars().take(4096).collect()),
                        error: None,
                    });
                    match location {
                        Some(next) if (300..400).contains(&r.status) => url = next,
                        _ => break,
                    }
                }
                Err(e) => {
                    hops.push(Hop {
                        url: url.clone(),
                        status: None,
                        headers: Vec::new(),
                        body: None,
                        body_bytes: 0,
                        error: Some(e.0),
                    });
                    break;
                }
            }
        }
    }
    Ok(Seen { hops, env: std::env::vars().collect() })
}

#[derive(Deserialize, JsonSchema)]
struct UrlArgs {
    /// The URL.
    url: String,
}

/// What `wstd`'s client got.
#[derive(Serialize, JsonSchema)]
struct WstdSeen {
    status: Option<u16>,
    body: Option<String>,
    error: Option<String>,
}

/// The same GET through `wstd`, an ordinary `wasi:http` client library, used unchanged.
fn fetch_wstd(_: &Context, args: UrlArgs) -> Result<WstdSeen, ToolError> {
    use wstd::http::{Body, Client, Request};
    let failed = |e: String| WstdSeen { status: None, body: None, error: Some(e) };
    Ok(wstd::runtime::block_on(async move {
        let request = match Request::get(args.url.as_str()).body(Body::empty()) {
            Ok(r) => r,
            Err(e) => return failed(e.to_string()),
        };
        match Client::new().send(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                let mut body = response.into_body();
                match body.str_contents().await {
                    Ok(text) => WstdSeen { status: Some(status), body: Some(text.to_owned()), error: None },
                    Err(e) => failed(format!("{e:?}")),
                }
            }
            Err(e) => failed(format!("{e:?}")),
        }
    }))
}

fn tools() -> Tools {
    Tools::new().tool("fetch", "Sends the request and reports everything it saw", fetch).tool(
        "fetch_wstd",
        "GETs the URL with the wstd HTTP client",
        fetch_wstd,
    )
}

export_tools!(tools());
