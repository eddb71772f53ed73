//! The set of live plugins, swapped atomically on every change.
//!
//! Readers take an `Arc<Snapshot>` and keep it for the whole call, so a call finishes on the
//! plugin version it started with even if the plugin is replaced or removed meanwhile.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use tokio::sync::watch;

use super::loaded::{LoadedPlugin, ServedTool};

/// Why a plugin is not installed: another source already serves its name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "plugin name {namespace:?} from {asked_by} collides with {namespace:?} already served from {served_by}; \
     give one of them another plugin.name"
)]
pub struct NameCollision {
    /// The served plugin name (`team.plugin` or `plugin`).
    pub namespace: String,
    /// The source that asked.
    pub asked_by: String,
    /// The source that serves the name already.
    pub served_by: String,
}

/// An immutable view of the live plugins.
#[derive(Default)]
pub struct Snapshot {
    /// Live plugins by source (file stem in the plugin directory).
    plugins: BTreeMap<String, Arc<LoadedPlugin>>,
    /// Served tool name -> (plugin, index into its tools). Sorted, so pagination is stable.
    tools: BTreeMap<String, (Arc<LoadedPlugin>, usize)>,
    /// Changes whenever what `tools/list` would show changes (computed once per snapshot).
    signature: String,
}

/// A served tool together with the plugin version that serves it.
#[derive(Clone)]
pub struct ToolRef {
    /// The plugin (kept alive for as long as the call holds this).
    pub plugin: Arc<LoadedPlugin>,
    index: usize,
}

impl ToolRef {
    /// The tool's description and validators.
    pub fn tool(&self) -> &ServedTool {
        &self.plugin.tools[self.index]
    }
}

impl Snapshot {
    /// Finds a served tool by its namespaced name.
    pub fn tool(&self, name: &str) -> Option<ToolRef> {
        self.tools.get(name).map(|(plugin, index)| ToolRef { plugin: plugin.clone(), index: *index })
    }

    /// Every served tool, in name order.
    pub fn tools(&self) -> impl Iterator<Item = ToolRef> + '_ {
        self.tools.values().map(|(plugin, index)| ToolRef { plugin: plugin.clone(), index: *index })
    }

    /// Every live plugin, by source.
    pub fn plugins(&self) -> &BTreeMap<String, Arc<LoadedPlugin>> {
        &self.plugins
    }

    fn rebuilt(plugins: BTreeMap<String, Arc<LoadedPlugin>>) -> Snapshot {
        let mut tools = BTreeMap::new();
        for plugin in plugins.values() {
            for (index, tool) in plugin.tools.iter().enumerate() {
                tools.insert(tool.name.clone(), (plugin.clone(), index));
            }
        }
        let signature = tool_set_signature(&tools);
        Snapshot { plugins, tools, signature }
    }
}

/// A string that changes whenever what `tools/list` would show changes.
fn tool_set_signature(tools: &BTreeMap<String, (Arc<LoadedPlugin>, usize)>) -> String {
    let mut sig = String::new();
    for (name, (plugin, index)) in tools {
        let t = &plugin.tools[*index];
        sig.push_str(name);
        sig.push('\0');
        sig.push_str(&t.description);
        sig.push_str(t.title.as_deref().unwrap_or(""));
        sig.push_str(&serde_json::to_string(&*t.input_schema).unwrap_or_default());
        if let Some(o) = &t.output_schema {
            sig.push_str(&serde_json::to_string(&**o).unwrap_or_default());
        }
        sig.push_str(&format!("{:?}", t.grant.scopes));
        sig.push('\n');
    }
    sig
}

/// Live plugins plus the latest load error per source.
pub struct Registry {
    current: RwLock<Arc<Snapshot>>,
    errors: Mutex<BTreeMap<String, String>>,
    changes: watch::Sender<u64>,
    ready: AtomicBool,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            current: RwLock::new(Arc::new(Snapshot::default())),
            errors: Mutex::new(BTreeMap::new()),
            changes: watch::channel(0).0,
            ready: AtomicBool::new(false),
        }
    }
}

impl Registry {
    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A receiver that changes value each time the served tool set changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Serves `plugin` from `source`, replacing what that source served before. Refused (and
    /// nothing changes) if another source already serves the same plugin name.
    pub fn install(&self, source: &str, plugin: LoadedPlugin) -> Result<(), NameCollision> {
        let plugin = Arc::new(plugin);
        self.update(|plugins| {
            let namespace = plugin.manifest.namespace();
            if let Some((other, _)) =
                plugins.iter().find(|(s, p)| s.as_str() != source && p.manifest.namespace() == namespace)
            {
                return Err(NameCollision {
                    namespace,
                    asked_by: source.to_owned(),
                    served_by: other.clone(),
                });
            }
            plugins.insert(source.to_owned(), plugin.clone());
            Ok(())
        })?;
        self.clear_error(source);
        Ok(())
    }

    /// Stops serving whatever `source` served. Returns true if something was removed.
    pub fn remove(&self, source: &str) -> bool {
        self.clear_error(source);
        self.update(|plugins| Ok::<_, NameCollision>(plugins.remove(source).is_some())).unwrap_or(false)
    }

    fn update<R, E>(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, Arc<LoadedPlugin>>) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut guard = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let mut plugins = guard.plugins.clone();
        let result = change(&mut plugins)?;
        let next = Arc::new(Snapshot::rebuilt(plugins));
        let changed = next.signature != guard.signature;
        *guard = next;
        drop(guard);
        if changed {
            self.changes.send_modify(|v| *v += 1);
        }
        Ok(result)
    }

    /// Records why `source` failed to load (the working version, if any, keeps serving).
    pub fn record_error(&self, source: &str, error: String) {
        self.errors.lock().unwrap_or_else(PoisonError::into_inner).insert(source.to_owned(), error);
    }

    fn clear_error(&self, source: &str) {
        self.errors.lock().unwrap_or_else(PoisonError::into_inner).remove(source);
    }

    /// The latest load error per source.
    pub fn errors(&self) -> BTreeMap<String, String> {
        self.errors.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Marks the initial plugin scan as done.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// True once the initial plugin scan is done.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}
