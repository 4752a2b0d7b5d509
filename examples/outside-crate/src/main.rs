//! `governor-soak`: soak's command line (`list`, `run`, `all`, `report`, every
//! option of `soak run`) over this crate's scenario.

use std::process::ExitCode;

use outside_crate::governor_keys::GovernorKeys;

// Measure the heap: soak-harness installs no allocator of its own.
#[global_allocator]
static ALLOC: soak_harness::Counting = soak_harness::Counting::system();

fn main() -> ExitCode {
    soak_harness::cli::main(vec![Box::new(GovernorKeys)])
}
