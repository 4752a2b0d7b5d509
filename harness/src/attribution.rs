//! Growth per allocation site: the sampler's per-site series, symbolised, trimmed
//! to the user's and our code, merged by trimmed stack, and each fitted with the
//! heap's growth model (same load covariates, same warm-up), so a failing heap
//! names the call site whose live bytes grow, how fast, and with what confidence.
//!
//! Works from data alone: [`fit`] takes the saved `sites.csv`, `samples.csv` (for
//! the load) and the frames listed in `summary.json`, so `soak sites DIR`
//! reproduces the table of a saved run.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::frames;
use crate::growth;
use crate::samples::Samples;
use crate::sites::{self, SiteSeries};
use crate::timebase::TimeBase;
use crate::units::bytes_text;
use crate::verdict::ResourceVerdict;

/// Sites kept per run (in `sites.csv` and the summary), fastest growing first.
pub const SAVED_SITES: usize = 20;

/// How a run's sites were sampled: enough to reproduce the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteSampling {
    /// Mean sampling interval, bytes (`--sample-bytes`).
    pub sample_bytes: u64,
    /// Most frames captured per sample.
    pub frame_depth: usize,
    /// Samples taken during the run.
    pub samples: u64,
    /// Samples that could not be placed in the sampler's arena (served unsampled).
    pub missed: u64,
    /// Distinct sites (after trimming) with sampled bytes live during the run.
    pub sites: usize,
    /// The per-site series file next to the summary.
    pub file: String,
    /// The resource whose bytes the sites split (absent: `heap`).
    #[serde(default = "heap", skip_serializing_if = "is_heap")]
    pub resource: String,
}

fn heap() -> String {
    "heap".to_string()
}

fn is_heap(r: &str) -> bool {
    r == "heap"
}

/// One allocation site's growth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteGrowth {
    /// Its column in `sites.csv` (`s1`, `s2`, … in the order of this list).
    pub id: String,
    /// Stack frames trimmed to the user's and our code, innermost first.
    pub frames: Vec<String>,
    /// Estimated growth of the site's live bytes per virtual hour.
    pub growth_bytes_per_hour: f64,
    /// Its standard error (sampling noise included).
    pub growth_stderr_bytes_per_hour: f64,
    /// Growth over the late half of the window.
    pub late_growth_bytes_per_hour: f64,
    /// This site's growth over the heap's, when the heap grew.
    pub share_of_heap_growth: Option<f64>,
    /// Estimated live bytes at the last sample.
    pub live_bytes_at_end: f64,
    /// Highest estimated live bytes sampled.
    pub peak_live_bytes: f64,
    /// Whether this site alone grows past the heap budget (same test as the heap).
    pub past_budget: bool,
}

/// What attribution adds to a run: the sampling settings, the sites and their series.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteReport {
    /// How the sites were sampled.
    pub sampling: SiteSampling,
    /// Saved sites, fastest growing first.
    pub sites: Vec<SiteGrowth>,
    /// `sites.csv`: `virtual_seconds` then one column per saved site.
    pub series: Samples,
}

/// A program's entry point (`main`, `soak::main`): it calls the harness, it is
/// not a site.
fn entry_point(frame: &str) -> bool {
    let name = frame.rfind(" (").map_or(frame, |i| &frame[..i]);
    name == "main" || name.ends_with("::main")
}

/// The harness's run loop and command line: what calls a scenario.
const DRIVER: [&str; 2] = ["harness/src/run.rs", "harness/src/cli.rs"];

/// The C library's frames carry paths relative to its own build (`./csu/…`).
fn c_library(frame: &str) -> bool {
    frames::location(frame).is_some_and(|l| l.starts_with("./") || l.starts_with("../"))
}

/// `name (path:line:col)` → `name (path:line)`: columns only split one call line
/// into several sites.
fn without_column(frame: &str) -> String {
    match (frame.rfind(" ("), frames::location(frame)) {
        (Some(open), Some(loc)) => match loc.rsplit_once(':') {
            Some((head, col)) if head.contains(':') && col.parse::<u32>().is_ok() => {
                format!("{} ({head})", &frame[..open])
            }
            _ => frame.to_string(),
        },
        _ => frame.to_string(),
    }
}

/// The frames a site shows: [`frames::trim`] (the user's code, else the
/// harness's, never the allocator's plumbing) over the stack without its entry
/// point and C-library frames, columns dropped. `keep` adds prefixes as
/// `--dhat-keep` does.
pub fn trim(raw: &[String], keep: &[String]) -> Vec<String> {
    let candidates: Vec<&str> = raw
        .iter()
        .map(String::as_str)
        .filter(|f| !entry_point(f) && !c_library(f) && !f.starts_with("__rust_"))
        .collect();
    // Frames outward of the harness's run loop called the run (a test, `main`):
    // they are not where anything was allocated. The injector's own frame in the
    // run loop stays available to the fallback.
    let driver = |f: &str| DRIVER.iter().any(|d| f.contains(d));
    let inner: Vec<&str> = match candidates.iter().position(|f| driver(f)) {
        Some(cut)
            if cut > 0
                && !frames::trim(&candidates[..cut], keep).is_empty()
                && candidates[..cut].iter().any(|f| frames::is_own(f, keep)) =>
        {
            candidates[..cut].to_vec()
        }
        Some(cut) => candidates[cut..]
            .iter()
            .copied()
            .filter(|f| driver(f) || !frames::is_own(f, keep))
            .collect(),
        None => candidates,
    };
    frames::trim(&inner, keep)
        .iter()
        .map(|f| without_column(f))
        .collect()
}

/// Load per site row: the samples' `load_events` summed over each row's interval
/// (the same values when sites were recorded at every sample).
fn load_at(samples: &Samples, site_hours: &[f64]) -> Vec<f64> {
    let t = samples.hours();
    let l = samples.column("load_events").unwrap_or_default();
    let mut out = Vec::with_capacity(site_hours.len());
    let mut i = 0;
    for &s in site_hours {
        let mut sum = 0.0;
        while i < t.len() && t[i] <= s + 1e-9 / 3600.0 {
            sum += l.get(i).copied().filter(|v| v.is_finite()).unwrap_or(0.0);
            i += 1;
        }
        out.push(sum);
    }
    out
}

/// Variance of a growth estimate from sampling alone: a site growing `b` bytes/h
/// gains about `b·w/mean` samples over `w` hours, each standing for about `mean`
/// bytes, so its live estimate is a compound Poisson process, whose least-squares
/// slope has variance `6/5 · mean · b / w` (an upper bound: large blocks, sampled
/// almost surely, add less). The growth model's own error, computed from the
/// residuals, does not see this noise when the series is a sparse staircase.
fn sampling_variance(per_hour: f64, window_hours: f64, sample_bytes: u64) -> f64 {
    if window_hours <= 0.0 {
        return 0.0;
    }
    1.2 * sample_bytes as f64 * per_hour.max(0.0) / window_hours
}

/// Fits every site column of `series` (a `sites.csv` table) against the run's
/// load, fastest growing first. `frames` gives each column's frames by id;
/// `heap_growth` is the heap's estimate (for shares) when it grew; `sample_bytes`
/// the sampling interval (its noise is added to each error).
pub fn fit(
    series: &Samples,
    samples: &Samples,
    frames: &BTreeMap<String, Vec<String>>,
    fit: &FitSettings,
) -> Vec<SiteGrowth> {
    let FitSettings {
        warmup_hours,
        budget_per_hour,
        heap_growth,
        sample_bytes,
        time_base,
        ..
    } = *fit;
    let hours = series.hours();
    let load = load_at(samples, &hours);
    let mut out: Vec<SiteGrowth> = series
        .columns()
        .iter()
        .skip(1)
        .filter_map(|id| {
            let y = series.column(id)?;
            let est = growth::estimate(&hours, &y, &load, warmup_hours, time_base).map(|mut e| {
                let w = e.to_hours - e.from_hours;
                e.stderr =
                    (e.stderr.powi(2) + sampling_variance(e.per_hour, w, sample_bytes)).sqrt();
                e.late_stderr = (e.late_stderr.powi(2)
                    + sampling_variance(e.late_per_hour, w / 2.0, sample_bytes))
                .sqrt();
                e
            });
            let finite = y.iter().copied().filter(|v| v.is_finite());
            let per_hour = est.map(|e| e.per_hour).unwrap_or(0.0);
            Some(SiteGrowth {
                id: id.clone(),
                frames: frames.get(id).cloned().unwrap_or_default(),
                growth_bytes_per_hour: per_hour,
                growth_stderr_bytes_per_hour: est.map(|e| e.stderr).unwrap_or(0.0),
                late_growth_bytes_per_hour: est.map(|e| e.late_per_hour).unwrap_or(0.0),
                share_of_heap_growth: heap_growth.filter(|h| *h > 0.0).map(|h| per_hour / h),
                live_bytes_at_end: y.last().copied().unwrap_or(0.0),
                peak_live_bytes: finite.fold(0.0, f64::max),
                past_budget: est.is_some_and(|e| e.exceeds(budget_per_hour)),
            })
        })
        .collect();
    out.sort_by(|a, b| b.growth_bytes_per_hour.total_cmp(&a.growth_bytes_per_hour));
    out
}

/// What a site's fit needs besides the data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitSettings<'a> {
    /// Hours left out at the start (the heap's warm-up).
    pub warmup_hours: f64,
    /// A site past this growth per hour is `past_budget` (the heap's budget).
    pub budget_per_hour: f64,
    /// The heap's growth per hour when it grew, for shares.
    pub heap_growth: Option<f64>,
    /// The mean sampling interval, bytes.
    pub sample_bytes: u64,
    /// Extra frame prefixes to keep (`--dhat-keep`).
    pub keep: &'a [String],
    /// The run's clock (the fit's load covariates follow the traffic's day).
    pub time_base: TimeBase,
}

impl<'a> FitSettings<'a> {
    /// The settings for the sites of `resource` (the heap, or a live run's heap
    /// probe's) in a run with this warm-up on clock `time_base`: its budget, its
    /// growth when it grew (for shares). A finished run and `soak sites` both
    /// build them here.
    pub fn new(
        warmup_hours: f64,
        time_base: TimeBase,
        resource: Option<&ResourceVerdict>,
        sample_bytes: u64,
        keep: &'a [String],
    ) -> Self {
        FitSettings {
            warmup_hours,
            budget_per_hour: resource.and_then(|r| r.spec.budget_per_hour).unwrap_or(0.0),
            heap_growth: resource.filter(|r| r.grew()).map(|r| r.per_hour()),
            sample_bytes,
            keep,
            time_base,
        }
    }
}

/// Attributes a finished run: symbolises and trims every recorded site, merges
/// sites whose trimmed stacks are equal, fits each, and keeps the
/// [`SAVED_SITES`] fastest growing.
pub fn attribute(series: &SiteSeries, samples: &Samples, settings: &FitSettings) -> SiteReport {
    let mut cache = HashMap::new();
    let mut merged: BTreeMap<Vec<String>, Vec<f64>> = BTreeMap::new();
    for col in &series.columns {
        let raw = sites::symbolize(&col.frames, &mut cache);
        let key = trim(&raw, settings.keep);
        let sum = merged
            .entry(key)
            .or_insert_with(|| vec![0.0; series.times.len()]);
        for (s, v) in sum.iter_mut().zip(&col.values) {
            *s += v;
        }
    }
    let sampling = SiteSampling {
        sample_bytes: series.sample_bytes,
        frame_depth: series.frame_depth,
        samples: series.samples,
        missed: series.missed,
        sites: merged.len(),
        file: SITES_FILE.to_string(),
        resource: heap(),
    };
    let time = Timeline {
        column: "virtual_seconds",
        seconds: &series.times,
    };
    rank(&merged, time, sampling, samples, settings)
}

/// The time column of a site table: its name (`virtual_seconds`, or a live run's
/// `wall_seconds`) and each row's seconds.
#[derive(Debug, Clone, Copy)]
pub struct Timeline<'a> {
    /// The column's name.
    pub column: &'a str,
    /// Seconds of each row.
    pub seconds: &'a [f64],
}

/// Fits every site of `merged` (display frames → live bytes at each row of
/// `time`), keeps the [`SAVED_SITES`] fastest growing and their series: what a
/// virtual run's sampler and a live run's heap probe both end with.
pub fn rank(
    merged: &BTreeMap<Vec<String>, Vec<f64>>,
    time: Timeline<'_>,
    sampling: SiteSampling,
    samples: &Samples,
    settings: &FitSettings,
) -> SiteReport {
    let times = time.seconds;
    // Fit all, keep the fastest growing.
    let mut all = Samples::with_capacity(
        std::iter::once(time.column.to_string())
            .chain((1..=merged.len()).map(|i| format!("c{i}")))
            .collect(),
        times.len(),
    );
    let cols: Vec<(&Vec<String>, &Vec<f64>)> = merged.iter().collect();
    for (r, t) in times.iter().enumerate() {
        all.push_row(
            std::iter::once(*t).chain(cols.iter().map(|(_, v)| v.get(r).copied().unwrap_or(0.0))),
        );
    }
    let by_id: BTreeMap<String, Vec<String>> = cols
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (format!("c{}", i + 1), (*k).clone()))
        .collect();
    let ranked = fit(&all, samples, &by_id, settings);
    let old_ids: Vec<String> = ranked
        .iter()
        .take(SAVED_SITES)
        .map(|s| s.id.clone())
        .collect();
    let kept: Vec<SiteGrowth> = ranked
        .into_iter()
        .take(SAVED_SITES)
        .enumerate()
        .map(|(i, mut s)| {
            s.id = format!("s{}", i + 1);
            s
        })
        .collect();
    let mut table = Samples::with_capacity(
        std::iter::once(time.column.to_string())
            .chain(kept.iter().map(|s| s.id.clone()))
            .collect(),
        times.len(),
    );
    let columns: Vec<Vec<f64>> = old_ids
        .iter()
        .map(|id| all.column(id).unwrap_or_default())
        .collect();
    for (r, t) in times.iter().enumerate() {
        table.push_row(
            std::iter::once(*t).chain(columns.iter().map(|c| c.get(r).copied().unwrap_or(0.0))),
        );
    }
    SiteReport {
        sampling,
        sites: kept,
        series: table,
    }
}

/// The per-site series file's name.
pub const SITES_FILE: &str = "sites.csv";

/// `components/src/ttl_map.rs:201 (TtlMap::upsert)`: a site's innermost frame,
/// location first.
pub fn place(site: &SiteGrowth) -> String {
    let Some(f) = site.frames.first() else {
        return "an unknown site".to_string();
    };
    match (f.rfind(" ("), location(f)) {
        (Some(open), Some(loc)) => {
            // path:line:col → path:line
            let loc = match loc.rsplit_once(':') {
                Some((head, col)) if head.contains(':') && col.parse::<u32>().is_ok() => head,
                _ => loc,
            };
            format!("{loc} ({})", &f[..open])
        }
        _ => f.clone(),
    }
}

/// The part of a frame inside its last parentheses: `path:line`.
fn location(frame: &str) -> Option<&str> {
    frames::location(frame)
}

/// What a failing heap's message ends with: ` — 94% at PLACE`, for the fastest
/// growing site when it grows (its rate on `tb`'s clock when the heap's growth
/// is unknown).
pub fn suffix(sites: &[SiteGrowth], tb: &TimeBase) -> Option<String> {
    let top = sites.first().filter(|s| s.growth_bytes_per_hour > 0.0)?;
    Some(match top.share_of_heap_growth {
        Some(share) => format!(" — {:.0}% at {}", share * 100.0, place(top)),
        None => format!(
            " — {} at {}",
            tb.rate_text(top.growth_bytes_per_hour, "bytes"),
            place(top)
        ),
    })
}

/// The table `soak sites` prints.
pub fn table_text(sites: &[SiteGrowth]) -> String {
    let mut out = format!(
        "{:>24}  {:>6}  {:>12}  {:>6}  site\n",
        "growth/h ± err", "share", "live at end", "budget"
    );
    for s in sites {
        let share = s
            .share_of_heap_growth
            .map(|v| format!("{:.0}%", v * 100.0))
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{:>24}  {:>6}  {:>12}  {:>6}  {}\n",
            format!(
                "{} ± {}",
                bytes_text(s.growth_bytes_per_hour),
                bytes_text(s.growth_stderr_bytes_per_hour)
            ),
            share,
            bytes_text(s.live_bytes_at_end),
            if s.past_budget { "PAST" } else { "ok" },
            place(s)
        ));
        for f in s.frames.iter().skip(1) {
            out.push_str(&format!("{:>56}  < {f}\n", ""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn trimming_keeps_workspace_frames_without_plumbing() {
        let raw = strings(&[
            "alloc (harness/src/alloc.rs:170:17)",
            "__rust_alloc",
            "grow_one (/rustc/abc/library/alloc/src/raw_vec.rs:9:5)",
            "reserve_rehash (/home/u/.cargo/registry/src/x/hashbrown-0.15/src/raw.rs:1:1)",
            "TtlMap::insert_with_ttl (components/src/ttl_map.rs:255:20)",
            "my_service::handle (src/service.rs:10:3)",
            "poll (/home/u/.cargo/registry/src/x/tokio-1/src/task.rs:1:1)",
        ]);
        assert_eq!(
            trim(&raw, &[]),
            strings(&[
                "TtlMap::insert_with_ttl (components/src/ttl_map.rs:255)",
                "my_service::handle (src/service.rs:10)"
            ])
        );
        // Nothing of our own: the first frames past the allocator's shims.
        assert_eq!(
            trim(&raw[..4], &[]),
            strings(&[
                "grow_one (/rustc/abc/library/alloc/src/raw_vec.rs:9)",
                "reserve_rehash (/home/u/.cargo/registry/src/x/hashbrown-0.15/src/raw.rs:1)"
            ])
        );
        // The harness's own frames only when nothing else is there (the injector).
        let injected = strings(&[
            "alloc (harness/src/alloc.rs:170:17)",
            "{async_block#0} (harness/src/run.rs:640:28)",
            "run (harness/src/run.rs:395:23)",
            "my_test (scenarios/tests/calibration.rs:18:5)",
            "soak::main (scenarios/src/bin/soak.rs:3:5)",
        ]);
        assert_eq!(
            trim(&injected, &[]),
            strings(&[
                "{async_block#0} (harness/src/run.rs:640)",
                "run (harness/src/run.rs:395)"
            ])
        );
        // A scenario calling into the harness (a ticker) is the scenario's site.
        let mut with_subject = injected.clone();
        with_subject.insert(1, "f (scenarios/src/x.rs:3:1)".into());
        assert_eq!(
            trim(&with_subject, &[]),
            strings(&["f (scenarios/src/x.rs:3)"])
        );
    }

    #[test]
    fn place_reads_file_line_then_function() {
        let s = SiteGrowth {
            id: "s1".into(),
            frames: strings(&["TtlMap::upsert (components/src/ttl_map.rs:201)"]),
            growth_bytes_per_hour: 2e6,
            growth_stderr_bytes_per_hour: 1e4,
            late_growth_bytes_per_hour: 2e6,
            share_of_heap_growth: Some(0.94),
            live_bytes_at_end: 4e7,
            peak_live_bytes: 4e7,
            past_budget: true,
        };
        assert_eq!(place(&s), "components/src/ttl_map.rs:201 (TtlMap::upsert)");
        assert_eq!(
            suffix(std::slice::from_ref(&s), &TimeBase::VIRTUAL).as_deref(),
            Some(" — 94% at components/src/ttl_map.rs:201 (TtlMap::upsert)")
        );
        let shrinking = SiteGrowth {
            growth_bytes_per_hour: -5.0,
            ..s
        };
        assert_eq!(suffix(&[shrinking], &TimeBase::VIRTUAL), None);
    }

    #[test]
    fn fit_ranks_a_linear_site_above_a_flat_one() {
        let mut samples = Samples::with_capacity(strings(&["virtual_seconds", "load_events"]), 200);
        let mut series = Samples::with_capacity(strings(&["virtual_seconds", "a", "b"]), 200);
        for i in 0..200 {
            let t = i as f64 * 360.0;
            let load = 100.0 + 50.0 * (i as f64 / 20.0).sin();
            samples.push_row([t, load]);
            series.push_row([t, 1e6 + 1000.0 * ((i * 7) % 5) as f64, 2e6 * t / 3600.0]);
        }
        let frames = BTreeMap::from([("b".to_string(), strings(&["f (src/b.rs:1:1)"]))]);
        let settings = FitSettings {
            warmup_hours: 2.0,
            budget_per_hour: 1e6,
            heap_growth: Some(2.5e6),
            sample_bytes: 1,
            keep: &[],
            time_base: TimeBase::VIRTUAL,
        };
        let fitted = fit(&series, &samples, &frames, &settings);
        assert_eq!(fitted[0].id, "b");
        assert!((fitted[0].growth_bytes_per_hour - 2e6).abs() < 1e3);
        assert!(fitted[0].past_budget);
        assert!((fitted[0].share_of_heap_growth.unwrap_or(0.0) - 0.8).abs() < 1e-3);
        assert_eq!(fitted[0].frames, strings(&["f (src/b.rs:1:1)"]));
        assert!(!fitted[1].past_budget);
    }
}
