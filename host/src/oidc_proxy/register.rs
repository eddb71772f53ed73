//! `POST /register`: RFC 7591 dynamic client registration. Registrations live in the state
//! store, so every replica and every restart knows the client.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::OidcProxy;
use super::clients::{RegistrationError, RegistrationRequest};
use super::errors::{OAuthError, no_store};
use crate::telemetry::AuditEvent;

/// `POST /register` with a JSON body.
pub(super) async fn register(State(proxy): State<Arc<OidcProxy>>, body: axum::body::Bytes) -> Response {
    if proxy.registrations.check().is_err() {
        tracing::warn!("client registrations are over oidc.registrations_per_minute");
        let mut response = OAuthError {
            status: StatusCode::TOO_MANY_REQUESTS,
            error: "temporarily_unavailable",
            description: "too many registrations right now; try again in a minute".into(),
        }
        .into_response();
        response.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("60"));
        return response;
    }
    let request: RegistrationRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => {
            return OAuthError::bad(
                "invalid_client_metadata",
                "the body must be a JSON client metadata object",
            )
            .into_response();
        }
    };
    match proxy.registrar.register(request).await {
        Ok((client, secret)) => {
            let mut e = AuditEvent::new("client.registered", "ok");
            e.client_id = Some(client.client_id.clone());
            proxy.telemetry.audit.record(&e);
            let mut body = json!({
                "client_id": client.client_id,
                "client_id_issued_at": client.client_id_issued_at,
                "redirect_uris": client.redirect_uris,
                "grant_types": client.grant_types,
                "response_types": ["code"],
                "token_endpoint_auth_method": client.token_endpoint_auth_method,
            });
            if let Some(obj) = body.as_object_mut() {
                if let Some(name) = &client.client_name {
                    obj.insert("client_name".into(), json!(name));
                }
                if let Some(scope) = &client.scope {
                    obj.insert("scope".into(), json!(scope));
                }
                if let Some(secret) = secret {
                    obj.insert("client_secret".into(), json!(secret));
                    obj.insert("client_secret_expires_at".into(), json!(0));
                }
            }
            let mut response = (StatusCode::CREATED, Json(body)).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(RegistrationError::Store(e)) => {
            tracing::error!(error = %e, "registration: state store failure");
            OAuthError::unavailable("registration is temporarily unavailable; try again").into_response()
        }
        Err(e) => {
            tracing::info!(reason = %e, "registration refused");
            OAuthError::bad(e.code(), e.to_string()).into_response()
        }
    }
}
