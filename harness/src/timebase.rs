//! The clock a run is judged and told on: a virtual replay's hours, or a live
//! run's wall hours with the day's compression (a live run plays its plan's
//! 24-hour day `compression` times faster).
//!
//! The growth model's load covariates (moving averages over 5 minutes, 30
//! minutes and 2 hours *of the traffic's day*) and the day-long load cycle are
//! given on the day's clock; [`TimeBase::from_day`] puts them on the run's own.
//! Everything else — estimates, windows, reasons, messages — is in the run's
//! hours from the start, so nothing is rescaled afterwards and no text is
//! patched: [`TimeBase::rate_text`] writes `MiB/h` or `MiB/wall h`,
//! [`TimeBase::longer`] says which option makes a run longer.

use serde::{Deserialize, Serialize};

use crate::units::{duration_text, number_text, rate_text, DurationStyle};

/// Which clock a run's hours are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    /// Tokio's paused clock: a replay's virtual hours.
    Virtual,
    /// The wall clock: a live run's.
    Wall,
}

/// A run's clock and how fast its traffic's day passes on it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeBase {
    /// The clock.
    pub clock: Clock,
    /// Hours of the traffic's day per hour of the clock: 1 for a virtual replay,
    /// `86400 / --day seconds` for a live run.
    pub compression: f64,
}

impl Default for TimeBase {
    fn default() -> Self {
        TimeBase::VIRTUAL
    }
}

impl TimeBase {
    /// A virtual replay's: virtual hours, the day at its own pace.
    pub const VIRTUAL: TimeBase = TimeBase {
        clock: Clock::Virtual,
        compression: 1.0,
    };

    /// A live run's: wall hours, the day `compression` times faster.
    pub fn wall(compression: f64) -> Self {
        TimeBase {
            clock: Clock::Wall,
            compression,
        }
    }

    /// Whether this is a virtual replay's.
    pub fn is_virtual(&self) -> bool {
        self.clock == Clock::Virtual
    }

    /// Hours of this clock that `day_hours` of the traffic's day take.
    pub fn from_day(&self, day_hours: f64) -> f64 {
        day_hours / self.compression
    }

    /// Hours of the traffic's day that pass in `hours` of this clock.
    pub fn to_day(&self, hours: f64) -> f64 {
        hours * self.compression
    }

    /// What "per hour" reads on this clock: `h` or `wall h`.
    pub fn per_hour(&self) -> &'static str {
        match self.clock {
            Clock::Virtual => "h",
            Clock::Wall => "wall h",
        }
    }

    /// A rate per hour of this clock in `unit` (`3.20 MiB/wall h`).
    pub fn rate_text(&self, value: f64, unit: &str) -> String {
        rate_text(value, unit, self.per_hour())
    }

    /// `hours` of this clock as a length of time in words (`20 min`, `2.5 h`).
    pub fn hours_text(&self, hours: f64) -> String {
        duration_text(hours * 3600.0, DurationStyle::Words)
    }

    /// What a run should be instead of one of `hours`: twice as long, and how to
    /// ask for it (`run ≥ 8 h or --hours auto`, `run ≥ 20 min (--duration)`).
    pub fn longer(&self, hours: f64) -> String {
        self.longer_by(hours, 2.0)
    }

    /// [`Self::longer`] by `factor` (at least twice as long).
    pub fn longer_by(&self, hours: f64, factor: f64) -> String {
        let longer = self.hours_text(factor.max(2.0) * hours);
        match self.clock {
            Clock::Virtual => format!("run ≥ {longer} or --hours auto"),
            Clock::Wall => format!("run ≥ {longer} (--duration)"),
        }
    }

    /// What a run of `hours` whose one day cannot tell a fill from a leak should be
    /// instead: two days, the same day's length each (`run ≥ 2 days (48 h)`,
    /// `run two days: --duration 10m --day 5m`).
    pub fn two_days(&self, hours: f64) -> String {
        match self.clock {
            // A replay's day is 24 of its hours.
            Clock::Virtual => format!("run ≥ {}", self.hours_text((2.0 * hours).max(48.0))),
            Clock::Wall => format!(
                "run two days: --duration {} --day {}",
                duration_text((2.0 * hours * 3600.0).round(), DurationStyle::Flag),
                duration_text((hours * 3600.0).round(), DurationStyle::Flag)
            ),
        }
    }

    /// How to make a run's window cover the day's load peak and trough: a full
    /// day for a replay; for a live run, whose `--duration` plays a whole day by
    /// default but whose warm-up leaves out the day's start, a longer run.
    pub fn through_the_day(&self) -> &'static str {
        match self.clock {
            Clock::Virtual => "e.g. a full day",
            Clock::Wall => "a longer --duration, so the warm-up takes less of the day",
        }
    }

    /// A moment of the run, `seconds` into it: `3.2 virtual h`, `1m35s`.
    pub fn at_text(&self, seconds: f64) -> String {
        match self.clock {
            Clock::Virtual => format!("{} virtual h", hours_number(seconds)),
            Clock::Wall => duration_text(seconds.round(), DurationStyle::Flag),
        }
    }

    /// How far a run stopped early got: `3.2 of 24 virtual h`, `4s of 30s`.
    pub fn progress_text(&self, seconds: f64, of_seconds: f64) -> String {
        match self.clock {
            Clock::Virtual => format!(
                "{} of {} virtual h",
                hours_number(seconds),
                number_text(of_seconds / 3600.0)
            ),
            Clock::Wall => format!(
                "{} of {}",
                duration_text(seconds.round(), DurationStyle::Flag),
                duration_text(of_seconds.round(), DurationStyle::Flag)
            ),
        }
    }
}

/// Hours to two decimals, without trailing zeros (`3.2`, `24`).
fn hours_number(seconds: f64) -> String {
    number_text((seconds / 36.0).round() / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_passes_faster_on_a_compressed_wall_clock() {
        let live = TimeBase::wall(144.0);
        assert_eq!(live.from_day(24.0), 24.0 / 144.0);
        assert_eq!(live.to_day(live.from_day(2.0)), 2.0);
        assert_eq!(TimeBase::VIRTUAL.from_day(5.0 / 60.0), 5.0 / 60.0);
    }

    #[test]
    fn texts_follow_the_clock() {
        let live = TimeBase::wall(144.0);
        assert_eq!(
            TimeBase::VIRTUAL.rate_text(2.0 * 1_048_576.0, "bytes"),
            "2.00 MiB/h"
        );
        assert_eq!(live.rate_text(3.0, "count"), "3.0/wall h");
        assert_eq!(TimeBase::VIRTUAL.longer(4.0), "run ≥ 8 h or --hours auto");
        assert_eq!(live.longer(10.0 / 60.0), "run ≥ 20 min (--duration)");
        assert_eq!(
            live.longer_by(0.5 / 60.0, 6.2),
            "run ≥ 3.1 min (--duration)"
        );
        assert_eq!(live.longer_by(0.5, 1.1), "run ≥ 1 h (--duration)");
        assert_eq!(
            TimeBase::VIRTUAL.progress_text(3.2 * 3600.0, 24.0 * 3600.0),
            "3.2 of 24 virtual h"
        );
        assert_eq!(live.progress_text(4.2, 30.0), "4s of 30s");
        assert_eq!(live.at_text(95.0), "95s");
    }
}
