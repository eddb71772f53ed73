//! The plugin directory: `<stem>.wasm` + `<stem>.toml` pairs, polled for changes (hot reload).
//!
//! Polling rather than inotify: it behaves the same on every filesystem (bind mounts, network
//! volumes, Kubernetes ConfigMaps that swap symlinks), and a change only counts once the files
//! have stopped changing for one poll interval, so a half-copied `.wasm` is never loaded.
//! Files whose names start with `.` or that do not end in `.wasm`/`.toml` are ignored, so copying
//! to a temporary name and renaming is the atomic way to install.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::manifest::Manifest;
use super::plugin::LoadedPlugin;
use super::registry::Registry;
use super::runtime::Runtime;
use crate::config::RuntimeConfig;

/// Largest `.wasm` accepted.
const MAX_WASM_BYTES: u64 = 64 * 1024 * 1024;
/// Largest manifest accepted.
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

/// Size and modification time of one file, or `None` if it is absent.
type FileStamp = Option<(u64, SystemTime)>;

/// What the plugin's two files looked like when last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    wasm: FileStamp,
    manifest: FileStamp,
}

/// The outcome of loading one source, for `warden check` and logs.
pub struct LoadReport {
    /// File stem in the plugin directory.
    pub source: String,
    /// The loaded plugin, or why it was refused.
    pub result: Result<Arc<LoadedPlugin>, String>,
    /// Non-fatal findings (e.g. tools offered but not listed in the manifest).
    pub warnings: Vec<String>,
}

/// Watches one plugin directory and keeps the registry in step with it.
pub struct PluginDirectory {
    dir: PathBuf,
    runtime: Arc<Runtime>,
    registry: Arc<Registry>,
    limits: RuntimeConfig,
    /// Stamps of what was last acted on (loaded, or refused) per source.
    settled: BTreeMap<String, Stamp>,
    /// Stamps seen on the previous poll that differ from `settled`; acted on once stable.
    pending: BTreeMap<String, Stamp>,
}

impl PluginDirectory {
    /// A watcher for `dir` that installs into `registry`.
    pub fn new(dir: PathBuf, runtime: Arc<Runtime>, registry: Arc<Registry>, limits: RuntimeConfig) -> Self {
        PluginDirectory { dir, runtime, registry, limits, settled: BTreeMap::new(), pending: BTreeMap::new() }
    }

    /// Loads every plugin now (no debounce), in name order, and marks the registry ready.
    pub async fn load_all(&mut self) -> Vec<LoadReport> {
        let stamps = match self.stamps() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), error = %e, "cannot read the plugin directory");
                self.registry.set_ready();
                return Vec::new();
            }
        };
        let mut reports = Vec::new();
        for (source, stamp) in stamps {
            reports.push(self.apply(&source, stamp).await);
        }
        self.registry.set_ready();
        reports.into_iter().flatten().collect()
    }

    /// One poll: acts on sources whose files changed and then held still for one interval.
    pub async fn poll(&mut self) {
        let stamps = match self.stamps() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot read the plugin directory; keeping the current plugins");
                return;
            }
        };
        let gone = Stamp { wasm: None, manifest: None };
        let sources: BTreeSet<String> = stamps.keys().chain(self.settled.keys()).cloned().collect();
        for source in sources {
            let now = stamps.get(&source).copied().unwrap_or(gone);
            if self.settled.get(&source).copied().unwrap_or(gone) == now {
                self.pending.remove(&source);
                continue;
            }
            if self.pending.get(&source) == Some(&now) {
                self.pending.remove(&source);
                self.apply(&source, now).await;
            } else {
                self.pending.insert(source, now);
            }
        }
    }

    /// Polls every `interval` until the task is dropped.
    pub async fn watch(mut self, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.poll().await;
        }
    }

    /// Brings the registry in line with `source`'s files as stamped.
    async fn apply(&mut self, source: &str, stamp: Stamp) -> Option<LoadReport> {
        self.settled.insert(source.to_owned(), stamp);
        if stamp.wasm.is_none() || stamp.manifest.is_none() {
            let missing = if stamp.wasm.is_none() { "wasm" } else { "toml" };
            if self.registry.remove(source) {
                tracing::info!(plugin = source, "plugin removed ({source}.{missing} is gone)");
            }
            if stamp.wasm.is_none() && stamp.manifest.is_none() {
                self.settled.remove(source);
                return None;
            }
            let reason =
                format!("{source}.{missing} is missing: a plugin needs both {source}.wasm and {source}.toml");
            self.registry.record_error(source, reason.clone());
            tracing::warn!(plugin = source, "{reason}");
            return Some(LoadReport { source: source.to_owned(), result: Err(reason), warnings: Vec::new() });
        }
        let (result, warnings) = match self.load(source).await {
            Ok((plugin, warnings)) => match self.registry.install(source, plugin) {
                Ok(()) => {
                    let live = self.registry.snapshot().plugins().get(source).cloned();
                    match live {
                        Some(p) => {
                            tracing::info!(
                                plugin = %p.manifest.name,
                                file = %self.dir.join(format!("{source}.wasm")).display(),
                                sha256 = %p.sha256,
                                tools = p.tools.len(),
                                "plugin loaded"
                            );
                            (Ok(p), warnings)
                        }
                        None => (Err("plugin vanished while installing".to_owned()), warnings),
                    }
                }
                Err(e) => (Err(e), warnings),
            },
            Err(e) => (Err(e), Vec::new()),
        };
        for w in &warnings {
            tracing::warn!(plugin = source, "{w}");
        }
        if let Err(reason) = &result {
            let serving = self.registry.snapshot().plugins().contains_key(source);
            tracing::error!(
                file = %self.dir.join(format!("{source}.wasm")).display(),
                reason = %reason,
                still_serving_previous_version = serving,
                "plugin refused"
            );
            self.registry.record_error(source, reason.clone());
        }
        Some(LoadReport { source: source.to_owned(), result, warnings })
    }

    async fn load(&self, source: &str) -> Result<(LoadedPlugin, Vec<String>), String> {
        let manifest_path = self.dir.join(format!("{source}.toml"));
        let wasm_path = self.dir.join(format!("{source}.wasm"));
        let text = read_bounded(&manifest_path, MAX_MANIFEST_BYTES)?;
        let text =
            String::from_utf8(text).map_err(|_| format!("{}: not UTF-8 text", manifest_path.display()))?;
        let manifest = Manifest::parse(source, &text, &self.limits)
            .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
        let wasm = read_bounded(&wasm_path, MAX_WASM_BYTES)?;
        LoadedPlugin::load(&self.runtime, manifest, wasm)
            .await
            .map_err(|e| format!("{}: {e}", wasm_path.display()))
    }

    /// Stamps of every candidate source in the directory.
    fn stamps(&self) -> std::io::Result<BTreeMap<String, Stamp>> {
        let mut out: BTreeMap<String, Stamp> = BTreeMap::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let (stem, is_wasm) = if let Some(s) = name.strip_suffix(".wasm") {
                (s, true)
            } else if let Some(s) = name.strip_suffix(".toml") {
                (s, false)
            } else {
                continue;
            };
            // Follows symlinks, so a swapped link counts as a change.
            let Ok(meta) = std::fs::metadata(entry.path()) else { continue };
            if !meta.is_file() {
                continue;
            }
            let stamp = Some((meta.len(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
            let slot = out.entry(stem.to_owned()).or_insert(Stamp { wasm: None, manifest: None });
            if is_wasm {
                slot.wasm = stamp;
            } else {
                slot.manifest = stamp;
            }
        }
        Ok(out)
    }
}

fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > max {
        return Err(format!("{}: {} bytes is larger than the {max}-byte limit", path.display(), meta.len()));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}
