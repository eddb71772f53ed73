//! The set of live plugins, swapped atomically on every change.
//!
//! Readers take an `Arc<Snapshot>` and keep it for the whole call, so a call finishes on the
//! plugin version it started with even if the plugin is replaced or removed meanwhile.
//!
//! A change touches only the plugin it is about: the next snapshot is the previous one's indexes
//! (shared names, so copying them is cheap) with that plugin's entries taken out and put in, the
//! collision check looks its names up in them, and whether a list changed is decided by that
//! plugin's own listing digest. Loading N plugins costs N times one, not N².

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use tokio::sync::watch;

use super::loaded::LoadedPlugin;
use super::manifest::ToolGrant;
use super::served::{ServedPrompt, ServedResource, ServedTemplate, ServedTool};

/// Why a plugin is not installed: another source already serves one of its names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} from {asked_by} collides with the same {kind} already served from {served_by}; \
     {fix}"
)]
pub struct NameCollision {
    /// What collides, e.g. `plugin name "sales"` or `resource "docs://a"`.
    pub what: String,
    /// `plugin name`, `tool`, `prompt`, `resource` or `resource template`.
    pub kind: &'static str,
    /// The source that asked.
    pub asked_by: String,
    /// The source that serves the name already.
    pub served_by: String,
    /// How to resolve it.
    pub fix: &'static str,
}

/// An entry of a snapshot: the plugin version and the index into one of its lists.
type Entry = (Arc<LoadedPlugin>, usize);

/// Which lists changed between two snapshots, as counters a subscriber compares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListVersions {
    /// Bumped when what `tools/list` shows changes.
    pub tools: u64,
    /// Bumped when what `prompts/list` shows changes.
    pub prompts: u64,
    /// Bumped when what `resources/list` or `resources/templates/list` shows changes.
    pub resources: u64,
}

/// An immutable view of the live plugins.
#[derive(Default, Clone)]
pub struct Snapshot {
    /// Live plugins by source (file stem in the plugin directory).
    plugins: BTreeMap<String, Arc<LoadedPlugin>>,
    /// Plugin namespace -> the source serving it.
    namespaces: BTreeMap<Arc<str>, Arc<str>>,
    /// Served tool name -> entry. Sorted, so pagination is stable.
    tools: BTreeMap<Arc<str>, Entry>,
    /// Served prompt name -> entry.
    prompts: BTreeMap<Arc<str>, Entry>,
    /// Resource URI -> entry.
    resources: BTreeMap<Arc<str>, Entry>,
    /// Templates, most specific (longest literal prefix) first, then by text.
    templates: Vec<Entry>,
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

/// A served prompt together with its plugin.
#[derive(Clone)]
pub struct PromptRef {
    /// The plugin.
    pub plugin: Arc<LoadedPlugin>,
    index: usize,
}

impl PromptRef {
    /// The prompt.
    pub fn prompt(&self) -> &ServedPrompt {
        &self.plugin.prompts[self.index]
    }
}

/// A served resource together with its plugin.
#[derive(Clone)]
pub struct ResourceRef {
    /// The plugin.
    pub plugin: Arc<LoadedPlugin>,
    index: usize,
}

impl ResourceRef {
    /// The resource.
    pub fn resource(&self) -> &ServedResource {
        &self.plugin.resources[self.index]
    }
}

/// A served resource template together with its plugin.
#[derive(Clone)]
pub struct TemplateRef {
    /// The plugin.
    pub plugin: Arc<LoadedPlugin>,
    index: usize,
}

impl TemplateRef {
    /// The template.
    pub fn template(&self) -> &ServedTemplate {
        &self.plugin.templates[self.index]
    }
}

impl Snapshot {
    /// Finds a served tool by its served name.
    pub fn tool(&self, name: &str) -> Option<ToolRef> {
        self.tools.get(name).map(|(plugin, index)| ToolRef { plugin: plugin.clone(), index: *index })
    }

    /// Every served tool, in name order.
    pub fn tools(&self) -> impl Iterator<Item = ToolRef> + '_ {
        self.tools.values().map(|(plugin, index)| ToolRef { plugin: plugin.clone(), index: *index })
    }

    /// Finds a served prompt by its served name.
    pub fn prompt(&self, name: &str) -> Option<PromptRef> {
        self.prompts.get(name).map(|(plugin, index)| PromptRef { plugin: plugin.clone(), index: *index })
    }

    /// Every served prompt, in name order.
    pub fn prompts(&self) -> impl Iterator<Item = PromptRef> + '_ {
        self.prompts.values().map(|(plugin, index)| PromptRef { plugin: plugin.clone(), index: *index })
    }

    /// Every served fixed-URI resource, in URI order.
    pub fn resources(&self) -> impl Iterator<Item = ResourceRef> + '_ {
        self.resources.values().map(|(plugin, index)| ResourceRef { plugin: plugin.clone(), index: *index })
    }

    /// Finds the resource with exactly this URI.
    pub fn resource(&self, uri: &str) -> Option<ResourceRef> {
        self.resources.get(uri).map(|(plugin, index)| ResourceRef { plugin: plugin.clone(), index: *index })
    }

    /// Every served template, most specific first.
    pub fn templates(&self) -> impl Iterator<Item = TemplateRef> + '_ {
        self.templates.iter().map(|(plugin, index)| TemplateRef { plugin: plugin.clone(), index: *index })
    }

    /// The plugin that serves `uri` among what `visible` admits (plugin, grant), and what matched
    /// (the URI itself, or the template's text): the exact resource first (an exact URI that is
    /// not visible is not served at all), then the most specific matching template.
    pub fn route_resource(
        &self,
        uri: &str,
        visible: impl Fn(&LoadedPlugin, &ToolGrant) -> bool,
    ) -> Option<(Arc<LoadedPlugin>, String)> {
        if let Some((plugin, index)) = self.resources.get(uri) {
            let resource = &plugin.resources[*index];
            return visible(plugin, &resource.grant).then(|| (plugin.clone(), resource.uri.clone()));
        }
        // The plugin is handed only the URI and picks a template itself (an SDK may take another
        // one than this, e.g. the first declared): serve through a plugin only if the caller may
        // see every template of it that matches, so no choice runs what the caller may not read.
        self.templates.iter().find_map(|(plugin, index)| {
            let t = &plugin.templates[*index];
            let admitted = visible(plugin, &t.grant)
                && t.template.matches(uri).is_some()
                && plugin
                    .templates
                    .iter()
                    .all(|o| o.template.matches(uri).is_none() || visible(plugin, &o.grant));
            admitted.then(|| (plugin.clone(), t.template.as_str().to_owned()))
        })
    }

    /// Every live plugin, by source.
    pub fn plugins(&self) -> &BTreeMap<String, Arc<LoadedPlugin>> {
        &self.plugins
    }

    /// This snapshot with `source` serving `plugin` instead of what it served (`None`: nothing).
    /// Only that source's entries are touched.
    fn replaced(&self, source: &str, plugin: Option<Arc<LoadedPlugin>>) -> Snapshot {
        let mut next = self.clone();
        if let Some(old) = next.plugins.remove(source) {
            next.namespaces.remove(old.manifest.namespace().as_str());
            for tool in &old.tools {
                next.tools.remove(tool.name.as_str());
            }
            for prompt in &old.prompts {
                next.prompts.remove(prompt.name.as_str());
            }
            for resource in &old.resources {
                next.resources.remove(resource.uri.as_str());
            }
            if !old.templates.is_empty() {
                next.templates.retain(|(p, _)| !Arc::ptr_eq(p, &old));
            }
        }
        if let Some(plugin) = plugin {
            next.namespaces.insert(plugin.manifest.namespace().into(), source.into());
            for (index, tool) in plugin.tools.iter().enumerate() {
                next.tools.insert(tool.name.as_str().into(), (plugin.clone(), index));
            }
            for (index, prompt) in plugin.prompts.iter().enumerate() {
                next.prompts.insert(prompt.name.as_str().into(), (plugin.clone(), index));
            }
            for (index, resource) in plugin.resources.iter().enumerate() {
                next.resources.insert(resource.uri.as_str().into(), (plugin.clone(), index));
            }
            if !plugin.templates.is_empty() {
                next.templates.extend((0..plugin.templates.len()).map(|index| (plugin.clone(), index)));
                next.templates.sort_by(|(a, i), (b, j)| {
                    let (ta, tb) = (&a.templates[*i].template, &b.templates[*j].template);
                    tb.literal_prefix_len()
                        .cmp(&ta.literal_prefix_len())
                        .then_with(|| ta.as_str().cmp(tb.as_str()))
                });
            }
            next.plugins.insert(source.to_owned(), plugin);
        }
        next
    }

    /// The first name `plugin` would serve that another source already serves here.
    fn collision(&self, source: &str, plugin: &LoadedPlugin) -> Option<NameCollision> {
        let collide = |what: String, kind: &'static str, other: &str, fix: &'static str| NameCollision {
            what,
            kind,
            asked_by: source.to_owned(),
            served_by: other.to_owned(),
            fix,
        };
        let ours = self.plugins.get(source);
        // The source serving `entry`, when it is another one.
        let other_source = |entry: &Entry| -> Option<String> {
            if ours.is_some_and(|o| Arc::ptr_eq(o, &entry.0)) {
                return None;
            }
            let namespace = entry.0.manifest.namespace();
            Some(self.namespaces.get(namespace.as_str()).map_or(namespace, ToString::to_string))
        };
        let namespace = plugin.manifest.namespace();
        if let Some(other) = self.namespaces.get(namespace.as_str()).filter(|s| &***s != source) {
            return Some(collide(
                format!("plugin name {namespace:?}"),
                "plugin name",
                other,
                "give one of them another plugin.name",
            ));
        }
        let rename = "rename one of them (or drop plugin.bare_names)";
        for t in &plugin.tools {
            if let Some(other) = self.tools.get(t.name.as_str()).and_then(other_source) {
                return Some(collide(format!("tool {:?}", t.name), "tool", &other, rename));
            }
        }
        for p in &plugin.prompts {
            if let Some(other) = self.prompts.get(p.name.as_str()).and_then(other_source) {
                return Some(collide(format!("prompt {:?}", p.name), "prompt", &other, rename));
            }
        }
        let moved = "serve each URI from one plugin only";
        for r in &plugin.resources {
            if let Some(other) = self.resources.get(r.uri.as_str()).and_then(other_source) {
                return Some(collide(format!("resource {:?}", r.uri), "resource", &other, moved));
            }
        }
        for t in &plugin.templates {
            let taken =
                self.templates.iter().find(|(p, i)| p.templates[*i].template.as_str() == t.template.as_str());
            if let Some(other) = taken.and_then(other_source) {
                return Some(collide(
                    format!("resource template {:?}", t.template.as_str()),
                    "resource template",
                    &other,
                    moved,
                ));
            }
        }
        None
    }
}

/// Per list (tools, prompts, resources), a digest of what `plugin` puts in it: when a source's
/// plugin changes, a list's clients are told only if its digest did.
fn list_digests(plugin: Option<&LoadedPlugin>) -> [u64; 3] {
    let Some(plugin) = plugin else { return [0; 3] };
    let digest = |text: String| {
        if text.is_empty() {
            return 0;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        h.finish()
    };
    let [t, p, r] = listing(plugin);
    [digest(t), digest(p), digest(r)]
}

/// Per list (tools, prompts, resources), the text of what `plugin` puts in it.
fn listing(plugin: &LoadedPlugin) -> [String; 3] {
    use std::fmt::Write as _;
    let mut t = String::new();
    for tool in &plugin.tools {
        let _ = writeln!(
            t,
            "{}\0{}\0{}\0{}\0{}\0{:?}",
            tool.name,
            tool.description,
            tool.title.as_deref().unwrap_or(""),
            serde_json::to_string(&*tool.input_schema).unwrap_or_default(),
            tool.output_schema.as_ref().and_then(|o| serde_json::to_string(&**o).ok()).unwrap_or_default(),
            tool.grant.scopes
        );
    }
    let mut p = String::new();
    for prompt in &plugin.prompts {
        let _ = writeln!(
            p,
            "{}\0{}\0{:?}\0{:?}\0{:?}",
            prompt.name, prompt.description, prompt.title, prompt.arguments, prompt.grant.scopes
        );
    }
    let mut r = String::new();
    for res in &plugin.resources {
        let _ = writeln!(
            r,
            "{}\0{}\0{:?}\0{:?}\0{:?}\0{:?}",
            res.uri, res.name, res.title, res.description, res.mime_type, res.grant.scopes
        );
    }
    for tpl in &plugin.templates {
        let _ = writeln!(
            r,
            "{}\0{}\0{:?}\0{:?}\0{:?}\0{:?}",
            tpl.template.as_str(),
            tpl.name,
            tpl.title,
            tpl.description,
            tpl.mime_type,
            tpl.grant.scopes
        );
    }
    [t, p, r]
}

/// Live plugins plus the latest load error per source.
pub struct Registry {
    current: RwLock<Arc<Snapshot>>,
    errors: Mutex<BTreeMap<String, String>>,
    changes: watch::Sender<ListVersions>,
    ready: AtomicBool,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            current: RwLock::new(Arc::new(Snapshot::default())),
            errors: Mutex::new(BTreeMap::new()),
            changes: watch::channel(ListVersions::default()).0,
            ready: AtomicBool::new(false),
        }
    }
}

impl Registry {
    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A receiver that changes value each time a served list (tools, prompts, resources) changes.
    pub fn subscribe(&self) -> watch::Receiver<ListVersions> {
        self.changes.subscribe()
    }

    /// Serves `plugin` from `source`, replacing what that source served before. Refused (and
    /// nothing changes) if another source already serves the same plugin name.
    pub fn install(&self, source: &str, plugin: LoadedPlugin) -> Result<(), NameCollision> {
        let plugin = Arc::new(plugin);
        self.update(source, |snapshot| match snapshot.collision(source, &plugin) {
            Some(c) => Err(c),
            None => Ok(Some(plugin.clone())),
        })?;
        self.clear_error(source);
        Ok(())
    }

    /// Stops serving whatever `source` served. Returns true if something was removed.
    pub fn remove(&self, source: &str) -> bool {
        self.clear_error(source);
        let mut removed = false;
        let _ = self.update(source, |snapshot| {
            removed = snapshot.plugins.contains_key(source);
            Ok::<_, NameCollision>(None)
        });
        removed
    }

    /// Replaces what `source` serves with what `change` decides from the current snapshot, and
    /// tells subscribers which lists changed.
    fn update<E>(
        &self,
        source: &str,
        change: impl FnOnce(&Snapshot) -> Result<Option<Arc<LoadedPlugin>>, E>,
    ) -> Result<(), E> {
        let mut guard = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let plugin = change(&guard)?;
        let before = list_digests(guard.plugins.get(source).map(|p| &**p));
        let after = list_digests(plugin.as_deref());
        let next = Arc::new(guard.replaced(source, plugin));
        let changed: [bool; 3] = std::array::from_fn(|i| before[i] != after[i]);
        *guard = next;
        drop(guard);
        if changed.iter().any(|c| *c) {
            self.changes.send_modify(|v| {
                v.tools += u64::from(changed[0]);
                v.prompts += u64::from(changed[1]);
                v.resources += u64::from(changed[2]);
            });
        }
        Ok(())
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
