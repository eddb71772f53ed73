//! `GET /metrics`: the Prometheus scrape (OpenMetrics text), gauges read at scrape time.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;
use crate::telemetry::metrics::Snapshot;

/// The OpenMetrics text content type `prometheus-client` encodes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Renders every metric, with gauges read now.
pub(super) async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    let runtime = &app.mcp.runtime;
    let max = runtime.max_slots();
    let now = Snapshot {
        pool: runtime.database().map(|db| db.pool_stats()),
        instances: (max.saturating_sub(runtime.free_slots()), max),
        audit_dropped: app.mcp.telemetry.audit.dropped(),
    };
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], app.mcp.telemetry.metrics.render(&now))
}
