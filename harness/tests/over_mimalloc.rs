//! The counting allocator over another allocator than the system's (mimalloc, as a
//! user's crate would declare it): the heap is measured, a leak fails its budget and
//! the fix passes; `--dhat` (which allocates from the system allocator) is refused.

use soak_harness::traffic::secs;
use soak_harness::{Counting, Ctx, Gauge, RunConfig, RunFuture, Scenario, Variant};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

#[global_allocator]
static ALLOC: Counting<mimalloc::MiMalloc> = Counting::new(mimalloc::MiMalloc);

/// A session map whose leaky twin never forgets a session (the README's example).
struct Sessions;

impl Scenario for Sessions {
    fn name(&self) -> &'static str {
        "sessions"
    }
    fn about(&self) -> &'static str {
        "sessions that should be dropped at logout"
    }
    fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a> {
        Box::pin(async move {
            let map = Rc::new(RefCell::new(HashMap::<u64, [u8; 64]>::new()));
            let m = map.clone();
            ctx.gauge(Gauge::new("sessions", move || m.borrow().len() as f64))?;
            let mut ticker = ctx.ticker(secs(10));
            let mut next = 0u64;
            while ticker.next().await.is_some() {
                ctx.events(1);
                map.borrow_mut().insert(next, [0; 64]);
                if !ctx.leaky() && next >= 100 {
                    map.borrow_mut().remove(&(next - 100));
                }
                next += 1;
            }
            Ok(())
        })
    }
}

#[test]
fn a_leak_fails_and_its_fix_passes_over_mimalloc() {
    let cfg = RunConfig::new().hours(6.0).max_growth(4_000.0);
    let fixed = soak_harness::run(&Sessions, &cfg).expect("runs over mimalloc");
    fixed.assert_within_budget();
    let leaky = soak_harness::run(&Sessions, &cfg.clone().variant(Variant::Leaky)).expect("runs");
    assert_eq!(
        leaky.verdict(),
        soak_harness::Verdict::Fail,
        "{}",
        leaky.summary.message
    );
    // 360 sessions of ≥ 64 bytes an hour: the heap really was counted.
    assert!(
        leaky.summary.growth_bytes_per_hour > 360.0 * 64.0,
        "{}",
        leaky.summary.message
    );
    assert!(leaky.summary.peak_live_bytes > fixed.summary.peak_live_bytes);
}

#[test]
fn dhat_is_refused_over_another_allocator() {
    let cfg = RunConfig::new().hours(1.0).dhat(0.0);
    let err = match soak_harness::run(&Sessions, &cfg) {
        Ok(o) => panic!("ran with --dhat over mimalloc: {}", o.summary.message),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("Counting::system"), "{err}");
}
