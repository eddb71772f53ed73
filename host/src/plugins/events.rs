//! What a plugin tells the client while a request runs (progress, log messages), and whether the
//! client has gone away. The plugin side only ever `try_send`s into a bounded channel, so a
//! flooding plugin can neither block on the network nor grow the host's memory; the MCP layer
//! drains the channel into notifications on the request's stream.
// MCP logging is deprecated (SEP-2577) but still part of the 2026-07-28 protocol, which
// this host serves.
#![allow(deprecated)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use rmcp::model::LoggingLevel;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Notifications one request may send the client (progress and log together); the rest are
/// dropped, and Warden's log says so once.
pub const MAX_NOTIFICATIONS_PER_CALL: u32 = 100;
/// Notifications buffered between the plugin and the client's stream.
pub const NOTIFICATION_BUFFER: usize = 32;

/// Severity of a plugin log line in Warden's own log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Very detailed (0.1 only).
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Normal but significant.
    Notice,
    /// Something unexpected but handled.
    Warning,
    /// Something failed (and every more severe MCP level).
    Error,
}

/// One notification for the client.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// `notifications/progress`.
    Progress {
        /// Progress so far (grows with every event).
        progress: f64,
        /// The total, if known.
        total: Option<f64>,
        /// What is happening.
        message: Option<String>,
    },
    /// `notifications/message`.
    Log {
        /// Severity.
        level: LoggingLevel,
        /// Logger name, if the plugin gave one.
        logger: Option<String>,
        /// The message.
        message: String,
    },
}

/// What one request has sent so far, shared by all its rounds (each round is a fresh instance
/// with its own [`CallEvents`]): the cap and the growing progress hold for the whole request.
#[derive(Debug)]
pub struct EventBudget {
    sent: AtomicU32,
    /// The last progress value sent, as `f64` bits (`u64::MAX`: none yet).
    last_progress: AtomicU64,
}

impl Default for EventBudget {
    fn default() -> Self {
        EventBudget { sent: AtomicU32::new(0), last_progress: AtomicU64::new(u64::MAX) }
    }
}

/// The plugin-side end: what the client asked for, the caps, and the channel.
pub struct CallEvents {
    sender: Option<mpsc::Sender<CallEvent>>,
    progress_wanted: bool,
    log_level: Option<LoggingLevel>,
    budget: Arc<EventBudget>,
    cancelled: CancellationToken,
    plugin: String,
}

/// Numeric rank of a level (debug lowest), for filtering by the client's minimum.
fn rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

impl CallEvents {
    /// Events for one request of `plugin`: progress is forwarded only if the client sent a
    /// progress token, log messages only at or above the level it asked for (none: no log
    /// messages at all, as the 2026-07-28 protocol requires). `None` as `sender`: nothing is
    /// forwarded (the request has no stream to carry it).
    pub fn new(
        plugin: &str,
        sender: Option<mpsc::Sender<CallEvent>>,
        progress_wanted: bool,
        log_level: Option<LoggingLevel>,
        budget: Arc<EventBudget>,
        cancelled: CancellationToken,
    ) -> CallEvents {
        CallEvents { sender, progress_wanted, log_level, budget, cancelled, plugin: plugin.to_owned() }
    }

    /// Events that go nowhere (load-time calls, completion).
    pub fn none(plugin: &str) -> CallEvents {
        CallEvents::new(plugin, None, false, None, Arc::default(), CancellationToken::new())
    }

    /// Queues a progress report, if the client wants progress and it grows.
    pub fn progress(&mut self, progress: f64, total: Option<f64>, message: Option<String>) {
        if !self.progress_wanted || !progress.is_finite() || total.is_some_and(|t| !t.is_finite()) {
            return;
        }
        let last = self.budget.last_progress.load(Ordering::Acquire);
        if last != u64::MAX && progress <= f64::from_bits(last) {
            return;
        }
        if self.send(CallEvent::Progress { progress, total, message }) {
            self.budget.last_progress.store(progress.to_bits(), Ordering::Release);
        }
    }

    /// Queues a log message, if it is at or above the client's level.
    pub fn log(&mut self, level: LoggingLevel, logger: Option<String>, message: String) {
        if self.log_level.is_some_and(|min| rank(level) >= rank(min)) {
            self.send(CallEvent::Log { level, logger, message });
        }
    }

    /// The token that fires when the client cancels or goes away.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancelled.clone()
    }

    /// True once the client cancelled or went away.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.is_cancelled()
    }

    /// Queues `event` within the request's cap; true if it was queued.
    fn send(&mut self, event: CallEvent) -> bool {
        let Some(sender) = &self.sender else { return false };
        let sent = self.budget.sent.load(Ordering::Acquire);
        if sent >= MAX_NOTIFICATIONS_PER_CALL {
            if sent == MAX_NOTIFICATIONS_PER_CALL {
                tracing::warn!(
                    plugin = %self.plugin,
                    cap = MAX_NOTIFICATIONS_PER_CALL,
                    "plugin notification cap reached; dropping further progress and log notifications of this request"
                );
                self.budget.sent.store(sent + 1, Ordering::Release);
            }
            return false;
        }
        // A full buffer means the client reads slower than the plugin writes: drop, never wait.
        let queued = sender.try_send(event).is_ok();
        if queued {
            self.budget.sent.fetch_add(1, Ordering::AcqRel);
        }
        queued
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_the_client_asked_for_is_sent_and_the_cap_holds() {
        let (tx, mut rx) = mpsc::channel(1024);
        let budget = Arc::new(EventBudget::default());
        let mut events = CallEvents::new(
            "p",
            Some(tx),
            true,
            Some(LoggingLevel::Warning),
            budget.clone(),
            CancellationToken::new(),
        );
        events.log(LoggingLevel::Info, None, "below the level".into());
        events.log(LoggingLevel::Error, None, "sent".into());
        events.progress(1.0, None, None);
        events.progress(1.0, None, None); // does not grow: dropped
        events.progress(f64::NAN, None, None);
        for i in 0..1000 {
            events.progress(f64::from(i) + 2.0, Some(2000.0), None);
        }
        let mut got = Vec::new();
        while let Ok(e) = rx.try_recv() {
            got.push(e);
        }
        assert_eq!(got.len(), MAX_NOTIFICATIONS_PER_CALL as usize);
        assert!(matches!(&got[0], CallEvent::Log { message, .. } if message == "sent"));
        assert_eq!(got[1], CallEvent::Progress { progress: 1.0, total: None, message: None });

        // The next round of the same request shares the budget: still capped, still growing.
        let (tx, mut rx) = mpsc::channel(1024);
        let mut next = CallEvents::new("p", Some(tx), true, None, budget, CancellationToken::new());
        next.progress(5000.0, None, None);
        assert!(rx.try_recv().is_err(), "the cap holds across rounds");

        let (tx, mut rx) = mpsc::channel(8);
        let mut silent =
            CallEvents::new("p", Some(tx), false, None, Arc::default(), CancellationToken::new());
        silent.log(LoggingLevel::Emergency, None, "no level asked".into());
        silent.progress(1.0, None, None);
        assert!(rx.try_recv().is_err(), "no progress token and no log level: nothing is sent");
    }
}
