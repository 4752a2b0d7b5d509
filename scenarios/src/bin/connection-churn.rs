//! `connection-churn`: the WebSocket churn scenario on its own (`soak run connection-churn`).
fn main() -> std::process::ExitCode {
    soak_harness::cli::main_single(Box::new(soak_scenarios::connection_churn::ConnectionChurn))
}
