//! Live mode: a wall-clock soak of one real running process over loopback
//! sockets, driven by goose, judged by the harness's growth model and written as
//! the same reports as virtual runs (`summary.json` with `"mode": "live"`).
//!
//! Kept out of `soak-harness` so that users of the harness library never compile
//! goose; the `soak` binary dispatches `soak live …` here.
//!
//! # Layout
//!
//! - [`cli`]: `soak live` options, validated into a [`config::LiveConfig`].
//! - [`config`]: the validated settings and the error type.
//! - [`addr`]: target URLs and the loopback rule.
//! - [`plan`]: traffic plans (TOML; built-ins in `plans/`).
//! - [`load`]: the dispatcher (the compressed day as timed events) and the goose
//!   users that carry them out; `load/stats.rs` counts what they did.
//! - [`target`]: the process under test: spawn or attach, port wait, stop, logs.
//! - [`inspector`], [`node_heap`]: a Node target's inspector (found on its stderr,
//!   loopback only) and its sampling heap profile as per-site series.
//! - [`probe`]: the probe interface and its registry: `/proc/PID`, soak's load
//!   counts, the target's Prometheus metrics (and how to add a probe).
//! - [`procfs`], [`prom`], [`rlimit`]: reading `/proc/PID`, Prometheus scrapes,
//!   the descriptor limit.
//! - [`run`]: one run from start to report, in four phases; the verdict,
//!   `summary.json` and the exit status are the harness's, on the wall clock.
//! - [`server`], [`server_cli`]: `soak-server`, the components' WebSocket server and
//!   cooldown limiters on real TCP with `/health` and `/metrics`.
#![warn(missing_docs)]

pub mod addr;
pub mod cli;
pub mod config;
pub mod inspector;
pub mod load;
pub mod node_heap;
pub mod plan;
pub mod preload;
pub mod probe;
pub mod procfs;
pub mod prom;
pub mod rlimit;
pub mod run;
pub mod server;
pub mod server_cli;
pub mod target;
