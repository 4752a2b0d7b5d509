//! One run's heap session with a Node target: sampling started before the load,
//! the JS heap's used size at every sample, and every so often a *cycle* — a
//! full collection and the live size right after it, and on every
//! [`PROFILE_EVERY`]th cycle the sampling profile — whose spacing keeps the
//! target's pauses under a share of the run.
//!
//! Why cycles: between collections the used size counts garbage that V8 has not
//! reclaimed yet, a sawtooth of megabytes that hides a slow leak; and a profile
//! read between collections still holds samples of dead objects. Right after a
//! full collection both are the live heap. The collection is V8's `gc()`, one
//! mark-compact, reached through the inspector without touching the target's
//! globals ([`Inspector::gc_function`]); `HeapProfiler.collectGarbage`, V8's
//! low-memory notification (several collections, compiled code flushed and
//! compiled again), paused the Node fixture twice as long for the same live size
//! (25.6 against 11.7 ms on average, 5,163 against 5,173 KiB) and is kept only for
//! a target where `gc()` cannot be had. The size is read inside the same call, so
//! no request the target serves in between counts its garbage. A collection
//! still pauses the target (milliseconds to tens of milliseconds on a heap of a
//! few MiB, growing with the heap), so the next cycle waits until the pauses so
//! far stay under [`PAUSE_SHARE`] of the time (and at
//! least [`MIN_GAP`]): each cycle's measured pause sets the gap after it, so a
//! growing heap is collected less often.
//!
//! The pause is not all a cycle costs: a full collection clears the dead objects
//! V8's optimised code refers to weakly and throws that code away ("weak
//! objects"), which the target then runs unoptimised and compiles again — 90 to
//! 255 ms of the fixture's CPU per cycle against a 6–10-ms pause, more the longer
//! the gap (docs/performance.md, sessions 6, 7 and 10), a cost the probe cannot
//! see from outside.
//! So no run gets more cycles than its verdict needs: the judged window (the run
//! after its warm-up) is split into about [`CYCLES_PER_RUN`] gaps at most up to a
//! 15-minute run's ([`FULL_WINDOW`]), and a longer window into only as many as give
//! its slope the same precision, at least [`MIN_CYCLES`]: a 5-minute run is read
//! as often as its pauses allow (every ~3 s), a 30-minute run about once a minute
//! — and what cycles cost the target's latency goes with how often they come, not
//! how many there are. And the verdict needs its
//! points: the gap never exceeds the window over [`MIN_CYCLES`], so a heap whose
//! collections grow expensive (a leak) pauses the target more than
//! [`PAUSE_SHARE`] rather than leaving its growth unjudged.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::inspector::{Inspector, InspectorError, InspectorUrl, LiveHeap, TargetMap};
use crate::node_heap::{NodeSites, Profile, SiteColumn};

/// Share of wall time the cycles' pauses may take (collection plus profile). A
/// request that arrives during a pause waits for it, so pauses taking 1% of the
/// time hold up about 1% of the requests by up to a pause: the p99 itself (it
/// doubled at 1%: docs/performance.md). A quarter of that keeps the held-up
/// requests beyond the p99.
pub const PAUSE_SHARE: f64 = 0.0025;

/// The shortest time between two cycles.
pub const MIN_GAP: Duration = Duration::from_secs(1);

/// Cycles per profile poll: the first cycle and every so many after it read the
/// sampling profile too. A poll pauses the target longer than the collection
/// (it builds the whole call tree), and the sites' fits need fewer points than
/// the judged heap's — but enough: a run gets at least [`MIN_CYCLES`] cycles
/// after its warm-up, so every 2nd gives its sites at least 17 points (every 4th
/// gave a 5-minute run 10, under the fit's 12, and a leaky run's message named no
/// site).
pub const PROFILE_EVERY: u64 = 2;

/// Fewest cycles the judged window (the run after its warm-up) gets: every 2nd
/// reads the profile: 17 reads for the sites' fits (12 needed, and a few
/// lost to a slow poll or a late first read).
pub const MIN_CYCLES: f64 = 34.0;

/// Most cycles the judged window gets when they are cheap: the window over this
/// is the shortest automatic gap a run's length allows (beside [`MIN_GAP`]).
/// A 5-minute run keeps what its pauses allow (a cycle every ~3 s: its 240-s
/// window over 120 is 2 s): its verdict needs them — the fixed cooldown fixture's
/// runs with 67–79 cycles in the window read its growth to ± 0.34–0.41 MiB/wall
/// h, with a 3-s floor (59–63 cycles) ± 0.42–0.52, and every 2nd point alone
/// ± 0.40–0.58 (docs/performance.md, session 10). A longer run needs no more
/// points than that: its standard error falls with its length (see
/// [`FULL_WINDOW`]).
pub const CYCLES_PER_RUN: f64 = 120.0;

/// The longest judged window that gets up to [`CYCLES_PER_RUN`] cycles, seconds
/// (a 15-minute run's: the catalog fixture's verdict needs them there,
/// docs/performance.md). A longer window gets fewer, as many as give its slope
/// the precision a window this long gets from [`CYCLES_PER_RUN`] — the slope's
/// standard error goes as 1 / (window · √cycles), so the count falls with the
/// window's square — and never fewer than [`MIN_CYCLES`]: a 20-minute run gets
/// ~75, a 30-minute run 34 (one every ~51 s). What each cycle costs the target's
/// latency depends on how often cycles come (V8 throws away optimised code at
/// every full collection and the requests after it run slower until it is
/// compiled again), so a long run's p99 pays for a cycle a minute, not one every
/// 15 s (docs/performance.md, session 16).
pub const FULL_WINDOW: f64 = 900.0;

/// V8's default sampling interval, bytes: one sample per 32 KiB allocated.
pub const SAMPLE_BYTES: u64 = 32 * 1024;

/// Scripts asked about their source maps in one profile poll, at most: each is
/// one call into the target, once per script, in the warm-up only (a service's
/// modules load at its start; the rest wait for the next poll).
pub const MAPS_PER_POLL: usize = 256;

/// Longest wait for one inspector call (a full collection of a large heap).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One sample's readings, bytes (NaN: not read this sample).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The JS heap's used size (garbage included).
    pub used: f64,
    /// The live size right after a collection, compiled code left out (the
    /// data: objects the service's code holds): only on samples that ran a cycle.
    pub live: f64,
    /// The compiled code's part of the heap right after a collection (V8's code
    /// and trusted spaces: [`crate::inspector::LiveHeap::code`]): on the same
    /// samples as `live`; NaN where the collector could
    /// not tell it apart (then `live` counts it).
    pub code: f64,
}

/// When cycles run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cadence {
    /// As often as keeps the pauses under [`PAUSE_SHARE`], at least [`MIN_GAP`] apart.
    Auto,
    /// Every so many seconds, whatever they cost.
    Every(f64),
}

/// Time spent in each kind of call, milliseconds.
#[derive(Debug, Clone, Default, PartialEq)]
struct Timings(Vec<f64>);

impl Timings {
    fn json(&self) -> Value {
        let n = self.0.len();
        // + 0.0: an empty sum is −0.0, written "-0.0".
        let mean = self.0.iter().sum::<f64>() / n.max(1) as f64 + 0.0;
        let max = self.0.iter().copied().fold(0.0, f64::max);
        json!({ "count": n, "mean_ms": round(mean), "max_ms": round(max) })
    }

    fn total_seconds(&self) -> f64 {
        self.0.iter().sum::<f64>() / 1e3
    }
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// A heap session over one inspector connection.
#[derive(Debug)]
pub struct HeapSession {
    insp: Inspector,
    /// V8's `gc()` in the target (a remote object id), when it could be had.
    gc: Option<String>,
    /// The target's function telling a script's source map, once made.
    map_fn: Option<String>,
    /// Until when (seconds into the load) the target is asked for maps.
    maps_until: f64,
    /// Time the asking took, milliseconds (the target's, counted as pause).
    map_calls: Timings,
    sites: NodeSites,
    sample_bytes: u64,
    cadence: Cadence,
    gaps: Gaps,
    next_cycle: f64,
    cycles: u64,
    sample_times: Vec<f64>,
    collections: Timings,
    polls: Timings,
    failed: Option<(f64, InspectorError)>,
    /// Sites folded into their callers' by [`HeapSession::site_series`].
    folds: Vec<(String, String)>,
}

impl HeapSession {
    /// Connects to `url`; paths in sites are shown relative to `base`; the
    /// verdict is fitted on `window` seconds (the run after its warm-up).
    pub async fn connect(
        url: &InspectorUrl,
        base: Option<std::path::PathBuf>,
        cadence: Cadence,
        window: f64,
    ) -> Result<Self, InspectorError> {
        let insp = Inspector::connect(url, Duration::from_secs(10)).await?;
        let gc = insp.gc_function(CALL_TIMEOUT).await.ok();
        Ok(HeapSession {
            insp,
            gc,
            map_fn: None,
            maps_until: 0.0,
            map_calls: Timings::default(),
            sites: NodeSites::new(base),
            sample_bytes: SAMPLE_BYTES,
            cadence,
            gaps: Gaps::of(window),
            next_cycle: 0.0,
            cycles: 0,
            sample_times: Vec::new(),
            collections: Timings::default(),
            polls: Timings::default(),
            failed: None,
            folds: Vec::new(),
        })
    }

    /// Starts V8's sampling heap profiler (call just before the load).
    pub async fn start(&mut self) -> Result<(), InspectorError> {
        self.insp
            .start_sampling(self.sample_bytes, CALL_TIMEOUT)
            .await
    }

    /// One sample at `seconds` into the load: the used size, and a cycle when one
    /// is due (the first sample runs one).
    pub async fn sample(&mut self, seconds: f64) -> Reading {
        self.sample_times.push(seconds);
        let mut r = Reading {
            used: f64::NAN,
            live: f64::NAN,
            code: f64::NAN,
        };
        if self.failed.is_some() {
            return r;
        }
        match self.read(seconds, &mut r).await {
            Ok(()) => {}
            Err(e) => self.failed = Some((seconds, e)),
        }
        r
    }

    async fn read(&mut self, seconds: f64, r: &mut Reading) -> Result<(), InspectorError> {
        r.used = self.insp.heap_usage(CALL_TIMEOUT).await?.used;
        if seconds < self.next_cycle {
            return Ok(());
        }
        let at = Instant::now();
        let heap = self.collect().await?;
        let collected = at.elapsed();
        // f64::max ignores NaN: a collector that cannot tell the code apart
        // leaves it in `live`.
        r.live = heap.used - heap.code.max(0.0);
        r.code = heap.code;
        self.collections.0.push(collected.as_secs_f64() * 1e3);
        let mut pause = collected.as_secs_f64();
        if self.cycles % PROFILE_EVERY == 0 {
            let at = Instant::now();
            let profile = self.insp.sampling_profile(CALL_TIMEOUT).await?;
            let polled = at.elapsed();
            self.polls.0.push(polled.as_secs_f64() * 1e3);
            pause += polled.as_secs_f64();
            if seconds < self.maps_until {
                pause += self.ask_maps(&profile).await?;
            }
            self.sites.record(seconds, &profile);
        }
        self.cycles += 1;
        self.next_cycle = seconds + next_gap(self.cadence, pause, self.gaps);
        Ok(())
    }

    /// Asks the target for source maps until `seconds` into the load (the
    /// warm-up): Node builds and keeps a parsed map for every script asked
    /// about (`module.findSourceMap`), memory in the heap the verdict judges,
    /// so the step lands where the fit does not look.
    pub fn ask_maps_until(&mut self, seconds: f64) {
        self.maps_until = seconds;
    }

    /// Asks the target for the source maps of `profile`'s scripts that have
    /// none on disk ([`crate::node_heap::Namer::unmapped`]), at most
    /// [`MAPS_PER_POLL`] a poll: the seconds the calls took (the target's
    /// time, a pause). A target that keeps no maps, cannot say, or does not
    /// answer in time is not asked again; a script it cannot answer for is as
    /// one without a map. Only a closed inspector is an error.
    async fn ask_maps(&mut self, profile: &Profile) -> Result<f64, InspectorError> {
        // The scripts' own files are read here, before the target's clock.
        let urls = self.sites.namer().unmapped(profile, MAPS_PER_POLL);
        if urls.is_empty() {
            return Ok(0.0);
        }
        let at = Instant::now();
        let asked = self.ask(urls).await;
        let took = at.elapsed().as_secs_f64();
        self.map_calls.0.push(took * 1e3);
        asked.map(|()| took)
    }

    async fn ask(&mut self, urls: Vec<String>) -> Result<(), InspectorError> {
        let f = match &self.map_fn {
            Some(f) => f.clone(),
            None => match self.insp.map_function(CALL_TIMEOUT).await {
                Ok(f) => self.map_fn.insert(f).clone(),
                Err(InspectorError::Closed) => return Err(InspectorError::Closed),
                Err(_) => {
                    self.sites.namer().target_keeps_none();
                    return Ok(());
                }
            },
        };
        for url in urls {
            let answer = match self.insp.source_map(&f, &url, CALL_TIMEOUT).await {
                Err(InspectorError::Closed) => return Err(InspectorError::Closed),
                // A target too slow to answer is not asked again (each call
                // could wait as long).
                Err(InspectorError::Timeout { .. }) => TargetMap::Off,
                Err(_) => TargetMap::None,
                Ok(a) => a,
            };
            let namer = self.sites.namer();
            match answer {
                TargetMap::Off => {
                    namer.target_keeps_none();
                    break;
                }
                TargetMap::None => namer.give_map(&url, None),
                TargetMap::Json(json) => namer.give_map(&url, Some(&json)),
            }
        }
        Ok(())
    }

    /// A full collection and the heap's sizes right after it: `gc()`, or the
    /// low-memory notification where `gc()` cannot be had (or stops working;
    /// then the code's part is not told apart: NaN).
    async fn collect(&mut self) -> Result<LiveHeap, InspectorError> {
        if let Some(gc) = &self.gc {
            match self.insp.full_gc(gc, CALL_TIMEOUT).await {
                Err(InspectorError::Malformed { .. } | InspectorError::Protocol { .. }) => {
                    self.gc = None
                }
                done => return done,
            }
        }
        self.insp.collect_garbage(CALL_TIMEOUT).await?;
        Ok(LiveHeap {
            used: self.insp.heap_usage(CALL_TIMEOUT).await?.used,
            code: f64::NAN,
        })
    }

    /// When and why the inspector stopped answering, if it did.
    pub fn failed(&self) -> Option<(f64, &InspectorError)> {
        self.failed.as_ref().map(|(t, e)| (*t, e))
    }

    /// The per-site series.
    pub fn sites(&self) -> &NodeSites {
        &self.sites
    }

    /// Each site's live bytes at every sample, NaN where no profile was read,
    /// with its frames: `(frames, values)` per site, in order of first appearance;
    /// a site whose bytes moved into its caller's (V8 inlined it) is folded into
    /// it, judged on the samples from `from` seconds on ([`NodeSites::folded`]:
    /// the folds show in [`HeapSession::facts`]).
    pub fn site_series(&mut self, from: f64) -> Vec<(Vec<String>, Vec<f64>)> {
        let (columns, folds) = self.sites.folded(from);
        self.folds = folds;
        per_sample(self.sites.times(), &columns, &self.sample_times)
    }

    /// Facts for the summary: the sampling settings and what the cycles cost.
    pub fn facts(&self, load_seconds: f64) -> Value {
        let paused = self.collections.total_seconds()
            + self.polls.total_seconds()
            + self.map_calls.total_seconds();
        json!({
            "sample_bytes": self.sample_bytes,
            "cadence": match self.cadence {
                Cadence::Auto => json!("auto"),
                Cadence::Every(s) => json!(s),
            },
            "collector": if self.gc.is_some() { "gc()" } else { "HeapProfiler.collectGarbage" },
            "collections": self.collections.json(),
            "profile_polls": self.polls.json(),
            "source_map_calls": self.map_calls.json(),
            "sites": self.sites.columns().len(),
            "folded_sites": self.folds.iter()
                .map(|(site, into)| json!({ "site": site, "into": into }))
                .collect::<Vec<_>>(),
            "pause_share": (load_seconds > 0.0).then(|| (paused / load_seconds * 1e5).round() / 1e5),
            "inspector_closed_at_seconds": self.failed.as_ref().map(|(t, _)| round(*t)),
            "inspector_error": self.failed.as_ref().map(|(_, e)| e.to_string()),
        })
    }

    /// Stops sampling and closes the session (the target keeps running); with
    /// `close_inspector` (soak opened it), the target's inspector too.
    pub async fn close(self, close_inspector: bool) {
        if self.failed.is_none() {
            let _ = self.insp.stop_sampling(Duration::from_secs(5)).await;
        }
        // Even after a failed call: the inspector may still answer.
        if close_inspector && !self.insp.is_closed() {
            let _ = self
                .insp
                .close_inspector_later(Duration::from_secs(5))
                .await;
        }
        self.insp.close().await;
    }
}

/// The bounds of an automatic gap for a judged window, seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gaps {
    /// The window over [`CYCLES_PER_RUN`] (never under [`MIN_GAP`]).
    pub shortest: f64,
    /// The window over [`MIN_CYCLES`].
    pub longest: f64,
}

impl Gaps {
    /// The bounds for a judged window of `window` seconds.
    pub fn of(window: f64) -> Gaps {
        let floor = MIN_GAP.as_secs_f64();
        Gaps {
            shortest: (window / most_cycles(window)).max(floor),
            longest: (window / MIN_CYCLES).max(floor),
        }
    }
}

/// Most cycles a judged window of `window` seconds gets: [`CYCLES_PER_RUN`] up to
/// [`FULL_WINDOW`], then fewer with the window's square, down to [`MIN_CYCLES`].
fn most_cycles(window: f64) -> f64 {
    if window <= FULL_WINDOW {
        return CYCLES_PER_RUN;
    }
    (CYCLES_PER_RUN * (FULL_WINDOW / window).powi(2)).max(MIN_CYCLES)
}

/// The time to the next cycle after one that paused the target `pause` seconds:
/// when automatic, as long as keeps the pauses under [`PAUSE_SHARE`], within
/// `gaps`.
pub fn next_gap(cadence: Cadence, pause: f64, gaps: Gaps) -> f64 {
    match cadence {
        Cadence::Every(s) => s,
        Cadence::Auto => (pause / PAUSE_SHARE).max(gaps.shortest).min(gaps.longest),
    }
}

/// Spreads the polled rows over the samples: a row recorded at a sample's time
/// lands on that sample, every other sample is NaN.
fn per_sample(
    rows: &[f64],
    columns: &[SiteColumn],
    sample_times: &[f64],
) -> Vec<(Vec<String>, Vec<f64>)> {
    // Sample index of each kept row (rows are recorded at sample times, in order).
    let mut at = Vec::with_capacity(rows.len());
    let mut i = 0;
    for t in rows {
        while i < sample_times.len() && sample_times[i] < *t {
            i += 1;
        }
        at.push((i < sample_times.len() && sample_times[i] == *t).then_some(i));
    }
    columns
        .iter()
        .map(|c| {
            let mut v = vec![f64::NAN; sample_times.len()];
            for (r, s) in at.iter().enumerate() {
                if let Some(s) = s {
                    v[*s] = c.values[r];
                }
            }
            (c.frames.clone(), v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_heap::{CallFrame, Profile, ProfileNode};

    #[test]
    fn a_run_at_the_cycle_floor_reads_enough_profiles_for_its_sites() {
        // A run gets at least MIN_CYCLES cycles after its warm-up; its sites are
        // fitted on the profile reads among them, and a fit needs MIN_POINTS.
        let reads = MIN_CYCLES as u64 / PROFILE_EVERY;
        assert!(
            reads >= soak_harness::growth::MIN_POINTS as u64 + 5,
            "{reads}"
        );
    }

    #[test]
    fn cycles_are_spaced_by_their_cost() {
        // A 30-minute run's window: 34 cycles (one every ~51 s) — the precision a
        // 15-minute window gets from 120 would take 32.
        let long = Gaps::of(1740.0);
        assert!((long.shortest - 1740.0 / 34.0).abs() < 1e-9);
        assert_eq!(long.shortest, long.longest);
        // A 20-minute run's (1,140 s): 120 · (900 / 1,140)² = 74.8 cycles at most.
        let mid = Gaps::of(1140.0);
        assert!((mid.shortest - 1140.0 / 74.792_243_767_313_02).abs() < 1e-6);
        assert!((mid.longest - 1140.0 / 34.0).abs() < 1e-9);
        // Up to a 15-minute run's window, up to 120 (one every 7.5 s).
        assert_eq!(Gaps::of(900.0).shortest, 7.5);
        // A 30 ms pause: 12 s to the next (0.25% of the time) in a 10-minute
        // window, but a 30-minute run needs no cycle more often than every ~51 s.
        assert!((next_gap(Cadence::Auto, 0.030, Gaps::of(600.0)) - 12.0).abs() < 1e-9);
        assert_eq!(next_gap(Cadence::Auto, 0.030, long), long.shortest);
        assert_eq!(next_gap(Cadence::Auto, 0.001, long), long.shortest);
        // A 5-minute run's window (240 s): its pauses set the gap (an 8-ms
        // collection: 3.2 s), never under 2 s, never over 240 / 34 s.
        let short = Gaps::of(240.0);
        assert!((next_gap(Cadence::Auto, 0.008, short) - 3.2).abs() < 1e-9);
        assert_eq!(next_gap(Cadence::Auto, 0.001, short), 2.0);
        // A large heap's 600 ms collection: four minutes, unless the judged window
        // needs more points (4 minutes: 34 cycles, one every ~7 s).
        assert!((next_gap(Cadence::Auto, 0.6, short) - 240.0 / 34.0).abs() < 1e-9);
        // In a long window its 34 cycles are further apart than the pause asks.
        assert!((next_gap(Cadence::Auto, 0.6, Gaps::of(9600.0)) - 9600.0 / 34.0).abs() < 1e-9);
        // Never under MIN_GAP, however short the window.
        assert_eq!(next_gap(Cadence::Auto, 0.6, Gaps::of(20.0)), 1.0);
        assert_eq!(next_gap(Cadence::Every(5.0), 0.6, short), 5.0);
    }

    #[test]
    fn polled_rows_land_on_their_samples() {
        let mut sites = NodeSites::new(None);
        let p = |b| Profile {
            head: ProfileNode {
                call_frame: CallFrame {
                    function_name: "(root)".into(),
                    url: String::new(),
                    line_number: -1,
                    column_number: -1,
                },
                self_size: 0.0,
                children: vec![ProfileNode {
                    call_frame: CallFrame {
                        function_name: "f".into(),
                        url: "/a.js".into(),
                        line_number: 0,
                        column_number: 0,
                    },
                    self_size: b,
                    children: vec![],
                }],
            },
            samples: 3,
        };
        sites.record(1.0, &p(10.0));
        sites.record(4.0, &p(40.0));
        assert_eq!(sites.live_samples(), 3);
        let s = per_sample(sites.times(), sites.columns(), &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].0, vec!["f (/a.js:1)"]);
        let v = &s[0].1;
        assert_eq!((v[0], v[3]), (10.0, 40.0));
        assert!(v[1].is_nan() && v[2].is_nan() && v[4].is_nan());
    }
}
