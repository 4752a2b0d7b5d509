//! Named traffic kinds (`Ctx::kind`): their `load_KIND` columns and totals, what
//! `--mute` and `--load-scale` do to each way of drawing events, the retention
//! the kinds of a run decide, and the refusals (an unknown `--mute`, a kind
//! declared late, twice, or under a gauge's column).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use soak_harness::traffic::{mins, secs, Diurnal, Shape};
use soak_harness::{Ctx, Error, Gauge, RunConfig, RunFuture, Scenario};

#[global_allocator]
static ALLOC: soak_harness::Counting = soak_harness::Counting::system();

/// Four kinds, each drawn a different way: `polled` from a shape (4/s), `mean`
/// from a Poisson mean (2/s), `every_min` scheduled (one a minute), `coin`
/// a chance per second (0.5) weighing 3 load events each.
struct Mix {
    /// Declared retention of `every_min` (the others declare 1 h, or nothing).
    long: Duration,
    /// Whether `coin` declares a retention.
    coin_retains: bool,
}

impl Scenario for Mix {
    fn name(&self) -> &'static str {
        "mix"
    }
    fn about(&self) -> &'static str {
        "four kinds drawn four ways"
    }
    fn retention(&self) -> Option<Duration> {
        Some(Duration::from_secs(24 * 3600))
    }
    fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a> {
        Box::pin(async move {
            let hour = Duration::from_secs(3600);
            let polled = ctx
                .kind("polled", Shape::new(Diurnal::flat(4.0)))?
                .retains(hour);
            let mean = ctx.kind("mean", None)?.retains(hour);
            let every_min = ctx.kind("every_min", None)?.retains(self.long);
            let mut coin = ctx.kind("coin", None)?.weight(3);
            if self.coin_retains {
                coin = coin.retains(hour);
            }
            let mut rng = ctx.rng("mix");
            let mut ticker = ctx.ticker(secs(1));
            while let Some(t) = ticker.next().await {
                polled.count(&mut rng, t, secs(1));
                mean.poisson(&mut rng, 2.0);
                if t.as_secs() % 60 == 0 {
                    every_min.take(1);
                }
                coin.chance(&mut rng, 0.5);
            }
            Ok(())
        })
    }
}

fn mix() -> Mix {
    Mix {
        long: Duration::from_secs(6 * 3600),
        coin_retains: true,
    }
}

fn total(o: &soak_harness::Outcome, kind: &str) -> u64 {
    o.summary
        .kinds
        .iter()
        .find(|k| k.name == kind)
        .map(|k| k.events)
        .unwrap_or_else(|| panic!("no kind {kind}"))
}

#[test]
fn every_kind_has_a_column_and_a_total_and_they_make_up_the_load() {
    let o = soak_harness::run(&mix(), &RunConfig::new().hours(2.0)).expect("runs");
    let s = &o.summary;
    let names: Vec<&str> = s.kinds.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["polled", "mean", "every_min", "coin"]);
    assert!(s.kinds.iter().all(|k| !k.muted));
    let cols = o.samples.columns();
    let at = |c: &str| cols.iter().position(|x| x == c).expect(c);
    // Beside load_events, before the gauges, in declaration order.
    assert_eq!(at("load_polled"), at("load_events") + 1);
    assert_eq!(at("load_coin"), at("load_events") + 4);
    for k in &s.kinds {
        let col: f64 = o
            .samples
            .column(&format!("load_{}", k.name))
            .expect("column")
            .iter()
            .sum();
        assert_eq!(col as u64, k.events, "{}", k.name);
    }
    // Two hours of one-second ticks from 0:00 to 1:59:59: 120 whole minutes;
    // coin weighs 3.
    assert_eq!(total(&o, "every_min"), 120);
    let (p, m, c) = (total(&o, "polled"), total(&o, "mean"), total(&o, "coin"));
    assert!((27_000..30_600).contains(&p), "polled {p}");
    assert!((13_500..15_300).contains(&m), "mean {m}");
    assert!((3_300..3_900).contains(&c), "coin {c}");
    assert_eq!(s.load_events, p + m + 120 + 3 * c);
    let load: f64 = o.samples.column("load_events").expect("load").iter().sum();
    assert_eq!(load as u64, s.load_events);
}

#[test]
fn muted_kinds_replay_nothing_and_the_scale_scales_every_way_of_drawing() {
    let base = RunConfig::new().hours(2.0);
    let full = soak_harness::run(&mix(), &base).expect("runs");
    let muted = soak_harness::run(&mix(), &base.clone().mute("polled").mute("coin")).expect("runs");
    assert_eq!(total(&muted, "polled"), 0);
    assert_eq!(total(&muted, "coin"), 0);
    assert!(muted.summary.kinds.iter().filter(|k| k.muted).count() == 2);
    assert_eq!(total(&muted, "every_min"), 120);
    assert!(total(&muted, "mean") > 13_000);
    let zeros = muted.samples.column("load_polled").expect("column");
    assert!(zeros.iter().all(|v| *v == 0.0));

    let half = soak_harness::run(&mix(), &base.clone().load_scale(0.5)).expect("runs");
    assert_eq!(half.summary.load_scale, 0.5);
    // Scheduled events: exactly every other one.
    assert_eq!(total(&half, "every_min"), 60);
    for kind in ["polled", "mean", "coin"] {
        let ratio = total(&half, kind) as f64 / total(&full, kind) as f64;
        assert!((0.46..0.54).contains(&ratio), "{kind}: {ratio}");
    }
}

#[test]
fn an_unknown_mute_is_refused_with_the_kinds_and_nothing_is_measured() {
    let e = soak_harness::run(&mix(), &RunConfig::new().hours(1.0).mute("nosuch"))
        .expect_err("refused");
    assert!(matches!(e, Error::Usage(_)), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("--mute 'nosuch'"), "{text}");
    assert!(text.contains("polled, mean, every_min, coin"), "{text}");
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn the_kinds_replayed_decide_the_retention_when_each_declares_one() {
    let run = |s: &Mix, cfg: RunConfig| {
        soak_harness::run(s, &cfg)
            .expect("runs")
            .summary
            .retention_hours
    };
    let cfg = RunConfig::new().hours(2.0);
    // The longest of the kinds replayed: every_min's 6 h, then 1 h without it.
    assert_eq!(run(&mix(), cfg.clone()), Some(6.0));
    assert_eq!(run(&mix(), cfg.clone().mute("every_min")), Some(1.0));
    // Every kind muted: nothing is kept.
    let none = ["polled", "mean", "every_min", "coin"]
        .iter()
        .fold(cfg.clone(), |c, k| c.mute(*k));
    assert_eq!(run(&mix(), none), Some(0.0));
    // One kind without a declaration: the scenario's stands.
    let silent = Mix {
        coin_retains: false,
        ..mix()
    };
    assert_eq!(run(&silent, cfg.clone().mute("every_min")), Some(24.0));
    // Given on the command line, it stands whatever the kinds say.
    assert_eq!(run(&mix(), cfg.retention_hours(3.0)), Some(3.0));
}

/// Declares kinds wrong in one of four ways.
struct Wrong(u8);

impl Scenario for Wrong {
    fn name(&self) -> &'static str {
        "wrong"
    }
    fn about(&self) -> &'static str {
        "declares a kind wrong"
    }
    fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a> {
        Box::pin(async move {
            let seen = Rc::new(RefCell::new(0u64));
            match self.0 {
                0 => {
                    ctx.kind("a", None)?;
                    ctx.kind("a", None)?;
                }
                1 => {
                    ctx.gauge(Gauge::new("load_a", move || *seen.borrow() as f64))?;
                    ctx.kind("a", None)?;
                }
                2 => {
                    ctx.kind("Bad-Name", None)?;
                }
                _ => {
                    tokio::time::sleep(mins(1)).await;
                    ctx.kind("late", None)?;
                }
            }
            Ok(())
        })
    }
}

#[test]
fn a_kind_declared_twice_late_badly_or_over_a_gauge_fails_the_run() {
    for (case, says) in [
        (0, "declared twice"),
        (1, "a gauge is already named load_a"),
        (2, "lowercase letters"),
        (3, "after sampling started"),
    ] {
        let e = soak_harness::run(&Wrong(case), &RunConfig::new().hours(1.0))
            .expect_err("a scenario error");
        assert!(e.to_string().contains(says), "{case}: {e}");
    }
}
