//! What the load did, counted as it happens: requests and errors (per sample and
//! in total), a latency histogram (per sample and in total), open WebSocket
//! connections and their peak. Lock-free: every goose user and connection task
//! records into the same atomics, and the sampler swaps the per-sample ones out.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::plan::PLACEHOLDERS;

/// Sub-buckets per power of two, as a power of two: 32 buckets an octave, each
/// at most 1/32 (3.1%) wide, so a percentile read at a bucket's midpoint is
/// within 1.6% of the true one — finer than the 10% by which overhead runs
/// compare p99s (4 an octave, 14–25% wide, could not tell 5% from 20%).
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Octaves up to 2^40 µs (12 days).
const BUCKETS: usize = (40 - SUB_BITS as usize + 2) * SUB as usize;

/// Below `SUB` µs each microsecond is its own bucket; above, each octave
/// `[2^b, 2^(b+1))` is cut into `SUB` equal buckets, numbered on from there.
fn bucket(us: u64) -> usize {
    if us < SUB {
        return us as usize;
    }
    let b = 63 - us.leading_zeros(); // floor(log2), ≥ SUB_BITS
    let sub = (us >> (b - SUB_BITS)) & (SUB - 1);
    let i = u64::from(b - SUB_BITS + 1) * SUB + sub;
    (i as usize).min(BUCKETS - 1)
}

/// The lower bound of a bucket, in microseconds.
fn bucket_floor(i: usize) -> f64 {
    let i = i as u64;
    if i < SUB {
        return i as f64;
    }
    let octave = i / SUB; // ≥ 1
    ((SUB + i % SUB) << (octave - 1)) as f64
}

/// A latency histogram of atomics.
#[derive(Debug)]
struct Histogram {
    counts: Vec<AtomicU64>,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn record(&self, us: u64) {
        self.counts[bucket(us)].fetch_add(1, Ordering::Relaxed);
    }

    fn take(&self) -> Vec<u64> {
        self.counts
            .iter()
            .map(|c| c.swap(0, Ordering::Relaxed))
            .collect()
    }

    fn read(&self) -> Vec<u64> {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

/// The `q` quantile (0–1) of bucket counts, in milliseconds (bucket midpoints);
/// NaN when empty.
pub fn quantile_ms(counts: &[u64], q: f64) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return f64::NAN;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            let lo = bucket_floor(i);
            let hi = if i + 1 < BUCKETS {
                bucket_floor(i + 1)
            } else {
                lo
            };
            return (lo + hi) / 2.0 / 1000.0;
        }
    }
    f64::NAN
}

/// What kind of request was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An HTTP request.
    Http,
    /// A WebSocket handshake.
    WsConnect,
    /// A WebSocket data frame (an `ask` includes its reply).
    WsFrame,
}

/// Counters shared by the load and the sampler.
#[derive(Debug)]
pub struct LoadStats {
    requests: AtomicU64,
    errors: AtomicU64,
    http: AtomicU64,
    ws_connects: AtomicU64,
    ws_frames: AtomicU64,
    /// Events the dispatcher produced.
    pub events: AtomicU64,
    /// Events dropped because every goose user was busy and the queue was full.
    pub shed: AtomicU64,
    ws_open: AtomicI64,
    ws_active: AtomicI64,
    ws_peak: AtomicI64,
    /// Distinct ids per pool the HTTP requests used within the retention
    /// ([`super::recent::RecentIds`]), indexed as [`crate::plan::PLACEHOLDERS`].
    recent: [AtomicU64; PLACEHOLDERS.len()],
    interval_requests: AtomicU64,
    interval_errors: AtomicU64,
    interval: Histogram,
    total: Histogram,
    /// The first request that failed and how (`POST /flag/g1/u2: HTTP 404`).
    first_error: std::sync::OnceLock<String>,
    /// Failed requests that reached the service's code ([`LoadStats::note_failure`]).
    failures_reached: AtomicU64,
}

/// The longest first failure kept (a server's error text can be long).
pub const FIRST_ERROR_CHARS: usize = 200;

impl Default for LoadStats {
    fn default() -> Self {
        LoadStats {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            http: AtomicU64::new(0),
            ws_connects: AtomicU64::new(0),
            ws_frames: AtomicU64::new(0),
            events: AtomicU64::new(0),
            shed: AtomicU64::new(0),
            ws_open: AtomicI64::new(0),
            ws_active: AtomicI64::new(0),
            ws_peak: AtomicI64::new(0),
            recent: std::array::from_fn(|_| AtomicU64::new(0)),
            interval_requests: AtomicU64::new(0),
            interval_errors: AtomicU64::new(0),
            interval: Histogram::new(),
            total: Histogram::new(),
            first_error: std::sync::OnceLock::new(),
            failures_reached: AtomicU64::new(0),
        }
    }
}

/// One sample's worth of load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Requests completed.
    pub requests: u64,
    /// Of which failed.
    pub errors: u64,
    /// Median latency, ms (NaN without requests).
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// WebSocket connections open now.
    pub ws_open: u64,
    /// WebSocket sessions the plan has on the target now: within their planned
    /// time (connected, not yet departing), or gone silent with their socket
    /// open (half-open) less than the run's retention ago — the plan's draw
    /// alone, whatever the target does.
    pub ws_active: u64,
    /// Distinct ids per pool ([`crate::plan::PLACEHOLDERS`]) the HTTP requests
    /// used within the retention, as the dispatcher last counted them.
    pub recent: [u64; PLACEHOLDERS.len()],
}

/// Totals for the summary.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Totals {
    /// Requests completed (HTTP requests, WebSocket handshakes and frames).
    pub requests: u64,
    /// Requests that failed (transport error, HTTP status ≥ 400, no reply).
    pub errors: u64,
    /// HTTP requests.
    pub http: u64,
    /// WebSocket handshakes attempted.
    pub ws_connects: u64,
    /// WebSocket data frames sent.
    pub ws_frames: u64,
    /// Events the plan produced.
    pub events: u64,
    /// Events dropped because the goose users could not keep up.
    pub shed: u64,
    /// Most WebSocket connections open at once (client side).
    pub peak_connections: u64,
    /// Latency percentiles over the run, ms.
    pub latency_ms: Latency,
    /// The first request that failed and how, if one did.
    pub first_error: Option<String>,
    /// Failed requests that reached the service's code (answered other than
    /// 404, 405 or 501; WebSocket frames).
    pub failures_reached: u64,
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
}

impl LoadStats {
    /// Notes how a request failed: whether it `reached` the service's code (an
    /// HTTP answer other than 404, 405 or 501; a WebSocket frame), and `what`
    /// happened, kept (one line, at most [`FIRST_ERROR_CHARS`]) if it is the
    /// first failure (`what` is called only then).
    pub fn note_failure(&self, reached: bool, what: impl FnOnce() -> String) {
        if reached {
            self.failures_reached.fetch_add(1, Ordering::Relaxed);
        }
        if self.first_error.get().is_none() {
            let text: String = what()
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(FIRST_ERROR_CHARS)
                .collect();
            let _ = self.first_error.set(text);
        }
    }

    /// Records one request.
    pub fn record(&self, kind: Kind, took: Duration, ok: bool) {
        let us = took.as_micros().min(u128::from(u64::MAX)) as u64;
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.interval_requests.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
            self.interval_errors.fetch_add(1, Ordering::Relaxed);
        }
        match kind {
            Kind::Http => &self.http,
            Kind::WsConnect => &self.ws_connects,
            Kind::WsFrame => &self.ws_frames,
        }
        .fetch_add(1, Ordering::Relaxed);
        self.interval.record(us);
        self.total.record(us);
    }

    /// A WebSocket connection opened.
    pub fn opened(&self) {
        let now = self.ws_open.fetch_add(1, Ordering::Relaxed) + 1;
        self.ws_peak.fetch_max(now, Ordering::Relaxed);
    }

    /// A WebSocket connection closed (its socket dropped).
    pub fn closed(&self) {
        self.ws_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// A WebSocket session began its planned time (connected).
    pub fn session_began(&self) {
        self.ws_active.fetch_add(1, Ordering::Relaxed);
    }

    /// A WebSocket session's planned time ended (departing, or cut short; a
    /// half-open one the run's retention later).
    pub fn session_ended(&self) {
        self.ws_active.fetch_sub(1, Ordering::Relaxed);
    }

    /// The dispatcher's latest count of ids used within the retention.
    pub fn set_recent(&self, counts: [u64; PLACEHOLDERS.len()]) {
        for (a, c) in self.recent.iter().zip(counts) {
            a.store(c, Ordering::Relaxed);
        }
    }

    /// WebSocket connections open now.
    pub fn open_now(&self) -> u64 {
        self.ws_open.load(Ordering::Relaxed).max(0) as u64
    }

    /// Requests completed so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests failed so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Why the load so far judges nothing: every request failed, none of them in
    /// the service's code (no answer, or 404, 405, 501), so the load never reached
    /// that code (a plan written for another service, a wrong `--url`). `None`
    /// before any request, and once one was answered or refused by the service
    /// itself (a rate limiter's 429s are its code at work).
    pub fn none_reached(&self) -> Option<String> {
        let requests = self.requests();
        if requests == 0
            || self.errors() < requests
            || self.failures_reached.load(Ordering::Relaxed) > 0
        {
            return None;
        }
        Some(format!(
            "every one of its {requests} requests failed (the first: {}): the plan's \
             requests do not reach this service — check the plan's paths and methods \
             against the target, and --url",
            self.first_error
                .get()
                .map(String::as_str)
                .unwrap_or("no reply")
        ))
    }

    /// Takes the counts since the previous call.
    pub fn take_interval(&self) -> Interval {
        let h = self.interval.take();
        // Sessions before connections: a session opening in between counts in
        // the connections only. (The sessions are a subset of the connections
        // until a server closes a silent one within the retention.)
        let ws_active = self.ws_active.load(Ordering::Relaxed).max(0) as u64;
        Interval {
            requests: self.interval_requests.swap(0, Ordering::Relaxed),
            errors: self.interval_errors.swap(0, Ordering::Relaxed),
            p50_ms: quantile_ms(&h, 0.5),
            p99_ms: quantile_ms(&h, 0.99),
            ws_open: self.open_now(),
            ws_active,
            recent: std::array::from_fn(|i| self.recent[i].load(Ordering::Relaxed)),
        }
    }

    /// Totals so far.
    pub fn totals(&self) -> Totals {
        let h = self.total.read();
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Totals {
            requests: r(&self.requests),
            errors: r(&self.errors),
            http: r(&self.http),
            ws_connects: r(&self.ws_connects),
            ws_frames: r(&self.ws_frames),
            events: r(&self.events),
            shed: r(&self.shed),
            peak_connections: self.ws_peak.load(Ordering::Relaxed).max(0) as u64,
            first_error: self.first_error.get().cloned(),
            failures_reached: r(&self.failures_reached),
            latency_ms: Latency {
                p50: round3(quantile_ms(&h, 0.5)),
                p90: round3(quantile_ms(&h, 0.9)),
                p99: round3(quantile_ms(&h, 0.99)),
                p999: round3(quantile_ms(&h, 0.999)),
            },
        }
    }
}

fn round3(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_quantiles_land_near() {
        let mut last = 0;
        let mut us = 0u64;
        while us < 1 << 40 {
            let b = bucket(us);
            assert!(b >= last, "{us}");
            assert!(bucket_floor(b) <= us as f64, "{us}");
            assert!((us as f64) < bucket_floor(b + 1), "{us}");
            // each bucket at most 1/32 of its floor wide (1 µs below 32 µs)
            assert!(bucket_floor(b + 1) - bucket_floor(b) <= (bucket_floor(b) / 32.0).max(1.0));
            last = b;
            us = us * 17 / 16 + 1;
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
        let s = LoadStats::default();
        for ms in 1..=100u64 {
            s.record(Kind::Http, Duration::from_millis(ms), ms != 50);
        }
        let i = s.take_interval();
        assert_eq!((i.requests, i.errors), (100, 1));
        assert!((i.p50_ms / 50.0 - 1.0).abs() < 0.016, "{}", i.p50_ms);
        assert!((i.p99_ms / 99.0 - 1.0).abs() < 0.016, "{}", i.p99_ms);
        assert_eq!(s.take_interval().requests, 0);
        assert_eq!(s.totals().requests, 100);
        s.opened();
        s.opened();
        s.closed();
        assert_eq!((s.open_now(), s.totals().peak_connections), (1, 2));
    }
}
