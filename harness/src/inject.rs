//! The calibrated leak a run injects on top of any scenario (`--leak-rate`):
//! known bytes per virtual hour, so the detector and the site sampler can be
//! checked against the truth. In a module of its own so that attribution can tell
//! its allocations (the run's deliberate site) from the run loop's (plumbing).

use std::time::Duration;

use tokio::time::Instant;

/// The harness's calibrated leak: `rate` bytes per virtual hour, allocated every
/// 10 virtual seconds so that after `t` exactly `floor(rate · t)` bytes are held,
/// and written to so RSS sees them too. Freed when the task is aborted.
pub fn spawn(rate: f64, duration: Duration) -> tokio::task::JoinHandle<()> {
    let step = Duration::from_secs(10);
    let ticks = (duration.as_secs() / step.as_secs()) as usize + 2;
    tokio::spawn(async move {
        let mut held: Vec<Box<[u8]>> = Vec::with_capacity(ticks);
        let start = Instant::now();
        let mut leaked = 0u64;
        let mut iv = tokio::time::interval_at(start + step, step);
        loop {
            let at = iv.tick().await;
            let due = (rate * (at - start).as_secs_f64() / 3600.0).floor() as u64;
            let chunk = due.saturating_sub(leaked) as usize;
            if chunk > 0 && held.len() < held.capacity() {
                held.push(vec![0xA5u8; chunk].into_boxed_slice());
                leaked = due;
            }
        }
    })
}
