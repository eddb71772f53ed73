//! The audit log: one JSON object per line for every security decision (token rejected, tool
//! called or refused, plugin loaded or refused), written by its own thread so a slow disk never
//! stalls a request.
//!
//! What never goes in: tokens, secrets, and argument values (only argument names are recorded,
//! so a value a tool marks secret cannot leak). Reasons come from Warden's own messages, which
//! never quote a token.

use std::io::Write;
use std::path::Path;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use time::OffsetDateTime;

use crate::shared::Identity;
use time::format_description::BorrowedFormatItem;

/// Lines buffered for the writer thread; beyond this, lines are dropped and counted.
const QUEUE: usize = 16 * 1024;

/// How long the writer rests after a flush before it waits for lines again. Lines sent meanwhile
/// queue without waking it (a wake-up is a futex call and a context switch per line under load),
/// and go out together at the next flush: at most this much later than alone.
const COALESCE: Duration = Duration::from_millis(1);

/// What the writer thread receives.
enum Message {
    /// One line, without its newline.
    Line(String),
    /// Flush what came before, then answer.
    Sync(SyncSender<()>),
}

/// One decision. Unset fields are left out of the line.
#[derive(Debug, Default, Serialize)]
pub struct AuditEvent {
    /// When, RFC 3339 UTC with milliseconds.
    pub ts: String,
    /// `token.rejected`, `tool.called`, `tool.refused`, `plugin.loaded`, `plugin.refused`,
    /// `plugin.removed`.
    pub event: &'static str,
    /// `ok`, `error`, `refused`, `rate_limited`, ...
    pub outcome: &'static str,
    /// Token subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// OAuth client the token was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Team of the tool or plugin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Served tool name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Plugin namespace, or the plugin's source in its directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// SHA-256 of the plugin's component.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_sha256: Option<String>,
    /// The database user the call acted as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_user: Option<String>,
    /// Names (never values) of the arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Vec<String>>,
    /// Why, for refusals and failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How long the decision or call took, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// Outbound HTTP: the method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Outbound HTTP: origin and path, never the query string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Outbound HTTP: the response status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Outbound HTTP: response body bytes read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Outbound HTTP: the kind of credential attached (never its value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<&'static str>,
}

impl AuditEvent {
    /// An event of kind `event` with outcome `outcome`, stamped now.
    pub fn new(event: &'static str, outcome: &'static str) -> AuditEvent {
        AuditEvent { ts: rfc3339_now(), event, outcome, ..AuditEvent::default() }
    }

    /// An event about something `caller` did: stamped now, with its subject and client id.
    pub fn by(event: &'static str, outcome: &'static str, caller: &Identity) -> AuditEvent {
        let data = caller.data();
        AuditEvent {
            subject: Some(data.subject.clone()),
            client_id: data.client_id.clone(),
            ..Self::new(event, outcome)
        }
    }
}

/// Where audit lines go.
pub struct AuditLog {
    tx: Option<SyncSender<Message>>,
    dropped: AtomicU64,
}

impl AuditLog {
    /// An audit log that records nothing.
    pub fn disabled() -> AuditLog {
        AuditLog { tx: None, dropped: AtomicU64::new(0) }
    }

    /// Opens `path` for appending (`-`: stdout, `stderr`: stderr) and starts the writer thread.
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        let sink: Box<dyn Write + Send> = match path.to_str() {
            Some("-") => Box::new(std::io::stdout()),
            Some("stderr") => Box::new(std::io::stderr()),
            _ => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)?;
                }
                Box::new(crate::shared::private_files::open_append(path)?)
            }
        };
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new().name("warden-audit".into()).spawn(move || write_lines(rx, sink))?;
        Ok(AuditLog { tx: Some(tx), dropped: AtomicU64::new(0) })
    }

    /// Records `event`. Never blocks: if the writer has fallen far behind, the line is dropped
    /// and counted (see [`AuditLog::dropped`]).
    pub fn record(&self, event: &AuditEvent) {
        let Some(tx) = &self.tx else { return };
        let Ok(line) = serde_json::to_string(event) else { return };
        match tx.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                if self.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::error!("the audit log writer is not keeping up; audit lines are being dropped");
                }
            }
        }
    }

    /// Waits (up to `within`) until every line recorded so far is written and flushed: at
    /// shutdown, so the last calls' lines are not lost with the process. False if the writer did
    /// not answer in time.
    pub fn sync(&self, within: Duration) -> bool {
        let Some(tx) = &self.tx else { return true };
        let deadline = std::time::Instant::now() + within;
        let (done, answered) = sync_channel(1);
        // Not a blocking send: with the queue full and the writer stuck on a hung disk, that
        // would wait past `within` (and hold up shutdown for good).
        let mut message = Message::Sync(done);
        loop {
            match tx.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    if std::time::Instant::now() >= deadline {
                        return false;
                    }
                    message = back;
                    std::thread::sleep(COALESCE);
                }
            }
        }
        answered.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())).is_ok()
    }

    /// Lines dropped because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The writer thread: writes what is queued, flushes once the queue is empty, then rests for
/// [`COALESCE`] so that lines arriving under load are written in batches.
fn write_lines(rx: Receiver<Message>, sink: Box<dyn Write + Send>) {
    let mut out = std::io::BufWriter::new(sink);
    while let Ok(first) = rx.recv() {
        let mut waiting = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Line(line) => {
                    if writeln!(out, "{line}").is_err() {
                        tracing::error!("cannot write the audit log");
                    }
                }
                Message::Sync(done) => waiting.push(done),
            }
            next = rx.try_recv().ok();
        }
        if out.flush().is_err() {
            tracing::error!("cannot flush the audit log");
        }
        for done in waiting {
            let _ = done.try_send(());
        }
        std::thread::sleep(COALESCE);
    }
}

/// The timestamp layout: RFC 3339, UTC, milliseconds (`time`'s format description, parsed once).
static TIMESTAMP: LazyLock<Vec<BorrowedFormatItem<'static>>> = LazyLock::new(|| {
    time::format_description::parse_borrowed::<1>(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z",
    )
    .unwrap_or_default()
});

/// Now as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339_now() -> String {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339(since)
}

/// `since` the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn rfc3339(since: Duration) -> String {
    (OffsetDateTime::UNIX_EPOCH + since).format(&*TIMESTAMP).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(Duration::from_millis(0)), "1970-01-01T00:00:00.000Z");
        // 2024-02-29T12:34:56.789Z, a leap day.
        assert_eq!(rfc3339(Duration::from_millis(1_709_210_096_789)), "2024-02-29T12:34:56.789Z");
        assert_eq!(rfc3339(Duration::from_secs(4_102_444_799)), "2099-12-31T23:59:59.000Z");
    }

    #[test]
    fn sync_returns_once_every_recorded_line_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        for i in 0..500 {
            let mut e = AuditEvent::new("tool.called", "ok");
            e.tool = Some(format!("sample.t{i}"));
            log.record(&e);
        }
        assert!(log.sync(Duration::from_secs(5)));
        // Read while the log is still open: sync, not the writer's exit, put them there.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 500, "{text}");
        assert!(text.lines().last().unwrap().contains("sample.t499"), "{text}");
        assert!(AuditLog::disabled().sync(Duration::from_millis(1)));
    }

    #[test]
    fn lines_are_json_without_unset_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        let mut e = AuditEvent::new("tool.called", "ok");
        e.tool = Some("sample.greet".into());
        log.record(&e);
        drop(log);
        let mut text = String::new();
        for _ in 0..100 {
            text = std::fs::read_to_string(&path).unwrap_or_default();
            if !text.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["event"], "tool.called");
        assert_eq!(v["tool"], "sample.greet");
        assert!(v.get("subject").is_none(), "{text}");
    }
}
