//! The same tool in Rust and in Python, through the runtime, side by side in one run: a fresh
//! instance per call (copy-on-write memory image, pooling allocator) for `sample.greet` (Rust SDK)
//! and `py-sample.greet` (componentize-py, `sdk/python`). Also prints, once, how long the Python
//! component takes to load the first time (compile) and again from the compiled-code cache.
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
    let manifest = include_str!("../../plugins/py-sample/plugin.toml");
    let started = Instant::now();
    let python = common::load(&rt, &runtime, "py-sample", manifest, "py_sample");
    let first = started.elapsed();
    let again = Runtime::new(&RuntimeConfig::default(), data.path()).expect("runtime");
    let started = Instant::now();
    let _cached = common::load(&rt, &again, "py-sample", manifest, "py_sample");
    eprintln!(
        "py-sample load: first (compile) {first:?}, again (compiled-code cache) {:?}",
        started.elapsed()
    );
    drop(again);

    let caller = Identity::anonymous();
    let args = r#"{"name":"Ada"}"#;
    let mut group = c.benchmark_group("languages");
    group.bench_function("rust_greet", |b| {
        b.iter(|| rt.block_on(rust.call(&runtime, "greet", args.to_owned(), &caller)).expect("call"));
    });
    group.bench_function("python_greet", |b| {
        b.iter(|| rt.block_on(python.call(&runtime, "greet", args.to_owned(), &caller)).expect("call"));
    });
    group.finish();
}

criterion_group!(benches, languages);
criterion_main!(benches);
