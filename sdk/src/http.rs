//! Outbound HTTP through the standard `wasi:http/outgoing-handler` (bindings from the `wasip2`
//! crate), with a small typed helper on top. Any other guest HTTP library built on `wasi:http`
//! works the same way: the host checks every request against the manifest's
//! `[http.destinations.*]`, attaches the credential it names (the plugin never sees one), and
//! holds the call to its limits.
//!
//! ```ignore
//! use warden_sdk::http;
//!
//! fn profile(_: &Context, _: NoArgs) -> Result<String, ToolError> {
//!     // The manifest's [http.destinations.idp] url, as WARDEN_HTTP_IDP.
//!     let url = http::destination("idp")?;
//!     let response = http::Request::get(&url).header("accept", "application/json").send()?;
//!     Ok(response.text())
//! }
//! ```

use std::fmt;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;

use crate::ToolError;

/// Why a request failed: refused by the host (with its reason), or a network or HTTP failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError(pub String);

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for ToolError {
    fn from(e: HttpError) -> ToolError {
        ToolError::Failed(e.0)
    }
}

/// The URL of the manifest's destination `name` (`[http.destinations.<name>] url`), which the
/// host puts in the plugin's environment as `WARDEN_HTTP_<NAME>`.
pub fn destination(name: &str) -> Result<String, HttpError> {
    let var = format!("WARDEN_HTTP_{}", name.to_ascii_uppercase().replace('-', "_"));
    std::env::var(&var).map_err(|_| {
        HttpError(format!("the manifest declares no [http.destinations.{name}] ({var} is not set)"))
    })
}

/// A request to build and send.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
}

/// A response, read to the end.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, in order, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| HttpError(format!("the response is not the JSON expected: {e}")))
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// True for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Request {
    /// A request with `method` to `url`.
    pub fn new(method: &str, url: &str) -> Request {
        Request { method: method.to_owned(), url: url.to_owned(), headers: Vec::new(), body: None }
    }

    /// A GET of `url`.
    pub fn get(url: &str) -> Request {
        Request::new("GET", url)
    }

    /// A POST to `url`.
    pub fn post(url: &str) -> Request {
        Request::new("POST", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.as_bytes().to_vec()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = Some(body.into());
        self
    }

    /// Sets a JSON body (and its content type).
    pub fn json<T: serde::Serialize>(self, value: &T) -> Result<Request, HttpError> {
        let body = serde_json::to_vec(value).map_err(|e| HttpError(e.to_string()))?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Sends the request and reads the whole response. Redirects are returned, not followed
    /// (a plugin that follows one sends a new request, which the host checks again).
    pub fn send(self) -> Result<Response, HttpError> {
        let (scheme, rest) = match self.url.split_once("://") {
            Some(("https", rest)) => (Scheme::Https, rest),
            Some(("http", rest)) => (Scheme::Http, rest),
            _ => return Err(HttpError(format!("{:?} is not an http(s) URL", self.url))),
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        let method = match self.method.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_owned()),
        };
        let headers =
            Fields::from_list(&self.headers).map_err(|e| HttpError(format!("invalid header: {e:?}")))?;
        let request = OutgoingRequest::new(headers);
        let fail = |what: &str| HttpError(format!("invalid {what}"));
        request.set_method(&method).map_err(|()| fail("method"))?;
        request.set_scheme(Some(&scheme)).map_err(|()| fail("scheme"))?;
        request.set_authority(Some(authority)).map_err(|()| fail("host"))?;
        request.set_path_with_query(Some(&path)).map_err(|()| fail("path"))?;
        let body = request.body().map_err(|()| fail("body"))?;
        // Hand the request over first: the host reads the body while it is written.
        let pending = outgoing_handler::handle(request, None).map_err(|e| HttpError(describe(&e)))?;
        if let Some(bytes) = &self.body {
            let stream = body.write().map_err(|()| fail("body"))?;
            for chunk in bytes.chunks(4096) {
                stream.blocking_write_and_flush(chunk).map_err(|e| stream_error(&e))?;
            }
            drop(stream);
        }
        OutgoingBody::finish(body, None).map_err(|e| HttpError(describe(&e)))?;
        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(e))) => return Err(HttpError(describe(&e))),
            Some(Err(())) | None => return Err(HttpError("the response was already taken".into())),
        };
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let incoming = response.consume().map_err(|()| HttpError("the body was already taken".into()))?;
        let stream = incoming.stream().map_err(|()| HttpError("the body was already taken".into()))?;
        let mut body = Vec::new();
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(stream_error(&e)),
            }
        }
        Ok(Response { status, headers, body })
    }
}

fn stream_error(e: &StreamError) -> HttpError {
    match e {
        StreamError::Closed => HttpError("the connection closed".into()),
        StreamError::LastOperationFailed(err) => match wasip2::http::types::http_error_code(err) {
            Some(code) => HttpError(describe(&code)),
            None => {
                let text = err.to_debug_string();
                HttpError(text.strip_prefix("internal error: ").map_or(text.clone(), str::to_owned))
            }
        },
    }
}

/// A readable text for an error code; the host's refusals carry their reason.
fn describe(e: &ErrorCode) -> String {
    match e {
        ErrorCode::InternalError(Some(reason)) => reason.clone(),
        ErrorCode::DnsError(d) => format!("DNS lookup failed: {}", d.rcode.clone().unwrap_or_default()),
        ErrorCode::ConnectionRefused => "the connection was refused".into(),
        ErrorCode::ConnectionReadTimeout | ErrorCode::ConnectionTimeout | ErrorCode::HttpResponseTimeout => {
            "the request timed out".into()
        }
        ErrorCode::HttpResponseBodySize(Some(n)) => {
            format!("the response exceeds this call's limit of {n} bytes")
        }
        other => format!("HTTP request failed: {other:?}"),
    }
}
