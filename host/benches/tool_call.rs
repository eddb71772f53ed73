//! One tool call through the runtime: fresh store, instantiate from `InstancePre`, call, drop.
//!
//! Needs the plugin components: `make bench` builds them first.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may stop at a broken set-up

use criterion::{Criterion, criterion_group, criterion_main};
use warden::shared::Identity;

mod common;

fn tool_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let (_data, runtime, plugin) = common::sample_plugin(&rt);
    let caller = Identity::anonymous();

    let mut group = c.benchmark_group("tool_call");
    for (tool, args) in [("greet", r#"{"name":"Ada"}"#), ("whoami", "{}"), ("get_datetime", "{}")] {
        group.bench_function(tool, |b| {
            b.iter(|| {
                rt.block_on(plugin.call(&runtime, tool, args.to_owned(), &caller)).expect("call succeeds")
            });
        });
    }
    group.finish();
}

criterion_group!(benches, tool_call);
criterion_main!(benches);
