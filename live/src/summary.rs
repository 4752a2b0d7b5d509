//! From a live run's samples to its verdict and `summary.json`.
//!
//! The growth model is the harness's, unchanged: its load covariates are the
//! measured load and its moving averages over 5 minutes, 30 minutes and 2 hours
//! of *the plan's day*. A live run plays that day `compression` times faster, so
//! the fit runs on the day clock (wall seconds × compression), where those lags
//! mean what they mean in a virtual replay; on the wall clock, a 2-hour average
//! over a 10-minute run would be a running total of the load and would absorb a
//! leak that grows with traffic. The fit is linear in time, so its results
//! convert back exactly: rates × compression, times ÷ compression. Everything the
//! summary and chart show is per wall hour.

use std::collections::BTreeMap;

use serde_json::json;
use soak_harness::samples::Samples;
use soak_harness::summary::{Summary, MODE_LIVE};
use soak_harness::verdict::{self, ResourceSpec, ResourceVerdict, Teardown, Verdict};

use crate::report::{Ending, Facts};
use crate::run::secs_text;

/// Columns soak itself adds (reported, never judged or listed as grown gauges).
const OWN: [&str; 4] = [
    "latency_p50_ms",
    "latency_p99_ms",
    "errors",
    "ws_connections",
];

fn specs(samples: &Samples, f: &Facts) -> Vec<ResourceSpec> {
    let spec =
        |name: &str, column: &str, unit: &str, budget: Option<f64>, gauge: bool| ResourceSpec {
            name: name.into(),
            column: column.into(),
            unit: unit.into(),
            budget_per_hour: budget,
            gauge,
        };
    let mut out = vec![
        spec("rss", "rss_bytes", "bytes", Some(f.cfg.max_growth), false),
        spec("fds", "open_fds", "fds", f.cfg.max_fd_growth, false),
        spec("threads", "alive_tasks", "threads", None, false),
    ];
    for c in OWN {
        if samples.columns().iter().any(|x| x == c) {
            out.push(spec(c, c, "count", None, false));
        }
    }
    for (c, gauge) in f.metric_columns {
        out.push(spec(c, c, "count", None, *gauge));
    }
    out
}

/// The table on the day clock: same columns, time × `k`, named `virtual_seconds`.
fn on_day_clock(s: &Samples, k: f64) -> Samples {
    let mut cols = s.columns().to_vec();
    cols[0] = "virtual_seconds".into();
    let data: Vec<Vec<f64>> = s
        .columns()
        .iter()
        .map(|c| s.column(c).unwrap_or_default())
        .collect();
    let mut out = Samples::with_capacity(cols, s.rows());
    for r in 0..s.rows() {
        out.push_row(
            data.iter()
                .enumerate()
                .map(|(i, col)| if i == 0 { col[r] * k } else { col[r] }),
        );
    }
    out
}

/// Judges every resource on the day clock and converts the results to wall time.
pub fn analyse(
    samples: &Samples,
    specs: &[ResourceSpec],
    warmup_hours: f64,
    retention_hours: Option<f64>,
    k: f64,
) -> Vec<ResourceVerdict> {
    let day = on_day_clock(samples, k);
    let scaled: Vec<ResourceSpec> = specs
        .iter()
        .map(|s| ResourceSpec {
            budget_per_hour: s.budget_per_hour.map(|b| b / k),
            ..s.clone()
        })
        .collect();
    let judging = verdict::Judging {
        run_hours: day.hours().last().copied().unwrap_or(0.0),
        warmup_hours: warmup_hours * k,
        // On the day clock, as the run's length is.
        retention_hours: retention_hours.map(|r| r * k),
        z: soak_harness::growth::SIGNIFICANCE_Z,
    };
    let mut out = verdict::analyse(&day, &scaled, &judging);
    for (v, spec) in out.iter_mut().zip(specs) {
        v.spec.budget_per_hour = spec.budget_per_hour;
        v.reason = v.reason.map(|r| r.scaled(k));
        if let Some(e) = &mut v.estimate {
            e.per_hour *= k;
            e.stderr *= k;
            e.late_per_hour *= k;
            e.late_stderr *= k;
            e.from_hours /= k;
            e.to_hours /= k;
        }
    }
    out
}

/// Assembles the summary.
pub fn build(samples: &Samples, f: &Facts) -> Summary {
    let cfg = f.cfg;
    let k = cfg.compression();
    let warmup_hours = cfg.warmup.as_secs_f64() / 3600.0;
    let retention_hours = cfg.retention.map(|r| r.as_secs_f64() / 3600.0);
    let verdicts = analyse(
        samples,
        &specs(samples, f),
        warmup_hours,
        retention_hours,
        k,
    );
    let rss = verdicts.iter().find(|v| v.spec.name == "rss");
    let est = rss.and_then(|r| r.estimate);
    let mut failed: Vec<String> = verdicts
        .iter()
        .filter(|v| v.failed())
        .map(|v| v.spec.name.clone())
        .collect();
    let grown: Vec<String> = verdict::grown_gauges(&verdicts)
        .iter()
        .map(|v| v.spec.name.clone())
        .collect();

    // Growth per 1,000 requests over the fitted window.
    let t = samples.hours();
    let load = samples.column("load_events").unwrap_or_default();
    let per_1k = est.and_then(|e| {
        let reqs: f64 = t
            .iter()
            .zip(&load)
            .filter(|(h, _)| **h >= e.from_hours && **h <= e.to_hours)
            .map(|(_, l)| *l)
            .sum();
        (reqs > 0.0).then(|| e.per_hour * (e.to_hours - e.from_hours) / reqs * 1000.0)
    });

    let inconclusive: Vec<String> = verdicts
        .iter()
        .filter(|v| v.verdict == Verdict::Inconclusive)
        .map(|v| v.spec.name.clone())
        .collect();
    let mut message = match (
        failed.is_empty() && inconclusive.is_empty(),
        rss.and_then(|r| r.estimate),
    ) {
        (true, Some(e)) => format!(
            "pass: rss {} ± {} (late half {}; budget {}); no resource grew past its budget",
            verdict::rate_text(e.per_hour, "bytes"),
            verdict::rate_text(e.stderr, "bytes"),
            verdict::rate_text(e.late_per_hour, "bytes"),
            verdict::rate_text(cfg.max_growth, "bytes"),
        ),
        _ => verdict::message_for(&verdicts, verdict::Longer::Duration),
    }
    .replace("/h", "/wall h");
    if let Some(g) = per_1k {
        message.push_str(&format!(
            "; {} per 1,000 requests",
            soak_harness::units::bytes_text(g)
        ));
    }
    match &f.ending {
        Ending::Completed => {}
        Ending::Died {
            at_seconds,
            exit,
            stderr,
        } => {
            if !failed.contains(&"target".to_string()) {
                failed.insert(0, "target".into());
            }
            let tail = if stderr.is_empty() {
                String::new()
            } else {
                format!("; last stderr: {}", stderr.join(" | "))
            };
            message = format!(
                "fail: the target died {} into the run ({}){tail}; before that: {message}",
                secs_text(*at_seconds),
                exit.text
            );
        }
        Ending::Interrupted {
            at_seconds, signal, ..
        } => {
            message = format!(
                "interrupted by {signal} after {} of {}; partial result: {message}",
                secs_text(*at_seconds),
                secs_text(cfg.duration.as_secs_f64())
            );
        }
        Ending::LoadFailed { at_seconds } => {
            message = format!(
                "the load stopped after {}: {}",
                secs_text(*at_seconds),
                f.goose_error.as_deref().unwrap_or("goose ended early")
            );
            message = message.replace(['\n', '\r'], " ");
        }
    }
    if f.totals.shed > 0 {
        message.push_str(&format!(
            "; {} events shed: the goose users could not keep up (raise --users)",
            f.totals.shed
        ));
    }

    let first = |c: &str| {
        samples
            .column(c)
            .and_then(|v| v.iter().copied().find(|x| x.is_finite()))
            .unwrap_or(0.0)
    };
    let last = |c: &str| {
        samples
            .column(c)
            .and_then(|v| v.iter().rev().copied().find(|x| x.is_finite()))
            .unwrap_or(0.0)
    };
    let before = soak_harness::probe::Reading {
        alive_tasks: first("alive_tasks") as u64,
        open_fds: first("open_fds") as u64,
        ..Default::default()
    };
    let after = soak_harness::probe::Reading {
        alive_tasks: last("alive_tasks") as u64,
        open_fds: last("open_fds") as u64,
        ..Default::default()
    };
    let gauges_after: BTreeMap<String, f64> = f
        .metric_columns
        .iter()
        .map(|(c, _)| (c.clone(), last(c)))
        .collect();
    let mut teardown = Teardown::new(&before, &after, gauges_after);
    teardown.settle_virtual_seconds = 0.0;

    let metrics_peak: BTreeMap<String, f64> = verdicts
        .iter()
        .filter(|v| f.metric_columns.iter().any(|(c, _)| *c == v.spec.column))
        .map(|v| (v.spec.column.clone(), v.peak))
        .collect();
    let tot = &f.totals;
    let requests = json!({
        "total": tot.requests,
        "expected": (f.expected_requests).round(),
        "expected_events": f.expected_events.round(),
        "events": f.events,
        "shed": tot.shed,
        "errors": tot.errors,
        "http": tot.http,
        "ws_connects": tot.ws_connects,
        "ws_frames": tot.ws_frames,
        "goose_counted": f.goose_requests,
        "target_counted": f.target_counted,
        "count_metric": f.count_metric,
        "per_second": round(tot.requests as f64 / f.load_seconds.max(1e-9), 1),
        "vs_expected": ratio(tot.requests as f64, f.expected_requests),
        "vs_target": f.target_counted.map(|c| ratio(tot.requests as f64, c as f64)),
    });
    let live = json!({
        "plan": cfg.plan.name,
        "about": cfg.plan.about,
        "users": cfg.users(),
        "duration_seconds": cfg.duration.as_secs_f64(),
        "load_seconds": round(f.load_seconds, 3),
        "day_seconds": cfg.day.as_secs_f64(),
        "compression": round(k, 3),
        "warmup_seconds": cfg.warmup.as_secs_f64(),
        "target": {
            "command": f.command,
            "pid": f.pid,
            "url": f.endpoint.url.as_str(),
            "metrics_url": f.metrics_url,
            "spawned": f.command.is_some(),
            "stopped": f.stop_exit,
            "logs": f.target_logs,
        },
        "requests": requests,
        "latency_ms": tot.latency_ms,
        "peak_connections": tot.peak_connections,
        "metrics_peak": metrics_peak,
        "scrape_failures": f.scrape_failures,
        "growth_bytes_per_1k_requests": per_1k.map(|g| round(g, 1)),
        "soak": {
            "cpu_seconds": round(f.soak_cpu_seconds, 3),
            "cpu_ms_per_1k_requests": (tot.requests > 0)
                .then(|| round(f.soak_cpu_seconds * 1000.0 / tot.requests as f64 * 1000.0, 2)),
            "peak_rss_bytes": f.soak_peak_rss,
            "nofile": f.nofile,
        },
        "goose": {
            "report_files": f.goose_files,
            "error": f.goose_error,
        },
        "ending": f.ending,
    });
    let mut extras = BTreeMap::new();
    extras.insert("live".to_string(), live);
    if cfg.plan.has_ws() {
        extras.insert("peak_connections".to_string(), json!(tot.peak_connections));
    }
    // A target that died fails whatever its samples say; otherwise the resources
    // decide (fail, else inconclusive, else pass), as in a virtual run.
    let verdict = if failed.is_empty() {
        verdict::decide(&verdicts)
    } else {
        Verdict::Fail
    };
    Summary {
        mode: MODE_LIVE.to_string(),
        scenario: cfg.scenario(),
        variant: cfg.variant,
        seed: cfg.seed,
        virtual_hours: round(f.load_seconds * k / 3600.0, 3),
        auto: None,
        retention_hours: retention_hours.map(|r| r * k),
        wall_seconds: round(f.load_seconds, 3),
        samples: samples.rows(),
        sample_every_seconds: cfg.sample_every.as_secs_f64(),
        warmup_hours,
        load_events: tot.requests,
        threshold_bytes_per_hour: cfg.max_growth,
        growth_bytes_per_hour: est.map(|e| e.per_hour).unwrap_or(0.0),
        growth_stderr_bytes_per_hour: est.map(|e| e.stderr).unwrap_or(0.0),
        late_growth_bytes_per_hour: est.map(|e| e.late_per_hour).unwrap_or(0.0),
        injected_leak_bytes_per_hour: 0.0,
        verdict,
        complete: f.ending.complete(),
        message,
        failed_resources: failed,
        inconclusive_resources: inconclusive,
        grown_gauges: grown,
        peak_live_bytes: rss.map(|r| r.peak as u64).unwrap_or(0),
        final_live_bytes: rss.map(|r| r.last as u64).unwrap_or(0),
        resources: verdicts,
        teardown,
        dhat: None,
        samples_digest: Some(samples.digest()),
        site_sampling: None,
        growth_sites: Vec::new(),
        growth_owners: Vec::new(),
        extras,
    }
}

fn round(v: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (v * m).round() / m
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| round(a / b, 4))
}

#[cfg(test)]
mod tests {
    use super::*;
    use soak_harness::samples::WALL_SECONDS;

    /// A leak of 10 MB per wall hour in a 10-minute run with a day every 10
    /// minutes (144×) is estimated at 10 MB per wall hour, and a flat series at 0.
    #[test]
    fn day_clock_analysis_converts_back_to_wall_rates() {
        let k = 144.0;
        let mut s = Samples::with_capacity(
            vec![
                WALL_SECONDS.into(),
                "load_events".into(),
                "leak".into(),
                "flat".into(),
            ],
            600,
        );
        for i in 0..600 {
            let t = f64::from(i);
            // Three load cycles: over a single pure sine the trend is nearly a
            // mix of the load's moving averages (inconclusive, "collinear").
            let load = 100.0 - 50.0 * (t / 200.0 * std::f64::consts::TAU).cos();
            s.push_row([t, load, 1e7 * t / 3600.0, 5e6]);
        }
        let spec = |c: &str| ResourceSpec {
            name: c.into(),
            column: c.into(),
            unit: "bytes".into(),
            budget_per_hour: Some(1e6),
            gauge: false,
        };
        let v = analyse(&s, &[spec("leak"), spec("flat")], 60.0 / 3600.0, None, k);
        let leak = v[0].estimate.expect("estimated");
        assert!((leak.per_hour - 1e7).abs() < 1e4, "{}", leak.per_hour);
        assert!((leak.from_hours - 60.0 / 3600.0).abs() < 1e-9);
        assert_eq!(v[0].verdict, Verdict::Fail, "{:?}", v[0].reason);
        assert_eq!(v[0].spec.budget_per_hour, Some(1e6));
        assert_eq!(v[1].verdict, Verdict::Pass);
        // A target that keeps state for an hour is not judged on ten minutes: the
        // leak is inconclusive, with the retention as the reason, told in wall hours.
        let short = analyse(&s, &[spec("leak")], 60.0 / 3600.0, Some(1.0), k);
        assert_eq!(short[0].verdict, Verdict::Inconclusive);
        assert!(
            matches!(
                short[0].reason,
                Some(soak_harness::verdict::Reason::Retention { retention_hours, .. })
                    if (retention_hours - 1.0).abs() < 1e-9
            ),
            "{:?}",
            short[0].reason
        );
        let m = verdict::message_for(&short, verdict::Longer::Duration);
        assert!(m.contains("retention (1 h; the run was 10 min)"), "{m}");
        assert!(!m.contains("--hours"), "a live run has no --hours: {m}");
    }
}
