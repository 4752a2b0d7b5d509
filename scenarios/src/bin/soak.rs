//! The `soak` umbrella binary: `soak list | run | all | report`, and `soak live`
//! (dispatched to the live-mode crate before the harness parses anything).
fn main() -> std::process::ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == "live") {
        return soak_live::cli::main();
    }
    soak_harness::cli::main_with(soak_scenarios::all(), &[soak_live::cli::COMMAND])
}
