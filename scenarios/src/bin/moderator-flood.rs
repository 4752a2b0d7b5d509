//! `moderator-flood`: the moderator-flood scenario on its own (`soak run moderator-flood`).
fn main() -> std::process::ExitCode {
    soak_harness::cli::main_single(Box::new(soak_scenarios::moderator_flood::ModeratorFlood))
}
