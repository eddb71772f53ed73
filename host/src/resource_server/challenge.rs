//! `WWW-Authenticate` challenges (RFC 6750 §3, RFC 9728 §5.1, MCP 2025-11-25 step-up).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{AuthFailure, Authenticator};

/// Quotes a value for an auth-param (RFC 9110 quoted-string), dropping what cannot be quoted.
fn quoted(value: &str) -> String {
    let clean: String =
        value.chars().filter(|c| c.is_ascii() && !c.is_ascii_control()).map(|c| c.to_string()).collect();
    format!("\"{}\"", clean.replace('\\', "\\\\").replace('"', "\\\""))
}

fn challenge(auth: &Authenticator, error: Option<(&str, &str)>, scope: &[String]) -> String {
    let mut params = vec![format!("resource_metadata={}", quoted(&auth.metadata_url))];
    if let Some((code, description)) = error {
        params.insert(0, format!("error={}", quoted(code)));
        params.push(format!("error_description={}", quoted(description)));
    }
    if !scope.is_empty() {
        params.push(format!("scope={}", quoted(&scope.join(" "))));
    }
    format!("Bearer {}", params.join(", "))
}

fn with_challenge(status: StatusCode, value: String, body: serde_json::Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

/// 401 (or 503 while the IdP's keys are unavailable) for a failed authentication.
pub fn unauthorized(auth: &Authenticator, failure: &AuthFailure) -> Response {
    match failure {
        AuthFailure::Missing => with_challenge(
            StatusCode::UNAUTHORIZED,
            challenge(auth, None, &auth.required_scopes),
            json!({ "error": "unauthorized", "error_description": "a bearer token is required" }),
        ),
        AuthFailure::Invalid(reason) => with_challenge(
            StatusCode::UNAUTHORIZED,
            challenge(auth, Some(("invalid_token", reason)), &[]),
            json!({ "error": "invalid_token", "error_description": reason }),
        ),
        AuthFailure::Unavailable => {
            let mut r = (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": "temporarily_unavailable",
                             "error_description": "the authorization server cannot be reached to verify the token; retry shortly" })),
            )
                .into_response();
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
    }
}

/// 403 naming the scopes the call needs (step-up authorization).
pub fn forbidden_insufficient_scope(auth: &Authenticator, needed: &[String]) -> Response {
    let description = format!("this call needs scope(s): {}", needed.join(" "));
    with_challenge(
        StatusCode::FORBIDDEN,
        challenge(auth, Some(("insufficient_scope", &description)), needed),
        json!({ "error": "insufficient_scope", "error_description": description, "scope": needed.join(" ") }),
    )
}
