//! Cost of the counting allocator against the system allocator (and against
//! `dhat::Alloc` installed but idle, the alternative the runtime switch avoids).
//!
//! Each iteration allocates 1,000 blocks of mixed sizes (16 B–4 KiB, the mix of a
//! chat bot's maps and buffers) and frees them, calling each allocator directly
//! through `GlobalAlloc`, so the only difference measured is the allocator.
//!
//! Run: `cargo bench -p soak-harness --bench alloc`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use soak_harness::alloc::Counting;

const BLOCKS: usize = 1_000;

fn sizes() -> Vec<Layout> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..BLOCKS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let size = 16usize << (x % 9); // 16 B .. 4 KiB
            Layout::from_size_align(size, 8).expect("valid layout")
        })
        .collect()
}

fn churn<A: GlobalAlloc>(a: &A, layouts: &[Layout], ptrs: &mut Vec<*mut u8>) {
    ptrs.clear();
    for l in layouts {
        // SAFETY: non-zero sizes, valid alignment; every block is freed below with
        // the layout it was allocated with.
        let p = unsafe { a.alloc(*l) };
        assert!(!p.is_null());
        // Touch it, as real code does.
        unsafe { p.write(1) };
        ptrs.push(p);
    }
    for (p, l) in ptrs.iter().zip(layouts) {
        // SAFETY: allocated above by the same allocator with this layout.
        unsafe { a.dealloc(black_box(*p), *l) };
    }
}

fn bench(c: &mut Criterion) {
    let layouts = sizes();
    let mut ptrs = Vec::with_capacity(BLOCKS);
    let mut g = c.benchmark_group("alloc_free_1000_mixed");
    g.throughput(Throughput::Elements(BLOCKS as u64));
    g.bench_function("system", |b| b.iter(|| churn(&System, &layouts, &mut ptrs)));
    g.bench_function("counting", |b| {
        b.iter(|| churn(&Counting, &layouts, &mut ptrs))
    });
    g.bench_function("dhat_idle", |b| {
        b.iter(|| churn(&dhat::Alloc, &layouts, &mut ptrs))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
