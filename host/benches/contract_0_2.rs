//! Contract 0.1 against 0.2, side by side in one run: the same plain text tool through each
//! contract, and a 0.2 resource read and prompt get against a 0.2 tool call. Each iteration is
//! a whole request as the MCP layer runs it: fresh store, instantiate, call, convert, drop.
//!
//! Needs the plugin components: `make bench` builds them first.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may stop at a broken set-up

use criterion::{Criterion, criterion_group, criterion_main};
use warden::config::RuntimeConfig;
use warden::plugins::{Outcome, Request, Runtime};
use warden::shared::Identity;

mod common;

fn contracts(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let data = tempfile::tempdir().expect("tempdir");
    let runtime = Runtime::new(&RuntimeConfig::default(), data.path()).expect("runtime");
    let legacy = common::load(
        &rt,
        &runtime,
        "legacy",
        include_str!("../../tests/plugins/contract-0_1/plugin.toml"),
        "contract_0_1",
    );
    let sample =
        common::load(&rt, &runtime, "sample", include_str!("../../plugins/sample/plugin.toml"), "sample");
    let conformance = common::load(
        &rt,
        &runtime,
        "conformance",
        include_str!("../../plugins/conformance/plugin.toml"),
        "conformance",
    );
    // The `sample` plugin as the 0.1 SDK built it, if given (e.g. built from the last 0.1
    // commit): `WARDEN_BENCH_SAMPLE_V0_1=/path/to/sample.wasm`.
    let sample_v0_1 = std::env::var_os("WARDEN_BENCH_SAMPLE_V0_1").map(|path| {
        let wasm = std::fs::read(&path).expect("WARDEN_BENCH_SAMPLE_V0_1 names a readable file");
        let manifest = warden::plugins::Manifest::parse(
            "sample",
            include_str!("../../plugins/sample/plugin.toml"),
            &RuntimeConfig::default(),
        )
        .expect("manifest");
        rt.block_on(warden::plugins::LoadedPlugin::load(&runtime, manifest, wasm)).expect("load").0
    });
    let caller = Identity::anonymous();
    let args = r#"{"name":"Ada"}"#;

    let mut group = c.benchmark_group("contract");
    if let Some(old) = &sample_v0_1 {
        assert_eq!(
            old.contract_version(),
            warden::plugins::ContractVersion::V0_1,
            "WARDEN_BENCH_SAMPLE_V0_1"
        );
        group.bench_function("0.1 sample.greet (SDK 0.1)", |b| {
            b.iter(|| rt.block_on(old.call(&runtime, "greet", args.to_owned(), &caller)).expect("call"));
        });
    }
    group.bench_function("0.1 legacy.greet (raw wit-bindgen)", |b| {
        b.iter(|| rt.block_on(legacy.call(&runtime, "greet", args.to_owned(), &caller)).expect("call"));
    });
    group.bench_function("0.2 sample.greet (SDK 0.2)", |b| {
        b.iter(|| rt.block_on(sample.call(&runtime, "greet", args.to_owned(), &caller)).expect("call"));
    });
    group.bench_function("0.2 tools/call test_simple_text", |b| {
        b.iter(|| {
            rt.block_on(conformance.call(&runtime, "test_simple_text", "{}".to_owned(), &caller))
                .expect("call")
        });
    });
    group.bench_function("0.2 resources/read test://static-text", |b| {
        b.iter(|| {
            let request = Request::simple(&caller, "conformance");
            match rt
                .block_on(conformance.read_resource(&runtime, "test://static-text", request))
                .expect("read")
            {
                Outcome::Complete(contents) => contents,
                Outcome::InputRequired(_) => panic!("a static resource asked for input"),
            }
        });
    });
    group.bench_function("0.2 prompts/get test_simple_prompt", |b| {
        b.iter(|| {
            let request = Request::simple(&caller, "conformance");
            match rt
                .block_on(conformance.get_prompt(&runtime, "test_simple_prompt", Vec::new(), request))
                .expect("get")
            {
                Outcome::Complete(prompt) => prompt,
                Outcome::InputRequired(_) => panic!("a simple prompt asked for input"),
            }
        });
    });
    group.finish();
}

criterion_group!(benches, contracts);
criterion_main!(benches);
