//! The plugin directory: `<stem>.wasm` + `<stem>.toml` pairs, polled for changes (hot reload).
//!
//! Polling rather than inotify: it behaves the same on every filesystem (bind mounts, network
//! volumes, Kubernetes ConfigMaps that swap symlinks), and a change only counts once the files
//! have stopped changing for one poll interval, so a half-copied `.wasm` is never loaded.
//! Files whose names start with `.` or that do not end in `.wasm`/`.toml` are ignored, so copying
//! to a temporary name and renaming is the atomic way to install. Signatures
//! (`<stem>.wasm.minisig`, `<stem>.toml.minisig`) count as part of the plugin: a change to either
//! reloads it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::loaded::{LoadError, LoadedPlugin};
use super::manifest::{Ceilings, Manifest, ManifestError};
use super::registry::{NameCollision, Registry};
use super::runtime::Runtime;
use super::signature::{MAX_SIGNATURE_BYTES, SignatureError, TrustPolicy};
use crate::telemetry::{AuditEvent, Telemetry};

/// Largest `.wasm` accepted.
const MAX_WASM_BYTES: u64 = 64 * 1024 * 1024;
/// Largest manifest accepted.
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

/// Size and modification time of one file, or `None` if it is absent.
type FileStamp = Option<(u64, SystemTime)>;

/// What the plugin's files looked like when last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    wasm: FileStamp,
    manifest: FileStamp,
    /// The two signature files.
    signatures: [FileStamp; 2],
}

const GONE: Stamp = Stamp { wasm: None, manifest: None, signatures: [None, None] };

/// Where a directory's plugins belong and what they may be: the team (if any), the ceilings
/// their manifests are held to, and the keys they must be signed with.
pub struct Origin {
    /// The team, or `None` for the shared directory.
    pub team: Option<String>,
    /// What manifests may ask for.
    pub ceilings: Ceilings,
    /// Signature requirements.
    pub trust: TrustPolicy,
}

/// The outcome of loading one source, for `warden check` and logs.
pub struct LoadReport {
    /// File stem in the plugin directory.
    pub source: String,
    /// The loaded plugin, or why it was refused.
    pub result: Result<Arc<LoadedPlugin>, Refusal>,
    /// Non-fatal findings (e.g. tools offered but not listed in the manifest).
    pub warnings: Vec<String>,
}

/// Why a plugin in a directory is not served (the previous version, if any, stays live).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// One of the two files is missing.
    #[error("{stem}.{missing} is missing: a plugin needs both {stem}.wasm and {stem}.toml")]
    Incomplete {
        /// The plugin's file stem.
        stem: String,
        /// `wasm` or `toml`.
        missing: &'static str,
    },
    /// A file cannot be read, is over its size limit, or is not text where text is needed.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The signatures do not satisfy the directory's trust policy.
    #[error("signature check failed: {0}")]
    Signature(SignatureError),
    /// The manifest is refused.
    #[error("{}: {error}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// Why.
        error: ManifestError,
    },
    /// The component is refused.
    #[error("{}: {error}", path.display())]
    Component {
        /// The component file.
        path: PathBuf,
        /// Why.
        error: LoadError,
    },
    /// Another source serves the same plugin name.
    #[error(transparent)]
    Collision(#[from] NameCollision),
    /// The plugin was removed while it was being installed.
    #[error("plugin vanished while installing")]
    Vanished,
}

impl From<SignatureError> for Refusal {
    fn from(e: SignatureError) -> Self {
        // Not `#[from]`: that would also make it the error's source and print it twice in a chain.
        Refusal::Signature(e)
    }
}

/// Watches one plugin directory and keeps the registry in step with it.
pub struct PluginDirectory {
    dir: PathBuf,
    runtime: Arc<Runtime>,
    registry: Arc<Registry>,
    origin: Origin,
    telemetry: Telemetry,
    /// Stamps of what was last acted on (loaded, or refused) per source.
    settled: BTreeMap<String, Stamp>,
    /// Stamps seen on the previous poll that differ from `settled`; acted on once stable.
    pending: BTreeMap<String, Stamp>,
}

impl PluginDirectory {
    /// A watcher for `dir` that installs into `registry`, with `origin`'s rules, reporting to
    /// `telemetry`.
    pub fn new(
        dir: PathBuf,
        runtime: Arc<Runtime>,
        registry: Arc<Registry>,
        origin: Origin,
        telemetry: Telemetry,
    ) -> Self {
        PluginDirectory {
            dir,
            runtime,
            registry,
            origin,
            telemetry,
            settled: BTreeMap::new(),
            pending: BTreeMap::new(),
        }
    }

    /// The registry key of `stem`: `<team>/<stem>` in a team directory, `<stem>` in the shared one.
    fn source_key(&self, stem: &str) -> String {
        match &self.origin.team {
            Some(team) => format!("{team}/{stem}"),
            None => stem.to_owned(),
        }
    }

    /// Records a plugin decision in the audit log and the metrics.
    fn audit(&self, event: &'static str, source: &str, sha256: Option<&str>, reason: Option<&str>) {
        let outcome = match event {
            "plugin.loaded" => "loaded",
            "plugin.removed" => "removed",
            _ => "refused",
        };
        self.telemetry.metrics.plugin_load(outcome);
        let mut e = AuditEvent::new(event, outcome);
        e.team = self.origin.team.clone();
        e.plugin = Some(source.to_owned());
        e.plugin_sha256 = sha256.map(str::to_owned);
        e.reason = reason.map(str::to_owned);
        self.telemetry.audit.record(&e);
    }

    /// The directory watched.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads every plugin now (no debounce), in name order. The caller marks the registry ready
    /// once every directory has been loaded.
    pub async fn load_all(&mut self) -> Vec<LoadReport> {
        let stamps = match self.stamps() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), error = %e, "cannot read the plugin directory");
                return Vec::new();
            }
        };
        let mut reports = Vec::new();
        for (source, stamp) in stamps {
            reports.push(self.apply(&source, stamp).await);
        }
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
        let gone = GONE;
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

    /// Brings the registry in line with `stem`'s files as stamped.
    async fn apply(&mut self, stem: &str, stamp: Stamp) -> Option<LoadReport> {
        self.settled.insert(stem.to_owned(), stamp);
        let source = self.source_key(stem);
        let source = source.as_str();
        if stamp.wasm.is_none() || stamp.manifest.is_none() {
            let missing = if stamp.wasm.is_none() { "wasm" } else { "toml" };
            if self.registry.remove(source) {
                tracing::info!(plugin = source, "plugin removed ({stem}.{missing} is gone)");
                self.audit("plugin.removed", source, None, Some(&format!("{stem}.{missing} is gone")));
            }
            if stamp.wasm.is_none() && stamp.manifest.is_none() {
                self.settled.remove(stem);
                return None;
            }
            let refusal = Refusal::Incomplete { stem: stem.to_owned(), missing };
            let reason = refusal.to_string();
            self.registry.record_error(source, reason.clone());
            tracing::warn!(plugin = source, "{reason}");
            self.audit("plugin.refused", source, None, Some(&reason));
            return Some(LoadReport {
                source: source.to_owned(),
                result: Err(refusal),
                warnings: Vec::new(),
            });
        }
        let (result, warnings) = match self.load(stem).await {
            Ok((plugin, warnings)) => match self.registry.install(source, plugin) {
                Ok(()) => {
                    let live = self.registry.snapshot().plugins().get(source).cloned();
                    match live {
                        Some(p) => {
                            tracing::info!(
                                plugin = %p.manifest.namespace(),
                                file = %self.dir.join(format!("{stem}.wasm")).display(),
                                sha256 = %p.sha256,
                                tools = p.tools.len(),
                                "plugin loaded"
                            );
                            self.audit("plugin.loaded", source, Some(&p.sha256), None);
                            (Ok(p), warnings)
                        }
                        None => (Err(Refusal::Vanished), warnings),
                    }
                }
                Err(e) => (Err(Refusal::Collision(e)), warnings),
            },
            Err(e) => (Err(e), Vec::new()),
        };
        for w in &warnings {
            tracing::warn!(plugin = source, "{w}");
        }
        if let Err(refusal) = &result {
            let reason = refusal.to_string();
            let serving = self.registry.snapshot().plugins().contains_key(source);
            tracing::error!(
                file = %self.dir.join(format!("{stem}.wasm")).display(),
                reason = %reason,
                still_serving_previous_version = serving,
                "plugin refused"
            );
            self.registry.record_error(source, reason.clone());
            self.audit("plugin.refused", source, None, Some(&reason));
        }
        Some(LoadReport { source: source.to_owned(), result, warnings })
    }

    async fn load(&self, stem: &str) -> Result<(LoadedPlugin, Vec<String>), Refusal> {
        let manifest_path = self.dir.join(format!("{stem}.toml"));
        let wasm_path = self.dir.join(format!("{stem}.wasm"));
        let text = read_bounded(&manifest_path, MAX_MANIFEST_BYTES)?;
        let wasm = read_bounded(&wasm_path, MAX_WASM_BYTES)?;
        // Signatures first: nothing from an unverified file is parsed or compiled.
        let signature = |file: &str| -> Result<Option<String>, Refusal> {
            let path = self.dir.join(format!("{file}.minisig"));
            if !path.exists() {
                return Ok(None);
            }
            let bytes = read_bounded(&path, MAX_SIGNATURE_BYTES)?;
            String::from_utf8(bytes).map(Some).map_err(|_| not_text(&path))
        };
        let (wasm_sig, manifest_sig) =
            (signature(&format!("{stem}.wasm"))?, signature(&format!("{stem}.toml"))?);
        let signed_by =
            self.origin.trust.check(stem, &wasm, &text, [wasm_sig.as_deref(), manifest_sig.as_deref()])?;
        if let Some(comment) = signed_by {
            tracing::info!(plugin = stem, trusted_comment = %comment, "plugin signature verified");
        }
        let text = String::from_utf8(text).map_err(|_| not_text(&manifest_path))?;
        let manifest = Manifest::parse_within(stem, &text, &self.origin.ceilings)
            .map_err(|error| Refusal::Manifest { path: manifest_path, error })?;
        LoadedPlugin::load(&self.runtime, manifest, wasm)
            .await
            .map_err(|error| Refusal::Component { path: wasm_path, error })
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
            // 0: component, 1: manifest, 2/3: their signatures.
            let (stem, kind) = if let Some(s) = name.strip_suffix(".wasm") {
                (s, 0)
            } else if let Some(s) = name.strip_suffix(".toml") {
                (s, 1)
            } else if let Some(s) = name.strip_suffix(".wasm.minisig") {
                (s, 2)
            } else if let Some(s) = name.strip_suffix(".toml.minisig") {
                (s, 3)
            } else {
                continue;
            };
            // Follows symlinks, so a swapped link counts as a change.
            let Ok(meta) = std::fs::metadata(entry.path()) else { continue };
            if !meta.is_file() {
                continue;
            }
            let stamp = Some((meta.len(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
            let slot = out.entry(stem.to_owned()).or_insert(GONE);
            match kind {
                0 => slot.wasm = stamp,
                1 => slot.manifest = stamp,
                2 => slot.signatures[0] = stamp,
                _ => slot.signatures[1] = stamp,
            }
        }
        Ok(out)
    }
}

fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, Refusal> {
    let file_error = |reason: String| Refusal::File { path: path.to_path_buf(), reason };
    let meta = std::fs::metadata(path).map_err(|e| file_error(e.to_string()))?;
    if meta.len() > max {
        return Err(file_error(format!("{} bytes is larger than the {max}-byte limit", meta.len())));
    }
    std::fs::read(path).map_err(|e| file_error(e.to_string()))
}

fn not_text(path: &Path) -> Refusal {
    Refusal::File { path: path.to_path_buf(), reason: "not UTF-8 text".into() }
}
