//! `calibration`: the calibration scenario on its own (`soak run calibration`).

// Measure the heap: every soak binary declares the counting allocator.
#[global_allocator]
static ALLOC: soak_harness::Counting = soak_harness::Counting::system();

fn main() -> std::process::ExitCode {
    soak_harness::cli::main_single(Box::new(soak_scenarios::calibration::Calibration))
}
