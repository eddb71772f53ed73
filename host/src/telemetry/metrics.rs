//! Prometheus metrics (`prometheus-client`), served as text at `/metrics`.
//!
//! Counters and histograms are updated where things happen; gauges that mirror other state
//! (database pool, instance slots) are read at scrape time.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::shared::PoolStats;

/// Labels of a tool call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// Served tool name.
    pub tool: String,
    /// `ok`, `error`, `refused`, `rate_limited`, `busy`.
    pub outcome: String,
}

/// Labels naming a tool.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolLabels {
    /// Served tool name.
    pub tool: String,
}

/// Labels carrying a reason or outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// A short, fixed reason (never free text from a request).
    pub reason: String,
}

/// Labels of an outbound HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutboundLabels {
    /// Plugin namespace.
    pub plugin: String,
    /// The manifest's destination name (`-` when the request matched none).
    pub destination: String,
    /// `ok`, `refused`, `timeout`, `too_large`, `idp_unavailable`, `no_credential`, `error`.
    pub outcome: String,
}

type HistogramFamily = Family<ToolLabels, Histogram, fn() -> Histogram>;

/// Every metric Warden exports.
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    call_seconds: HistogramFamily,
    auth_failures: Family<ReasonLabels, Counter>,
    rate_limited: Family<ReasonLabels, Counter>,
    plugin_loads: Family<ReasonLabels, Counter>,
    outbound: Family<OutboundLabels, Counter>,
    own_path: Counter,
    pool_size: Gauge,
    pool_in_use: Gauge,
    pool_idle: Gauge,
    pool_opened: Gauge,
    pool_discarded: Gauge,
    pool_acquire_timeouts: Gauge,
    instances_max: Gauge,
    instances_in_use: Gauge,
    audit_dropped: Gauge,
}

fn call_histogram() -> Histogram {
    // 0.5 ms .. ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("warden");
        let calls = Family::<CallLabels, Counter>::default();
        let call_seconds: HistogramFamily = Family::new_with_constructor(call_histogram);
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        let rate_limited = Family::<ReasonLabels, Counter>::default();
        let plugin_loads = Family::<ReasonLabels, Counter>::default();
        let outbound = Family::<OutboundLabels, Counter>::default();
        registry.register(
            "outbound_requests",
            "Outbound HTTP requests of plugins by plugin, destination and outcome",
            outbound.clone(),
        );
        registry.register("tool_calls", "Tool calls by tool and outcome", calls.clone());
        let own_path = Counter::default();
        registry.register(
            "mcp_own_path_requests",
            "Stateless tools/call requests Warden answered on its own path (the rest go through rmcp's server)",
            own_path.clone(),
        );
        registry.register(
            "tool_call_duration_seconds",
            "Tool call latency, including queueing for an instance",
            call_seconds.clone(),
        );
        registry.register(
            "auth_failures",
            "Requests refused by authentication, by reason",
            auth_failures.clone(),
        );
        registry.register(
            "rate_limited",
            "Tool calls refused by a rate or concurrency limit",
            rate_limited.clone(),
        );
        registry.register(
            "plugin_loads",
            "Plugin loads, reloads and removals by outcome (loaded, refused, removed)",
            plugin_loads.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let pool_size = gauge(&mut registry, "db_pool_size", "Most database connections at once");
        let pool_in_use = gauge(&mut registry, "db_pool_in_use", "Database connections lent to calls");
        let pool_idle = gauge(&mut registry, "db_pool_idle", "Idle database connections");
        let pool_opened = gauge(&mut registry, "db_pool_opened", "Database connections opened since start");
        let pool_discarded = gauge(
            &mut registry,
            "db_pool_discarded",
            "Database connections dropped (state in doubt or server gone)",
        );
        let pool_acquire_timeouts = gauge(
            &mut registry,
            "db_pool_acquire_timeouts",
            "Calls that found no free database connection in time",
        );
        let instances_max = gauge(&mut registry, "instances_max", "Plugin instances that may run at once");
        let instances_in_use = gauge(&mut registry, "instances_in_use", "Plugin instances running now");
        let audit_dropped =
            gauge(&mut registry, "audit_lines_dropped", "Audit lines dropped because the writer fell behind");
        Metrics {
            registry,
            calls,
            call_seconds,
            auth_failures,
            rate_limited,
            plugin_loads,
            outbound,
            own_path,
            pool_size,
            pool_in_use,
            pool_idle,
            pool_opened,
            pool_discarded,
            pool_acquire_timeouts,
            instances_max,
            instances_in_use,
            audit_dropped,
        }
    }
}

/// Gauges read from elsewhere at scrape time.
pub struct Snapshot {
    /// Database pool use, when there is a database.
    pub pool: Option<PoolStats>,
    /// Plugin instance slots: (in use, most at once).
    pub instances: (usize, usize),
    /// Audit lines dropped so far.
    pub audit_dropped: u64,
}

fn as_gauge(v: impl TryInto<i64>) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}

impl Metrics {
    /// Counts a finished (or refused) tool call; `seconds` is recorded for calls that ran.
    pub fn tool_call(&self, tool: &str, outcome: &str, seconds: Option<f64>) {
        self.calls.get_or_create(&CallLabels { tool: tool.to_owned(), outcome: outcome.to_owned() }).inc();
        if let Some(s) = seconds {
            self.call_seconds.get_or_create(&ToolLabels { tool: tool.to_owned() }).observe(s);
        }
    }

    /// Counts a request answered on Warden's own stateless path.
    pub fn own_path_request(&self) {
        self.own_path.inc();
    }

    /// Counts a request refused by authentication.
    pub fn auth_failure(&self, reason: &str) {
        self.auth_failures.get_or_create(&ReasonLabels { reason: reason.to_owned() }).inc();
    }

    /// Counts a call refused by a limit (`caller_rate`, `plugin_rate`, `caller_concurrency`, ...).
    pub fn rate_limited(&self, limit: &str) {
        self.rate_limited.get_or_create(&ReasonLabels { reason: limit.to_owned() }).inc();
    }

    /// Counts a plugin load outcome (`loaded`, `refused`, `removed`).
    pub fn plugin_load(&self, outcome: &str) {
        self.plugin_loads.get_or_create(&ReasonLabels { reason: outcome.to_owned() }).inc();
    }

    /// Counts an outbound HTTP request of `plugin` to `destination` that ended with `outcome`.
    pub fn outbound_request(&self, plugin: &str, destination: &str, outcome: &str) {
        let labels = OutboundLabels {
            plugin: plugin.to_owned(),
            destination: destination.to_owned(),
            outcome: outcome.to_owned(),
        };
        self.outbound.get_or_create(&labels).inc();
    }

    /// The metrics in Prometheus text format, with the gauges set from `now`.
    pub fn render(&self, now: &Snapshot) -> String {
        if let Some(p) = now.pool {
            self.pool_size.set(as_gauge(p.size));
            self.pool_in_use.set(as_gauge(p.in_use));
            self.pool_idle.set(as_gauge(p.idle));
            self.pool_opened.set(as_gauge(p.opened));
            self.pool_discarded.set(as_gauge(p.discarded));
            self.pool_acquire_timeouts.set(as_gauge(p.acquire_timeouts));
        }
        self.instances_in_use.set(as_gauge(now.instances.0));
        self.instances_max.set(as_gauge(now.instances.1));
        self.audit_dropped.set(as_gauge(now.audit_dropped));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.tool_call("sample.greet", "ok", Some(0.002));
        m.auth_failure("invalid_token");
        let text = m.render(&Snapshot { pool: None, instances: (1, 64), audit_dropped: 0 });
        assert!(text.contains("warden_tool_calls_total{tool=\"sample.greet\",outcome=\"ok\"} 1"), "{text}");
        assert!(text.contains("warden_tool_call_duration_seconds_count{tool=\"sample.greet\"} 1"), "{text}");
        assert!(text.contains("warden_auth_failures_total{reason=\"invalid_token\"} 1"), "{text}");
        assert!(text.contains("warden_instances_max 64"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
