//! Liveness and readiness probes.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;

/// `GET /healthz`: the process is up.
pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 once the initial plugin scan is done and tokens can be verified (the IdP's
/// keys are loaded), and until shutdown begins; else 503. The body lists the live plugins and any plugin that failed to load.
pub(super) async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    let state = &app.mcp;
    let snapshot = state.registry.snapshot();
    let plugins: Vec<Value> = snapshot
        .plugins()
        .iter()
        .map(|(source, p)| json!({ "source": source, "name": p.manifest.name, "sha256": p.sha256, "tools": p.tools.len() }))
        .collect();
    let plugins_ready = state.registry.is_ready();
    let auth_ready = app.auth.is_ready();
    let draining = app.draining.load(Ordering::Acquire);
    let ready = plugins_ready && auth_ready && !draining;
    let body = json!({
        "ready": ready,
        "draining": draining,
        "plugins_loaded": plugins_ready,
        "auth_keys_loaded": auth_ready,
        "plugins": plugins,
        "tools": snapshot.tools().count(),
        "errors": state.registry.errors(),
        "free_instance_slots": state.runtime.free_slots(),
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}
