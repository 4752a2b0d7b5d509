//! Three leaks in three shapes, each over a virtual day with and without its fix.
//! The fixed variants pass; the leaky ones fail on their heap, and the "where" of
//! the failure names the function that owns the growth — whether the binary has
//! line tables or not (`ci/test.sh` builds these tests both ways):
//!
//! - a `Vec` growing inside a dependency (slab's entries): slab's frame, then
//!   [`Listeners::register`], ours, that called into it — or ours alone when,
//!   without line tables, slab's code was inlined into ours and left no frame;
//! - a `HashMap` keyed by request in our code: [`Sessions::open`], not hashbrown's
//!   table nor the standard library's `format!`;
//! - a `String` cloned into a long-lived list: [`Audit::record`], not
//!   `String::clone`.

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use outside_crate::audit::{Audit, User};
use outside_crate::listeners::Listeners;
use outside_crate::sessions::Sessions;
use soak_harness::frames::Kind;
use soak_harness::traffic::{mix, secs, Diurnal, Shape};
use soak_harness::{Ctx, Gauge, Outcome, RunConfig, RunFuture, Scenario, Variant};

use crate::support;

/// Which leak a day soaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leak {
    Listeners,
    Sessions,
    Audit,
}

/// Requests per second over the day (peak at 14:00): about 1 million a day, a
/// quarter of that for sessions (each keeps a copy of its 256-byte body).
fn requests(leak: Leak) -> Shape {
    match leak {
        Leak::Sessions => Shape::new(Diurnal::new(1.0, 5.0, 14.0)),
        _ => Shape::new(Diurnal::new(4.0, 20.0, 14.0)),
    }
}

/// A request's body.
const BODY: [u8; 256] = [b'x'; 256];

/// How long a connection or a request lasts.
const LIFETIME: Duration = Duration::from_secs(60);

/// A day of requests against one of the three components.
struct Day(Leak);

impl Scenario for Day {
    fn name(&self) -> &'static str {
        match self.0 {
            Leak::Listeners => "listener-bus",
            Leak::Sessions => "request-sessions",
            Leak::Audit => "audit-trail",
        }
    }

    fn about(&self) -> &'static str {
        "a day of requests, each registering a listener, opening a session or \
         recording its user"
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a> {
        Box::pin(async move {
            let leaky = ctx.leaky();
            let (mut listeners, mut sessions, mut audit) = (
                Listeners::new(leaky),
                Sessions::new(leaky),
                Audit::new(leaky),
            );
            let held = Rc::new(Cell::new(0usize));
            let h = Rc::clone(&held);
            ctx.gauge(Gauge::new("held", move || h.get() as f64))?;
            let shape = requests(self.0);
            let mut rng = ctx.rng("requests");
            let mut open: VecDeque<(Duration, u64)> = VecDeque::new();
            let mut next = 0u64;
            let mut ticker = ctx.ticker(secs(1));
            while let Some(t) = ticker.next().await {
                let n = shape.count(&mut rng, t, secs(1));
                for _ in 0..n {
                    next += 1;
                    let user = mix(next) % 50_000;
                    match self.0 {
                        Leak::Listeners => {
                            let key = listeners.register(next, [user as u32; 6]);
                            open.push_back((t + LIFETIME, key as u64));
                        }
                        Leak::Sessions => {
                            sessions.open(next, user, &BODY);
                            open.push_back((t + LIFETIME, next));
                        }
                        Leak::Audit => audit.record(&User {
                            id: user,
                            name: format!("user-{user:08}@guild-{:04}", user % 97),
                        }),
                    }
                }
                while open.front().is_some_and(|(until, _)| *until <= t) {
                    let Some((_, handle)) = open.pop_front() else {
                        break;
                    };
                    match self.0 {
                        Leak::Listeners => listeners.unregister(handle as usize),
                        Leak::Sessions => sessions.close(handle),
                        Leak::Audit => {}
                    }
                }
                held.set(match self.0 {
                    Leak::Listeners => listeners.len(),
                    Leak::Sessions => sessions.len(),
                    Leak::Audit => audit.len(),
                });
                ctx.events(n);
            }
            Ok(())
        })
    }
}

fn day(leak: Leak, variant: Variant) -> Outcome {
    // The map's table doubles in steps as large as a few hours of sessions: two
    // days tell its growth from a fill (one is inconclusive, and says so).
    let hours = if leak == Leak::Sessions { 48.0 } else { 24.0 };
    let cfg = RunConfig::new().variant(variant).hours(hours);
    let o = soak_harness::run(&Day(leak), &cfg).expect("runs");
    println!("{:?} {}: {}", leak, o.summary.variant, o.summary.message);
    o
}

#[test]
fn fixed_listeners_pass() {
    day(Leak::Listeners, Variant::Fixed).assert_within_budget();
}

#[test]
fn fixed_sessions_pass() {
    day(Leak::Sessions, Variant::Fixed).assert_within_budget();
}

#[test]
fn fixed_audit_passes() {
    day(Leak::Audit, Variant::Fixed).assert_within_budget();
}

#[test]
fn a_vec_growing_in_a_dependency_names_it_and_our_caller() {
    let o = day(Leak::Listeners, Variant::Leaky);
    let (_, site, frame) = support::failing_owner(&o);
    let register = |f: &soak_harness::frames::Frame| {
        support::is_ours(f, "listeners::Listeners::register", "src/listeners.rs")
    };
    if frame.kind == Kind::Dependency {
        assert_eq!(frame.package.as_deref(), Some("slab"), "{frame:?}");
        assert!(frame.function.contains("insert"), "{frame:?}");
        let caller = site.caller.as_ref().expect("our caller");
        assert!(register(caller), "{caller:?}");
        assert!(o.summary.message.contains(" ← "), "{}", o.summary.message);
    } else {
        // Without line tables slab's code, inlined into ours, left no frame.
        assert!(!support::line_tables(), "{frame:?}");
        assert!(register(frame), "{frame:?}");
    }
    if support::line_tables() {
        assert!(frame.kind == Kind::Dependency, "{frame:?}");
        assert!(
            o.summary.message.contains("src/listeners.rs:"),
            "{}",
            o.summary.message
        );
    }
}

#[test]
fn a_map_keyed_by_request_names_the_function_that_fills_it() {
    let o = day(Leak::Sessions, Variant::Leaky);
    let (_, _, frame) = support::failing_owner(&o);
    assert!(
        support::is_ours(frame, "sessions::Sessions::open", "src/sessions.rs"),
        "{frame:?}"
    );
    assert_eq!(
        o.summary.message.contains("src/sessions.rs:"),
        support::line_tables(),
        "{}",
        o.summary.message
    );
}

#[test]
fn a_string_cloned_into_a_long_lived_list_names_who_keeps_it() {
    let o = day(Leak::Audit, Variant::Leaky);
    let (_, _, frame) = support::failing_owner(&o);
    assert!(
        support::is_ours(frame, "audit::Audit::record", "src/audit.rs"),
        "{frame:?}"
    );
    assert_eq!(
        o.summary.message.contains("src/audit.rs:"),
        support::line_tables(),
        "{}",
        o.summary.message
    );
}
