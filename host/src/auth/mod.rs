//! Who is calling. Token verification arrives with the resource-server work; today the only mode is
//! `none`, where every caller gets the same anonymous identity (loopback binds only).

mod identity;

pub use identity::Identity;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

use crate::config::AuthMode;

/// Attaches the caller's [`Identity`] to the request, for the MCP handler to read.
pub async fn attach_identity(mode: AuthMode, mut request: Request, next: Next) -> Response {
    let identity = match mode {
        AuthMode::None => Identity::anonymous(),
    };
    request.extensions_mut().insert(identity);
    next.run(request).await
}
