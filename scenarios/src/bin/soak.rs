//! The `soak` umbrella binary: `soak list | run | all | report`.
fn main() -> std::process::ExitCode {
    soak_harness::cli::main(soak_scenarios::all())
}
