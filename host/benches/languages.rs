//! The same tool in Rust, Python and TypeScript, through the runtime, side by side in one run: a
//! fresh instance per call (copy-on-write memory image, pooling allocator) for `sample.greet`
//! (Rust SDK), `py-sample.greet` (componentize-py, `sdk/python`) and `ts-sample.greet`
//! (componentize-js, `sdk/typescript`). Also prints, once, how long the Python and TypeScript
//! components take to load the first time (compile) and again from the compiled-code cache.
//!
//! Needs the plugin components: `make bench` builds them first.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may stop at a broken set-up

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use warden::config::RuntimeConfig;
use warden::plugins::Runtime;
use warden::shared::Identity;

mod common;

fn languages(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let (data, runtime, rust) = common::sample_plugin(&rt);
    let load = |name: &str, manifest: &str, file: &str| {
        let started = Instant::now();
        let plugin = common::load(&rt, &runtime, name, manifest, file);
        let first = started.elapsed();
        let again = Runtime::new(&RuntimeConfig::default(), data.path()).expect("runtime");
        let started = Instant::now();
        let _cached = common::load(&rt, &again, name, manifest, file);
        eprintln!(
            "{name} load: first (compile) {first:?}, again (compiled-code cache) {:?}",
            started.elapsed()
        );
        plugin
    };
    let python = load("py-sample", include_str!("../../plugins/py-sample/plugin.toml"), "py_sample");
    let typescript = load("ts-sample", include_str!("../../plugins/ts-sample/plugin.toml"), "ts_sample");

    let caller = Identity::anonymous();
    let args = r#"{"name":"Ada"}"#;
    let mut group = c.benchmark_group("languages");
    group.bench_function("rust_greet", |b| {
        b.iter(|| rt.block_on(rust.call(&runtime, "greet", args.to_owned(), &caller)).expect("call"));
    });
    group.bench_function("python_greet", |b| {
        b.iter(|| rt.block_on(python.call(&runtime, "greet", args.to_owned(), &caller)).expect("call"));
    });
    group.bench_function("typescript_greet", |b| {
        b.iter(|| rt.block_on(typescript.call(&runtime, "greet", args.to_owned(), &caller)).expect("call"));
    });
    group.finish();
}

criterion_group!(benches, languages);
criterion_main!(benches);
