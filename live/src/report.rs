//! How a live run ended ([`Ending`]), its exit status and its console line.

use std::path::Path;

use serde::Serialize;
use soak_harness::verdict::Verdict;
use soak_harness::Summary;

use crate::run::secs_text;
use crate::target::Exit;

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
