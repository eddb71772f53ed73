//! Another caller's well-behaved calls, running while a test attacks or stalls the server: the
//! "others are served meanwhile" half of the containment tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::{McpClient, call, text_of};

/// `sample.greet` called in a loop on its own task until [`Greeter::stop`].
pub struct Greeter {
    stop: Arc<AtomicBool>,
    counts: Arc<[AtomicUsize; 3]>,
    task: tokio::task::JoinHandle<()>,
}

/// What the greeter saw.
#[derive(Debug)]
pub struct Greeted {
    /// Calls answered `Hello, <name>! You are anonymous.`
    pub ok: usize,
    /// Calls that failed or answered anything else.
    pub bad: usize,
    /// The slowest call, in milliseconds.
    pub slowest_ms: usize,
}

impl Greeter {
    /// Greets `name` through `client` (an anonymous caller), pausing `pause` between calls.
    pub fn spawn(client: Arc<McpClient>, name: &str, pause: Duration) -> Greeter {
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)]);
        let expected = format!("Hello, {name}! You are anonymous.");
        let name = name.to_owned();
        let (s, c) = (stop.clone(), counts.clone());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                let started = Instant::now();
                match call(&client, "sample.greet", json!({ "name": name })).await {
                    Ok(r) if text_of(&r) == expected => c[0].fetch_add(1, Ordering::Relaxed),
                    _ => c[1].fetch_add(1, Ordering::Relaxed),
                };
                let ms = usize::try_from(started.elapsed().as_millis()).unwrap_or(usize::MAX);
                c[2].fetch_max(ms, Ordering::Relaxed);
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
        });
        Greeter { stop, counts, task }
    }

    /// Stops the loop and reports.
    pub async fn stop(self) -> Greeted {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("greeter task");
        let [ok, bad, slowest] = &*self.counts;
        Greeted {
            ok: ok.load(Ordering::Relaxed),
            bad: bad.load(Ordering::Relaxed),
            slowest_ms: slowest.load(Ordering::Relaxed),
        }
    }
}
