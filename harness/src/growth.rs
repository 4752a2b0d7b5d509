//! Growth-rate estimate per resource, its uncertainty, and the verdict.
//!
//! # The model
//!
//! Under diurnal traffic a healthy service's heap rises and falls with load, so a
//! straight-line slope through the samples reads the daily curve as growth (the
//! OLS slope of one cosine period is far from zero). We instead fit, over the
//! steady part of the run (after the warm-up),
//!
//! ```text
//! y(t) = a + b·t + Σ c_k · f_k(t) + e(t)
//! ```
//!
//! where the `f_k` are load covariates built from the run's own measured load
//! (events per sample): the load itself and exponential moving averages of it with
//! time constants of 5 min, 30 min and 2 h. A working set that follows load with any
//! smooth lag (a TTL map, a connection registry) is a combination of those, so it
//! lands in the `c_k`, and what is left in `b` is growth not explained by traffic.
//! Where the run measured the load it holds on the target as a level — a live
//! run's WebSocket sessions within their planned time or, gone silent,
//! within the retention after it (`ws_sessions`), and the distinct users, guilds
//! and sessions its HTTP requests named within the retention (`recent_user`,
//! `recent_guild`, `recent_session`; [`crate::verdict::LOAD_GAUGES`]) — those
//! *load gauges* are covariates too: a working set of per-session (per-user)
//! state follows them sample by sample, random arrivals and a small pool's
//! saturation and all, where the moving averages of arrivals only follow its mean.
//! A load gauge must be the load's alone (drawn by the plan, not changed by the
//! target): a gauge the target moves, such as connections a leaky server never
//! closes, would explain its leak away.
//! The estimator knows nothing about any subject: it sees samples and load.
//!
//! A second fit adds a hinge at the middle of the window (`b₂·max(0, t − mid)`), so
//! `b + b₂` is the slope of the *late* half. A resource fails when the
//! whole-window slope exceeds the budget and two standard errors, unless the late
//! half shows with confidence (late slope plus two standard errors) that growth has
//! fallen under the budget. A cache that fills to its capacity and then stays flat
//! (the classic false positive of slope checks) has a late slope of about zero and
//! passes; a leak whose late slope is merely uncertain still fails.
//!
//! Uncertainty is the OLS standard error inflated for autocorrelated residuals by
//! `sqrt((1 + ρ) / (1 − ρ))`, with ρ the lag-1 autocorrelation of the residuals.
//!
//! [`facts`] adds what the window itself shows — the curvature of a fill, how
//! collinear time is with the load, the noise band, how much of the load's rise
//! and fall the window saw — so the verdict can tell when a window cannot tell.
//! [`corrected_z`] is the threshold for a run that looks at its data repeatedly
//! (`--hours auto`).

use serde::{Deserialize, Serialize};

use crate::timebase::TimeBase;

mod facts;
pub use facts::{facts, Facts};

/// Time constants of the load moving averages used as covariates, in hours of
/// the traffic's day (a live run's compressed day puts them on its wall clock:
/// [`TimeBase::from_day`]).
pub const LOAD_LAGS_HOURS: [f64; 3] = [5.0 / 60.0, 0.5, 2.0];

/// How many standard errors growth must clear to count as real.
pub const SIGNIFICANCE_Z: f64 = 2.0;

/// The one-sided false-alarm rate of [`SIGNIFICANCE_Z`]: 1 − Φ(2).
pub const SIGNIFICANCE_ALPHA: f64 = 0.022_750_131_948_179_2;

/// The threshold for `looks` repeated looks at one run's growing data, spending
/// the single look's false-alarm rate [`SIGNIFICANCE_ALPHA`] over all of them
/// (Bonferroni): z = Φ⁻¹(1 − α / looks). One look gives [`SIGNIFICANCE_Z`]; 72
/// hourly looks give 3.42. Bonferroni ignores that successive looks share most of
/// their data, so the run's real false-alarm rate is lower still.
pub fn corrected_z(looks: usize) -> f64 {
    if looks <= 1 {
        return SIGNIFICANCE_Z;
    }
    normal_quantile(1.0 - SIGNIFICANCE_ALPHA / looks as f64)
}

/// Φ⁻¹(p), the standard normal quantile, for 0 < p < 1 (Acklam's rational
/// approximation; relative error below 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    if !(p > 0.0 && p < 1.0) {
        return if p <= 0.0 {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.024_25 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.024_25 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Fewest samples in the steady window for a judgement.
pub const MIN_POINTS: usize = 12;

/// A growth estimate for one series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Growth per hour (of the run's clock) over the steady window.
    pub per_hour: f64,
    /// Standard error of `per_hour` (autocorrelation-adjusted).
    pub stderr: f64,
    /// Growth per hour over the late half of the window.
    pub late_per_hour: f64,
    /// Standard error of `late_per_hour`.
    pub late_stderr: f64,
    /// Start of the steady window, hours.
    pub from_hours: f64,
    /// End of the window, hours.
    pub to_hours: f64,
    /// Value of the drawn trend line at `from_hours`: the line through the window's
    /// mean with slope `per_hour`.
    pub trend_start: f64,
    /// Samples in the window.
    pub points: usize,
}

impl Estimate {
    /// Whether growth exceeds `budget` per hour: the whole-window slope is above
    /// the budget and clears the noise, and the late half does not show, with
    /// confidence, that the growth has stopped (a step such as a hash table
    /// doubling near mid-window makes the late slope uncertain; uncertainty must
    /// not let a leak pass).
    pub fn exceeds(&self, budget: f64) -> bool {
        self.exceeds_at(budget, SIGNIFICANCE_Z)
    }

    /// [`Estimate::exceeds`] with `z` standard errors instead of
    /// [`SIGNIFICANCE_Z`] (a run that looks repeatedly uses a higher one).
    pub fn exceeds_at(&self, budget: f64, z: f64) -> bool {
        self.per_hour > budget && self.per_hour > z * self.stderr && !self.stopped_at(budget, z)
    }

    /// Whether the late half shows, `z` standard errors clear, that growth has
    /// fallen under `budget` (a cache that filled and now holds still).
    pub fn stopped_at(&self, budget: f64, z: f64) -> bool {
        self.late_per_hour + z * self.late_stderr < budget
    }

    /// Length of the window, hours.
    pub fn window_hours(&self) -> f64 {
        self.to_hours - self.from_hours
    }

    /// The trend line's value at `hours` (for charts).
    pub fn trend_at(&self, hours: f64) -> f64 {
        self.trend_start + self.per_hour * (hours - self.from_hours)
    }
}

/// Estimates growth of `y` (sampled at `t_hours`, hours of `tb`'s clock) over
/// `[warmup_hours, end]`, with `load` (events per sample, same length) as the
/// covariate source. Rates are per hour of `tb`'s clock.
///
/// Returns `None` when the window holds fewer than [`MIN_POINTS`] samples or the
/// inputs disagree in length.
pub fn estimate(
    t_hours: &[f64],
    y: &[f64],
    load: &[f64],
    warmup_hours: f64,
    tb: TimeBase,
) -> Option<Estimate> {
    estimate_with(t_hours, y, load, &[], warmup_hours, tb)
}

/// [`estimate`] with load gauges (see the module docs), each sampled with `t_hours`.
pub fn estimate_with(
    t_hours: &[f64],
    y: &[f64],
    load: &[f64],
    gauges: &[Vec<f64>],
    warmup_hours: f64,
    tb: TimeBase,
) -> Option<Estimate> {
    estimate_in(&Window::of(t_hours, y, load, gauges, warmup_hours, tb)?)
}

/// [`estimate`] and [`facts`] of one series over one window, its rows and load
/// covariates computed once (what a verdict needs for each resource); `gauges`
/// are load gauges (see the module docs), each sampled with `t_hours`.
pub fn assess(
    t_hours: &[f64],
    y: &[f64],
    load: &[f64],
    gauges: &[Vec<f64>],
    warmup_hours: f64,
    tb: TimeBase,
) -> (Option<Estimate>, Option<Facts>) {
    match Window::of(t_hours, y, load, gauges, warmup_hours, tb) {
        Some(w) => (estimate_in(&w), facts::facts_in(&w)),
        None => (None, None),
    }
}

/// The rows a fit sees — after the warm-up, finite values — with the load
/// covariates ([`load_features`], uncentred) and the load gauges on those rows.
struct Window {
    t: Vec<f64>,
    y: Vec<f64>,
    load: Vec<f64>,
    feats: Vec<Vec<f64>>,
    /// Load gauges (uncentred), fitted as `feats` are; kept apart because the
    /// facts read the load's cycle from `feats` by position.
    gauges: Vec<Vec<f64>>,
    /// The run's mean time between samples, hours.
    step: f64,
}

impl Window {
    /// `None` when the series do not line up or fewer than [`MIN_POINTS`] rows remain.
    fn of(
        t_hours: &[f64],
        y: &[f64],
        load: &[f64],
        gauges: &[Vec<f64>],
        warmup_hours: f64,
        tb: TimeBase,
    ) -> Option<Window> {
        let n_all = t_hours.len();
        if y.len() != n_all || load.len() != n_all || gauges.iter().any(|g| g.len() != n_all) {
            return None;
        }
        let idx: Vec<usize> = (0..n_all)
            .filter(|&i| {
                t_hours[i] >= warmup_hours
                    && y[i].is_finite()
                    && gauges.iter().all(|g| g[i].is_finite())
            })
            .collect();
        if idx.len() < MIN_POINTS {
            return None;
        }
        let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        Some(Window {
            step: (t_hours[n_all - 1] - t_hours[0]) / (n_all - 1).max(1) as f64,
            t: pick(t_hours),
            y: pick(y),
            load: pick(load),
            feats: load_features(t_hours, load, tb)
                .iter()
                .map(|f| pick(f))
                .collect(),
            gauges: gauges.iter().map(|g| pick(g)).collect(),
        })
    }

    /// The load covariates and the load gauges, uncentred.
    fn covariates(&self) -> Vec<Vec<f64>> {
        self.feats.iter().chain(&self.gauges).cloned().collect()
    }

    /// Centred time and the centred hinge at mid-window (slope change there).
    fn trend_and_hinge(&self) -> (Vec<f64>, Vec<f64>) {
        let t = &self.t;
        let mid = (t[0] + t[t.len() - 1]) / 2.0;
        let hinge = t.iter().map(|&x| (x - mid).max(0.0)).collect::<Vec<_>>();
        (center(t), center(&hinge))
    }
}

fn estimate_in(w: &Window) -> Option<Estimate> {
    let (t, yy) = (&w.t, &w.y);
    let feats = &w.covariates();
    let from = t[0];
    let to = t[t.len() - 1];
    let t_mean = mean(t);

    let (trend, hinge) = w.trend_and_hinge();
    let whole = fit(yy, &trend, None, feats)?;
    let late = fit(yy, &trend, Some(&hinge), feats)?;

    Some(Estimate {
        per_hour: whole.slope,
        stderr: whole.slope_se,
        late_per_hour: late.slope,
        late_stderr: late.slope_se,
        from_hours: from,
        to_hours: to,
        trend_start: mean(yy) - whole.slope * (t_mean - from),
        points: t.len(),
    })
}

/// Load covariates over the whole run: the normalised load and its moving averages
/// ([`LOAD_LAGS_HOURS`] of the day, on `tb`'s clock). Empty when the run reported
/// no load (or a constant one). The first and last samples' loads are taken to be
/// their neighbours' (they count partial intervals).
pub fn load_features(t_hours: &[f64], load: &[f64], tb: TimeBase) -> Vec<Vec<f64>> {
    let n = load.len();
    if n < 3 || t_hours.len() != n {
        return Vec::new();
    }
    // The first and last samples count partial intervals: the first is taken at
    // the start instant (a moment's events), and a scenario's tick at the end
    // instant never runs, so the last misses one tick. Each stands for its
    // neighbour's load; else a steady load shows a dip at an edge, and the slow
    // response of the moving averages to it mimics a trend.
    let mut load = load.to_vec();
    load[0] = load[1];
    load[n - 1] = load[n - 2];
    let load = &load[..];
    let m = mean(load);
    let var = load.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
    if m <= 0.0 || var <= 0.0 {
        return Vec::new();
    }
    let x: Vec<f64> = load.iter().map(|v| v / m).collect();
    let dt = (t_hours[n - 1] - t_hours[0]) / (n - 1) as f64;
    let mut out = vec![x.clone()];
    for tau in LOAD_LAGS_HOURS.map(|l| tb.from_day(l)) {
        let alpha = 1.0 - (-dt / tau).exp();
        // Start at the mean so a long average has no warm-up ramp that mimics a trend.
        let mut e = 1.0;
        out.push(
            x.iter()
                .map(|&v| {
                    e += alpha * (v - e);
                    e
                })
                .collect(),
        );
    }
    out
}

struct Fit {
    slope: f64,
    slope_se: f64,
}

/// Least squares of `y` on [1, trend, hinge?, features…] ([`ols`]): the trend and
/// hinge columns come first so they are never the ones dropped. With a hinge, the
/// slope is the late one, b + b₂, its variance with the covariance term.
fn fit(y: &[f64], trend: &[f64], hinge: Option<&[f64]>, feats: &[Vec<f64>]) -> Option<Fit> {
    let n = y.len();
    let mut cols: Vec<Vec<f64>> = vec![vec![1.0; n], trend.to_vec()];
    if let Some(h) = hinge {
        cols.push(h.to_vec());
    }
    for f in feats {
        cols.push(center(f));
    }
    let keep = cols.len() - feats.len();
    let o = ols(y, &cols, keep)?;
    let (slope, var) = if hinge.is_some() {
        (
            o.beta[1] + o.beta[2],
            o.cov[1][1] + o.cov[2][2] + 2.0 * o.cov[1][2],
        )
    } else {
        (o.beta[1], o.cov[1][1])
    };
    Some(Fit {
        slope,
        slope_se: var.max(0.0).sqrt(),
    })
}

/// A least-squares fit: coefficients, their covariance (inflated for
/// autocorrelated residuals as the estimate's are), residual spread and R².
pub(crate) struct Ols {
    pub(crate) beta: Vec<f64>,
    pub(crate) cov: Vec<Vec<f64>>,
    pub(crate) sigma: f64,
    pub(crate) rho: f64,
    pub(crate) r2: f64,
}

/// Least squares of `y` on `cols` by modified Gram–Schmidt. Columns that are
/// numerically combinations of earlier ones are dropped (coefficient 0); the first
/// `keep` must not be, or the window is degenerate and this returns `None`.
#[allow(clippy::needless_range_loop)] // triangular index arithmetic reads clearer with indices
pub(crate) fn ols(y: &[f64], cols: &[Vec<f64>], keep: usize) -> Option<Ols> {
    let n = y.len();
    let mut q: Vec<Vec<f64>> = Vec::new();
    let mut r: Vec<Vec<f64>> = Vec::new(); // r[k] = column k of R (length k+1)
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
            let from = a.max(b);
            cov[ja][jb] =
                sigma2 * inflate2 * (from..p).map(|k| rinv[a][k] * rinv[b][k]).sum::<f64>();
        }
    }
    let centred = center(y);
    let syy = dot(&centred, &centred);
    Some(Ols {
        beta,
        cov,
        sigma: sigma2.sqrt(),
        rho,
        r2: if syy > 0.0 { 1.0 - sse / syy } else { 0.0 },
    })
}

/// Inverse of the p×p upper-triangular R stored column-wise (`r[k][i]` = R[i][k]).
#[allow(clippy::needless_range_loop)] // triangular index arithmetic reads clearer with indices
fn upper_inverse(r: &[Vec<f64>], p: usize) -> Option<Vec<Vec<f64>>> {
    let mut inv = vec![vec![0.0; p]; p];
    for col in 0..p {
        // Solve R x = e_col by back substitution.
        for i in (0..=col).rev() {
            let mut s = if i == col { 1.0 } else { 0.0 };
            for k in (i + 1)..=col {
                s -= r[k][i] * inv[k][col];
            }
            let d = r[i][i];
            if d == 0.0 {
                return None;
            }
            inv[i][col] = s / d;
        }
    }
    Some(inv)
}

fn lag1_autocorrelation(e: &[f64]) -> f64 {
    let denom = dot(e, e);
    if denom <= 0.0 || e.len() < 3 {
        return 0.0;
    }
    e.windows(2).map(|w| w[0] * w[1]).sum::<f64>() / denom
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn center(v: &[f64]) -> Vec<f64> {
    let m = mean(v);
    v.iter().map(|x| x - m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timebase::TimeBase;
    use crate::traffic::Rng;
    use std::f64::consts::PI;

    fn day(n_hours: f64, every_min: f64) -> Vec<f64> {
        let n = (n_hours * 60.0 / every_min) as usize + 1;
        (0..n).map(|i| i as f64 * every_min / 60.0).collect()
    }

    fn diurnal(t: f64) -> f64 {
        (1.0 + (2.0 * PI * (t - 14.0) / 24.0).cos()) / 2.0
    }

    #[test]
    fn straight_line_is_recovered() {
        let t = day(24.0, 1.0);
        let y: Vec<f64> = t.iter().map(|h| 1000.0 + 250.0 * h).collect();
        let load = vec![0.0; t.len()];
        let e = estimate(&t, &y, &load, 2.4, TimeBase::VIRTUAL).expect("enough points");
        assert!((e.per_hour - 250.0).abs() < 1e-6, "{e:?}");
        assert!((e.late_per_hour - 250.0).abs() < 1e-6, "{e:?}");
        assert!(e.exceeds(200.0) && !e.exceeds(300.0));
    }

    #[test]
    fn daily_curve_is_not_growth_but_a_naive_slope_would_say_it_is() {
        let t = day(24.0, 1.0);
        let mut rng = Rng::new(1);
        let load: Vec<f64> = t
            .iter()
            .map(|&h| rng.poisson(100.0 + 900.0 * diurnal(h)) as f64)
            .collect();
        // Working set: 30-min moving average of load × 20 KB, plus noise.
        let mut ws = 0.0;
        let y: Vec<f64> = load
            .iter()
            .map(|&l| {
                ws += (1.0 - (-1.0f64 / 30.0).exp()) * (l * 20_000.0 - ws);
                5e6 + ws + 2e4 * rng.normal()
            })
            .collect();
        let e = estimate(&t, &y, &load, 2.4, TimeBase::VIRTUAL).expect("enough points");
        assert!(e.per_hour.abs() < 50_000.0, "{e:?}");
        assert!(!e.exceeds(1e6));
        // The naive slope over the same window is far larger: the point of the model.
        let w: Vec<usize> = (0..t.len()).filter(|&i| t[i] >= 2.4).collect();
        let tw: Vec<f64> = w.iter().map(|&i| t[i]).collect();
        let yw: Vec<f64> = w.iter().map(|&i| y[i]).collect();
        let naive = dot(&center(&tw), &center(&yw)) / dot(&center(&tw), &center(&tw));
        assert!(
            naive.abs() > 10.0 * e.per_hour.abs(),
            "naive {naive} vs {e:?}"
        );
    }

    #[test]
    fn leak_under_load_is_measured() {
        let t = day(24.0, 1.0);
        let mut rng = Rng::new(2);
        let load: Vec<f64> = t
            .iter()
            .map(|&h| rng.poisson(50.0 + 500.0 * diurnal(h)) as f64)
            .collect();
        let y: Vec<f64> = t
            .iter()
            .zip(&load)
            .map(|(&h, &l)| 3e6 + 8_000.0 * l + 2_097_152.0 * h + 1e4 * rng.normal())
            .collect();
        let e = estimate(&t, &y, &load, 2.4, TimeBase::VIRTUAL).expect("enough points");
        assert!((e.per_hour / 2_097_152.0 - 1.0).abs() < 0.02, "{e:?}");
        assert!(e.exceeds(1e6));
    }

    /// Steady arrivals of sessions that each hold for a random time: the number
    /// held at each sample (the plan's draw) and the heap of a server keeping
    /// `per_session` bytes for each, plus `leak` bytes per hour.
    fn sessions_and_heap(seed: u64, per_session: f64, leak: f64) -> (Vec<f64>, [Vec<f64>; 3]) {
        let t = day(24.0, 1.0);
        let mut rng = Rng::new(seed);
        let mut ends: Vec<f64> = Vec::new();
        let (mut load, mut held, mut y) = (Vec::new(), Vec::new(), Vec::new());
        for &h in &t {
            let arrivals = rng.poisson(20.0);
            for _ in 0..arrivals {
                ends.push(h + rng.exp(4.0)); // 15 minutes on average
            }
            ends.retain(|&e| e > h);
            load.push(arrivals as f64);
            held.push(ends.len() as f64);
            y.push(4e6 + per_session * ends.len() as f64 + leak * h + 2e3 * rng.normal());
        }
        (t, [load, held, y])
    }

    #[test]
    fn a_load_gauge_takes_the_sessions_scatter_out_of_the_error_but_not_the_leak() {
        for (seed, leak) in [(11, 0.0), (12, 0.0), (13, 2e6), (14, 2e6)] {
            let (t, [load, held, y]) = sessions_and_heap(seed, 4_352.0, leak);
            let tb = TimeBase::VIRTUAL;
            let (plain, _) = assess(&t, &y, &load, &[], 2.4, tb);
            let (gauged, facts) = assess(&t, &y, &load, std::slice::from_ref(&held), 2.4, tb);
            let (plain, gauged) = (plain.expect("fits"), gauged.expect("fits"));
            // The held sessions wander by tens (±√300): ±100 KiB of heap that the
            // moving averages of arrivals follow only in part.
            assert!(
                gauged.stderr < plain.stderr / 5.0,
                "seed {seed}: {gauged:?} vs {plain:?}"
            );
            // The leak is the same leak, whichever fit: the gauge holds no trend.
            assert!(
                (gauged.per_hour - leak).abs() < 4.0 * gauged.stderr + 1e3,
                "seed {seed}: {gauged:?}"
            );
            assert_eq!(gauged.exceeds(1e6), leak > 0.0, "seed {seed}: {gauged:?}");
            assert!(facts.expect("facts").trend_vif < 2.0);
        }
    }

    #[test]
    fn a_gauge_that_stays_flat_is_left_out_of_the_fit() {
        let (t, [load, _, y]) = sessions_and_heap(15, 4_352.0, 0.0);
        let flat = vec![0.0; t.len()];
        let tb = TimeBase::VIRTUAL;
        assert_eq!(
            assess(&t, &y, &load, &[flat], 2.4, tb).0,
            assess(&t, &y, &load, &[], 2.4, tb).0
        );
        // A gauge of the wrong length is no fit at all.
        assert!(assess(&t, &y, &load, &[vec![0.0; 3]], 2.4, tb).0.is_none());
    }

    #[test]
    fn plateau_after_filling_is_not_sustained_growth() {
        let t = day(24.0, 1.0);
        // Fills at 3 MB/h until hour 12, then flat at capacity.
        let y: Vec<f64> = t.iter().map(|&h| 1e6 + 3e6 * h.min(12.0)).collect();
        let load = vec![0.0; t.len()];
        let e = estimate(&t, &y, &load, 2.4, TimeBase::VIRTUAL).expect("enough points");
        assert!(
            e.per_hour > 1e6,
            "whole-window slope still sees the fill: {e:?}"
        );
        assert!(e.late_per_hour < 0.5e6, "{e:?}");
        assert!(!e.exceeds(1e6));
    }

    #[test]
    fn too_few_points_gives_none() {
        let t = day(0.1, 1.0);
        let y = vec![1.0; t.len()];
        assert!(estimate(&t, &y, &vec![0.0; t.len()], 0.0, TimeBase::VIRTUAL).is_none());
        assert!(estimate(&t, &y[1..], &vec![0.0; t.len()], 0.0, TimeBase::VIRTUAL).is_none());
    }

    #[test]
    fn normal_quantiles_and_the_corrected_threshold() {
        assert!((normal_quantile(1.0 - SIGNIFICANCE_ALPHA) - 2.0).abs() < 1e-8);
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-8);
        assert!((normal_quantile(0.05) + 1.644_853_626_951_472_2).abs() < 1e-8);
        assert!((normal_quantile(1e-6) + 4.753_424_308_822_899).abs() < 1e-8);
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(corrected_z(1), SIGNIFICANCE_Z);
        let z72 = corrected_z(72);
        assert!((3.40..3.45).contains(&z72), "{z72}");
        assert!(corrected_z(24) < z72);
    }

    #[test]
    fn noise_alone_is_not_significant() {
        let t = day(24.0, 1.0);
        let mut rng = Rng::new(4);
        let y: Vec<f64> = t.iter().map(|_| 100.0 + rng.normal()).collect();
        let e =
            estimate(&t, &y, &vec![0.0; t.len()], 2.4, TimeBase::VIRTUAL).expect("enough points");
        assert!(!e.exceeds(0.0), "{e:?}");
    }
}
