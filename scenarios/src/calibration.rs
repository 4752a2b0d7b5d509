//! `calibration`: proves the instrument measures what it claims.
//!
//! The subject is a plain time-to-live store that behaves like a real cache under
//! load: every request stores an item of 256 B–4 KiB for 10 minutes, so its
//! working set rises and falls with a diurnal curve (4 requests/s at 02:00, 20/s at
//! 14:00, about a million requests a day, 8–26 MB held). On top of that the harness
//! injects exactly `--leak-rate` bytes per virtual hour. The detector must read the
//! daily swing as no growth and recover the injected rate.
//!
//! One traffic kind, `requests`: muted (`--mute requests`), only the injected
//! leak is left, a leak that needs no traffic.
//!
//! Leaky twin: a load-proportional leak instead of a time-based one — the store
//! forgets to release one item in fifty (about 1.9 MB/h at this load), the shape of
//! most real leaks (seed 001's cooldown maps grow per request, not per hour).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use soak_harness::traffic::{mins, secs, Diurnal, Shape};
use soak_harness::{Ctx, Gauge, RunFuture, Scenario};
use tokio::time::Instant;

/// Requests per second at the quietest hour.
pub const TROUGH: f64 = 4.0;
/// Requests per second at the busiest hour.
pub const PEAK: f64 = 20.0;
/// How long each item lives.
pub const TTL_MINUTES: u64 = 10;
/// The leaky twin keeps one item in this many.
pub const LEAK_ONE_IN: u64 = 50;

/// The calibration scenario.
#[derive(Debug, Default)]
pub struct Calibration;

#[derive(Default)]
struct Store {
    items: VecDeque<(Instant, Box<[u8]>)>,
    bytes: usize,
    retained: Vec<Box<[u8]>>,
}

impl Scenario for Calibration {
    fn name(&self) -> &'static str {
        "calibration"
    }

    fn about(&self) -> &'static str {
        "diurnal TTL working set plus an exact --leak-rate; leaky keeps 1 item in 50"
    }

    /// Items live [`TTL_MINUTES`] minutes.
    fn retention(&self) -> Option<Duration> {
        Some(mins(TTL_MINUTES))
    }

    fn wall_guess(&self) -> Option<Duration> {
        // The slower variant's 24 h in docs/performance.md (2026-11-28).
        Some(Duration::from_millis(1200))
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a> {
        Box::pin(async move {
            let ttl = mins(TTL_MINUTES);
            let requests = ctx
                .kind("requests", Shape::new(Diurnal::new(TROUGH, PEAK, 14.0)))?
                .retains(ttl);
            let store = Rc::new(RefCell::new(Store::default()));
            // Room for twice the peak working set: the ring never regrows, so the
            // only heap growth is what the items themselves hold.
            let room = (PEAK * ttl.as_secs_f64() * 2.0) as usize;
            store.borrow_mut().items.reserve(room);
            let s = store.clone();
            ctx.gauge(Gauge::new("items", move || s.borrow().items.len() as f64))?;
            let s = store.clone();
            ctx.gauge(Gauge::new("item_bytes", move || s.borrow().bytes as f64))?;
            let s = store.clone();
            ctx.gauge(Gauge::new("retained", move || {
                s.borrow().retained.len() as f64
            }))?;

            let mut rng = ctx.rng("requests");
            let mut ticker = ctx.ticker(secs(1));
            let mut served = 0u64;
            while let Some(t) = ticker.next().await {
                let now = Instant::now();
                let n = requests.count(&mut rng, t, secs(1));
                let mut st = store.borrow_mut();
                for _ in 0..n {
                    let size = rng.between(256, 4096) as usize;
                    let item = vec![(served & 0xff) as u8 | 1; size].into_boxed_slice();
                    served += 1;
                    if ctx.leaky() && served % LEAK_ONE_IN == 0 {
                        // LEAK: a reference kept past the item's life, the per-request
                        // leak of seed 001 ("entries are added but never removed").
                        st.retained.push(item.clone());
                    }
                    st.bytes += size;
                    st.items.push_back((now + ttl, item));
                }
                while st.items.front().is_some_and(|(due, _)| *due <= now) {
                    if let Some((_, item)) = st.items.pop_front() {
                        st.bytes -= item.len();
                    }
                }
            }
            Ok(())
        })
    }
}
