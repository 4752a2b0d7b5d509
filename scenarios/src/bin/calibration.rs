//! `calibration`: the calibration scenario on its own (`soak run calibration`).
fn main() -> std::process::ExitCode {
    soak_harness::cli::main_single(Box::new(soak_scenarios::calibration::Calibration))
}
