//! Load shapes as data, and the seeded random numbers that turn them into events.
//!
//! A scenario describes its day as a [`Shape`]: a [`Diurnal`] base curve plus
//! [`Phase`]s (bursts, ramps, recurring bursts). The shape is a pure function of
//! virtual time giving an arrival *rate* (events per second); [`Shape::count`] and
//! [`Arrivals`] turn it into Poisson-like event counts and arrival times from an
//! [`Rng`]. [`Population`] says *who* sends them: a churning set of numbered
//! users, the usual source of keys that a map forgets to drop.
//!
//! The generator is our own xoshiro256++ rather than a `rand` RNG on purpose: the
//! byte-for-byte reproducibility of a seed is part of the report contract, and an
//! upstream change of algorithm must never change a stored baseline.

use std::f64::consts::PI;
use std::time::Duration;

/// `n` seconds.
pub const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `n` minutes.
pub const fn mins(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

/// `h` hours (fractions allowed).
pub fn hours(h: f64) -> Duration {
    Duration::from_secs_f64(h.max(0.0) * 3600.0)
}

/// Seeded, portable pseudo-random numbers (xoshiro256++ seeded by SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

/// SplitMix64 of `x`: scatters sequential numbers (ids, seats, generations) over
/// all 64 bits. The same function seeds [`Rng`].
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn splitmix(state: &mut u64) -> u64 {
    let z = mix(*state);
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

impl Rng {
    /// A generator for `seed`. Equal seeds give equal sequences on every platform.
    pub fn new(seed: u64) -> Self {
        let mut st = seed;
        Rng {
            s: [
                splitmix(&mut st),
                splitmix(&mut st),
                splitmix(&mut st),
                splitmix(&mut st),
            ],
        }
    }

    /// An independent stream for `seed` named `stream`: adding a stream to a
    /// scenario does not shift the numbers any other stream draws.
    pub fn stream(seed: u64, stream: &str) -> Self {
        Rng::new(seed ^ fnv1a(stream).rotate_left(17))
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `[0, n)`; 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's multiply-shift; the tiny bias is irrelevant for load generation.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform integer in `[lo, hi]` (inclusive); `lo` when `hi < lo`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Exponential with the given rate (mean `1 / rate`); infinite for rate ≤ 0.
    pub fn exp(&mut self, rate: f64) -> f64 {
        if rate <= 0.0 {
            return f64::INFINITY;
        }
        -(1.0 - self.unit()).ln() / rate
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }

    /// Poisson-distributed count with the given mean: exact (Knuth) below 30,
    /// normal approximation above, never negative.
    pub fn poisson(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 || !mean.is_finite() {
            return 0;
        }
        if mean < 30.0 {
            let limit = (-mean).exp();
            let mut k = 0;
            let mut p = 1.0;
            loop {
                p *= self.unit();
                if p <= limit {
                    return k;
                }
                k += 1;
            }
        }
        (mean + mean.sqrt() * self.normal()).round().max(0.0) as u64
    }

    /// Heavy-tailed size in `[min, max]`: Pareto with shape `alpha`, truncated.
    pub fn pareto(&mut self, min: f64, alpha: f64, max: f64) -> f64 {
        let u = 1.0 - self.unit();
        (min / u.powf(1.0 / alpha.max(0.01))).min(max)
    }

    /// Zipf-like rank in `[0, n)`: rank 0 is the most popular; `s` near 1 is the
    /// classic web-cache skew. Continuous power-law inversion, cheap and good enough.
    pub fn zipf(&mut self, n: u64, s: f64) -> u64 {
        if n <= 1 {
            return 0;
        }
        let n_f = n as f64;
        let u = self.unit();
        let x = if (s - 1.0).abs() < 1e-9 {
            n_f.powf(u)
        } else {
            let a = 1.0 - s;
            (1.0 + u * (n_f.powf(a) - 1.0)).powf(1.0 / a)
        };
        ((x - 1.0).floor() as u64).min(n - 1)
    }

    /// A uniformly chosen element, `None` for an empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }
}

/// A daily load curve: a cosine between `trough` and `peak` events per second,
/// highest at `peak_hour` (0–24) of every virtual day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diurnal {
    /// Events per second at the quietest hour.
    pub trough: f64,
    /// Events per second at the busiest hour.
    pub peak: f64,
    /// Hour of the day (0–24) at which the peak falls.
    pub peak_hour: f64,
}

impl Diurnal {
    /// A curve from `trough` to `peak` events per second, peaking at `peak_hour`.
    pub fn new(trough: f64, peak: f64, peak_hour: f64) -> Self {
        Diurnal {
            trough,
            peak,
            peak_hour,
        }
    }

    /// A constant rate (no daily swing).
    pub fn flat(rate: f64) -> Self {
        Diurnal::new(rate, rate, 0.0)
    }

    /// Events per second at virtual time `t` since the start of the run.
    pub fn rate_at(&self, t: Duration) -> f64 {
        let h = t.as_secs_f64() / 3600.0;
        let swing = (1.0 + (2.0 * PI * (h - self.peak_hour) / 24.0).cos()) / 2.0;
        self.trough + (self.peak - self.trough) * swing
    }

    /// The curve's daily mean rate.
    pub fn mean(&self) -> f64 {
        (self.trough + self.peak) / 2.0
    }
}

/// Extra load laid over the daily curve.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// `count` extra events spread evenly over `over`, starting at `at`.
    Burst {
        /// When the burst starts.
        at: Duration,
        /// How many extra events it brings.
        count: u64,
        /// How long it lasts.
        over: Duration,
    },
    /// A burst of `count` events over `over`, repeating every `every` from `first`.
    Recurring {
        /// Start of the first burst.
        first: Duration,
        /// Period between burst starts.
        every: Duration,
        /// Extra events per burst.
        count: u64,
        /// Length of each burst.
        over: Duration,
    },
    /// Extra rate rising linearly from `from` to `to` events/s between `at` and `at + over`.
    Ramp {
        /// When the ramp starts.
        at: Duration,
        /// How long it lasts.
        over: Duration,
        /// Extra events/s at the start.
        from: f64,
        /// Extra events/s at the end.
        to: f64,
    },
}

impl Phase {
    /// `count` events within `over`, starting at `at`.
    pub fn burst(at: Duration, count: u64, over: Duration) -> Self {
        Phase::Burst { at, count, over }
    }

    /// `count` events within `over`, every `every`, the first at `first`.
    pub fn recurring(first: Duration, every: Duration, count: u64, over: Duration) -> Self {
        Phase::Recurring {
            first,
            every,
            count,
            over,
        }
    }

    /// A linear ramp of extra rate from `from` to `to` events/s.
    pub fn ramp(at: Duration, over: Duration, from: f64, to: f64) -> Self {
        Phase::Ramp { at, over, from, to }
    }

    /// Extra events per second at `t`.
    pub fn rate_at(&self, t: Duration) -> f64 {
        match *self {
            Phase::Burst { at, count, over } => burst_rate(t, at, count, over),
            Phase::Recurring {
                first,
                every,
                count,
                over,
            } => {
                if t < first || every.is_zero() {
                    return 0.0;
                }
                let since = (t - first).as_secs_f64() % every.as_secs_f64();
                burst_rate(Duration::from_secs_f64(since), Duration::ZERO, count, over)
            }
            Phase::Ramp { at, over, from, to } => {
                if t < at || t >= at + over || over.is_zero() {
                    return 0.0;
                }
                let f = (t - at).as_secs_f64() / over.as_secs_f64();
                from + (to - from) * f
            }
        }
    }
}

fn burst_rate(t: Duration, at: Duration, count: u64, over: Duration) -> f64 {
    if t < at || t >= at + over || over.is_zero() {
        0.0
    } else {
        count as f64 / over.as_secs_f64()
    }
}

/// A whole day of load: the diurnal base plus any phases, as events per second.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// The daily curve.
    pub base: Diurnal,
    /// Bursts and ramps on top of it.
    pub phases: Vec<Phase>,
}

impl Shape {
    /// A shape with only the daily curve.
    pub fn new(base: Diurnal) -> Self {
        Shape {
            base,
            phases: Vec::new(),
        }
    }

    /// Adds a phase (builder style).
    pub fn with(mut self, phase: Phase) -> Self {
        self.phases.push(phase);
        self
    }

    /// Events per second at `t`.
    pub fn rate_at(&self, t: Duration) -> f64 {
        let extra: f64 = self.phases.iter().map(|p| p.rate_at(t)).sum();
        (self.base.rate_at(t) + extra).max(0.0)
    }

    /// Expected events in `[t, t + dt)` (midpoint rule on 4 sub-steps).
    pub fn expected(&self, t: Duration, dt: Duration) -> f64 {
        let step = dt / 4;
        (0..4)
            .map(|i| self.rate_at(t + step * i + step / 2) * step.as_secs_f64())
            .sum()
    }

    /// A Poisson-distributed number of events in `[t, t + dt)`.
    pub fn count(&self, rng: &mut Rng, t: Duration, dt: Duration) -> u64 {
        rng.poisson(self.expected(t, dt))
    }

    /// Highest rate over `[0, len)` sampled every minute: the thinning bound.
    pub fn max_rate(&self, len: Duration) -> f64 {
        let minutes = (len.as_secs() / 60).max(1);
        let mut best = 0.0f64;
        for m in 0..=minutes {
            best = best.max(self.rate_at(mins(m)));
        }
        for p in &self.phases {
            best = best.max(phase_peak(p));
        }
        best + self.base.peak.max(self.base.trough)
    }
}

fn phase_peak(p: &Phase) -> f64 {
    match *p {
        Phase::Burst { count, over, .. } | Phase::Recurring { count, over, .. } => {
            if over.is_zero() {
                0.0
            } else {
                count as f64 / over.as_secs_f64()
            }
        }
        Phase::Ramp { from, to, .. } => from.max(to),
    }
}

/// A churning population of numbered users (or clients, or API keys): `active`
/// are present at any moment, and `churn_per_hour` new ones replace the oldest
/// every virtual hour, so each stays `active / churn_per_hour` hours and a day
/// sees `active + 24 · churn_per_hour` distinct ones. At time `t` the present
/// users are `[base(t), base(t) + active)`: who arrives is a pure function of
/// time, so every variant and every subject sees the same people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Population {
    active: u64,
    churn_per_hour: u64,
}

impl Population {
    /// `active` users present at any moment, `churn_per_hour` arriving (and as
    /// many leaving) every virtual hour.
    pub fn new(active: u64, churn_per_hour: u64) -> Self {
        Population {
            active,
            churn_per_hour,
        }
    }

    /// The first user present at `t`.
    pub fn base(&self, t: Duration) -> u64 {
        (t.as_secs_f64() / 3600.0 * self.churn_per_hour as f64) as u64
    }

    /// A uniformly chosen present user.
    pub fn pick(&self, rng: &mut Rng, t: Duration) -> u64 {
        self.base(t) + rng.below(self.active)
    }
}

/// Individual arrival times from a [`Shape`] (non-homogeneous Poisson by thinning).
#[derive(Debug, Clone)]
pub struct Arrivals {
    shape: Shape,
    rng: Rng,
    now: f64,
    bound: f64,
    end: f64,
}

impl Arrivals {
    /// Arrivals in `[0, len)` drawn from `rng`.
    pub fn new(shape: Shape, rng: Rng, len: Duration) -> Self {
        let bound = shape.max_rate(len).max(1e-9);
        Arrivals {
            shape,
            rng,
            now: 0.0,
            bound,
            end: len.as_secs_f64(),
        }
    }
}

impl Iterator for Arrivals {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        loop {
            self.now += self.rng.exp(self.bound);
            if self.now >= self.end {
                return None;
            }
            let t = Duration::from_secs_f64(self.now);
            if self.rng.unit() * self.bound <= self.shape.rate_at(t) {
                return Some(t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers_and_streams_are_independent() {
        let a: Vec<u64> = (0..5).map(|_| Rng::new(7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut x = Rng::stream(7, "joins");
        let mut y = Rng::stream(7, "joins");
        let mut z = Rng::stream(7, "spam");
        let xs: Vec<u64> = (0..8).map(|_| x.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| y.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| z.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn mix_is_the_seeding_splitmix() {
        let mut st = 41;
        assert_eq!(splitmix(&mut st), mix(41));
        assert_eq!(
            splitmix(&mut st),
            mix(41u64.wrapping_add(0x9E37_79B9_7F4A_7C15))
        );
        assert_ne!(mix(1), mix(2));
    }

    #[test]
    fn population_churns_at_its_rate() {
        let p = Population::new(1_000, 600);
        let mut rng = Rng::new(3);
        assert!((0..500).all(|_| p.pick(&mut rng, Duration::ZERO) < 1_000));
        // After an hour the first 600 have left and 600 new ones are present.
        assert_eq!(p.base(hours(1.0)), 600);
        assert!((0..500).all(|_| (600..1_600).contains(&p.pick(&mut rng, hours(1.0)))));
    }

    #[test]
    fn diurnal_hits_trough_and_peak() {
        let d = Diurnal::new(10.0, 100.0, 14.0);
        assert!((d.rate_at(hours(14.0)) - 100.0).abs() < 1e-9);
        assert!((d.rate_at(hours(2.0)) - 10.0).abs() < 1e-9);
        assert!((d.mean() - 55.0).abs() < 1e-9);
    }

    #[test]
    fn burst_adds_its_count() {
        let s = Shape::new(Diurnal::flat(0.0)).with(Phase::burst(mins(10), 6_000, mins(2)));
        let total: f64 = (0..60).map(|m| s.expected(mins(m), mins(1))).sum();
        assert!((total - 6_000.0).abs() < 1e-6, "{total}");
        assert_eq!(s.rate_at(mins(9)), 0.0);
        assert!((s.rate_at(mins(11)) - 50.0).abs() < 1e-9);
    }

    #[test]
    fn recurring_bursts_repeat() {
        let p = Phase::recurring(hours(1.0), hours(3.0), 3_600, hours(1.0));
        assert_eq!(p.rate_at(hours(0.5)), 0.0);
        assert!((p.rate_at(hours(1.5)) - 1.0).abs() < 1e-9);
        assert_eq!(p.rate_at(hours(2.5)), 0.0);
        assert!((p.rate_at(hours(4.5)) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn poisson_mean_is_right() {
        let mut r = Rng::new(3);
        for mean in [0.5, 4.0, 80.0] {
            let n = 20_000;
            let total: u64 = (0..n).map(|_| r.poisson(mean)).sum();
            let got = total as f64 / n as f64;
            assert!((got - mean).abs() < mean * 0.05 + 0.05, "{mean}: {got}");
        }
    }

    #[test]
    fn arrivals_follow_the_shape() {
        let shape = Shape::new(Diurnal::new(1.0, 9.0, 12.0));
        let got: Vec<Duration> = Arrivals::new(shape.clone(), Rng::new(5), hours(24.0)).collect();
        let expected: f64 = (0..1440).map(|m| shape.expected(mins(m), mins(1))).sum();
        let n = got.len() as f64;
        assert!((n - expected).abs() < expected * 0.03, "{n} vs {expected}");
        assert!(got.windows(2).all(|w| w[0] <= w[1]));
        let night = got.iter().filter(|t| t.as_secs() < 3 * 3600).count();
        let noon = got
            .iter()
            .filter(|t| (10 * 3600..13 * 3600).contains(&t.as_secs()))
            .count();
        assert!(noon > night * 3, "noon {noon} night {night}");
    }

    #[test]
    fn zipf_and_pareto_stay_in_range() {
        let mut r = Rng::new(9);
        let mut top = 0;
        for _ in 0..10_000 {
            let k = r.zipf(1_000, 1.0);
            assert!(k < 1_000);
            if k < 10 {
                top += 1;
            }
            let p = r.pareto(1024.0, 1.2, 262_144.0);
            assert!((1024.0..=262_144.0).contains(&p));
        }
        assert!(top > 2_000, "zipf head too light: {top}");
    }
}
