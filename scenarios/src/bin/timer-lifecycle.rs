//! `timer-lifecycle`: the timer-lifecycle scenario on its own (`soak run timer-lifecycle`).

// Measure the heap: every soak binary declares the counting allocator.
#[global_allocator]
static ALLOC: soak_harness::Counting = soak_harness::Counting::system();

fn main() -> std::process::ExitCode {
    soak_harness::cli::main_single(Box::new(soak_scenarios::timer_lifecycle::TimerLifecycle))
}
