//! The soak instrument: replays a day of synthetic traffic against long-lived
//! components on tokio's paused clock, samples every resource that can leak, and
//! fails when one grows faster than its budget.
//!
//! It knows nothing about any particular subject: a scenario (see [`Scenario`])
//! drives its subjects through a [`Ctx`] and registers gauges; the harness does
//! the rest.
//!
//! # Layout
//!
//! - [`clock`]: virtual-time runtime (current-thread, paused) and wall-clock mode.
//! - [`alloc`]: the counting global allocator (live bytes and blocks); dhat switch.
//! - [`sites`]: sampled allocation sites (the allocator's hooks, stacks, series).
//! - [`probe`]: samplers for heap, RSS, alive tasks, open descriptors, gauges.
//! - [`traffic`]: load shapes as data, arrivals, the seeded RNG.
//! - [`growth`]: the growth model and its uncertainty.
//! - [`attribution`]: growth per allocation site (symbolised, trimmed, fitted).
//! - [`verdict`]: which resources are judged against which budgets.
//! - [`samples`]: the sample table behind `samples.csv`.
//! - [`scenario`]: the [`Scenario`] trait, [`Ctx`] and the run loop.
//! - [`report`]: `samples.csv`, `summary.json`, charts and the index.
//! - [`profile`]: `--dhat` heap attribution.
//! - [`cli`]: the command line shared by every binary.
//! - [`units`]: byte sizes, rates and durations in and out.
#![warn(missing_docs)]

pub mod alloc;
pub mod attribution;
pub mod cli;
pub mod clock;
mod error;
pub mod growth;
pub mod probe;
pub mod profile;
mod progress;
pub mod report;
pub mod samples;
pub mod scenario;
pub mod sites;
pub mod traffic;
pub mod units;
pub mod verdict;

pub use error::{BoxError, Error};
pub use probe::Gauge;
pub use scenario::{Ctx, Outcome, RunConfig, RunFuture, Scenario, Ticker, Variant};
