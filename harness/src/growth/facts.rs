//! Facts about a growth estimate that say whether its window can be trusted:
//! how much the growth slows down across the window (the curvature of a fill),
//! how well the load covariates alone predict time (collinearity of trend and
//! load), and how much of the load's range the window has seen.
//!
//! [`super::estimate`] answers "how fast does it grow"; this module answers "is
//! this window able to tell", for the verdict's third answer.

use super::{center, dot, lag1_autocorrelation, load_features, mean, upper_inverse, MIN_POINTS};

/// Window facts for one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Facts {
    /// Slope of the early half (hinge model), per hour.
    pub early_per_hour: f64,
    /// Its standard error.
    pub early_stderr: f64,
    /// Change of slope at mid-window (late − early), per hour.
    pub bend_per_hour: f64,
    /// Its standard error.
    pub bend_stderr: f64,
    /// Variance inflation of the time column: 1 / (1 − R²) of time regressed on
    /// the load covariates over the window. 1 when load says nothing about time.
    pub trend_vif: f64,
    /// Lag-1 autocorrelation of the whole-window fit's residuals.
    pub rho: f64,
    /// How far the smoothed load rose to its highest point in the window, as a
    /// share of that peak (0 when the window opens at its peak).
    pub load_rise: f64,
    /// How far it fell after that peak, as a share of the peak (0 when the window
    /// ends at its peak: the busiest time may be still to come).
    pub load_fall: f64,
}

/// Ordinary least squares of `y` on `cols` (first column the intercept), with
/// the autocorrelation inflation used by the estimate. Returns the coefficients,
/// their covariance (already inflated) and ρ.
pub(super) struct Ols {
    pub beta: Vec<f64>,
    pub cov: Vec<Vec<f64>>,
    pub rho: f64,
    pub r2_of_last: f64,
}

/// Least squares by modified Gram–Schmidt; columns that are numerically
/// combinations of earlier ones are dropped (their coefficient is 0). The first
/// `keep` columns must be independent, or `None`.
pub(super) fn ols(y: &[f64], cols: &[Vec<f64>], keep: usize) -> Option<Ols> {
    let n = y.len();
    let mut q: Vec<Vec<f64>> = Vec::new();
    let mut r: Vec<Vec<f64>> = Vec::new();
    let mut kept: Vec<usize> = Vec::new();
    for (j, col) in cols.iter().enumerate() {
        let mut v = col.clone();
        let norm0 = dot(&v, &v).sqrt();
        let mut rcol = Vec::with_capacity(q.len() + 1);
        for qi in &q {
            let rij = dot(qi, &v);
            for (vk, qk) in v.iter_mut().zip(qi) {
                *vk -= rij * qk;
            }
            rcol.push(rij);
        }
        let nv = dot(&v, &v).sqrt();
        if norm0 == 0.0 || nv <= 1e-7 * norm0 {
            if j < keep {
                return None;
            }
            continue;
        }
        for vk in v.iter_mut() {
            *vk /= nv;
        }
        rcol.push(nv);
        q.push(v);
        r.push(rcol);
        kept.push(j);
    }
    let p = q.len();
    if n <= p + 2 {
        return None;
    }
    let qty: Vec<f64> = q.iter().map(|qi| dot(qi, y)).collect();
    let rinv = upper_inverse(&r, p)?;
    let mut resid = y.to_vec();
    for (qi, &c) in q.iter().zip(&qty) {
        for (e, qk) in resid.iter_mut().zip(qi) {
            *e -= c * qk;
        }
    }
    let sse = dot(&resid, &resid);
    let sigma2 = sse / (n - p) as f64;
    let rho = lag1_autocorrelation(&resid).clamp(0.0, 0.99);
    let inflate2 = (1.0 + rho) / (1.0 - rho);
    let mut beta = vec![0.0; cols.len()];
    let mut cov = vec![vec![0.0; cols.len()]; cols.len()];
    for (a, &ja) in kept.iter().enumerate() {
        beta[ja] = (a..p).map(|k| rinv[a][k] * qty[k]).sum();
        for (b, &jb) in kept.iter().enumerate() {
            let lo = a.max(b);
            cov[ja][jb] = sigma2 * inflate2 * (lo..p).map(|k| rinv[a][k] * rinv[b][k]).sum::<f64>();
        }
    }
    let syy = dot(&center(y), &center(y));
    let r2_of_last = if syy > 0.0 { 1.0 - sse / syy } else { 0.0 };
    Some(Ols {
        beta,
        cov,
        rho,
        r2_of_last,
    })
}

/// Which load feature is the smoothed load (the 30-minute moving average).
const SMOOTH_LOAD: usize = 2;

/// The rise to, and fall from, the highest point of `s`, as shares of it.
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

/// Computes the [`Facts`] of `y` over `[warmup_hours, end]`, with the same
/// window and covariates as [`super::estimate`].
pub fn facts(t_hours: &[f64], y: &[f64], load: &[f64], warmup_hours: f64) -> Option<Facts> {
    let n_all = t_hours.len();
    if y.len() != n_all || load.len() != n_all {
        return None;
    }
    let features = load_features(t_hours, load);
    let idx: Vec<usize> = (0..n_all)
        .filter(|&i| t_hours[i] >= warmup_hours && y[i].is_finite())
        .collect();
    if idx.len() < MIN_POINTS {
        return None;
    }
    let t: Vec<f64> = idx.iter().map(|&i| t_hours[i]).collect();
    let yy: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
    let feats: Vec<Vec<f64>> = features
        .iter()
        .map(|f| center(&idx.iter().map(|&i| f[i]).collect::<Vec<_>>()))
        .collect();
    let from = t[0];
    let to = t[t.len() - 1];
    let mid = (from + to) / 2.0;
    let ones = vec![1.0; t.len()];
    let trend = center(&t);
    let hinge = center(&t.iter().map(|&x| (x - mid).max(0.0)).collect::<Vec<_>>());

    let mut cols = vec![ones.clone(), trend.clone(), hinge];
    cols.extend(feats.iter().cloned());
    let bent = ols(&yy, &cols, 3)?;

    let mut cols = vec![ones.clone(), trend.clone()];
    cols.extend(feats.iter().cloned());
    let whole = ols(&yy, &cols, 2)?;

    // Time explained by the load covariates alone.
    let mut cols = vec![ones];
    cols.extend(feats.iter().cloned());
    let r2 = if feats.is_empty() {
        0.0
    } else {
        ols(&trend, &cols, 1).map(|o| o.r2_of_last).unwrap_or(0.0)
    };
    let (load_rise, load_fall) = match features.get(SMOOTH_LOAD) {
        Some(f) => hump(&idx.iter().map(|&i| f[i]).collect::<Vec<_>>()),
        None => (1.0, 1.0), // no load reported: nothing to cover
    };
    let _ = mean(&t);
    Some(Facts {
        load_rise,
        load_fall,
        early_per_hour: bent.beta[1],
        early_stderr: bent.cov[1][1].sqrt(),
        bend_per_hour: bent.beta[2],
        bend_stderr: bent.cov[2][2].sqrt(),
        trend_vif: 1.0 / (1.0 - r2).max(1e-9),
        rho: whole.rho,
    })
}
