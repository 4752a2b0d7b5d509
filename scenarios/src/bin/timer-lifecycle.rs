//! `timer-lifecycle`: the timer-lifecycle scenario on its own (`soak run timer-lifecycle`).
fn main() -> std::process::ExitCode {
    soak_harness::cli::main_single(Box::new(soak_scenarios::timer_lifecycle::TimerLifecycle))
}
