//! Facts about a growth estimate's window that say whether the window can tell:
//! how much the growth slows down across it (the curvature of a fill), how well
//! the load covariates alone predict time (collinearity of trend and load), how
//! far the growth stands out of the noise, and how much of the load's rise and
//! fall the window has seen.
//!
//! [`super::estimate`] answers "how fast does it grow"; [`facts`] answers "is
//! this window able to tell". The verdict ([`crate::verdict`]) weighs both.

use serde::{Deserialize, Serialize};

use super::{center, mean, ols, Window};
use crate::timebase::TimeBase;

/// What a window shows besides the growth estimate, for one series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// Slope of the early half of the window (the hinge model), per hour.
    pub early_per_hour: f64,
    /// Change of slope at mid-window (late half minus early half), per hour:
    /// clearly negative for a fill that is slowing towards a plateau.
    pub bend_per_hour: f64,
    /// Standard error of `bend_per_hour` (autocorrelation-adjusted).
    pub bend_stderr: f64,
    /// Variance inflation of the time column: 1 / (1 − R²) of time regressed on
    /// the load covariates over the window. 1 when the load says nothing about
    /// time; large when the load only rose (or only fell) over the window, so a
    /// trend and a working set that follows the load cannot be told apart.
    pub trend_vif: f64,
    /// Standard deviation of the whole-window fit's residuals: the noise band.
    pub noise: f64,
    /// Lag-1 autocorrelation of those residuals.
    #[serde(default)]
    pub rho: f64,
    /// Load events counted in the window (0 when the scenario reports none).
    #[serde(default)]
    pub window_events: f64,
    /// How far the smoothed load (30-minute moving average) rose to its highest
    /// point in the window, as a share of that peak (0 when the window opens at
    /// its peak).
    pub load_rise: f64,
    /// How far it fell after that peak, as a share of the peak (0 when the window
    /// ends at its peak: the busiest time may be still to come).
    pub load_fall: f64,
    /// Standard deviation of the smoothed load's sample-to-sample noise, as a
    /// share of its mean: a rise or fall of a few of these is noise, not a cycle.
    pub load_noise: f64,
    /// How far the level moved over the late half of the window by itself:
    /// its highest reading less its lowest (no load covariates). A bounded fill
    /// that is full holds within its noise; a leak, or a working set that follows
    /// the load, moves. `None` when the late half has fewer than 3 readings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_late_range: Option<f64>,
}

/// Which load feature (of [`load_features`]) is the smoothed load.
const SMOOTH_LOAD: usize = 2;

/// Computes the [`Facts`] of `y` over `[warmup_hours, end]`, with the same
/// window and load covariates as [`super::estimate`]. `None` when the window is
/// too short or degenerate (as for the estimate).
pub fn facts(
    t_hours: &[f64],
    y: &[f64],
    load: &[f64],
    warmup_hours: f64,
    tb: TimeBase,
) -> Option<Facts> {
    facts_in(&Window::of(t_hours, y, load, &[], warmup_hours, tb)?)
}

pub(super) fn facts_in(w: &Window) -> Option<Facts> {
    let (t, yy, features) = (&w.t, &w.y, &w.feats);
    let feats: Vec<Vec<f64>> = w.covariates().iter().map(|f| center(f)).collect();
    let ones = vec![1.0; t.len()];
    let (trend, hinge) = w.trend_and_hinge();

    let with = |mut cols: Vec<Vec<f64>>| {
        cols.extend(feats.iter().cloned());
        cols
    };
    let bent = ols(yy, &with(vec![ones.clone(), trend.clone(), hinge]), 3)?;
    let whole = ols(yy, &with(vec![ones.clone(), trend.clone()]), 2)?;
    // How much of time the load covariates explain.
    let r2 = if feats.is_empty() {
        0.0
    } else {
        ols(&trend, &with(vec![ones]), 1).map_or(0.0, |o| o.r2)
    };

    let (load_rise, load_fall) = match features.get(SMOOTH_LOAD) {
        Some(s) => hump(s),
        None => (1.0, 1.0), // a constant load has no cycle to cover
    };
    // How far the late half's own level moved.
    let mid = (t[0] + t[t.len() - 1]) / 2.0;
    let late: Vec<f64> = t
        .iter()
        .zip(yy.iter())
        .filter(|(x, _)| **x >= mid)
        .map(|(_, y)| *y)
        .collect();
    let level_late_range = (late.len() >= 3).then(|| {
        let hi = late.iter().copied().fold(f64::MIN, f64::max);
        let lo = late.iter().copied().fold(f64::MAX, f64::min);
        hi - lo
    });
    let load_noise = match features.first() {
        Some(x) => smoothed_noise(x, mean(&w.load), w.step),
        None => 0.0,
    };
    Some(Facts {
        early_per_hour: bent.beta[1],
        bend_per_hour: bent.beta[2],
        bend_stderr: bent.cov[2][2].max(0.0).sqrt(),
        trend_vif: 1.0 / (1.0 - r2).max(1e-9),
        noise: whole.sigma,
        rho: whole.rho,
        window_events: w.load.iter().sum(),
        load_rise,
        load_fall,
        load_noise,
        level_late_range,
    })
}

/// The rise to, and the fall from, the highest point of `s`, as shares of it.
fn hump(s: &[f64]) -> (f64, f64) {
    let Some((k, &peak)) = s.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) else {
        return (0.0, 0.0);
    };
    if peak <= 0.0 {
        return (0.0, 0.0);
    }
    let low = |part: &[f64]| part.iter().copied().fold(peak, f64::min);
    (1.0 - low(&s[..=k]) / peak, 1.0 - low(&s[k..]) / peak)
}

/// The noise of the smoothed load: the normalised load's sample-to-sample noise,
/// from the median absolute successive difference (which neither slow swings nor
/// the edges of bursts inflate) but at least the counting noise of `counts`
/// events per sample (1/√counts, which sparse counts need: their median
/// difference is 0), passed through the moving average.
fn smoothed_noise(x: &[f64], counts: f64, dt: f64) -> f64 {
    let n = x.len();
    if n < 3 || dt <= 0.0 {
        return 0.0;
    }
    let mut d: Vec<f64> = x.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    d.sort_by(f64::total_cmp);
    // For Gaussian noise, |difference| has median 0.6745·√2·σ.
    let robust = d[d.len() / 2] / (0.6745 * std::f64::consts::SQRT_2);
    let counting = if counts > 0.0 {
        counts.sqrt().recip()
    } else {
        0.0
    };
    let sigma = robust.max(counting);
    let alpha = 1.0 - (-dt / super::LOAD_LAGS_HOURS[SMOOTH_LOAD - 1]).exp();
    // An exponential moving average keeps α / (2 − α) of white noise's variance.
    sigma * (alpha / (2.0 - alpha)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::Rng;
    use std::f64::consts::PI;

    fn minutes(hours: f64) -> Vec<f64> {
        (0..=(hours * 60.0) as usize)
            .map(|i| i as f64 / 60.0)
            .collect()
    }

    /// Requests per minute on a daily curve peaking at 14:00 (trough 02:00).
    fn daily_load(t: &[f64], rng: &mut Rng) -> Vec<f64> {
        t.iter()
            .map(|&h| {
                let shape = (1.0 + (2.0 * PI * (h - 14.0) / 24.0).cos()) / 2.0;
                rng.poisson(240.0 + 960.0 * shape) as f64
            })
            .collect()
    }

    #[test]
    fn a_fill_bends_down_and_a_leak_does_not() {
        let t = minutes(6.0);
        let mut rng = Rng::new(3);
        let load = vec![100.0; t.len()];
        // A TTL map filling with a 2-hour time constant, and a steady leak.
        let fill: Vec<f64> = t
            .iter()
            .map(|&h| 8e6 * (1.0 - (-h / 2.0).exp()) + 2e4 * rng.normal())
            .collect();
        let leak: Vec<f64> = t.iter().map(|&h| 2e6 * h + 2e4 * rng.normal()).collect();
        let f = facts(&t, &fill, &load, 0.6, TimeBase::VIRTUAL).expect("facts");
        assert!(
            f.bend_per_hour + 3.0 * f.bend_stderr < 0.0,
            "a fill slows down: {f:?}"
        );
        let l = facts(&t, &leak, &load, 0.6, TimeBase::VIRTUAL).expect("facts");
        assert!(
            (l.bend_per_hour / l.bend_stderr).abs() < 3.0,
            "a leak keeps its pace: {l:?}"
        );
        assert!((l.early_per_hour / 2e6 - 1.0).abs() < 0.05, "{l:?}");
        // No load variation: nothing to cover, nothing collinear.
        assert_eq!((l.load_rise, l.load_fall), (1.0, 1.0));
        assert!((l.trend_vif - 1.0).abs() < 1e-9, "{l:?}");
    }

    #[test]
    fn the_late_range_is_how_far_the_late_half_moved() {
        let t = minutes(6.0);
        let mut rng = Rng::new(7);
        let load = vec![100.0; t.len()];
        // Rises 3 MB over the first three hours, then holds; and a steady leak.
        let held: Vec<f64> = t
            .iter()
            .map(|&h| 1e6 * h.min(3.0) + 1e4 * rng.normal())
            .collect();
        let leak: Vec<f64> = t.iter().map(|&h| 1e6 * h + 1e4 * rng.normal()).collect();
        let f = facts(&t, &held, &load, 0.0, TimeBase::VIRTUAL).expect("facts");
        let range = f.level_late_range.expect("a range");
        assert!(range < 10.0 * 1e4, "held: {range}");
        let l = facts(&t, &leak, &load, 0.0, TimeBase::VIRTUAL).expect("facts");
        let range = l.level_late_range.expect("a range");
        assert!((range / 3e6 - 1.0).abs() < 0.05, "leak: {range}");
    }

    #[test]
    fn a_window_where_load_only_rises_is_collinear_and_a_day_is_not() {
        let mut rng = Rng::new(5);
        let day = minutes(24.0);
        let load = daily_load(&day, &mut rng);
        let y = vec![1e6; day.len()];
        // 02:00 to 12:00: the load only rises.
        let n = 12 * 60 + 1;
        let morning = facts(&day[..n], &y[..n], &load[..n], 2.0, TimeBase::VIRTUAL).expect("facts");
        assert!(morning.trend_vif > 10.0, "{morning:?}");
        assert!(
            morning.load_fall < 0.05,
            "still rising at the end: {morning:?}"
        );
        let whole = facts(&day, &y, &load, 2.4, TimeBase::VIRTUAL).expect("facts");
        assert!(whole.trend_vif < 5.0, "{whole:?}");
        assert!(
            whole.load_rise > 0.5 && whole.load_fall > 0.5,
            "a day rises and falls: {whole:?}"
        );
        // Hundreds of requests a minute: the smoothed load's noise is small.
        assert!(whole.load_noise < 0.02, "{whole:?}");
    }

    #[test]
    fn sparse_counts_have_counting_noise() {
        let t = minutes(6.0);
        let mut rng = Rng::new(8);
        let load: Vec<f64> = t.iter().map(|_| rng.poisson(0.7) as f64).collect();
        let y = vec![0.0; t.len()];
        let f = facts(&t, &y, &load, 0.6, TimeBase::VIRTUAL).expect("facts");
        // Less than one event a minute: the 30-minute average wanders by ~15%.
        assert!((0.08..0.3).contains(&f.load_noise), "{f:?}");
    }

    #[test]
    fn noise_is_the_residual_spread() {
        let t = minutes(4.0);
        let mut rng = Rng::new(9);
        let y: Vec<f64> = t.iter().map(|&h| 5.0 * h + 3.0 * rng.normal()).collect();
        let f = facts(&t, &y, &vec![1.0; t.len()], 0.4, TimeBase::VIRTUAL).expect("facts");
        assert!((f.noise / 3.0 - 1.0).abs() < 0.1, "{f:?}");
    }

    #[test]
    fn too_short_or_mismatched_gives_none() {
        let t = minutes(0.1);
        let y = vec![1.0; t.len()];
        assert!(facts(&t, &y, &vec![1.0; t.len()], 0.0, TimeBase::VIRTUAL).is_none());
        assert!(facts(&t, &y[1..], &vec![1.0; t.len()], 0.0, TimeBase::VIRTUAL).is_none());
    }
}
