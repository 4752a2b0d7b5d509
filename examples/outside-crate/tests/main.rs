//! The example's integration tests, one binary (as ripgrep's `tests/main.rs`):
//! governor's keyed limiter over a virtual day, and three more leaks in three
//! shapes whose "where" must name the code that owns the growth.
//!
//! Runs are serialised by the harness (the counting allocator is process-wide),
//! so `cargo test` may run these on parallel threads.

mod governor_keys;
mod shapes;
mod support;

// The one line soak needs: its counting allocator as this test binary's.
#[global_allocator]
static ALLOC: soak_harness::Counting = soak_harness::Counting::system();
