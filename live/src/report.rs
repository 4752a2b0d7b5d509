//! What a live run knows at its end ([`Facts`]), how it ended ([`Ending`]), its
//! exit status and its console line. The files themselves are written by the
//! harness (`samples.csv`, `summary.json`, charts, index); goose writes its own
//! report beside them.

use std::path::Path;

use serde::Serialize;
use soak_harness::verdict::Verdict;
use soak_harness::Summary;

use crate::addr::Endpoint;
use crate::config::LiveConfig;
use crate::load::stats::Totals;
use crate::rlimit::NoFile;
use crate::run::secs_text;
use crate::target::Exit;

/// Goose's HTML report, beside ours.
pub const GOOSE_HTML: &str = "goose-report.html";
/// Goose's JSON report.
pub const GOOSE_JSON: &str = "goose-report.json";

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum Ending {
    /// The whole duration ran.
    Completed,
    /// The target died mid-run.
    Died {
        /// Wall seconds into the run.
        at_seconds: f64,
        /// Its exit.
        exit: Exit,
        /// Its last stderr lines.
        stderr: Vec<String>,
    },
    /// SIGINT or SIGTERM.
    Interrupted {
        /// Wall seconds into the run.
        at_seconds: f64,
        /// `SIGINT` or `SIGTERM`.
        signal: String,
        /// 128 + the signal's number.
        exit_status: u8,
    },
    /// Goose stopped early with an error.
    LoadFailed {
        /// Wall seconds into the run.
        at_seconds: f64,
    },
}

impl Ending {
    /// Whether the run covered its whole duration.
    pub fn complete(&self) -> bool {
        matches!(self, Ending::Completed | Ending::Died { .. })
    }
}

/// Everything measured and decided, for the summary.
#[derive(Debug)]
pub struct Facts<'a> {
    /// Settings.
    pub cfg: &'a LiveConfig,
    /// The target's URL.
    pub endpoint: &'a Endpoint,
    /// `--cmd`, when soak spawned it.
    pub command: Option<String>,
    /// Its PID.
    pub pid: u32,
    /// Where its metrics were scraped.
    pub metrics_url: Option<String>,
    /// Metric columns and whether each is a gauge (not a counter).
    pub metric_columns: &'a [(String, bool)],
    /// The target's request counter.
    pub count_metric: Option<String>,
    /// Its increase over the run.
    pub target_counted: Option<u64>,
    /// Requests the plan should produce over the run (expected events × requests per event).
    pub expected_requests: f64,
    /// Events the plan should produce.
    pub expected_events: f64,
    /// Events the dispatcher produced.
    pub events: u64,
    /// Soak's own counts.
    pub totals: Totals,
    /// Requests goose's metrics counted.
    pub goose_requests: Option<u64>,
    /// Goose's failure, if any.
    pub goose_error: Option<String>,
    /// Goose's report files written.
    pub goose_files: Vec<String>,
    /// Wall seconds the load ran.
    pub load_seconds: f64,
    /// CPU seconds soak used.
    pub soak_cpu_seconds: f64,
    /// Soak's peak RSS.
    pub soak_peak_rss: u64,
    /// The descriptor limit.
    pub nofile: Option<NoFile>,
    /// The target's output files kept.
    pub target_logs: Vec<String>,
    /// How a spawned target ended when stopped.
    pub stop_exit: Option<Exit>,
    /// Metric scrapes that failed.
    pub scrape_failures: u64,
    /// How the run ended.
    pub ending: Ending,
}

/// 0 pass, 1 leak or a target that died, 3 inconclusive (no resource failed, one
/// could not be judged), 128 + n interrupted by signal n (130 SIGINT, 143 SIGTERM),
/// 2 load failure.
pub fn exit_code(summary: &Summary, ending: &Ending) -> u8 {
    match ending {
        Ending::Interrupted { exit_status, .. } => *exit_status,
        Ending::LoadFailed { .. } => 2,
        Ending::Died { .. } => 1,
        Ending::Completed => match summary.verdict {
            Verdict::Pass => 0,
            Verdict::Inconclusive => 3,
            _ => 1,
        },
    }
}

/// The console line at the end.
pub fn outcome_line(s: &Summary, dir: &Path) -> String {
    let live = s.extras.get("live");
    let num = |k: &str| {
        live.and_then(|l| l.get("requests"))
            .and_then(|r| r.get(k))
            .and_then(|v| v.as_f64())
    };
    format!(
        "{} ({}, seed {}): {} wall ({:.1} virtual h), {} requests (plan {}, target {}); {}\n  report: {}",
        s.scenario,
        s.variant,
        s.seed,
        secs_text(s.wall_seconds),
        s.virtual_hours,
        num("total").map(|v| format!("{v:.0}")).unwrap_or_else(|| "?".into()),
        num("expected").map(|v| format!("{v:.0}")).unwrap_or_else(|| "?".into()),
        num("target_counted").map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into()),
        s.message,
        dir.display()
    )
}
