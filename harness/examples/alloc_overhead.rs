//! Counting-allocator overhead, robust to a busy machine: the same allocation-heavy
//! loop through `System` and through `Counting`, interleaved round by round, and
//! the *minimum* time of each kept (preemption only ever adds time).
//!
//! Run: `cargo run --release -p soak-harness --example alloc_overhead`.

#[path = "../benches/support/churn.rs"]
mod churn;

use std::alloc::{GlobalAlloc, Layout, System};
use std::time::{Duration, Instant};

use churn::churn;
use soak_harness::alloc::Counting;

// The process runs on the counting allocator, as a soak binary does.
#[global_allocator]
static ALLOC: Counting = Counting::system();

fn best<A: GlobalAlloc>(a: &A, layouts: &[Layout], ptrs: &mut Vec<*mut u8>, reps: u32) -> Duration {
    let t = Instant::now();
    for _ in 0..reps {
        churn(a, layouts, ptrs);
    }
    t.elapsed()
}

fn main() {
    let layouts = churn::layouts();
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
            cnt = cnt.min(best(&ALLOC, &layouts, &mut ptrs, 20));
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
