//! Cost of the counting allocator against the system allocator (and against
//! `dhat::Alloc` installed but idle, the alternative the runtime switch avoids).
//! See `support/churn.rs` for the loop; figures in `docs/performance.md`.
//!
//! Run: `cargo bench -p soak-harness --bench alloc`.

#[path = "support/churn.rs"]
mod churn;

use std::alloc::System;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use soak_harness::alloc::Counting;

// The process runs on the counting allocator, as a soak binary does.
#[global_allocator]
static ALLOC: Counting = Counting::system();

fn bench(c: &mut Criterion) {
    let layouts = churn::layouts();
    let mut ptrs = Vec::with_capacity(layouts.len());
    let mut g = c.benchmark_group("alloc_free_1000_mixed");
    g.throughput(Throughput::Elements(layouts.len() as u64));
    g.bench_function("system", |b| {
        b.iter(|| churn::churn(&System, &layouts, &mut ptrs))
    });
    g.bench_function("counting", |b| {
        b.iter(|| churn::churn(&ALLOC, &layouts, &mut ptrs))
    });
    g.bench_function("dhat_idle", |b| {
        b.iter(|| churn::churn(&dhat::Alloc, &layouts, &mut ptrs))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
