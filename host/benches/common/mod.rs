//! Set-up shared by the benchmarks that call the `sample` plugin through the runtime.

use std::path::PathBuf;

use warden::config::RuntimeConfig;
use warden::plugins::{LoadedPlugin, Manifest, Runtime};

/// The built component `name` (`make bench` builds the plugins first).
fn component(name: &str) -> Vec<u8> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"), PathBuf::from);
    let path = target.join(format!("wasm32-wasip2/release/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run `make bench`)", path.display()))
}

/// Loads the component `wasm` (a file under the wasm target dir, without `.wasm`) with the
/// manifest `manifest` (file stem `stem`) into `runtime`.
#[allow(dead_code)] // not every benchmark binary uses every helper
pub(crate) fn load(
    rt: &tokio::runtime::Runtime,
    runtime: &Runtime,
    stem: &str,
    manifest: &str,
    wasm: &str,
) -> LoadedPlugin {
    let manifest = Manifest::parse(stem, manifest, &RuntimeConfig::default()).expect("manifest");
    rt.block_on(LoadedPlugin::load(runtime, manifest, component(wasm))).expect("load").0
}

/// A runtime with default settings and the `sample` plugin loaded into it. Keep the returned
/// directory alive as long as the runtime (it holds the compiled-code cache).
#[allow(dead_code)] // not every benchmark binary uses every helper
pub(crate) fn sample_plugin(rt: &tokio::runtime::Runtime) -> (tempfile::TempDir, Runtime, LoadedPlugin) {
    let data = tempfile::tempdir().expect("tempdir");
    let config = RuntimeConfig::default();
    let runtime = Runtime::new(&config, data.path()).expect("runtime");
    let manifest = Manifest::parse("sample", include_str!("../../../plugins/sample/plugin.toml"), &config)
        .expect("manifest");
    let (plugin, _) = rt.block_on(LoadedPlugin::load(&runtime, manifest, component("sample"))).expect("load");
    (data, runtime, plugin)
}
