//! Upper bounds checked before a run starts or a report tree is read, so that no
//! setting makes soak allocate terabytes, write a report nobody can open, or walk
//! a directory tree forever. Each check returns the one-line message the user sees.

use std::time::Duration;

use crate::units::{bytes_text, duration_text, number_text, DurationStyle};

/// Most samples one run takes: a week sampled every 6 s, or a year every 6 min.
/// Past it the table, `samples.csv` (~100 bytes a row) and the charts grow
/// without telling more.
pub const MAX_SAMPLES: usize = 100_000;

/// Most bytes `--leak-rate` may inject over a run (rate × hours): 4 GiB, far more
/// than any calibration needs (16 MiB/h for a day is 384 MiB) and still well
/// inside a CI runner's memory.
pub const MAX_INJECTED_BYTES: f64 = 4.0 * 1_073_741_824.0;

/// Deepest directory `soak report` descends to below the directory it is given
/// (a report root holds runs two levels down; trees of roots a few more).
pub const MAX_REPORT_DEPTH: usize = 8;

/// Number of samples a run of `hours` sampled every `every` takes (including
/// the one at t = 0), or the message saying how to bring it under [`MAX_SAMPLES`].
pub fn sample_count(hours: f64, every: Duration) -> Result<usize, String> {
    let per = every.as_secs_f64();
    let n = (hours * 3600.0 / per).floor();
    if !n.is_finite() || n >= MAX_SAMPLES as f64 {
        let min_every = (hours * 3600.0 / (MAX_SAMPLES - 1) as f64).max(per);
        // Rounded up to what the message can print: whole ms below a second.
        let min_every = if min_every < 1.0 {
            (min_every * 1000.0).ceil() / 1000.0
        } else {
            min_every.ceil()
        };
        return Err(format!(
            "--hours {} sampled every {} takes {} samples, more than {MAX_SAMPLES}; \
             raise --sample-every to at least {} or lower --hours",
            number_text(hours),
            duration_text(per, DurationStyle::Flag),
            number_text(n + 1.0),
            duration_text(min_every, DurationStyle::Flag)
        ));
    }
    // n is finite, non-negative and below MAX_SAMPLES: the cast is exact.
    Ok(n as usize + 1)
}

/// Checks that `rate` bytes per hour over `hours` stays under [`MAX_INJECTED_BYTES`].
pub fn injected_leak(rate: f64, hours: f64) -> Result<(), String> {
    let total = rate * hours;
    if !total.is_finite() || total > MAX_INJECTED_BYTES {
        return Err(format!(
            "--leak-rate {}/h over {} h would inject {}, more than the {} soak will \
             allocate on purpose; lower --leak-rate or --hours",
            bytes_text(rate),
            number_text(hours),
            bytes_text(total),
            bytes_text(MAX_INJECTED_BYTES)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_a_minute_apart_is_1441_samples() {
        assert_eq!(sample_count(24.0, Duration::from_secs(60)), Ok(1441));
        assert_eq!(sample_count(0.5, Duration::from_secs(60)), Ok(31));
    }

    #[test]
    fn too_many_samples_say_which_period_fits() {
        let e = sample_count(0.5, Duration::from_millis(1)).expect_err("1.8M samples");
        assert!(e.contains("1800001 samples"), "{e}");
        assert!(e.contains("--sample-every to at least 19ms"), "{e}");
        let e = sample_count(8760.0, Duration::from_millis(1)).expect_err("3e10 samples");
        assert!(e.contains("at least 316s"), "{e}");
        assert!(sample_count(8760.0, Duration::from_secs(316)).is_ok());
        assert!(sample_count(0.5, Duration::from_millis(19)).is_ok());
    }

    #[test]
    fn injected_leaks_are_capped() {
        assert!(injected_leak(16.0 * 1_048_576.0, 24.0).is_ok());
        let e = injected_leak(100e9, 0.5).expect_err("50 GB");
        assert!(e.contains("46.57 GiB"), "{e}");
        assert!(e.contains("lower --leak-rate"), "{e}");
        assert!(injected_leak(1e18, 8760.0).is_err());
    }
}
