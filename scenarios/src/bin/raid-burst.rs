//! `raid-burst`: the raid-burst scenario on its own (`soak run raid-burst`).
fn main() -> std::process::ExitCode {
    soak_harness::cli::main_single(Box::new(soak_scenarios::raid_burst::RaidBurst))
}
