//! `soak_harness::shrink` on small subjects whose leak is known exactly: which
//! kinds it needs (alone, or two together), the bytes per event, the shortened
//! hours, the bound on runs, nothing to shrink for a fixed subject, and every run
//! of the search reproducible from its settings.

use std::cell::RefCell;
use std::rc::Rc;

use soak_harness::shrink::{self, Found, Settings, Shrunk, Stage, Trial};
use soak_harness::traffic::{secs, Diurnal, Shape};
use soak_harness::{Ctx, Outcome, RunConfig, RunFuture, Scenario, Variant, Verdict};

#[global_allocator]
static ALLOC: soak_harness::Counting = soak_harness::Counting::system();

/// Bytes an order keeps in the leaky shop.
const ORDER_BYTES: usize = 1024;

/// A shop: `orders` (2/s), `browses` (10/s, allocate and free), `restocks` (one
/// every 10 minutes) and `coupons` (3/s). The leaky twin keeps [`ORDER_BYTES`] of
/// every order — with `pair`, only of orders placed in a second with a coupon.
#[derive(Default)]
struct Shop {
    pair: bool,
}

impl Scenario for Shop {
    fn name(&self) -> &'static str {
        "shop"
    }
    fn about(&self) -> &'static str {
        "orders keep 1 KiB each in the leaky twin"
    }
    fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a> {
        Box::pin(async move {
            let orders = ctx.kind("orders", Shape::new(Diurnal::flat(2.0)))?;
            let browses = ctx.kind("browses", Shape::new(Diurnal::flat(10.0)))?;
            let restocks = ctx.kind("restocks", None)?;
            let coupons = ctx.kind("coupons", Shape::new(Diurnal::flat(3.0)))?;
            // Room for every order of the longest run: the only growth is the
            // orders themselves.
            let kept = Rc::new(RefCell::new(Vec::<Box<[u8]>>::with_capacity(400_000)));
            let mut rng = ctx.rng("shop");
            let mut ticker = ctx.ticker(secs(1));
            while let Some(t) = ticker.next().await {
                let with_coupon = coupons.count(&mut rng, t, secs(1)) > 0;
                for _ in 0..orders.count(&mut rng, t, secs(1)) {
                    if ctx.leaky() && (with_coupon || !self.pair) {
                        kept.borrow_mut()
                            .push(vec![7u8; ORDER_BYTES].into_boxed_slice());
                    }
                }
                for _ in 0..browses.count(&mut rng, t, secs(1)) {
                    drop(std::hint::black_box(vec![0u8; 256]));
                }
                if t.as_secs() % 600 == 0 {
                    restocks.take(1);
                }
            }
            Ok(())
        })
    }
}

/// No kinds: a request every 10 s, the leaky twin keeps 4 KiB of each.
struct Plain;

impl Scenario for Plain {
    fn name(&self) -> &'static str {
        "plain"
    }
    fn about(&self) -> &'static str {
        "declares no kinds"
    }
    fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a> {
        Box::pin(async move {
            let mut kept = Vec::with_capacity(10_000);
            let mut ticker = ctx.ticker(secs(10));
            while ticker.next().await.is_some() {
                ctx.events(1);
                if ctx.leaky() {
                    kept.push(vec![1u8; 4096].into_boxed_slice());
                }
            }
            Ok(())
        })
    }
}

fn leaky(hours: f64) -> RunConfig {
    RunConfig::new().variant(Variant::Leaky).hours(hours)
}

fn shrink_it(s: &dyn Scenario, cfg: &RunConfig, max_runs: usize) -> Found {
    let mut seen = 0;
    let mut progress = |t: &Trial, max: usize| {
        seen += 1;
        assert_eq!(t.run, seen, "progress comes once per run, in order");
        assert_eq!(max, max_runs);
    };
    shrink::shrink(
        s,
        cfg,
        Settings {
            max_runs,
            progress: &mut progress,
        },
    )
    .expect("shrinks")
}

fn shrunk(f: Found) -> (Shrunk, Outcome) {
    match f {
        Found::Shrunk(s, o) => (*s, *o),
        other => panic!("not shrunk: {other:?}"),
    }
}

#[test]
fn the_kind_a_leak_needs_is_found_with_its_bytes_per_event() {
    let (s, minimal) = shrunk(shrink_it(&Shop::default(), &leaky(6.0), 40));
    assert_eq!(s.kinds, ["orders", "browses", "restocks", "coupons"]);
    assert_eq!(s.needed, ["orders"]);
    assert_eq!(s.not_needed, ["browses", "restocks", "coupons"]);
    assert_eq!(s.fails_without_traffic, Some(false));
    for a in &s.ablations {
        assert_eq!(a.fails, a.kind != "orders", "{a:?}");
    }
    // What muting orders removed, per order: the 1 KiB each keeps.
    let heap = s
        .per_event
        .iter()
        .find(|p| p.kind == "orders" && p.resource == "heap")
        .expect("bytes per order");
    let err = heap.per_event / ORDER_BYTES as f64 - 1.0;
    assert!(err.abs() < 0.03, "{heap:?}");
    assert!(heap.stderr < 0.03 * ORDER_BYTES as f64, "{heap:?}");
    assert!(
        (7_000.0..7_400.0).contains(&heap.events_per_hour),
        "{heap:?}"
    );

    // The minimal run: only orders, shorter, lighter, still failing on the heap.
    let m = s.trial(s.minimal).expect("minimal run");
    assert!(m.fails && m.verdict == Verdict::Fail);
    assert_eq!(m.cfg.mute, ["browses", "restocks", "coupons"]);
    assert!(m.cfg.auto && m.cfg.hours < 6.0, "{:?}", m.args);
    assert!(m.cfg.load_scale < 1.0, "{:?}", m.args);
    assert_eq!(minimal.summary.verdict, Verdict::Fail);
    assert_eq!(minimal.summary.load_scale, m.cfg.load_scale);
    assert_eq!(s.hours, Some(m.cfg.hours));
    assert!(s
        .command
        .starts_with("soak run shop --variant leaky --seed 1 --hours auto"));
    assert!(
        s.command.contains("--mute browses,restocks,coupons"),
        "{}",
        s.command
    );
    assert!(!s.out_of_runs && s.runs.len() <= 40);
    // Every stage ran, in order.
    let stages: Vec<Stage> = s.runs.iter().map(|t| t.stage).collect();
    assert_eq!(stages[0], Stage::Original);
    for st in [
        Stage::Kinds,
        Stage::Ablation,
        Stage::Hours,
        Stage::LoadScale,
    ] {
        assert!(stages.contains(&st), "{st:?} in {stages:?}");
    }
    // The test it hands over replays exactly that run.
    assert!(
        s.test.contains("#[test]\nfn shop_stays_within_budget()"),
        "{}",
        s.test
    );
    assert!(s.test.contains(".mute(\"browses\")"), "{}", s.test);
    assert!(
        s.test.contains(&format!(".auto({:?})", m.cfg.hours)),
        "{}",
        s.test
    );
    assert!(s.test.contains("shrink::Shop::default()"), "{}", s.test);
    // shrink.json: every run with the options that reproduce it.
    let json: serde_json::Value = serde_json::from_str(&s.to_json()).expect("JSON");
    assert_eq!(json["needed"], serde_json::json!(["orders"]));
    assert_eq!(json["runs"].as_array().map(Vec::len), Some(s.runs.len()));
    assert!(json["runs"][0]["args"].is_array());
}

#[test]
fn every_run_of_the_search_is_an_ordinary_reproducible_run() {
    let (s, _) = shrunk(shrink_it(&Shop::default(), &leaky(6.0), 40));
    // The original, an ablation and the minimal run, replayed from their settings.
    let ablation = s.ablations.first().map(|a| a.run).expect("an ablation");
    for n in [1, ablation, s.minimal] {
        let t = s.trial(n).expect("run");
        let again = soak_harness::run(&Shop::default(), &t.cfg).expect("replays");
        let heap = again.summary.resource("heap").expect("heap");
        assert_eq!(again.summary.verdict, t.verdict, "run {n}");
        // The same growth to nine digits, not to the last bit: in a busy suite
        // a replay once read 7456145.263803764 B/h against …761 (cause not
        // found; alone it repeats bit for bit). A replay that is not the same
        // run differs in the first digits.
        let was = t
            .growth_of("heap")
            .map(|g| g.per_hour)
            .expect("heap growth");
        assert!(
            (heap.per_hour() - was).abs() <= 1e-9 * was.abs().max(1.0),
            "run {n}: {} against {was}",
            heap.per_hour()
        );
        assert_eq!(shrink::command_args(&t.cfg), t.args);
    }
    // No two runs with the same settings.
    for (i, a) in s.runs.iter().enumerate() {
        assert!(s.runs[..i].iter().all(|b| b.args != a.args), "{:?}", a.args);
    }
}

#[test]
fn two_kinds_needed_together_are_both_kept() {
    let (s, _) = shrunk(shrink_it(&Shop { pair: true }, &leaky(6.0), 40));
    assert_eq!(s.needed, ["orders", "coupons"]);
    assert_eq!(s.not_needed, ["browses", "restocks"]);
    // Muting either one alone makes the run pass.
    for a in &s.ablations {
        assert_eq!(a.fails, a.kind != "orders" && a.kind != "coupons", "{a:?}");
    }
}

#[test]
fn a_run_that_passes_or_cannot_tell_has_nothing_to_shrink() {
    // A day passes; six hours of a flat load cannot tell (no rise and fall).
    for (hours, verdict) in [(24.0, Verdict::Pass), (6.0, Verdict::Inconclusive)] {
        match shrink_it(&Shop::default(), &RunConfig::new().hours(hours), 40) {
            Found::NothingToShrink(o) => assert_eq!(o.verdict(), verdict, "{hours} h"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_scenario_without_kinds_is_only_shortened() {
    let (s, _) = shrunk(shrink_it(&Plain, &leaky(6.0), 40));
    assert!(s.kinds.is_empty() && s.needed.is_empty() && s.ablations.is_empty());
    assert_eq!(s.fails_without_traffic, None);
    let m = s.trial(s.minimal).expect("minimal");
    assert!(m.fails && m.cfg.auto);
    assert!(m.virtual_hours < 6.0, "{}", m.virtual_hours);
    assert!(s.runs.iter().all(|t| t.stage != Stage::LoadScale));
}

#[test]
fn the_search_stops_at_max_runs_with_the_smallest_failing_run_so_far() {
    let (s, minimal) = shrunk(shrink_it(&Shop::default(), &leaky(6.0), 4));
    assert_eq!(s.runs.len(), 4);
    assert!(s.out_of_runs);
    assert_eq!(minimal.summary.verdict, Verdict::Fail);
    let m = s.trial(s.minimal).expect("minimal");
    assert!(m.fails);
    // Runs 2 to 4: every kind muted, then orders and browses muted alone: the
    // smallest failing set so far is everything but browses.
    assert_eq!(m.cfg.mute, ["browses"]);
    assert!(s.text().contains("out of runs"), "{}", s.text());
}

#[test]
fn a_leak_that_needs_no_traffic_needs_no_kind() {
    let cfg = RunConfig::new().hours(6.0).leak_rate(4e6);
    let (s, _) = shrunk(shrink_it(&Shop::default(), &cfg, 40));
    assert_eq!(s.fails_without_traffic, Some(true));
    assert!(s.needed.is_empty());
    assert_eq!(s.not_needed.len(), 4);
    assert!(s.per_event.is_empty());
    let m = s.trial(s.minimal).expect("minimal");
    assert_eq!(m.cfg.mute.len(), 4);
    assert!(m.virtual_hours <= 2.0, "{}", m.virtual_hours);
    assert!(
        s.text().contains("the leak needs no traffic"),
        "{}",
        s.text()
    );
}
