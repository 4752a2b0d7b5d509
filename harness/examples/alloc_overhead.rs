//! Counting-allocator overhead, robust to a busy machine: the same allocation-heavy
//! loop through `System` and through `Counting`, interleaved round by round, and
//! the *minimum* time of each kept (preemption only ever adds time).
//!
//! Run: `cargo run --release -p soak-harness --example alloc_overhead`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::time::{Duration, Instant};

use soak_harness::alloc::Counting;

fn churn<A: GlobalAlloc>(a: &A, layouts: &[Layout], ptrs: &mut Vec<*mut u8>) {
    ptrs.clear();
    for l in layouts {
        // SAFETY: valid non-zero layouts; freed below with the same layout.
        let p = unsafe { a.alloc(*l) };
        assert!(!p.is_null());
        unsafe { p.write(1) };
        ptrs.push(p);
    }
    for (p, l) in ptrs.iter().zip(layouts) {
        // SAFETY: allocated above by the same allocator with this layout.
        unsafe { a.dealloc(black_box(*p), *l) };
    }
}

fn best<A: GlobalAlloc>(a: &A, layouts: &[Layout], ptrs: &mut Vec<*mut u8>, reps: u32) -> Duration {
    let t = Instant::now();
    for _ in 0..reps {
        churn(a, layouts, ptrs);
    }
    t.elapsed()
}

fn main() {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let layouts: Vec<Layout> = (0..1_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Layout::from_size_align(16usize << (x % 9), 8).expect("valid layout")
        })
        .collect();
    let mut ptrs = Vec::with_capacity(layouts.len());
    let (mut sys, mut cnt) = (Duration::MAX, Duration::MAX);
    let rounds: u32 = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    // MODE=system or MODE=counting runs one side only (for instruction counts
    // under `valgrind --tool=callgrind`, which a busy machine cannot disturb).
    let mode = std::env::var("MODE").unwrap_or_default();
    for _ in 0..rounds {
        if mode != "counting" {
            sys = sys.min(best(&System, &layouts, &mut ptrs, 20));
        }
        if mode != "system" {
            cnt = cnt.min(best(&Counting, &layouts, &mut ptrs, 20));
        }
    }
    let per = |d: Duration| d.as_secs_f64() * 1e9 / (20.0 * layouts.len() as f64);
    println!(
        "system {:.2} ns/pair, counting {:.2} ns/pair, overhead {:+.1}%",
        per(sys),
        per(cnt),
        (per(cnt) / per(sys) - 1.0) * 100.0
    );
}
