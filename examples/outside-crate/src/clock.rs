//! governor's [`Clock`] over tokio's clock, so the limiter runs in virtual time.
//!
//! governor reads time through its own `Clock` trait (a quanta clock by default,
//! which a paused tokio runtime cannot move). Everything the harness replays has
//! to read `tokio::time::Instant` instead: then a 2 s cooldown lasts 2 virtual
//! seconds and a day takes seconds. The clock reports governor's [`Nanos`] since
//! the moment it was made (an `Instant` of our own would need `Add<Nanos>` for a
//! foreign type, which the orphan rule forbids; `Nanos` already is a
//! [`governor::clock::Reference`]).
//!
//! tokio's `Instant::now` reads the paused clock only with tokio's `test-util`
//! feature. This crate does not ask for it: soak-harness does, and cargo unifies
//! features, so our tokio 1.47.1 gets it.

use governor::clock::Clock;
use governor::nanos::Nanos;
use tokio::time::Instant;

/// A governor clock reading tokio's (virtual, when paused) time.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: Instant,
}

impl TokioClock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        TokioClock {
            origin: Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(Instant::now().saturating_duration_since(self.origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn follows_the_paused_clock() {
        let clock = TokioClock::new();
        assert_eq!(clock.now(), Nanos::from(Duration::ZERO));
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(clock.now(), Nanos::from(Duration::from_secs(3600)));
    }
}
