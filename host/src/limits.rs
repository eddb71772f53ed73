//! Per-caller and per-plugin limits on tool calls: a sustained rate with a burst (GCRA, from
//! `governor`) and a cap on calls running at once. A refusal says how long to wait, which the
//! HTTP layer sends as `Retry-After`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::LimitsConfig;

/// The rate limiters' key count is checked against `max_tracked_keys` once per this many calls
/// (counting them visits every shard of the limiter's map).
const SIZE_CHECK_EVERY: u32 = 64;

/// Suggested wait after a concurrency refusal: calls usually finish well within it.
const CONCURRENCY_RETRY: Duration = Duration::from_secs(1);

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Which limit: `caller_rate`, `plugin_rate`, `caller_concurrency` or `plugin_concurrency`.
    pub limit: &'static str,
    /// How long to wait before retrying.
    pub retry_after: Duration,
}

impl Refusal {
    /// The message sent to the client.
    pub fn message(&self) -> String {
        let what = match self.limit {
            "caller_rate" => "you are calling tools faster than this server allows",
            "plugin_rate" => "this tool's plugin is receiving more calls than this server allows",
            "caller_concurrency" => "you have as many tool calls running as this server allows",
            _ => "this tool's plugin has as many calls running as this server allows",
        };
        format!("{what}; retry after {} s", self.retry_after_secs())
    }

    /// `retry_after` rounded up to whole seconds (at least 1), for the `Retry-After` header.
    pub fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after;
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
    }
}

/// The limits, shared by every request.
pub struct CallLimits {
    caller_rate: Option<DefaultKeyedRateLimiter<String>>,
    plugin_rate: Option<DefaultKeyedRateLimiter<String>>,
    caller_concurrency: u32,
    plugin_concurrency: u32,
    max_tracked_keys: usize,
    clock: DefaultClock,
    /// Calls admitted since the limiters' sizes were last checked.
    since_size_check: AtomicU32,
    /// Calls running now, by `c:<caller>` and `p:<plugin>` (only for a capped kind: with a cap
    /// of 0 nothing is counted).
    running: Mutex<HashMap<String, u32>>,
}

/// Held while a call runs; releases its concurrency slots when dropped.
pub struct Permit {
    limits: Arc<CallLimits>,
    /// `c:<caller>` and `p:<plugin>`.
    keys: [String; 2],
    /// Which of them this call is counted under in `running` (a capped kind only).
    counted: [bool; 2],
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.counted.contains(&true) {
            self.limits.release(&self.keys, self.counted);
        }
    }
}

fn limiter(per_s: u32, burst: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    let rate = NonZeroU32::new(per_s)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)))
}

impl CallLimits {
    /// The limits from `[limits]`.
    pub fn new(config: &LimitsConfig) -> CallLimits {
        CallLimits {
            caller_rate: limiter(config.caller_calls_per_s, config.caller_burst),
            plugin_rate: limiter(config.plugin_calls_per_s, config.plugin_burst),
            caller_concurrency: config.caller_concurrency,
            plugin_concurrency: config.plugin_concurrency,
            max_tracked_keys: config.max_tracked_keys,
            clock: DefaultClock::default(),
            since_size_check: AtomicU32::new(0),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Admits one call by `caller` to `plugin`, or says which limit refuses it. Concurrency is
    /// checked first, so a refused call does not use up rate.
    pub fn admit(self: &Arc<Self>, caller: &str, plugin: &str) -> Result<Permit, Refusal> {
        let keys = [format!("c:{caller}"), format!("p:{plugin}")];
        let caps = [self.caller_concurrency, self.plugin_concurrency];
        let counted = caps.map(|cap| cap > 0);
        if counted.contains(&true) {
            let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            let over = |key: &str, cap: u32| cap > 0 && running.get(key).copied().unwrap_or(0) >= cap;
            if over(&keys[0], caps[0]) {
                return Err(Refusal { limit: "caller_concurrency", retry_after: CONCURRENCY_RETRY });
            }
            if over(&keys[1], caps[1]) {
                return Err(Refusal { limit: "plugin_concurrency", retry_after: CONCURRENCY_RETRY });
            }
            for (key, _) in keys.iter().zip(counted).filter(|(_, counted)| *counted) {
                *running.entry(key.clone()).or_insert(0) += 1;
            }
        }
        // From here on, dropping the permit gives the concurrency slots back. The rate limiters
        // are keyed by the same strings (each limiter holds one kind of key).
        let permit = Permit { limits: self.clone(), keys, counted };
        if self.since_size_check.fetch_add(1, Ordering::Relaxed).is_multiple_of(SIZE_CHECK_EVERY) {
            for limiter in [&self.caller_rate, &self.plugin_rate].into_iter().flatten() {
                if limiter.len() > self.max_tracked_keys {
                    // Forget keys whose bucket is full again: they are indistinguishable from new ones.
                    limiter.retain_recent();
                }
            }
        }
        self.check_rate(&self.caller_rate, &permit.keys[0], "caller_rate")?;
        self.check_rate(&self.plugin_rate, &permit.keys[1], "plugin_rate")?;
        Ok(permit)
    }

    fn check_rate(
        &self,
        limiter: &Option<DefaultKeyedRateLimiter<String>>,
        key: &String,
        limit: &'static str,
    ) -> Result<(), Refusal> {
        let Some(limiter) = limiter else { return Ok(()) };
        limiter
            .check_key(key)
            .map_err(|not_until| Refusal { limit, retry_after: not_until.wait_time_from(self.clock.now()) })
    }

    fn release(&self, keys: &[String; 2], counted: [bool; 2]) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        for (key, _) in keys.iter().zip(counted).filter(|(_, counted)| *counted) {
            if let Some(n) = running.get_mut(key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    running.remove(key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(c: LimitsConfig) -> Arc<CallLimits> {
        Arc::new(CallLimits::new(&c))
    }

    #[test]
    fn rate_allows_the_burst_then_refuses_with_a_wait() {
        let l = limits(LimitsConfig { caller_calls_per_s: 1, caller_burst: 3, ..LimitsConfig::default() });
        for _ in 0..3 {
            assert!(l.admit("alice", "p").is_ok());
        }
        let refusal = l.admit("alice", "p").err().unwrap();
        assert_eq!(refusal.limit, "caller_rate");
        assert!(refusal.retry_after > Duration::ZERO && refusal.retry_after <= Duration::from_secs(1));
        assert_eq!(refusal.retry_after_secs(), 1);
        assert!(l.admit("bob", "p").is_ok(), "another caller has its own budget");
    }

    #[test]
    fn concurrency_is_released_when_the_permit_drops() {
        let l =
            limits(LimitsConfig { caller_concurrency: 1, plugin_concurrency: 2, ..LimitsConfig::default() });
        let first = l.admit("alice", "p").unwrap();
        assert_eq!(l.admit("alice", "p").err().unwrap().limit, "caller_concurrency");
        let second = l.admit("bob", "p").unwrap();
        assert_eq!(l.admit("carol", "p").err().unwrap().limit, "plugin_concurrency");
        drop(first);
        drop(second);
        assert!(l.admit("alice", "p").is_ok());
        assert!(l.running.lock().unwrap().is_empty(), "nothing left counted after every permit dropped");
    }

    #[test]
    fn only_capped_kinds_are_counted() {
        let l =
            limits(LimitsConfig { caller_concurrency: 0, plugin_concurrency: 2, ..LimitsConfig::default() });
        let first = l.admit("alice", "p").unwrap();
        let second = l.admit("alice", "p").unwrap();
        assert_eq!(l.admit("bob", "p").err().unwrap().limit, "plugin_concurrency");
        let counted: Vec<(String, u32)> = l.running.lock().unwrap().clone().into_iter().collect();
        assert_eq!(counted, vec![("p:p".to_owned(), 2)], "the uncapped caller kind is not counted");
        drop(first);
        drop(second);
        assert!(l.running.lock().unwrap().is_empty());
    }

    #[test]
    fn zero_switches_a_limit_off() {
        let l = limits(LimitsConfig {
            caller_calls_per_s: 0,
            caller_concurrency: 0,
            plugin_calls_per_s: 0,
            plugin_concurrency: 0,
            ..LimitsConfig::default()
        });
        let permits: Vec<Permit> = (0..1000).filter_map(|_| l.admit("a", "p").ok()).collect();
        assert_eq!(permits.len(), 1000);
    }
}
