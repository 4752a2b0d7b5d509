//! Growth per allocation site: the sampler's per-site series, each fitted with the
//! heap's growth model (same load covariates, same warm-up), the fastest growing
//! symbolised and classified ([`crate::frames`]), merged by the frames they show,
//! and grouped by the frame that owns them, so a failing heap names the code that
//! owns its growth, how fast it grows, and with what confidence.
//!
//! Only what can be shown is symbolised: the recorded stacks are ranked by their
//! own fit first, and resolved in that order ([`RESOLVE_BATCH`] at a time) until
//! [`SAVED_SITES`] distinct sites are known; [`crate::symbolize`] reads only the
//! debug information of the units those addresses fall in, and frees it.
//!
//! Works from data alone: [`fit`] takes the saved `sites.csv`, `samples.csv` (for
//! the load) and the frames listed in `summary.json`, and [`owners`] groups saved
//! sites, so `soak sites DIR` reproduces the table of a saved run.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::frames::{self, rust::Rust, Convention, Frame, Kind};
use crate::growth;
use crate::samples::Samples;
use crate::sites::SiteSeries;
use crate::symbolize;
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
    /// Distinct sites (after merging stacks that show the same frames) among
    /// those symbolised.
    pub sites: usize,
    /// The per-site series file next to the summary.
    pub file: String,
    /// Recorded stacks, and how many of them were symbolised (the fastest
    /// growing, until enough sites were known).
    #[serde(default)]
    pub stacks: usize,
    /// See `stacks`.
    #[serde(default)]
    pub stacks_resolved: usize,
    /// Saved sites whose captured frames hold no candidate owner (all standard
    /// library or plumbing): stacks too shallow to reach the code of substance.
    #[serde(default)]
    pub sites_without_owner: usize,
    /// Whether the program's binary has line tables (`false`: frames carry
    /// function names only, and [`LINE_TABLES_HINT`] says how to get file:line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_tables: Option<bool>,
    /// [`LINE_TABLES_HINT`] when the binary has no line tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
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

/// What a run says once when its binary has no line tables.
pub const LINE_TABLES_HINT: &str = "allocation sites show function names without file:line: \
this binary has no line tables; add `[profile.release] debug = \"line-tables-only\"` to \
Cargo.toml (or build with CARGO_PROFILE_RELEASE_DEBUG=line-tables-only) to see them";

/// One allocation site's growth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteGrowth {
    /// Its column in `sites.csv` (`s1`, `s2`, … in the order of this list).
    pub id: String,
    /// The frames shown, innermost first (`name (path:line)`): the frame that
    /// owns the allocation (after any closure it ran), the user's frame that
    /// called into it, their callers up to the run.
    pub frames: Vec<String>,
    /// The frame that owns this site's allocations: the innermost that is not the
    /// standard library's nor plumbing (absent when the stack reached none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Frame>,
    /// The user's own frame that called into an owner of another origin (a
    /// dependency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<Frame>,
    /// The legend's text: the owner's place and, when other saved sites share
    /// the owner, the first callers where their stacks differ.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    /// Every frame captured, innermost first, classified (the heaviest stack's,
    /// when several stacks show the same frames).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<Frame>,
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
    /// Whether its growth could be fitted: `false` when the window held too few
    /// reads of it ([`crate::growth::MIN_POINTS`]; a live run's profile is read
    /// every few seconds), and then the growth figures above are zeros, not
    /// measurements.
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub fitted: bool,
}

fn yes() -> bool {
    true
}

fn is_yes(b: &bool) -> bool {
    *b
}

/// What attribution adds to a run: the sampling settings, the sites and their series.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteReport {
    /// How the sites were sampled.
    pub sampling: SiteSampling,
    /// Saved sites, fastest growing first.
    pub sites: Vec<SiteGrowth>,
    /// The saved sites grouped by the frame that owns them.
    pub owners: Vec<OwnerGrowth>,
    /// `sites.csv`: `virtual_seconds` then one column per saved site.
    pub series: Samples,
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

/// The load gauges ([`crate::verdict::LOAD_GAUGES`]) the samples have, at each
/// site row: the level at the last sample at or before it (rows are recorded at
/// sample times, so that sample's own).
fn gauges_at(samples: &Samples, site_hours: &[f64]) -> Vec<Vec<f64>> {
    let t = samples.hours();
    crate::verdict::LOAD_GAUGES
        .iter()
        .filter_map(|g| samples.column(g))
        .map(|g| {
            let mut i = 0;
            site_hours
                .iter()
                .map(|&s| {
                    while i + 1 < t.len() && t[i + 1] <= s + 1e-9 / 3600.0 {
                        i += 1;
                    }
                    g.get(i).copied().unwrap_or(f64::NAN)
                })
                .collect()
        })
        .collect()
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
    let gauges = gauges_at(samples, &hours);
    let mut out: Vec<SiteGrowth> = series
        .columns()
        .iter()
        .skip(1)
        .filter_map(|id| {
            let y = series.column(id)?;
            let est = growth::estimate_with(&hours, &y, &load, &gauges, warmup_hours, time_base)
                .map(|mut e| {
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
                owner: None,
                caller: None,
                label: String::new(),
                chain: Vec::new(),
                growth_bytes_per_hour: per_hour,
                growth_stderr_bytes_per_hour: est.map(|e| e.stderr).unwrap_or(0.0),
                late_growth_bytes_per_hour: est.map(|e| e.late_per_hour).unwrap_or(0.0),
                share_of_heap_growth: est
                    .and(heap_growth.filter(|h| *h > 0.0))
                    .map(|h| per_hour / h),
                live_bytes_at_end: y.last().copied().unwrap_or(0.0),
                peak_live_bytes: finite.fold(0.0, f64::max),
                past_budget: est.is_some_and(|e| e.exceeds(budget_per_hour)),
                fitted: est.is_some(),
            })
        })
        .collect();
    // Fitted sites first, fastest growing first; sites without a fit after them
    // (their zeros are no growth anyone measured), largest first.
    out.sort_by(|a, b| {
        b.fitted
            .cmp(&a.fitted)
            .then(b.growth_bytes_per_hour.total_cmp(&a.growth_bytes_per_hour))
            .then(b.live_bytes_at_end.total_cmp(&a.live_bytes_at_end))
    });
    out
}

/// How many of `sites` could not be fitted, when any could not: what a run's
/// notes and `soak sites` say instead of reading their zeros as no growth.
pub fn unfitted_note(sites: &[SiteGrowth]) -> Option<String> {
    let n = sites.iter().filter(|s| !s.fitted).count();
    (n > 0).then(|| {
        format!(
            "{n} of {} allocation sites not fitted: fewer than {} reads of them after \
             the warm-up; a longer run fits them",
            sites.len(),
            crate::growth::MIN_POINTS
        )
    })
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

/// Recorded stacks symbolised per round, fastest growing first.
pub const RESOLVE_BATCH: usize = 64;

/// A site being assembled: the stacks that show the same frames, summed.
struct Merged {
    chain: Vec<Frame>,
    shown: frames::Shown,
    values: Vec<f64>,
}

/// A `sites.csv`-shaped table: the time column (`virtual_seconds`, or a live
/// run's `wall_seconds`), then `{prefix}1`, `{prefix}2`, …
fn table_of(time: Timeline<'_>, columns: &[&[f64]], prefix: &str) -> Samples {
    let times = time.seconds;
    let mut t = Samples::with_capacity(
        std::iter::once(time.column.to_string())
            .chain((1..=columns.len()).map(|i| format!("{prefix}{i}")))
            .collect(),
        times.len(),
    );
    for (r, time) in times.iter().enumerate() {
        t.push_row(
            std::iter::once(*time).chain(columns.iter().map(|c| c.get(r).copied().unwrap_or(0.0))),
        );
    }
    t
}

/// A virtual run's time column over `seconds`.
fn virtual_time(seconds: &[f64]) -> Timeline<'_> {
    Timeline {
        column: "virtual_seconds",
        seconds,
    }
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
/// `time`), keeps the [`SAVED_SITES`] fastest growing and their series, labels
/// them and groups them by owner: what a live run's heap probe ends with (its
/// frames named and trimmed already; `whose` gives, by those frames, the owner
/// and caller of the stacks that were classified, from [`shown_text`]).
pub fn rank(
    merged: &BTreeMap<Vec<String>, Vec<f64>>,
    whose: &BTreeMap<Vec<String>, Whose>,
    time: Timeline<'_>,
    mut sampling: SiteSampling,
    samples: &Samples,
    settings: &FitSettings,
) -> SiteReport {
    let cols: Vec<(&Vec<String>, &Vec<f64>)> = merged.iter().collect();
    let values: Vec<&[f64]> = cols.iter().map(|(_, v)| v.as_slice()).collect();
    let texts: BTreeMap<String, Vec<String>> = cols
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (format!("c{}", i + 1), (*k).clone()))
        .collect();
    let mut kept: Vec<SiteGrowth> = fit(&table_of(time, &values, "c"), samples, &texts, settings)
        .into_iter()
        .take(SAVED_SITES)
        .collect();
    let mut columns: Vec<&[f64]> = Vec::with_capacity(kept.len());
    for (i, site) in kept.iter_mut().enumerate() {
        if let Some(v) = index_of(&site.id).and_then(|k| values.get(k)) {
            columns.push(v);
        }
        if let Some(w) = whose.get(&site.frames) {
            site.owner = w.owner.clone();
            site.caller = w.caller.clone();
        }
        site.id = format!("s{}", i + 1);
    }
    sampling.sites_without_owner = kept
        .iter()
        .filter(|s| s.owner.is_none() && whose.contains_key(&s.frames))
        .count();
    label(&mut kept);
    SiteReport {
        sampling,
        owners: owners(&kept),
        series: table_of(time, &columns, "s"),
        sites: kept,
    }
}

/// Whose a classified stack is: the frame owning its allocations and, when that
/// is a dependency's, the user's frame that called into it (a live run's native
/// sites carry it to [`rank`], named in the target's files).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Whose {
    /// The frame that owns the allocations (none when the stack reached no
    /// frame of substance).
    pub owner: Option<Frame>,
    /// The user's own frame that called into a dependency owner.
    pub caller: Option<Frame>,
}

/// The position (from 0) a `{prefix}N` id stands for.
fn index_of(id: &str) -> Option<usize> {
    id.get(1..)?.parse::<usize>().ok()?.checked_sub(1)
}

/// Attributes a finished run of this process (see [`attribute_with`]), with
/// Rust's conventions and the tree's `Cargo.lock`.
pub fn attribute(series: &SiteSeries, samples: &Samples, settings: &FitSettings) -> SiteReport {
    let conv = Rust::for_this_process(settings.keep);
    attribute_with(
        series,
        samples,
        settings,
        &conv,
        &symbolize::Mappings::of_self(),
    )
}

/// A stack of return addresses (innermost first) as frames, each address by what
/// `resolved` found for it (`0x…` when nothing), classified, and what it shows.
pub fn classify_stack(
    addrs: &[usize],
    resolved: &symbolize::Resolved,
    conv: &dyn Convention,
) -> (Vec<Frame>, frames::Shown) {
    let raw: Vec<symbolize::Frame> = addrs
        .iter()
        .flat_map(|&a| {
            resolved
                .frames
                .get(&(a as u64))
                .cloned()
                .unwrap_or_else(|| {
                    vec![symbolize::Frame {
                        function: format!("{a:#x}"),
                        file: None,
                        line: None,
                        inlined: false,
                    }]
                })
        })
        .collect();
    let chain = frames::classify(&raw, conv);
    let shown = frames::show(&chain, conv);
    (chain, shown)
}

/// The frames a classified stack shows (`name (path:line)`) and whose it is.
pub fn shown_text(chain: &[Frame], shown: &frames::Shown) -> (Vec<String>, Whose) {
    let at = |k: Option<usize>| k.map(|k| chain[shown.frames[k]].clone());
    let whose = Whose {
        owner: at(shown.owner),
        caller: at(shown.caller),
    };
    (
        shown.frames.iter().map(|&i| chain[i].text()).collect(),
        whose,
    )
}

/// Attributes recorded stacks captured in the process whose mappings are `maps`:
/// ranks the stacks by their own fit, symbolises and classifies the fastest
/// growing ([`RESOLVE_BATCH`] at a time) until [`SAVED_SITES`] sites are known
/// (stacks showing the same frames are one site), fits each site, keeps the
/// fastest growing, labels them and groups them by owner.
pub fn attribute_with(
    series: &SiteSeries,
    samples: &Samples,
    settings: &FitSettings,
    conv: &dyn Convention,
    maps: &symbolize::Mappings,
) -> SiteReport {
    let times = &series.times;
    let recorded: Vec<&[f64]> = series.columns.iter().map(|c| c.values.as_slice()).collect();
    let order: Vec<usize> = fit(
        &table_of(virtual_time(times), &recorded, "c"),
        samples,
        &BTreeMap::new(),
        settings,
    )
    .iter()
    .filter_map(|s| index_of(&s.id))
    .collect();
    let mut merged: Vec<Merged> = Vec::new();
    let mut by_key: HashMap<Vec<String>, usize> = HashMap::new();
    let mut line_tables = None;
    let mut resolved_stacks = 0;
    for batch in order.chunks(RESOLVE_BATCH) {
        if merged.len() >= SAVED_SITES {
            break;
        }
        let mut addrs: Vec<u64> = batch
            .iter()
            .flat_map(|&c| series.columns[c].frames.iter().map(|&a| a as u64))
            .collect();
        addrs.sort_unstable();
        addrs.dedup();
        let resolved = symbolize::resolve_return_addresses(maps, &addrs);
        line_tables = line_tables.or(resolved.line_tables());
        for &c in batch {
            let col = &series.columns[c];
            let (chain, shown) = classify_stack(&col.frames, &resolved, conv);
            let key: Vec<String> = shown.frames.iter().map(|&i| chain[i].text()).collect();
            match by_key.get(&key) {
                Some(&m) => {
                    for (s, v) in merged[m].values.iter_mut().zip(&col.values) {
                        *s += v;
                    }
                }
                None => {
                    by_key.insert(key, merged.len());
                    merged.push(Merged {
                        chain,
                        shown,
                        values: col.values.clone(),
                    });
                }
            }
        }
        resolved_stacks += batch.len();
    }
    let sums: Vec<&[f64]> = merged.iter().map(|m| m.values.as_slice()).collect();
    let texts: BTreeMap<String, Vec<String>> = merged
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let t = m.shown.frames.iter().map(|&k| m.chain[k].text()).collect();
            (format!("c{}", i + 1), t)
        })
        .collect();
    let mut kept: Vec<SiteGrowth> = fit(
        &table_of(virtual_time(times), &sums, "c"),
        samples,
        &texts,
        settings,
    )
    .into_iter()
    .take(SAVED_SITES)
    .collect();
    let mut columns: Vec<&[f64]> = Vec::with_capacity(kept.len());
    for (i, site) in kept.iter_mut().enumerate() {
        let Some(m) = index_of(&site.id).and_then(|k| merged.get(k)) else {
            continue;
        };
        columns.push(&m.values);
        let (_, whose) = shown_text(&m.chain, &m.shown);
        site.owner = whose.owner;
        site.caller = whose.caller;
        site.chain = m.chain.clone();
        site.id = format!("s{}", i + 1);
    }
    label(&mut kept);
    SiteReport {
        sampling: SiteSampling {
            sample_bytes: series.sample_bytes,
            frame_depth: series.frame_depth,
            samples: series.samples,
            missed: series.missed,
            sites: merged.len(),
            file: SITES_FILE.to_string(),
            stacks: series.columns.len(),
            stacks_resolved: resolved_stacks,
            sites_without_owner: kept.iter().filter(|s| s.owner.is_none()).count(),
            line_tables,
            hint: (line_tables == Some(false)).then(|| LINE_TABLES_HINT.to_string()),
            resource: heap(),
        },
        owners: owners(&kept),
        series: table_of(virtual_time(times), &columns, "s"),
        sites: kept,
    }
}

/// The per-site series file's name.
pub const SITES_FILE: &str = "sites.csv";

/// Sites that share the frame owning them: one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerGrowth {
    /// Where the owning frame is, as its fastest growing site has it.
    pub place: String,
    /// The user's frame that called into it, when it is another origin's (a
    /// dependency's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// Whose code the owner is.
    pub kind: Kind,
    /// The saved sites it owns (ids), fastest growing first.
    pub sites: Vec<String>,
    /// How many different ways (the frames after the owner) they are reached.
    pub callers: usize,
    /// Growth per hour summed over its sites.
    pub growth_bytes_per_hour: f64,
    /// That over the heap's growth, when the heap grew.
    pub share_of_heap_growth: Option<f64>,
}

/// The frames of `site` after its owner (what distinguishes its callers).
fn callers_of(site: &SiteGrowth) -> &[String] {
    let text = site.owner.as_ref().map(Frame::text);
    let at = site.frames.iter().position(|f| Some(f) == text.as_ref());
    at.map_or(&[][..], |i| &site.frames[i + 1..])
}

/// Groups sites (fastest growing first) by the function that owns them, fastest
/// growing group first. Sites without an owner are in no group.
pub fn owners(sites: &[SiteGrowth]) -> Vec<OwnerGrowth> {
    let mut groups: Vec<(String, OwnerGrowth, Vec<&[String]>)> = Vec::new();
    for s in sites {
        let Some(o) = &s.owner else {
            continue;
        };
        let key = o.function_key();
        let at = match groups.iter().position(|(k, _, _)| *k == key) {
            Some(i) => i,
            None => {
                groups.push((
                    key,
                    OwnerGrowth {
                        place: o.place(),
                        caller: s.caller.as_ref().map(Frame::place),
                        kind: o.kind,
                        sites: Vec::new(),
                        callers: 0,
                        growth_bytes_per_hour: 0.0,
                        share_of_heap_growth: None,
                    },
                    Vec::new(),
                ));
                groups.len() - 1
            }
        };
        let (_, g, callers) = &mut groups[at];
        g.sites.push(s.id.clone());
        g.growth_bytes_per_hour += s.growth_bytes_per_hour;
        if let Some(share) = s.share_of_heap_growth {
            *g.share_of_heap_growth.get_or_insert(0.0) += share;
        }
        let c = callers_of(s);
        if !callers.contains(&c) {
            callers.push(c);
        }
        g.callers = callers.len();
    }
    let mut out: Vec<OwnerGrowth> = groups.into_iter().map(|(_, g, _)| g).collect();
    out.sort_by(|a, b| b.growth_bytes_per_hour.total_cmp(&a.growth_bytes_per_hour));
    out
}

/// `ttl_map.rs:346 upsert`: a frame's file name, line and short function name.
fn brief(f: &Frame) -> String {
    let name = frames::short_name(&f.function);
    match (&f.file, f.line) {
        (Some(file), line) => {
            let base = file.rsplit('/').next().unwrap_or(file);
            match line {
                Some(l) => format!("{base}:{l} {name}"),
                None => format!("{base} {name}"),
            }
        }
        _ if f.kind == Kind::Dependency => match &f.package {
            Some(p) => format!("{name} ({p})"),
            None => name,
        },
        _ => name,
    }
}

/// `anti_spam.rs:79` (or the short name): a shown frame's text, briefly.
fn brief_text(text: &str) -> String {
    match (text.rfind(" ("), text.strip_suffix(')')) {
        (Some(open), Some(_)) => {
            let loc = &text[open + 2..text.len() - 1];
            loc.rsplit('/').next().unwrap_or(loc).to_string()
        }
        _ => frames::short_name(text),
    }
}

/// Labels each site for the legend: the owner briefly, then — when other sites
/// share that much — the first frames where their stacks differ (its callers
/// first, then the closures it ran), until no other site reads the same.
fn label(sites: &mut [SiteGrowth]) {
    let owner_at: Vec<usize> = sites
        .iter()
        .map(|s| {
            let text = s.owner.as_ref().map(Frame::text);
            s.frames
                .iter()
                .position(|f| Some(f) == text.as_ref())
                .unwrap_or(0)
        })
        .collect();
    let base: Vec<String> = sites
        .iter()
        .map(|s| match &s.owner {
            Some(o) => brief(o),
            None => s
                .frames
                .first()
                .map_or_else(|| "?".to_string(), |f| brief_text(f)),
        })
        .collect();
    // Frame of site `j` at `rel` places from its owner (outward when positive).
    let at = |j: usize, rel: isize| -> Option<&String> {
        let i = owner_at[j] as isize + rel;
        usize::try_from(i).ok().and_then(|i| sites[j].frames.get(i))
    };
    let mut labels = Vec::with_capacity(sites.len());
    for i in 0..sites.len() {
        let mut same: Vec<usize> = (0..sites.len()).filter(|&j| base[j] == base[i]).collect();
        // As far out and in as any of them reaches: a frame one has and another
        // lacks tells them apart too.
        let reach_out = same
            .iter()
            .map(|&j| sites[j].frames.len() - owner_at[j])
            .max();
        let reach_in = same.iter().map(|&j| owner_at[j]).max().unwrap_or(0);
        let outward = 1..reach_out.unwrap_or(1) as isize;
        let inward = (1..=reach_in as isize).map(|r| -r);
        let mut parts = Vec::new();
        for rel in outward.chain(inward) {
            if same.len() <= 1 {
                break;
            }
            let mine = at(i, rel);
            if same.iter().any(|&j| at(j, rel) != mine) {
                if let Some(t) = mine {
                    parts.push(if rel > 0 {
                        format!("← {}", brief_text(t))
                    } else {
                        format!("via {}", brief_text(t))
                    });
                }
                same.retain(|&j| at(j, rel) == mine);
            }
        }
        let mut text = base[i].clone();
        for p in parts {
            text.push(' ');
            text.push_str(&p);
        }
        if same.len() > 1 {
            let n = same.iter().position(|&j| j == i).unwrap_or(0) + 1;
            text.push_str(&format!(" #{n}"));
        }
        labels.push(text);
    }
    for (s, l) in sites.iter_mut().zip(labels) {
        s.label = l;
    }
}

/// Gives refitted sites (from [`fit`]) what a saved summary knew of them, by id
/// (owner, caller, chain), and labels them again.
pub fn restore(sites: &mut [SiteGrowth], saved: &[SiteGrowth]) {
    for s in sites.iter_mut() {
        if let Some(old) = saved.iter().find(|o| o.id == s.id) {
            s.owner = old.owner.clone();
            s.caller = old.caller.clone();
            s.chain = old.chain.clone();
        }
    }
    label(sites);
}

/// Where a site is: its owner's place, else its first shown frame.
pub fn place(site: &SiteGrowth) -> String {
    match (&site.owner, site.frames.first()) {
        (Some(o), _) => o.place(),
        (None, Some(f)) => f.clone(),
        (None, None) => "an unknown site".to_string(),
    }
}

/// What a failing heap's message ends with: ` — 89% at PLACE, from 4 callers`
/// for the fastest growing owner with a site that [`grows`] (` ← CALLER` after a
/// dependency's), else the fastest growing such site. A site whose growth its
/// own fit cannot tell from zero is named nowhere in the message (a sampled
/// site's few points can read fast and wide: a live Node target's cache site at
/// 12.8 ± 17.1 MiB/h once led a message at "100%").
pub fn suffix(owners: &[OwnerGrowth], sites: &[SiteGrowth], tb: &TimeBase) -> Option<String> {
    let any = |ids: &[String]| sites.iter().any(|s| grows(s) && ids.contains(&s.id));
    let owner = owners.iter().find(|o| any(&o.sites));
    let (growth, share, mut at) = match owner {
        Some(o) => (
            o.growth_bytes_per_hour,
            o.share_of_heap_growth,
            o.place.clone(),
        ),
        None => {
            let s = sites.iter().find(|s| grows(s))?;
            (s.growth_bytes_per_hour, s.share_of_heap_growth, place(s))
        }
    };
    if growth <= 0.0 {
        return None;
    }
    if let Some(o) = owner {
        if let Some(c) = &o.caller {
            at.push_str(&format!(" ← {c}"));
        }
        if o.callers > 1 {
            at.push_str(&format!(", from {} callers", o.callers));
        }
    }
    Some(match share {
        Some(share) => format!(" — {} at {at}", share_text(share)),
        None => format!(" — {} at {at}", tb.rate_text(growth, "bytes")),
    })
}

/// Standard errors above zero a site's growth must stand for the message to name
/// it: one, so a wide estimate (a sampled site with few points) does not lead the
/// line, while a clear one short of the budget test's two still does (the native
/// fixture's `remember_flag` in 10 s: 54–70 ± 19–23 MiB/h).
pub const NAMED_SITE_Z: f64 = 1.0;

/// Whether a site's growth stands [`NAMED_SITE_Z`] standard errors above zero
/// (or is past the budget).
fn grows(s: &SiteGrowth) -> bool {
    s.past_budget || s.growth_bytes_per_hour > NAMED_SITE_Z * s.growth_stderr_bytes_per_hour
}

/// A share of the heap's growth as a reader sees it. The owner's growth and the
/// heap's are two fits of one growth (each with its error), so a site that holds all
/// of it can come out a few percent above the heap: shown as 100%, the figures
/// themselves stay in `summary.json`.
fn share_text(share: f64) -> String {
    // `+ 0.0` turns a rounded `-0` into `0`.
    format!("{:.0}%", (share.min(1.0) * 100.0).round() + 0.0)
}

/// The table `soak sites` prints: the owners the sites group into, then every
/// site with its label and the frames it shows (the owner marked `*`); rates
/// per `per` (`h`, or a live run's `wall h`). Sites without a fit are listed as
/// such and left out of the owners.
pub fn table_text(sites: &[SiteGrowth], per: &str) -> String {
    let share_text = |s: Option<f64>| s.map_or_else(|| "-".into(), share_text);
    let mut out = String::new();
    let fitted: Vec<SiteGrowth> = sites.iter().filter(|s| s.fitted).cloned().collect();
    let groups = owners(&fitted);
    if !groups.is_empty() {
        out.push_str(&format!(
            "{:>24}  {:>6}  owner\n",
            format!("growth/{per}"),
            "share"
        ));
        for g in &groups {
            let mut at = g.place.clone();
            if let Some(c) = &g.caller {
                at.push_str(&format!(" ← {c}"));
            }
            let callers = match g.callers {
                0 | 1 => String::new(),
                n => format!(", from {n} callers"),
            };
            out.push_str(&format!(
                "{:>24}  {:>6}  {at}{callers} [{}]\n",
                bytes_text(g.growth_bytes_per_hour),
                share_text(g.share_of_heap_growth),
                g.sites.join(" ")
            ));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "{:>24}  {:>6}  {:>12}  {:>6}  site\n",
        format!("growth/{per} ± err"),
        "share",
        "live at end",
        "budget"
    ));
    for s in sites {
        let growth = if s.fitted {
            format!(
                "{} ± {}",
                bytes_text(s.growth_bytes_per_hour),
                bytes_text(s.growth_stderr_bytes_per_hour)
            )
        } else {
            "not fitted".to_string()
        };
        out.push_str(&format!(
            "{:>24}  {:>6}  {:>12}  {:>6}  {} {}\n",
            growth,
            share_text(s.share_of_heap_growth),
            bytes_text(s.live_bytes_at_end),
            if s.past_budget { "PAST" } else { "ok" },
            s.id,
            if s.label.is_empty() {
                place(s)
            } else {
                s.label.clone()
            }
        ));
        let owner = s.owner.as_ref().map(Frame::text);
        for f in &s.frames {
            let mark = if Some(f) == owner.as_ref() { '*' } else { ' ' };
            out.push_str(&format!("{:>56}  {mark} {f}\n", ""));
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

    fn frame(function: &str, file: &str, line: u32) -> Frame {
        Frame {
            function: function.into(),
            file: Some(file.into()),
            line: Some(line),
            kind: Kind::Own,
            package: None,
            version: None,
            inlined: false,
        }
    }

    fn site(id: &str, growth: f64, frames: &[Frame], owner: usize) -> SiteGrowth {
        SiteGrowth {
            id: id.into(),
            frames: frames.iter().map(Frame::text).collect(),
            owner: Some(frames[owner].clone()),
            caller: None,
            label: String::new(),
            chain: frames.to_vec(),
            growth_bytes_per_hour: growth,
            growth_stderr_bytes_per_hour: 1e4,
            late_growth_bytes_per_hour: growth,
            share_of_heap_growth: Some(growth / 1e7),
            live_bytes_at_end: 4e7,
            peak_live_bytes: 4e7,
            past_budget: true,
            fitted: true,
        }
    }

    /// raid-burst's shape: one `upsert` owns the growth of four stacks (two
    /// callers of `check` × two of the scenario), and of the closure it runs.
    fn raid() -> Vec<SiteGrowth> {
        let upsert = |l| frame("upsert<K, V>", "components/src/ttl_map.rs", l);
        let check = |l| frame("check", "components/src/rate_limit/anti_spam.rs", l);
        let scen = |l| frame("{async_block#0}", "scenarios/src/raid_burst.rs", l);
        let closure = frame("{closure#0}", "components/src/rate_limit/anti_spam.rs", 76);
        let mut sites = vec![
            site("s1", 2.1e6, &[upsert(346), check(79), scen(166)], 0),
            site("s2", 2.0e6, &[upsert(346), check(74), scen(166)], 0),
            site("s3", 1.1e6, &[upsert(346), check(79), scen(157)], 0),
            site("s4", 1.0e6, &[upsert(346), check(74), scen(157)], 0),
            site(
                "s5",
                0.9e6,
                &[closure, upsert(342), check(74), scen(157)],
                1,
            ),
            site(
                "s6",
                0.2e6,
                &[frame("key", "components/src/rate_limit/tickets.rs", 68)],
                0,
            ),
        ];
        label(&mut sites);
        sites
    }

    #[test]
    fn the_message_names_no_site_its_fit_cannot_tell_from_zero() {
        // The fastest growing owner's sites are all within their noise: the next
        // owner with a site that grows is named, and with none, no site is.
        let mut sites = raid();
        let noise = |s: &mut SiteGrowth| {
            s.past_budget = false;
            s.growth_stderr_bytes_per_hour = s.growth_bytes_per_hour * 1.3;
        };
        sites[..5].iter_mut().for_each(noise);
        let o = owners(&sites);
        assert_eq!(
            suffix(&o, &sites, &TimeBase::VIRTUAL).as_deref(),
            Some(" — 2% at components/src/rate_limit/tickets.rs:68 (key)")
        );
        // Short of the budget test (two standard errors) but clear of zero: named.
        sites[5].past_budget = false;
        sites[5].growth_stderr_bytes_per_hour = sites[5].growth_bytes_per_hour / 1.5;
        assert!(suffix(&owners(&sites), &sites, &TimeBase::VIRTUAL).is_some());
        noise(&mut sites[5]);
        assert_eq!(suffix(&owners(&sites), &sites, &TimeBase::VIRTUAL), None);
        // Sites with no owner: the fastest one that grows.
        for s in &mut sites {
            s.owner = None;
        }
        sites[2].past_budget = true;
        assert_eq!(
            suffix(&owners(&sites), &sites, &TimeBase::VIRTUAL),
            Some(format!(" — 11% at {}", sites[2].frames[0]))
        );
    }

    #[test]
    fn sites_sharing_their_owner_are_one_answer() {
        let sites = raid();
        let o = owners(&sites);
        assert_eq!(o.len(), 2);
        assert_eq!(o[0].sites, ["s1", "s2", "s3", "s4", "s5"]);
        assert_eq!(o[0].callers, 4);
        assert!((o[0].growth_bytes_per_hour - 7.1e6).abs() < 1.0);
        assert!((o[0].share_of_heap_growth.unwrap_or(0.0) - 0.71).abs() < 1e-9);
        assert_eq!(o[0].place, "components/src/ttl_map.rs:346 (upsert)");
        assert_eq!(
            suffix(&o, &sites, &TimeBase::VIRTUAL).as_deref(),
            Some(" — 71% at components/src/ttl_map.rs:346 (upsert), from 4 callers")
        );
        let shrinking: Vec<OwnerGrowth> = o
            .into_iter()
            .map(|g| OwnerGrowth {
                growth_bytes_per_hour: -5.0,
                ..g
            })
            .collect();
        assert_eq!(suffix(&shrinking, &sites, &TimeBase::VIRTUAL), None);
        let table = table_text(&sites, "h");
        assert!(
            table.contains(
                "71%  components/src/ttl_map.rs:346 (upsert), from 4 callers [s1 s2 s3 s4 s5]"
            ),
            "{table}"
        );
        assert!(
            table.contains("* upsert (components/src/ttl_map.rs:342)"),
            "{table}"
        );
    }

    #[test]
    fn labels_tell_stacks_apart_by_their_first_differing_caller() {
        let labels: Vec<String> = raid().into_iter().map(|s| s.label).collect();
        assert_eq!(
            labels,
            [
                "ttl_map.rs:346 upsert ← anti_spam.rs:79 ← raid_burst.rs:166",
                "ttl_map.rs:346 upsert ← anti_spam.rs:74 ← raid_burst.rs:166",
                "ttl_map.rs:346 upsert ← anti_spam.rs:79 ← raid_burst.rs:157",
                "ttl_map.rs:346 upsert ← anti_spam.rs:74 ← raid_burst.rs:157",
                "ttl_map.rs:342 upsert",
                "tickets.rs:68 key",
            ]
        );
        // Same owner and callers, different closures: told apart by what it ran.
        let up = frame("upsert", "components/src/ttl_map.rs", 342);
        let c = |l| frame("{closure#0}", "components/src/rate_limit/anti_spam.rs", l);
        let mut two = vec![
            site("s1", 2.0, &[c(76), up.clone()], 1),
            site("s2", 1.0, &[c(84), up], 1),
        ];
        label(&mut two);
        assert_eq!(two[0].label, "ttl_map.rs:342 upsert via anti_spam.rs:76");
        assert_eq!(two[1].label, "ttl_map.rs:342 upsert via anti_spam.rs:84");
        // One stack has a closure inward of the owner, the other none.
        let form = frame("form", "scenarios/src/raid_burst.rs", 256);
        let mut two = vec![
            site("s1", 2.0, &[c(255), form.clone()], 1),
            site("s2", 1.0, &[form], 0),
        ];
        label(&mut two);
        assert_eq!(two[0].label, "raid_burst.rs:256 form via anti_spam.rs:255");
        assert_eq!(two[1].label, "raid_burst.rs:256 form");
    }

    #[test]
    fn a_dependency_owner_is_followed_by_the_users_caller() {
        let dep = Frame {
            function: "governor::state::keyed::DashMapStateStore<K,S>::measure_and_replace".into(),
            file: None,
            line: None,
            kind: Kind::Dependency,
            package: Some("governor".into()),
            version: Some("0.10.4".into()),
            inlined: false,
        };
        let own = Frame {
            function: "outside_crate::limiter::Cooldowns::check".into(),
            file: None,
            line: None,
            kind: Kind::Own,
            package: Some("outside_crate".into()),
            version: None,
            inlined: false,
        };
        let mut s = site("s1", 5e6, &[dep, own.clone()], 0);
        s.caller = Some(own);
        let o = owners(std::slice::from_ref(&s));
        assert_eq!(
            suffix(&o, &[s], &TimeBase::VIRTUAL).as_deref(),
            Some(
                " — 50% at governor::state::keyed::DashMapStateStore::measure_and_replace \
                 (governor 0.10.4) ← outside_crate::limiter::Cooldowns::check"
            )
        );
    }

    #[test]
    fn a_site_row_takes_the_load_gauge_of_its_own_sample() {
        let mut samples = Samples::with_capacity(
            strings(&["virtual_seconds", "load_events", "ws_sessions"]),
            6,
        );
        for i in 0..6 {
            samples.push_row([i as f64 * 60.0, 10.0, 100.0 + i as f64]);
        }
        // Sites read on every other sample (and a row between samples takes the
        // level before it).
        let hours = [0.0, 120.0, 240.0, 270.0].map(|s| s / 3600.0);
        assert_eq!(
            gauges_at(&samples, &hours),
            vec![vec![100.0, 102.0, 104.0, 104.0]]
        );
        // No gauge column, no gauges (virtual runs).
        let mut plain = Samples::with_capacity(strings(&["virtual_seconds", "load_events"]), 2);
        plain.push_row([0.0, 1.0]);
        assert!(gauges_at(&plain, &hours).is_empty());
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

    /// Too few reads after the warm-up to fit: the sites say "not fitted", not a
    /// growth of zero, and their shares are unknown (a 40-s live run's profile,
    /// read every 3 s, once listed every site at "0 B/h" while its heap grew).
    #[test]
    fn sites_read_too_few_times_are_not_fitted_rather_than_flat() {
        let rows = growth::MIN_POINTS + 3;
        let mut samples =
            Samples::with_capacity(strings(&["virtual_seconds", "load_events"]), rows);
        let mut series = Samples::with_capacity(strings(&["virtual_seconds", "a", "b"]), rows);
        for i in 0..rows {
            let t = i as f64 * 360.0;
            samples.push_row([t, 100.0]);
            series.push_row([t, 1e6, 2e6 * t / 3600.0]);
        }
        let mut settings = FitSettings {
            warmup_hours: 0.0,
            budget_per_hour: 1e6,
            heap_growth: Some(2.5e6),
            sample_bytes: 1,
            keep: &[],
            time_base: TimeBase::VIRTUAL,
        };
        let fitted = fit(&series, &samples, &BTreeMap::new(), &settings);
        assert!(fitted.iter().all(|s| s.fitted), "{fitted:?}");
        assert_eq!(unfitted_note(&fitted), None);
        // The warm-up leaves 11 readings: one fewer than the fit needs.
        settings.warmup_hours = 0.4;
        let fitted = fit(&series, &samples, &BTreeMap::new(), &settings);
        assert!(fitted.iter().all(|s| !s.fitted), "{fitted:?}");
        assert!(fitted.iter().all(|s| s.share_of_heap_growth.is_none()));
        // Unfitted, the larger first; the table says so.
        assert_eq!(fitted[0].id, "b");
        let table = table_text(&fitted, "wall h");
        assert!(table.contains("growth/wall h ± err"), "{table}");
        assert_eq!(table.matches("not fitted").count(), 2, "{table}");
        assert_eq!(
            unfitted_note(&fitted).as_deref(),
            Some(
                "2 of 2 allocation sites not fitted: fewer than 12 reads of them after the \
                 warm-up; a longer run fits them"
            )
        );
    }
}
