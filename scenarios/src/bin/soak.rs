//! The `soak` umbrella binary: `soak list | run | all | report | compare`, and
//! `soak live` (dispatched to the live-mode crate before the harness parses
//! anything, so the harness never depends on goose).

// Measure the heap: every soak binary declares the counting allocator.
#[global_allocator]
static ALLOC: soak_harness::Counting = soak_harness::Counting::system();

fn main() -> std::process::ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == "live") {
        return soak_live::cli::main();
    }
    soak_harness::cli::main_with(soak_scenarios::all(), &[soak_live::cli::COMMAND])
}
