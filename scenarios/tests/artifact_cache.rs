//! `artifact-cache` against the harness: for seeds 1–5 over 24 virtual hours the
//! fixed caches pass and the leaky maps fail on heap; and a capacity-bounded cache
//! that fills for ten hours and then holds still passes, although a naive
//! least-squares slope over the same samples would call it a leak.

use std::sync::{Arc, Mutex};

use crate::support;
use soak_components::lru::LruCache;
use soak_harness::run;
use soak_harness::traffic::{secs, Diurnal, Shape};
use soak_harness::verdict::Reason;
use soak_harness::{Ctx, Gauge, Outcome, RunConfig, RunFuture, Scenario, Variant, Verdict};
use soak_scenarios::artifact_cache::{ArtifactCache, ARTIFACT_MAX, ARTIFACT_MAX_BYTES, AUTH_MAX};

fn column(o: &Outcome, name: &str) -> Vec<f64> {
    o.samples
        .column(name)
        .unwrap_or_else(|| panic!("gauge {name} recorded"))
}

fn fixed_passes(seed: u64) {
    let o = support::day(&ArtifactCache, Variant::Fixed, seed);
    let s = &o.summary;
    assert!(o.passed(), "seed {seed}: {}", s.message);
    support::no_site_past_budget(s);
    assert!(s.failed_resources.is_empty());
    assert!(
        s.growth_bytes_per_hour < 0.5e6,
        "seed {seed}: {}",
        s.message
    );
    // The bounds held at every sample.
    let max = |name| column(&o, name).into_iter().fold(0.0, f64::max);
    assert_eq!(max("artifacts_entries"), ARTIFACT_MAX as f64);
    assert!(max("artifacts_bytes") <= ARTIFACT_MAX_BYTES as f64);
    assert_eq!(max("auth_entries"), AUTH_MAX as f64);
    assert!(max("sessions_entries") <= 1_000.0);
    // Every eviction path the day exercises was taken.
    let total = |name| column(&o, name).into_iter().sum::<f64>();
    for g in [
        "artifacts_evicted_capacity",
        "artifacts_evicted_replaced",
        "artifacts_evicted_removed",
        "auth_evicted_expired",
        "auth_evicted_capacity",
        "sessions_evicted_expired",
        "sessions_evicted_capacity", // the 19:00 reconnect storm
        "sessions_evicted_removed",
        "interactions_timed_out",
    ] {
        assert!(total(g) > 0.0, "seed {seed}: no {g}");
    }
    // The sweeper task was stopped and everything was released.
    assert!(
        s.teardown.tasks_back && s.teardown.heap_back,
        "{:?}",
        s.teardown
    );
}

fn leaky_fails(seed: u64) {
    let o = support::day(&ArtifactCache, Variant::Leaky, seed);
    let s = &o.summary;
    assert!(!o.passed(), "seed {seed}: {}", s.message);
    // The payloads the upload path puts in the unbounded store.
    support::top_site_on(s, &["(artifact_requests)", "artifact_requests ("]);
    assert!(
        s.failed_resources.iter().any(|r| r == "heap"),
        "seed {seed}: {:?}",
        s.failed_resources
    );
    assert!(s.growth_bytes_per_hour > 2e6, "seed {seed}: {}", s.message);
    // The maps kept what the caches would have let go.
    let last = |name| o.samples.last(name).expect("gauge recorded");
    assert!(last("artifacts_entries") > 5.0 * ARTIFACT_MAX as f64);
    assert!(last("auth_entries") > 10.0 * AUTH_MAX as f64);
    assert!(last("sessions_entries") > 2_000.0);
    assert!(s.grown_gauges.iter().any(|g| g == "artifacts_bytes"));
}

macro_rules! seeds {
    ($($fixed:ident $leaky:ident $seed:literal),*) => {$(
        #[test]
        fn $fixed() {
            fixed_passes($seed);
        }
        #[test]
        fn $leaky() {
            leaky_fails($seed);
        }
    )*};
}

seeds!(
    fixed_passes_seed_1 leaky_fails_seed_1 1,
    fixed_passes_seed_2 leaky_fails_seed_2 2,
    fixed_passes_seed_3 leaky_fails_seed_3 3,
    fixed_passes_seed_4 leaky_fails_seed_4 4,
    fixed_passes_seed_5 leaky_fails_seed_5 5
);

/// Entries in the plateau cache.
const CAP: usize = 4_096;
/// Bytes per entry: the full cache holds 64 MiB.
const ENTRY_BYTES: usize = 16 * 1024;
/// Hours until the cache is full.
const FILL_HOURS: f64 = 10.0;

/// A cache that fills for [`FILL_HOURS`] (a new 16 KiB entry every ~9 virtual
/// seconds, flat traffic) and then stays full: capacity evictions balance inserts.
struct FillThenFlat;

impl Scenario for FillThenFlat {
    fn name(&self) -> &'static str {
        "fill-then-flat"
    }

    fn about(&self) -> &'static str {
        "a capacity-bounded cache fills for ten hours, then holds still"
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a> {
        Box::pin(async move {
            let cache = Arc::new(Mutex::new(
                LruCache::<u64, Box<[u8]>>::builder(CAP).build()?,
            ));
            let c = cache.clone();
            ctx.gauge(Gauge::new("entries", move || {
                c.lock().map_or(f64::NAN, |c| c.len() as f64)
            }))?;
            let writes = Shape::new(Diurnal::flat(CAP as f64 / (FILL_HOURS * 3600.0)));
            let reads = Shape::new(Diurnal::flat(5.0));
            let mut rng = ctx.rng("plateau");
            let mut ticker = ctx.ticker(secs(1));
            let mut next = 0u64;
            while let Some(t) = ticker.next().await {
                let w = writes.count(&mut rng, t, secs(1));
                let r = reads.count(&mut rng, t, secs(1));
                ctx.events(w + r);
                let mut c = cache.lock().map_err(|e| e.to_string())?;
                for _ in 0..w {
                    next += 1;
                    c.insert(next, vec![1u8; ENTRY_BYTES].into_boxed_slice());
                }
                for _ in 0..r {
                    let id = next.saturating_sub(rng.below(CAP as u64));
                    c.get(&id);
                }
            }
            Ok(())
        })
    }
}

/// Plain least-squares slope of `y` on `t`.
fn naive_slope(t: &[f64], y: &[f64]) -> f64 {
    let n = t.len() as f64;
    let (mt, my) = (t.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = t.iter().zip(y).map(|(a, b)| (a - mt) * (b - my)).sum();
    let sxx: f64 = t.iter().map(|a| (a - mt) * (a - mt)).sum();
    sxy / sxx
}

#[test]
fn a_cache_that_fills_then_plateaus_passes_where_a_naive_slope_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = RunConfig::default();
    let mut o = run(&FillThenFlat, &cfg).expect("the run completes");
    o.write_report(dir.path()).expect("report written");
    let s = &o.summary;
    // The chart of the plateau was drawn.
    let chart = std::fs::read_to_string(dir.path().join("fill-then-flat/fixed/heap.svg"))
        .expect("heap.svg written");
    assert!(chart.contains("gauge: entries"));
    let budget = s.threshold_bytes_per_hour;

    // The shape: full (and flat) from a little after FILL_HOURS to the end.
    let t = o.samples.hours();
    let entries = column(&o, "entries");
    let full_from = t[entries
        .iter()
        .position(|&e| e == CAP as f64)
        .expect("fills up")];
    assert!(
        (FILL_HOURS - 1.5..FILL_HOURS + 1.5).contains(&full_from),
        "{full_from}"
    );
    assert!(entries
        .iter()
        .zip(&t)
        .all(|(&e, &h)| h < full_from || e == CAP as f64));
    let heap = column(&o, "live_bytes");
    let at = |h: f64| heap[t.iter().position(|&x| x >= h).expect("sampled")];
    assert!(at(FILL_HOURS + 2.0) > 64e6, "64 MiB held once full");
    assert!(
        (at(24.0 - 1e-9) - at(FILL_HOURS + 2.0)).abs() < 1e6,
        "flat after"
    );

    // A naive slope over the harness's own window reads the fill as a leak.
    let warmup = s.warmup_hours;
    let (tw, yw): (Vec<f64>, Vec<f64>) = t
        .iter()
        .zip(&heap)
        .filter(|(h, _)| **h >= warmup)
        .map(|(h, y)| (*h, *y))
        .unzip();
    let naive = naive_slope(&tw, &yw);
    assert!(naive > 1.5 * budget, "naive slope {naive} B/h");

    // The harness is not fooled: today its whole-window slope sees the fill too,
    // but the late-half slope (after the cache is full) is not growth. Only the
    // verdict is asserted, so a better model keeps this test meaningful.
    let h = s
        .resource("heap")
        .and_then(|r| r.estimate)
        .expect("estimated");
    eprintln!(
        "plateau: full at {full_from:.2} h; naive slope {:.0} B/h; model {:.0} ± {:.0} B/h, \
         late half {:.0} ± {:.0} B/h; detectable {:?} B/h; budget {budget:.0} B/h",
        naive,
        h.per_hour,
        h.stderr,
        h.late_per_hour,
        h.late_stderr,
        s.resource("heap").and_then(|r| r.detectable_per_hour)
    );
    // Never read as a leak. Whether it passes depends on whether the window could
    // have seen a leak at the budget on the plateau: the fill's shape leaves the
    // hinge fit loose (late half ± 0.7 MB/h here), so a 1 MB/h leak would not have
    // shown, and the run says so instead of passing.
    assert!(s.failed_resources.is_empty(), "{}", s.message);
    match s.verdict {
        Verdict::Pass => {}
        Verdict::Inconclusive => assert!(
            matches!(
                s.resource("heap").and_then(|r| r.reason),
                Some(Reason::Undetectable { .. })
            ),
            "{}",
            s.message
        ),
        v => panic!("{v}: {}", s.message),
    }
}
