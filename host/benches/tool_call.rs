//! One tool call through the runtime: fresh store, instantiate from `InstancePre`, call, drop.
//!
//! Needs the plugin components: `make bench` builds them first.

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use warden::auth::Identity;
use warden::config::RuntimeConfig;
use warden::plugins::{LoadedPlugin, Manifest, Runtime};

fn component(name: &str) -> Vec<u8> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join(format!("wasm32-wasip2/release/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run `make bench`)", path.display()))
}

fn tool_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let data = tempfile::tempdir().expect("tempdir");
    let config = RuntimeConfig::default();
    let runtime = Runtime::new(&config, data.path()).expect("runtime");
    let manifest = Manifest::parse("sample", include_str!("../../plugins/sample/plugin.toml"), &config)
        .expect("manifest");
    let (plugin, _) = rt.block_on(LoadedPlugin::load(&runtime, manifest, component("sample"))).expect("load");
    let caller = Identity::anonymous();

    let mut group = c.benchmark_group("tool_call");
    for (tool, args) in [("greet", r#"{"name":"Ada"}"#), ("whoami", "{}"), ("get_datetime", "{}")] {
        group.bench_function(tool, |b| {
            b.iter(|| {
                rt.block_on(plugin.call(&runtime, tool, args.to_owned(), &caller)).expect("call succeeds")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, tool_call);
criterion_main!(benches);
