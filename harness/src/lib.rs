//! The soak instrument: replays a day of synthetic traffic against long-lived
//! components on tokio's paused clock, samples every resource that can leak, and
//! fails when one grows faster than its budget.
//!
//! It knows nothing about any particular subject: a scenario (see [`Scenario`])
//! drives its subjects through a [`Ctx`] and registers gauges; the harness does
//! the rest. Use it from your own crate — a dev-dependency, the allocator line,
//! one scenario and one test:
//!
//! ```
//! use soak_harness::traffic::secs;
//! use soak_harness::{Ctx, Gauge, RunConfig, RunFuture, Scenario, Variant};
//! use std::cell::RefCell;
//! use std::collections::HashMap;
//! use std::rc::Rc;
//!
//! // Measure the heap: the library installs no allocator of its own.
//! #[global_allocator]
//! static ALLOC: soak_harness::Counting = soak_harness::Counting::system();
//!
//! /// A session map whose leaky twin never forgets a session.
//! struct Sessions;
//!
//! impl Scenario for Sessions {
//!     fn name(&self) -> &'static str { "sessions" }
//!     fn about(&self) -> &'static str { "sessions that should be dropped at logout" }
//!     fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a> {
//!         Box::pin(async move {
//!             let map = Rc::new(RefCell::new(HashMap::<u64, [u8; 64]>::new()));
//!             let m = map.clone();
//!             ctx.gauge(Gauge::new("sessions", move || m.borrow().len() as f64))?;
//!             let mut ticker = ctx.ticker(secs(10));
//!             let mut next = 0u64;
//!             while let Some(_) = ticker.next().await {
//!                 ctx.events(1);
//!                 map.borrow_mut().insert(next, [0; 64]);
//!                 if !ctx.leaky() && next >= 100 {
//!                     map.borrow_mut().remove(&(next - 100)); // logout
//!                 }
//!                 next += 1;
//!             }
//!             Ok(())
//!         })
//!     }
//! }
//!
//! let cfg = RunConfig::new().hours(6.0).max_growth(4_000.0);
//! let fixed = soak_harness::run(&Sessions, &cfg).expect("runs");
//! fixed.assert_within_budget();
//! let leaky = soak_harness::run(&Sessions, &cfg.variant(Variant::Leaky)).expect("runs");
//! assert!(!leaky.passed(), "{}", leaky.summary.message);
//! ```
//!
//! # Layout
//!
//! Data flows one way: config → scenario and [`Ctx`] → run loop (sampling,
//! teardown) → verdict → summary → report. No module imports one above it.
//!
//! - [`units`]: byte sizes, rates and durations in and out.
//! - [`timebase`]: the clock a run is judged and told on (virtual, or wall with
//!   the day's compression).
//! - [`status`]: exit statuses.
//! - [`limits`]: upper bounds checked before a run or a report walk.
//! - [`interrupt`]: SIGINT/SIGTERM as a request to stop the run.
//! - [`shard`]: `--shard K/N`, which scenarios one CI runner takes.
//! - [`sites`]: the allocation sampler the allocator calls (stacks, arena, series).
//! - [`symbolize`]: report-time symbolisation of code addresses (any process's).
//! - [`alloc`]: the counting allocator ([`Counting`]) and the dhat switch.
//! - [`clock`]: virtual-time runtime (current-thread, paused) and wall-clock mode.
//! - [`traffic`]: load shapes as data, arrivals, the seeded RNG.
//! - [`inject`]: the calibrated leak `--leak-rate` injects.
//! - [`probe`]: samplers for heap, RSS, alive tasks, open descriptors, gauges.
//! - [`samples`]: the sample table behind `samples.csv`.
//! - [`growth`]: the growth model and its uncertainty.
//! - [`frames`]: whose code each frame is (own, dependency, std, plumbing) and
//!   which frame owns an allocation.
//! - [`config`]: [`RunConfig`] and [`Variant`].
//! - [`verdict`]: budgets, per-resource and run [`Verdict`]s, the teardown check.
//! - [`attribution`]: growth per allocation site (symbolised, trimmed, fitted).
//! - [`profile`]: `--dhat` heap attribution.
//! - [`summary`]: the contents of `summary.json`.
//! - [`scenario`]: the [`Scenario`] trait, [`Ctx`] and [`Ticker`].
//! - [`mod@run`]: the run loop; [`run()`] and its [`Outcome`].
//! - [`history`]: `history.jsonl`, one line per run, for trend charts.
//! - [`baseline`]: baselines and the regression rule (`--baseline`, `soak compare`).
//! - [`junit`]: `--junit FILE`, the runs as JUnit XML.
//! - [`report`]: writes `samples.csv`, `summary.json`, charts and the index.
//! - [`shrink`]: `soak shrink`, the smallest replay that still fails.
//! - [`parallel`]: runs as child processes, several at a time (`--jobs`).
//! - [`cli`]: the command line shared by every binary, and yours.
#![deny(missing_docs)]

pub mod alloc;
pub mod attribution;
pub mod baseline;
pub mod cli;
pub mod clock;
pub mod config;
mod error;
pub mod frames;
pub mod growth;
pub mod history;
pub mod inject;
pub mod interrupt;
pub mod junit;
pub mod limits;
pub mod parallel;
pub mod probe;
pub mod profile;
mod progress;
pub mod report;
pub mod run;
pub mod samples;
pub mod scenario;
pub mod shard;
pub mod shrink;
pub mod sites;
pub mod status;
pub mod summary;
pub mod symbolize;
pub mod timebase;
pub mod traffic;
pub mod units;
pub mod verdict;

pub use alloc::Counting;
pub use config::{RunConfig, Variant};
pub use error::{BoxError, Error};
pub use probe::Gauge;
pub use run::{run, Outcome};
pub use scenario::{Ctx, Kind, RunFuture, Scenario, Ticker};
pub use summary::Summary;
pub use verdict::Verdict;

// The library's own unit tests measure the heap too.
#[cfg(test)]
#[global_allocator]
static TEST_ALLOC: Counting = Counting::system();
