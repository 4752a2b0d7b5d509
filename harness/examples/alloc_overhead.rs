//! Counting-allocator overhead, robust to a busy machine: the same allocation-heavy
//! loop through `System`, through `Counting` with allocation-site sampling off, and
//! through `Counting` with sampling on (the default, one sample per 512 KiB),
//! interleaved round by round, and the *minimum* time of each kept (preemption only
//! ever adds time).
//!
//! Run: `cargo run --release -p soak-harness --example alloc_overhead`.

#[path = "../benches/support/churn.rs"]
mod churn;

use std::alloc::{GlobalAlloc, Layout, System};
use std::time::{Duration, Instant};

use churn::churn;
use soak_harness::alloc::Counting;
use soak_harness::sites;

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
    let (mut sys, mut cnt, mut smp) = (Duration::MAX, Duration::MAX, Duration::MAX);
    let rounds: u32 = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let sample_bytes: u64 = std::env::var("SAMPLE_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(sites::DEFAULT_SAMPLE_BYTES);
    // MODE=system, MODE=counting (sampling off) or MODE=sampling runs one side only
    // (for instruction counts under `valgrind --tool=callgrind`, which a busy
    // machine cannot disturb).
    let mode = std::env::var("MODE").unwrap_or_default();
    let on = |m: &str| mode.is_empty() || mode == m;
    for _ in 0..rounds {
        if on("system") {
            sys = sys.min(best(&System, &layouts, &mut ptrs, 20));
        }
        if on("counting") {
            sites::configure(0, 1);
            cnt = cnt.min(best(&ALLOC, &layouts, &mut ptrs, 20));
        }
        if on("sampling") {
            sites::configure(sample_bytes, 1);
            smp = smp.min(best(&ALLOC, &layouts, &mut ptrs, 20));
        }
    }
    let per = |d: Duration| d.as_secs_f64() * 1e9 / (20.0 * layouts.len() as f64);
    println!(
        "system {:.2} ns/pair, counting {:.2} ns/pair ({:+.1}%), counting+sampling {:.2} ns/pair \
         ({:+.1}% over counting), {} samples",
        per(sys),
        per(cnt),
        (per(cnt) / per(sys) - 1.0) * 100.0,
        per(smp),
        (per(smp) / per(cnt) - 1.0) * 100.0,
        sites::counts().0
    );
}
