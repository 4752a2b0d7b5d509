//! The `soak` umbrella binary: `soak list | run | all | report`.

// Measure the heap: every soak binary declares the counting allocator.
#[global_allocator]
static ALLOC: soak_harness::Counting = soak_harness::Counting::system();

fn main() -> std::process::ExitCode {
    soak_harness::cli::main(soak_scenarios::all())
}
