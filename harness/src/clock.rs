//! The virtual-time runtime (tokio current-thread, paused clock) and its wall-clock twin.
//!
//! With the clock paused, tokio jumps straight to the next timer whenever every
//! task is idle, so a component's own `tokio::time` sweeps fire at their virtual
//! times and a 24-hour day passes in seconds. Only `tokio::time::Instant` is
//! virtual: components must never read `std::time::Instant`, and a paused
//! runtime must never do real socket I/O (its timeouts would fire at once).

use tokio::runtime::{Builder, Runtime};

use crate::Error;

/// How the run's clock advances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// Paused tokio clock: virtual hours pass as fast as the work allows.
    #[default]
    Virtual,
    /// Real time: for live soaks of a real server.
    Wall,
}

/// Builds the single-threaded runtime for `clock`.
pub fn runtime(clock: Clock) -> Result<Runtime, Error> {
    let mut b = Builder::new_current_thread();
    b.enable_all();
    if clock == Clock::Virtual {
        b.start_paused(true);
    }
    b.build().map_err(Error::Runtime)
}

/// Lets every task woken at this instant run before we look at the system:
/// samples taken mid-wakeup would count tasks that are about to finish.
pub async fn settle() {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_virtual_day_passes_instantly_and_timers_fire_in_order() {
        let rt = runtime(Clock::Virtual).expect("runtime");
        let fired = rt.block_on(async {
            let start = tokio::time::Instant::now();
            let sweeps = std::rc::Rc::new(std::cell::Cell::new(0u32));
            let s = sweeps.clone();
            let local = tokio::task::LocalSet::new();
            local
                .run_until(async move {
                    tokio::task::spawn_local(async move {
                        let mut iv = tokio::time::interval(Duration::from_secs(600));
                        loop {
                            iv.tick().await;
                            s.set(s.get() + 1);
                        }
                    });
                    tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
                })
                .await;
            assert_eq!(start.elapsed(), Duration::from_secs(24 * 3600));
            sweeps.get()
        });
        // Ticks at 0, 10 min, ..., 24 h: 145, the last one racing the sleep.
        assert!((144..=145).contains(&fired), "{fired}");
    }
}
