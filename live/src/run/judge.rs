//! Phase 4: the verdict and the report. The probes' declared columns become the
//! resources (budgets resolved) and the chart; the harness judges them on the
//! wall clock with the day's compression ([`TimeBase::wall`]), fits the judged
//! memory's allocation sites when a probe handed any over, builds the summary
//! and writes the run directory whole, attachments included.

use std::collections::BTreeMap;

use soak_harness::attribution::{self, FitSettings, SiteReport, SiteSampling, Timeline, Whose};
use soak_harness::growth::{Estimate, SIGNIFICANCE_Z};
use soak_harness::report::{write_run, SITES_FILE};
use soak_harness::samples::{Samples, WALL_SECONDS};
use soak_harness::summary::{
    exit_status, ChartPanel, ChartSeries, ChartSpec, Ending, Summary, SummaryInput, MODE_LIVE,
};
use soak_harness::timebase::TimeBase;
use soak_harness::units::bytes_text;
use soak_harness::verdict::{self, Judging, ResourceSpec, ResourceVerdict, Teardown, Verdict};

use super::{facts, tell, Declared, Ended, LiveOutcome, Running};
use crate::config::{LiveConfig, LiveError};
use crate::probe::{Budget, Chart, Kind, Site, Sites};

/// The declarations with the resources a probe withdrew ([`crate::probe::WindDown::withdraw`])
/// reported only: no budget, and no longer a heap probe's, so RSS takes the
/// memory budget back when no other heap resource holds it.
fn withdraw(declared: &[Declared], withdrawn: &[String]) -> Vec<Declared> {
    declared
        .iter()
        .cloned()
        .map(|mut d| {
            if let Kind::Resource(r) = &mut d.column.kind {
                if withdrawn.contains(&r.name) {
                    r.budget = Budget::None;
                    d.heap = false;
                }
            }
            d
        })
        .collect()
}

/// Phase 4 (see the module docs).
pub(crate) fn judge_and_write(
    cfg: &LiveConfig,
    r: &Running,
    e: Ended,
) -> Result<LiveOutcome, LiveError> {
    let declared = &withdraw(r.layout.declared(), &e.handed.withdrawn);
    let judging = Judging {
        run_hours: e.samples.hours().last().copied().unwrap_or(0.0),
        warmup_hours: cfg.warmup.as_secs_f64() / 3600.0,
        retention_hours: cfg.retention.map(|d| d.as_secs_f64() / 3600.0),
        z: SIGNIFICANCE_Z,
        time_base: TimeBase::wall(cfg.compression()),
        load_expected: false,
    };
    let verdicts = verdict::analyse(&e.samples, &specs(declared, cfg.max_growth), &judging);
    let head = headline(&verdicts, declared);
    let mut notes = Vec::new();
    let sites = fit_sites(&e, head, &judging, &mut notes);
    let failed = head.is_some_and(|h| h.failed());
    if failed {
        // A failed run that names no site says why (the notes end its message).
        notes.extend(
            sites
                .as_ref()
                .filter(|s| s.sites.iter().all(|x| !x.fitted))
                .and_then(|s| attribution::unfitted_note(&s.sites)),
        );
        if cfg.retention.is_none() {
            notes.push(NO_RETENTION.to_string());
        }
    }
    // A load that failed judged nothing: what RSS alone would have said is noise.
    if !matches!(e.ending, Ending::LoadFailed { .. }) {
        notes.extend(rss_alone(&verdicts, head, &judging, cfg.max_growth));
    }
    let per_1k = per_1k_requests(&e.samples, head.and_then(|h| h.estimate));
    // What a growth costs per request, said where the memory grew.
    if let Some(g) = per_1k.filter(|_| head.is_some_and(|h| h.grew())) {
        notes.push(format!("{} per 1,000 requests", bytes_text(g)));
    }
    // A plan whose requests largely fail judges a service that did less than it
    // asked: the message says so (every one failing ends the run as a failed load).
    let t = &e.totals;
    if t.requests > 0
        && t.errors < t.requests
        && t.errors as f64 >= FAILED_SHARE * t.requests as f64
    {
        notes.push(format!(
            "{:.0}% of the requests failed{}: the service did less than the plan asks",
            100.0 * t.errors as f64 / t.requests as f64,
            t.first_error
                .as_deref()
                .map(|f| format!(" (the first: {f})"))
                .unwrap_or_default()
        ));
    }
    if e.totals.shed > 0 {
        notes.push(format!(
            "{} events shed: the goose users could not keep up (raise --users)",
            e.totals.shed
        ));
    }
    notes.extend(r.notes.iter().cloned());
    notes.extend(e.handed.notes.iter().cloned());
    let gauges: Vec<String> = declared
        .iter()
        .filter(|d| matches!(d.column.kind, Kind::Gauge | Kind::Counter))
        .map(|d| d.column.name.clone())
        .collect();
    let scenario = cfg.scenario();
    let mut summary = Summary::new(SummaryInput {
        mode: MODE_LIVE,
        scenario: &scenario,
        variant: cfg.variant,
        seed: cfg.seed,
        judging,
        virtual_hours: round(judging.time_base.to_day(e.load_seconds / 3600.0), 3),
        auto: None,
        wall_seconds: round(e.load_seconds, 3),
        sample_every_seconds: cfg.sample_every.as_secs_f64(),
        samples: &e.samples,
        headline: head.map(|h| h.spec.name.clone()),
        chart: chart(declared, head),
        teardown: Teardown::between_samples(&e.samples, &gauges),
        extras: facts::extras(cfg, r, &e, per_1k),
        events: e.totals.requests,
        kinds: Vec::new(),
        load_scale: 1.0,
        injected_leak_bytes_per_hour: 0.0,
        dhat: None,
        sites: sites.as_ref(),
        ending: e.ending.clone(),
        notes,
        verdicts,
    });
    // A run named apart from its variant (`--name after-fix`) says so wherever
    // it is shown: two runs of one plan and label differ by it.
    if cfg.name != cfg.variant.as_str() {
        summary.name = Some(cfg.name.clone());
    }
    let series = sites.as_ref().map(|s| &s.series);
    write_run(
        &r.dir,
        &e.samples,
        &summary,
        None,
        series,
        &e.handed.attachments,
    )?;
    tell(&summary.console());
    tell(&facts::requests_line(&summary));
    // Runs of one plan share a directory unless named apart: say when an earlier
    // run's report was replaced (a before-and-after pair needs two names).
    let replaced = match (r.replaces, cfg.name == cfg.variant.as_str()) {
        (false, _) => "",
        (true, true) => {
            " (replacing an earlier run's report there; --name keeps runs apart, e.g. \
             --name after-fix)"
        }
        (true, false) => " (replacing an earlier run's report of that --name)",
    };
    tell(&format!("  report: {}{replaced}", r.dir.display()));
    Ok(LiveOutcome {
        exit_code: exit_status(&summary),
        summary,
        samples: e.samples,
        dir: r.dir.clone(),
    })
}

/// When a heap probe's memory held the budget but RSS, reported beside it, would
/// have failed judged alone (its estimate and window facts, already fitted, judged
/// against the same budget): a note that says so, and why — the process keeps
/// memory that holds no live data (the allocator's free lists and arenas, a
/// garbage-collected heap's headroom), the growth a person judging by RSS would
/// have chased.
fn rss_alone(
    verdicts: &[ResourceVerdict],
    head: Option<&ResourceVerdict>,
    judging: &Judging,
    max_growth: f64,
) -> Option<String> {
    let head = head.filter(|h| h.spec.name != verdict::RSS && !h.failed())?;
    let rss = verdicts
        .iter()
        .find(|v| v.spec.name == verdict::RSS && v.spec.budget_per_hour.is_none())?;
    let (alone, _) = verdict::judge(Some(max_growth), rss.estimate, rss.facts, judging);
    let e = rss.estimate.filter(|_| alone == Verdict::Fail)?;
    let tb = judging.time_base;
    let held = if head.verdict == Verdict::Pass {
        "held it"
    } else {
        "was inconclusive"
    };
    Some(format!(
        "RSS alone would have failed: {} ± {} against the {} budget, while {} {held} — \
         memory the process keeps but no live data holds (the allocator's free lists \
         and arenas, a garbage-collected heap's headroom)",
        tb.rate_text(e.per_hour, &rss.spec.unit),
        tb.rate_text(e.stderr, &rss.spec.unit),
        tb.rate_text(max_growth, &rss.spec.unit),
        head.spec.name
    ))
}

/// The resources the declared columns make, budgets resolved: the run's memory
/// budget (`--max-growth`) goes to the memory resources of the heap probes that
/// attached, or to RSS when none did.
pub(crate) fn specs(declared: &[Declared], max_growth: f64) -> Vec<ResourceSpec> {
    let heap_judged = declared.iter().any(|d| d.heap && memory(d).is_some());
    declared
        .iter()
        .filter_map(|d| {
            let c = &d.column;
            let spec = |name: &str, unit: &str, budget: Option<f64>, gauge: bool| ResourceSpec {
                name: name.into(),
                column: c.name.clone(),
                unit: unit.into(),
                budget_per_hour: budget,
                gauge,
            };
            match &c.kind {
                Kind::Resource(r) => {
                    let budget = match r.budget {
                        Budget::None => None,
                        Budget::PerHour(b) => Some(b),
                        Budget::Memory if d.heap || !heap_judged => Some(max_growth),
                        Budget::Memory => None,
                    };
                    Some(spec(&r.name, &r.unit, budget, false))
                }
                Kind::Gauge => Some(spec(&c.name, "count", None, true)),
                Kind::Counter => Some(spec(&c.name, "count", None, false)),
                Kind::Series => None,
            }
        })
        .collect()
}

/// The resource a column declares with the run's memory budget, if it does.
pub(crate) fn memory(d: &Declared) -> Option<&str> {
    match &d.column.kind {
        Kind::Resource(r) if r.budget == Budget::Memory => Some(&r.name),
        _ => None,
    }
}

/// The judged memory: the first resource that took the run's memory budget.
fn headline<'a>(
    verdicts: &'a [ResourceVerdict],
    declared: &[Declared],
) -> Option<&'a ResourceVerdict> {
    verdicts.iter().find(|v| {
        v.spec.budget_per_hour.is_some()
            && declared
                .iter()
                .any(|d| d.column.name == v.spec.column && memory(d).is_some())
    })
}

/// The chart the declared columns make: the top panel's series, the judged
/// memory fitted, and the panels in the order their first column was declared.
fn chart(declared: &[Declared], fit: Option<&ResourceVerdict>) -> ChartSpec {
    let mut spec = ChartSpec {
        fit: fit.map(|v| v.spec.name.clone()),
        ..ChartSpec::default()
    };
    for d in declared {
        let name = &d.column.name;
        match &d.column.chart {
            Chart::Main { label } => spec.main.push(ChartSeries::new(name, label)),
            Chart::Panel { title, label } => {
                let series = ChartSeries::new(name, label);
                match spec.panels.iter_mut().find(|p| p.title == *title) {
                    Some(p) => p.series.push(series),
                    None => spec.panels.push(ChartPanel {
                        title: title.clone(),
                        series: vec![series],
                    }),
                }
            }
            Chart::Hidden => {}
        }
    }
    spec
}

/// The judged memory's allocation sites, fitted as a virtual run's are; sites of
/// any other resource are left out with a note.
fn fit_sites(
    e: &Ended,
    head: Option<&ResourceVerdict>,
    j: &Judging,
    notes: &mut Vec<String>,
) -> Option<SiteReport> {
    let mut found: Option<&Sites> = None;
    for s in &e.handed.sites {
        if found.is_none() && head.is_some_and(|h| h.spec.name == s.resource) {
            found = Some(s);
        } else {
            notes.push(format!(
                "allocation sites of {} left out: only the judged memory's are fitted",
                s.resource
            ));
        }
    }
    let s = found?;
    let all_seconds = e.samples.column(WALL_SECONDS).unwrap_or_default();
    let (merged, seconds) = merge_read(&s.sites, &all_seconds);
    let whose: BTreeMap<Vec<String>, Whose> = s
        .sites
        .iter()
        .filter_map(|site| Some((site.frames.clone(), site.whose.clone()?)))
        .collect();
    let sampling = SiteSampling {
        sample_bytes: s.sample_bytes,
        frame_depth: s.frame_depth,
        samples: s.samples,
        missed: 0,
        sites: merged.len(),
        file: SITES_FILE.to_string(),
        stacks: s.sites.len(),
        stacks_resolved: s.sites.len(),
        sites_without_owner: 0, // counted by the ranking
        line_tables: None,
        hint: None,
        resource: s.resource.clone(),
    };
    let time = Timeline {
        column: WALL_SECONDS,
        seconds: &seconds,
    };
    let settings = FitSettings::new(j.warmup_hours, j.time_base, head, s.sample_bytes, &[]);
    Some(attribution::rank(
        &merged, &whose, time, sampling, &e.samples, &settings,
    ))
}

/// Sites with equal frames added together, at the samples (of `seconds`, one per
/// sample) where the probe read any site (a finite value; a sample where no
/// site has one is left out), and those samples' seconds. A probe that reads its sites every few samples (the JS heap's
/// profile after each collection) leaves the others NaN: the fit takes the read
/// samples, each with the load since the previous one (as a virtual run's
/// sparser ticks), not zeros in between. A site first seen late had nothing
/// live before.
fn merge_read(sites: &[Site], seconds: &[f64]) -> (BTreeMap<Vec<String>, Vec<f64>>, Vec<f64>) {
    let rows = seconds.len();
    let mut merged: BTreeMap<Vec<String>, Vec<f64>> = BTreeMap::new();
    let mut read = vec![false; rows];
    for site in sites {
        let values = &site.live_bytes[site.live_bytes.len().saturating_sub(rows)..];
        let start = rows - values.len();
        let sum = merged
            .entry(site.frames.clone())
            .or_insert_with(|| vec![0.0; rows]);
        for ((t, v), r) in sum[start..].iter_mut().zip(values).zip(&mut read[start..]) {
            if v.is_finite() {
                *t += *v;
                *r = true;
            }
        }
    }
    let kept: Vec<usize> = (0..rows).filter(|&r| read[r]).collect();
    if kept.len() == rows {
        return (merged, seconds.to_vec());
    }
    for v in merged.values_mut() {
        *v = kept.iter().map(|&r| v[r]).collect();
    }
    (merged, kept.iter().map(|&r| seconds[r]).collect())
}

/// Growth per 1,000 requests over the fitted window.
fn per_1k_requests(samples: &Samples, est: Option<Estimate>) -> Option<f64> {
    let e = est?;
    let t = samples.hours();
    let load = samples.column("load_events").unwrap_or_default();
    let reqs: f64 = t
        .iter()
        .zip(&load)
        .filter(|(h, _)| **h >= e.from_hours && **h <= e.to_hours)
        .map(|(_, l)| *l)
        .sum();
    (reqs > 0.0).then(|| e.per_hour * (e.to_hours - e.from_hours) / reqs * 1000.0)
}

/// The share of failed requests past which a judged run's message says so.
const FAILED_SHARE: f64 = 0.1;

/// What a failed run without a declared retention adds: a service that keeps what
/// it is sent for a time fills for that long, and a fill the warm-up does not
/// cover reads as growth. No ` — ` in it: that separates the message's "where".
const NO_RETENTION: &str = "no retention declared: if the service keeps what it is sent for a \
     while (a TTL, a session), give the longest with --retention, as it fills until then";

/// `v` to `digits` decimals.
pub(crate) fn round(v: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (v * m).round() / m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(frame: &str, live_bytes: Vec<f64>) -> Site {
        Site {
            frames: vec![frame.to_string()],
            whose: None,
            live_bytes,
        }
    }

    /// Five minutes at one sample a second: RSS and the heap rising at the given
    /// rates (bytes per hour) over a jitter of a few KB.
    fn run(rss_per_hour: f64, heap_per_hour: f64) -> (Vec<ResourceVerdict>, Judging) {
        let cols = [WALL_SECONDS, "load_events", "rss_bytes", "live_bytes"];
        let mut samples = Samples::with_capacity(cols.iter().map(|c| c.to_string()).collect(), 300);
        for i in 0..300u64 {
            let h = i as f64 / 3600.0;
            let jitter = ((i * 7919) % 13) as f64 * 500.0;
            samples.push_row([
                i as f64,
                100.0,
                8e6 + rss_per_hour * h + jitter,
                2e6 + heap_per_hour * h + jitter,
            ]);
        }
        let spec = |name: &str, column: &str, budget| ResourceSpec {
            name: name.into(),
            column: column.into(),
            unit: "bytes".into(),
            budget_per_hour: budget,
            gauge: false,
        };
        let judging = Judging {
            run_hours: 299.0 / 3600.0,
            warmup_hours: 30.0 / 3600.0,
            retention_hours: None,
            z: SIGNIFICANCE_Z,
            time_base: TimeBase::wall(1.0),
            load_expected: false,
        };
        let specs = [
            spec("rss", "rss_bytes", None),
            spec("heap", "live_bytes", Some(1e6)),
        ];
        let verdicts = verdict::analyse(&samples, &specs, &judging);
        (verdicts, judging)
    }

    #[test]
    fn a_held_heap_beside_a_growing_rss_says_rss_alone_would_have_failed() {
        let (v, j) = run(6e6, 0.0);
        assert_eq!(v[1].verdict, Verdict::Pass, "{:?}", v[1]);
        let note = rss_alone(&v, Some(&v[1]), &j, 1e6).expect("a note");
        assert!(
            note.starts_with("RSS alone would have failed: 5."),
            "{note}"
        );
        assert!(note.contains("while heap held it"), "{note}");
        // A heap that did not fail but did not pass either is told as it was.
        let mut unsure = v[1].clone();
        unsure.verdict = Verdict::Inconclusive;
        let note = rss_alone(&v, Some(&unsure), &j, 1e6).expect("a note");
        assert!(note.contains("while heap was inconclusive"), "{note}");
        // RSS as flat as the heap: nothing to say.
        let (v, j) = run(0.0, 0.0);
        assert_eq!(rss_alone(&v, Some(&v[1]), &j, 1e6), None);
        // The heap failed too: the verdict already says where.
        let (v, j) = run(6e6, 6e6);
        assert!(v[1].failed());
        assert_eq!(rss_alone(&v, Some(&v[1]), &j, 1e6), None);
    }

    #[test]
    fn sites_read_every_few_samples_are_fitted_at_those_samples() {
        let nan = f64::NAN;
        let sites = [
            site("a (x.js:1)", vec![nan, 10.0, nan, nan, 30.0, nan]),
            // First seen at the fifth sample; the same frames as another add up.
            site("b (x.js:9)", vec![5.0, nan]),
            site("a (x.js:1)", vec![nan, 1.0, nan, nan, 2.0, nan]),
        ];
        let seconds = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let (merged, at) = merge_read(&sites, &seconds);
        assert_eq!(at, vec![2.0, 5.0]);
        assert_eq!(merged[&vec!["a (x.js:1)".to_string()]], vec![11.0, 32.0]);
        assert_eq!(merged[&vec!["b (x.js:9)".to_string()]], vec![0.0, 5.0]);
    }

    #[test]
    fn sites_read_at_every_sample_keep_every_sample() {
        let sites = [
            site("a (x.js:1)", vec![4.0, 1.0, 2.0]),
            site("b (x.js:2)", vec![3.0]),
        ];
        let (merged, at) = merge_read(&sites, &[1.0, 2.0, 3.0]);
        assert_eq!(at, vec![1.0, 2.0, 3.0]);
        assert_eq!(merged[&vec!["a (x.js:1)".to_string()]], vec![4.0, 1.0, 2.0]);
        // Seen late: nothing live before.
        assert_eq!(merged[&vec!["b (x.js:2)".to_string()]], vec![0.0, 0.0, 3.0]);
    }
}
