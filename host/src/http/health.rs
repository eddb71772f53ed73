//! Liveness and readiness probes.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::mcp::McpState;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 once the initial plugin scan is done, else 503. The body lists the live
/// plugins and any plugin that failed to load (with the reason).
pub async fn readyz(State(state): State<Arc<McpState>>) -> (StatusCode, Json<Value>) {
    let snapshot = state.registry.snapshot();
    let plugins: Vec<Value> = snapshot
        .plugins()
        .iter()
        .map(|(source, p)| json!({ "source": source, "name": p.manifest.name, "sha256": p.sha256, "tools": p.tools.len() }))
        .collect();
    let ready = state.registry.is_ready();
    let body = json!({
        "ready": ready,
        "plugins": plugins,
        "tools": snapshot.tools().count(),
        "errors": state.registry.errors(),
        "free_instance_slots": state.runtime.free_slots(),
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}
