//! How the authorization server says no: RFC 6749 §5.2 JSON errors at the token, revocation and
//! registration endpoints, error redirects (§4.1.2.1, with RFC 9207 `iss`) once the client and
//! its redirect URI are trusted, and an HTML error page when they are not, which is never a
//! redirect. Descriptions are written for the client; internal failures only say "try again".

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::page;
use super::vault::VaultError;

/// An RFC 6749 error response from a JSON endpoint.
#[derive(Debug)]
pub(super) struct OAuthError {
    /// HTTP status (400, or 401 for `invalid_client`, 503 when the IdP or store is down).
    pub status: StatusCode,
    /// The `error` code.
    pub error: &'static str,
    /// `error_description`, safe to show.
    pub description: String,
}

impl OAuthError {
    /// 400 `invalid_request`.
    pub(super) fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
        }
    }

    /// 400 `invalid_grant`: a code or refresh token that is unknown, used, expired or not this
    /// client's, or a PKCE verifier that does not match.
    pub(super) fn invalid_grant(description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_grant",
            description: description.into(),
        }
    }

    /// 401 `invalid_client`.
    pub(super) fn invalid_client(description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
        }
    }

    /// 503 `temporarily_unavailable` (the IdP or the state store cannot be reached).
    pub(super) fn unavailable(description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "temporarily_unavailable",
            description: description.into(),
        }
    }

    /// Any other code with status 400.
    pub(super) fn bad(error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError { status: StatusCode::BAD_REQUEST, error, description: description.into() }
    }
}

impl From<VaultError> for OAuthError {
    fn from(e: VaultError) -> OAuthError {
        tracing::error!(error = %e, "state store failure");
        OAuthError::unavailable("the authorization server's state store is unavailable; try again")
    }
}

/// Headers every authorization-server response carries: nothing cached (RFC 6749 §5.1).
pub(super) fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, axum::Json(body)).into_response();
        no_store(response.headers_mut());
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"warden\""));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// An HTML error page for the browser: used whenever the client or redirect URI cannot be
/// trusted (never redirect there) and for broken or expired logins.
pub(super) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p>{}</p><p class=\"muted\">You can close this window and start the sign-in again from your MCP client.</p>",
        page::escape(title),
        page::escape(message)
    );
    page::html(status, title, &body, &[])
}

impl From<VaultError> for Response {
    fn from(e: VaultError) -> Response {
        tracing::error!(error = %e, "state store failure");
        error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The sign-in service cannot reach its state store. Try again in a moment.",
        )
    }
}
