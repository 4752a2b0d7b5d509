//! `--hours auto` in the run loop: the run looks at its samples every virtual
//! hour and ends at the first look with a settled verdict; the scenario's ticker
//! and anything sleeping until the end wake there, not at `--max-hours`; and a
//! run that never settles stops at the limit, inconclusive.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use soak_harness::traffic::secs;
use soak_harness::{Ctx, RunConfig, RunFuture, Scenario, Variant, Verdict};

#[global_allocator]
static ALLOC: soak_harness::Counting = soak_harness::Counting::system();

/// One request every 10 s; the leaky twin keeps 4 KiB of each (1.4 MiB/h).
/// Records when its ticker ended and when a second future sleeping until the
/// end woke.
#[derive(Default)]
struct Requests {
    ticker_ended: Cell<Option<Duration>>,
    slept_until: Cell<Option<Duration>>,
    /// Declared retention, hours.
    retention: Option<Duration>,
}

impl Scenario for Requests {
    fn name(&self) -> &'static str {
        "requests"
    }
    fn about(&self) -> &'static str {
        "a request every 10 s; leaky keeps 4 KiB of each"
    }
    fn retention(&self) -> Option<Duration> {
        self.retention
    }
    fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a> {
        Box::pin(async move {
            let kept = Rc::new(RefCell::new(Vec::<Box<[u8]>>::new()));
            let sleeper = async {
                ctx.until_end().await;
                self.slept_until.set(Some(ctx.elapsed()));
            };
            let traffic = async {
                let mut ticker = ctx.ticker(secs(10));
                while ticker.next().await.is_some() {
                    ctx.events(1);
                    if ctx.leaky() {
                        kept.borrow_mut().push(vec![1u8; 4096].into_boxed_slice());
                    }
                }
                self.ticker_ended.set(Some(ctx.elapsed()));
            };
            tokio::join!(sleeper, traffic);
            Ok(())
        })
    }
}

fn hours(d: Option<Duration>) -> f64 {
    d.map(|d| d.as_secs_f64() / 3600.0).unwrap_or(f64::NAN)
}

#[test]
fn a_settled_run_stops_at_the_look_and_wakes_everything_there() {
    for (variant, want) in [
        (Variant::Fixed, Verdict::Pass),
        (Variant::Leaky, Verdict::Fail),
    ] {
        let s = Requests::default();
        let cfg = RunConfig::new().variant(variant).max_growth(1e6).auto(12.0);
        let o = soak_harness::run(&s, &cfg).expect("runs");
        let sum = &o.summary;
        assert_eq!(sum.verdict, want, "{variant}: {}", sum.message);
        // A steady subject with a flat load is settled at the first look.
        assert_eq!(sum.virtual_hours, 1.0, "{variant}");
        let auto = sum.auto.expect("auto section");
        assert!(auto.settled && auto.max_hours == 12.0 && auto.looks == 12);
        assert!((2.8..3.0).contains(&auto.significance_z), "{auto:?}");
        assert_eq!(sum.samples, 61);
        // The ticker's last tick was before the stop; both woke just after it.
        for woke in [hours(s.ticker_ended.get()), hours(s.slept_until.get())] {
            assert!((1.0..1.001).contains(&woke), "{variant}: woke at {woke} h");
        }
    }
}

#[test]
fn a_run_that_cannot_settle_stops_at_the_limit_inconclusive() {
    // A declared retention longer than the limit: no look can judge.
    let s = Requests {
        retention: Some(Duration::from_secs(5 * 3600)),
        ..Requests::default()
    };
    let o = soak_harness::run(&s, &RunConfig::new().auto(3.0)).expect("runs");
    let sum = &o.summary;
    assert_eq!(sum.verdict, Verdict::Inconclusive, "{}", sum.message);
    assert!(o.inconclusive());
    assert!(sum.message.contains("retention (5 h"), "{}", sum.message);
    assert_eq!(sum.virtual_hours, 3.0);
    assert!(!sum.auto.expect("auto section").settled);
    assert_eq!(sum.retention_hours, Some(5.0));
    assert_eq!(
        sum.inconclusive_resources,
        vec!["heap".to_string(), "tasks".into(), "fds".into()]
    );
    assert!((3.0..3.001).contains(&hours(s.ticker_ended.get())));
}

#[test]
fn a_fixed_length_run_shorter_than_the_retention_is_inconclusive() {
    let s = Requests {
        retention: Some(Duration::from_secs(2 * 3600)),
        ..Requests::default()
    };
    let leaky = RunConfig::new().variant(Variant::Leaky).hours(1.5);
    let o = soak_harness::run(&s, &leaky).expect("runs");
    assert_eq!(o.summary.verdict, Verdict::Inconclusive);
    // Declared from the command line instead, shorter: the same leak fails.
    let o = soak_harness::run(&s, &leaky.retention_hours(0.5)).expect("runs");
    assert_eq!(o.summary.verdict, Verdict::Fail, "{}", o.summary.message);
    assert_eq!(
        o.summary.warmup_hours, 0.5,
        "the warm-up waits out the retention"
    );
}
