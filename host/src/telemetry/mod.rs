//! What Warden tells its operators: the audit log (one JSON line per security decision) and the
//! Prometheus metrics.

pub mod audit;
pub mod metrics;

use std::sync::Arc;

pub use audit::{AuditEvent, AuditLog};
pub use metrics::Metrics;

/// The audit log and the metrics, shared by every part that makes a decision.
#[derive(Clone)]
pub struct Telemetry {
    /// The audit log.
    pub audit: Arc<AuditLog>,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
}

impl Telemetry {
    /// Telemetry that records metrics but writes no audit log (tools like `warden check`).
    pub fn quiet() -> Telemetry {
        Telemetry { audit: Arc::new(AuditLog::disabled()), metrics: Arc::new(Metrics::default()) }
    }
}
