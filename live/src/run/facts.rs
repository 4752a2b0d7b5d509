//! What `summary.json` says about a live run besides the verdict: the `live`
//! object (the plan, the target, the requests soak, goose and the target counted,
//! latency, soak's own cost, goose's report, and what the probes added), and the
//! console's line of request counts.

use std::collections::BTreeMap;

use serde_json::json;
use soak_harness::Summary;

use super::judge::round;
use super::{Ended, Running};
use crate::config::LiveConfig;
use crate::probe::merge;

/// The summary's facts beyond the common fields: `live`, and `peak_connections`
/// when the plan opens WebSockets.
pub(crate) fn extras(
    cfg: &LiveConfig,
    r: &Running,
    e: &Ended,
    per_1k: Option<f64>,
) -> BTreeMap<String, serde_json::Value> {
    let tot = &e.totals;
    let expected_requests = r.load.expected_events * cfg.plan.requests_per_event();
    let mut live = json!({
        "plan": cfg.plan.name,
        "about": cfg.plan.about,
        "users": cfg.users(),
        "duration_seconds": cfg.duration.as_secs_f64(),
        "load_seconds": round(e.load_seconds, 3),
        "day_seconds": cfg.day.as_secs_f64(),
        "compression": round(cfg.compression(), 3),
        "warmup_seconds": cfg.warmup.as_secs_f64(),
        "target": {
            "command": r.command,
            "pid": r.target.pid,
            "url": r.endpoint.url.as_str(),
            "metrics_url": null,
            "spawned": r.command.is_some(),
            "stopped": e.stop_exit,
            "logs": e.target_logs,
        },
        "requests": {
            "total": tot.requests,
            "expected": expected_requests.round(),
            "expected_events": r.load.expected_events.round(),
            "events": e.events,
            "shed": tot.shed,
            "errors": tot.errors,
            "first_error": tot.first_error,
            "http": tot.http,
            "ws_connects": tot.ws_connects,
            "ws_frames": tot.ws_frames,
            "goose_counted": e.goose_requests,
            "target_counted": null,
            "count_metric": null,
            "per_second": round(tot.requests as f64 / e.load_seconds.max(1e-9), 1),
            "vs_expected": ratio(tot.requests as f64, expected_requests),
        },
        "latency_ms": tot.latency_ms,
        "peak_connections": tot.peak_connections,
        "metrics_peak": {},
        "scrape_failures": 0,
        "growth_bytes_per_1k_requests": per_1k.map(|g| round(g, 1)),
        "soak": {
            "cpu_seconds": round(e.cpu_seconds, 3),
            "cpu_ms_per_1k_requests": (tot.requests > 0)
                .then(|| round(e.cpu_seconds * 1000.0 / tot.requests as f64 * 1000.0, 2)),
            "peak_rss_bytes": crate::procfs::self_peak_rss(),
            "nofile": r.nofile.as_ref().ok(),
        },
        "goose": {
            "report_files": e.goose_files,
            "error": e.goose_error,
        },
    });
    if let Some(obj) = live.as_object_mut() {
        for (key, value) in e.handed.facts.clone() {
            merge(obj, &key, value);
        }
        let counted = obj["requests"]["target_counted"].as_f64();
        merge(
            obj,
            "requests",
            json!({ "vs_target": counted.map(|c| ratio(tot.requests as f64, c)) }),
        );
    }
    let mut extras = BTreeMap::new();
    extras.insert("live".to_string(), live);
    if cfg.plan.has_ws() {
        extras.insert("peak_connections".to_string(), json!(tot.peak_connections));
    }
    extras
}

/// `  requests: 99759 (plan 99000, target 99759)`, and `; 12 failed (under 0.1%;
/// the first: POST /flag/g1/u2: HTTP 503)` when some failed.
pub(crate) fn requests_line(s: &Summary) -> String {
    let num = |k: &str| {
        s.extras
            .get("live")
            .and_then(|l| l.get("requests"))
            .and_then(|r| r.get(k))
            .and_then(|v| v.as_f64())
    };
    let text =
        |v: Option<f64>, none: &str| v.map_or_else(|| none.to_string(), |v| format!("{v:.0}"));
    let failed = match (num("errors"), num("total")) {
        (Some(e), Some(t)) if e > 0.0 && t > 0.0 => {
            let first = s
                .extras
                .get("live")
                .and_then(|l| l.pointer("/requests/first_error"))
                .and_then(|v| v.as_str())
                .map(|f| format!("; the first: {f}"))
                .unwrap_or_default();
            let share = 100.0 * e / t;
            let share = if share < 0.05 {
                "under 0.1".to_string()
            } else {
                format!("{share:.1}")
            };
            format!("; {e:.0} failed ({share}%{first})")
        }
        _ => String::new(),
    };
    // The target's own count, where its /metrics has one.
    let target = num("target_counted").map_or_else(String::new, |c| format!(", target {c:.0}"));
    format!(
        "  requests: {} (plan {}{target}){failed}",
        text(num("total"), "?"),
        text(num("expected"), "?"),
    )
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| round(a / b, 4))
}
