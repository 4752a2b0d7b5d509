//! Integration tests of the scenarios crate: one binary that `mod`s the rest
//! (ripgrep's layout). Runs that measure the heap are serialised by the harness's
//! run lock; `cargo nextest` additionally gives every test its own process.

// The tests measure the heap, as a soak binary does.
#[global_allocator]
static ALLOC: soak_harness::Counting = soak_harness::Counting::system();

mod artifact_cache;
mod bisect;
mod calibration;
mod ci;
mod cli;
mod connection_churn;
mod dhat;
mod hardening;
mod jobs;
mod moderator_flood;
mod raid_burst;
mod short_runs;
mod shrink;
mod support;
mod timer_lifecycle;
