//! The per-plugin breaker: a plugin whose statements keep costing pooled connections (the driver
//! failed, the session could not be reset, the acting user changed) has its database access
//! paused for a while, so one plugin cannot churn the pool for every other.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When a breaker trips and for how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BreakerRule {
    /// Losses within `window` that trip it.
    pub losses: u32,
    /// The window losses are counted over.
    pub window: Duration,
    /// How long access stays paused once tripped.
    pub pause: Duration,
}

#[derive(Default)]
struct State {
    /// When each recent loss happened, oldest first (at most `losses` kept).
    losses: VecDeque<Instant>,
    /// Access is paused until then.
    paused_until: Option<Instant>,
}

/// Every plugin's breaker, by plugin namespace.
pub(crate) struct Breakers {
    rule: BreakerRule,
    plugins: Mutex<HashMap<String, State>>,
}

impl Breakers {
    pub(crate) fn new(rule: BreakerRule) -> Breakers {
        Breakers { rule, plugins: Mutex::new(HashMap::new()) }
    }

    /// How long `plugin`'s access stays paused, if it is.
    pub(crate) fn paused(&self, plugin: &str) -> Option<Duration> {
        let now = Instant::now();
        let plugins = self.plugins.lock().ok()?;
        let until = plugins.get(plugin)?.paused_until?;
        (until > now).then(|| until - now)
    }

    /// Records that one of `plugin`'s statements cost a connection; true if that tripped its
    /// breaker.
    pub(crate) fn record_loss(&self, plugin: &str) -> bool {
        let now = Instant::now();
        let Ok(mut plugins) = self.plugins.lock() else { return false };
        if !plugins.contains_key(plugin) && plugins.len() >= 10_000 {
            // Plugins come and go with reloads; forget the quiet ones rather than grow forever.
            plugins.retain(|_, s| s.paused_until.is_some_and(|u| u > now) || !s.losses.is_empty());
        }
        let state = plugins.entry(plugin.to_owned()).or_default();
        while state.losses.front().is_some_and(|t| now.duration_since(*t) > self.rule.window) {
            state.losses.pop_front();
        }
        state.losses.push_back(now);
        if state.losses.len() >= self.rule.losses as usize {
            state.losses.clear();
            state.paused_until = Some(now + self.rule.pause);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(losses: u32, window_ms: u64, pause_ms: u64) -> BreakerRule {
        BreakerRule {
            losses,
            window: Duration::from_millis(window_ms),
            pause: Duration::from_millis(pause_ms),
        }
    }

    #[test]
    fn trips_after_the_set_number_of_losses_and_only_for_that_plugin() {
        let b = Breakers::new(rule(3, 60_000, 60_000));
        assert!(!b.record_loss("a"));
        assert!(!b.record_loss("a"));
        assert!(b.paused("a").is_none());
        assert!(!b.record_loss("b"));
        assert!(b.record_loss("a"));
        assert!(b.paused("a").is_some_and(|d| d > Duration::from_secs(50)));
        assert!(b.paused("b").is_none());
    }

    #[test]
    fn losses_outside_the_window_do_not_count_and_a_pause_ends() {
        let b = Breakers::new(rule(2, 30, 30));
        assert!(!b.record_loss("a"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!b.record_loss("a"), "the first loss fell out of the window");
        assert!(b.record_loss("a"));
        assert!(b.paused("a").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.paused("a").is_none());
    }
}
