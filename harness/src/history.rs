//! `history.jsonl` under a report root: one JSON line per finished run, appended
//! (scenario, variant, seed, time, git commit when known, growth ± error of every
//! resource, verdict), so `soak report` can draw how each scenario's growth moved
//! night after night.
//!
//! Lines are appended with a single `write` on a file opened in append mode, so
//! runs appending to the same history interleave whole lines. Shard jobs each
//! write their own history; `soak report ROOT` merges every `history.jsonl` found
//! below ROOT into ROOT's own (a line already present is not added twice).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::baseline::verdict_word;
use crate::summary::Summary;
use crate::Error;

/// The history's file name under a report root.
pub const HISTORY_FILE: &str = "history.jsonl";

/// One resource's estimate in a history line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Growth {
    /// Unit of one count (`bytes`, `tasks`, `fds`, `count`).
    pub unit: String,
    /// Growth per virtual hour (whole window).
    pub per_hour: f64,
    /// Its standard error.
    pub stderr: f64,
    /// Growth over the late half.
    pub late_per_hour: f64,
    /// Budget per hour, when judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
    /// This resource's verdict word.
    pub verdict: String,
}

/// One line of `history.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// When the line was written, UTC, RFC 3339 (`2026-11-28T02:17:00Z`).
    pub time: String,
    /// Seconds since the Unix epoch, for ordering.
    pub unix: u64,
    /// The nanoseconds within that second: two runs of one scenario, variant
    /// and seed can end in the same second (a quick scenario run twice in a
    /// loop), and stay two lines. Absent in lines written before it was
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nanos: Option<u32>,
    /// The source revision, when known (`SOAK_COMMIT`, `GITHUB_SHA` or `git`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Scenario.
    pub scenario: String,
    /// Variant word.
    pub variant: String,
    /// Seed.
    pub seed: u64,
    /// Virtual hours.
    pub hours: f64,
    /// The run's verdict word (`pass`, `fail`, …).
    pub verdict: String,
    /// Resources that regressed against a baseline, when one was given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regressions: Vec<String>,
    /// Every resource with an estimate.
    pub resources: BTreeMap<String, Growth>,
    /// The run's directory relative to the report root.
    #[serde(default)]
    pub run: String,
    /// The run's wall time, seconds (orders the next parallel run longest
    /// first); absent in lines written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_seconds: Option<f64>,
}

impl Entry {
    /// A history line for `summary`, written now.
    pub fn new(
        summary: &Summary,
        run: &str,
        commit: Option<String>,
        regressions: Vec<String>,
    ) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let unix = now.as_secs();
        let resources = summary
            .resources
            .iter()
            .filter_map(|r| {
                let e = r.estimate?;
                Some((
                    r.spec.name.clone(),
                    Growth {
                        unit: r.spec.unit.clone(),
                        per_hour: e.per_hour,
                        stderr: e.stderr,
                        late_per_hour: e.late_per_hour,
                        budget: r.spec.budget_per_hour,
                        verdict: verdict_word(&r.verdict),
                    },
                ))
            })
            .collect();
        Entry {
            time: rfc3339(unix),
            unix,
            nanos: Some(now.subsec_nanos()),
            commit,
            scenario: summary.scenario.clone(),
            variant: summary.variant.to_string(),
            seed: summary.seed,
            hours: summary.virtual_hours,
            verdict: verdict_word(&summary.verdict),
            regressions,
            resources,
            run: run.to_string(),
            wall_seconds: Some(summary.wall_seconds),
        }
    }

    /// One JSON line, newline-terminated.
    pub fn to_line(&self) -> String {
        // Plain strings, numbers and maps: serialising cannot fail.
        let mut s = serde_json::to_string(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Appends `entries` to `root/history.jsonl` in one write.
pub fn append(root: &Path, entries: &[Entry]) -> Result<(), Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let path = root.join(HISTORY_FILE);
    let text: String = entries.iter().map(Entry::to_line).collect();
    let result = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    result.map_err(|source| Error::Output { path, source })
}

/// Reads one history file; a line that does not parse is an error naming it.
pub fn read(path: &Path) -> Result<Vec<Entry>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::Malformed {
                path: path.to_path_buf(),
                why: format!("line {}: {e} (delete the line to keep the rest)", i + 1),
            })
        })
        .collect()
}

/// Every `history.jsonl` strictly below `root` (shard trees copied in).
fn histories_below(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        if depth > 0 && d.join(HISTORY_FILE).is_file() {
            found.push(d.join(HISTORY_FILE));
        }
        if depth >= 8 {
            continue;
        }
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
                if is_dir && !e.file_name().to_string_lossy().starts_with('.') {
                    stack.push((e.path(), depth + 1));
                }
            }
        }
    }
    found.sort();
    found
}

/// Merges every history below `root` into `root/history.jsonl` (lines already
/// there are kept, new ones appended, duplicates dropped) and returns the merged
/// history ordered by time. Run paths of merged lines are made relative to `root`.
pub fn merge(root: &Path) -> Result<Vec<Entry>, Error> {
    let mut all = read(&root.join(HISTORY_FILE))?;
    // Identity, not the whole line: serde_json's float parsing may move a value by
    // one ulp, so a re-read line need not serialise to the same text.
    let key = |e: &Entry| {
        (
            e.unix,
            e.nanos,
            e.scenario.clone(),
            e.variant.clone(),
            e.seed,
            e.run.clone(),
            e.commit.clone(),
        )
    };
    let mut seen: BTreeSet<_> = all.iter().map(key).collect();
    let mut added = Vec::new();
    for path in histories_below(root) {
        let prefix = path
            .parent()
            .and_then(|p| p.strip_prefix(root).ok())
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for mut e in read(&path)? {
            if !e.run.is_empty() {
                e.run = prefix.join(&e.run).to_string_lossy().into_owned();
            }
            if seen.insert(key(&e)) {
                added.push(e);
            }
        }
    }
    append(root, &added)?;
    all.extend(added);
    all.sort_by(|a, b| {
        (a.unix, a.nanos, &a.scenario, &a.variant, a.seed).cmp(&(
            b.unix,
            b.nanos,
            &b.scenario,
            &b.variant,
            b.seed,
        ))
    });
    Ok(all)
}

/// `2026-11-28T02:17:00Z` for Unix seconds.
pub fn rfc3339(unix: u64) -> String {
    let (y, m, d) = civil_from_days((unix / 86_400) as i64);
    let s = unix % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The source revision for history lines: `SOAK_COMMIT`, else `GITHUB_SHA`, else
/// `git rev-parse HEAD` in the current directory; `None` when none is known.
pub fn current_commit() -> Option<String> {
    for var in ["SOAK_COMMIT", "GITHUB_SHA"] {
        if let Ok(v) = std::env::var(var) {
            let v = v.trim().to_string();
            if !v.is_empty() {
                return Some(v);
            }
        }
    }
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let v = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !v.is_empty()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    fn entry(scenario: &str, unix: u64, run: &str) -> Entry {
        let mut resources = BTreeMap::new();
        resources.insert(
            "heap".to_string(),
            Growth {
                unit: "bytes".into(),
                // A value serde_json's default float parser does not read back exactly.
                per_hour: -1813.7176989498212,
                stderr: 3481.0000000000005,
                late_per_hour: 0.1 + 0.2,
                budget: Some(1e6),
                verdict: "pass".into(),
            },
        );
        Entry {
            time: rfc3339(unix),
            unix,
            nanos: None,
            commit: None,
            scenario: scenario.into(),
            variant: "fixed".into(),
            seed: 1,
            hours: 24.0,
            verdict: "pass".into(),
            regressions: vec![],
            resources,
            run: run.into(),
            wall_seconds: Some(1.5),
        }
    }

    #[test]
    fn merge_collects_shard_histories_once() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        append(root, &[entry("a", 10, "a/fixed")]).expect("root");
        std::fs::create_dir_all(root.join("shard-2")).expect("mkdir");
        append(&root.join("shard-2"), &[entry("b", 5, "b/fixed")]).expect("shard");
        let merged = merge(root).expect("merge");
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].scenario, "b", "ordered by time");
        assert_eq!(
            merged[0].run, "shard-2/b/fixed",
            "run path made relative to the root"
        );
        // Merging again adds nothing.
        assert_eq!(merge(root).expect("again").len(), 2);
        assert_eq!(read(&root.join(HISTORY_FILE)).expect("read").len(), 2);
    }

    #[test]
    fn two_runs_of_one_seed_in_the_same_second_stay_two_lines() {
        // A quick scenario run twice in a loop (the second with a leak) can end
        // in the same second: the second run's line was dropped as a duplicate
        // of the first, and its regression with it.
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        let shard = root.join("seed-2");
        std::fs::create_dir_all(&shard).expect("mkdir");
        let mut first = entry("calibration", 100, "calibration/fixed");
        first.nanos = Some(200_000_000);
        let mut second = first.clone();
        second.nanos = Some(900_000_000);
        second.verdict = "fail".into();
        append(&shard, &[first, second]).expect("append");
        let merged = merge(root).expect("merge");
        let verdicts: Vec<&str> = merged.iter().map(|e| e.verdict.as_str()).collect();
        assert_eq!(verdicts, ["pass", "fail"], "in the order they ran");
        // Merging again still adds nothing; lines written before `nanos` (none)
        // keep their old identity.
        assert_eq!(merge(root).expect("again").len(), 2);
        let line = entry("a", 1, "a/fixed").to_line();
        assert!(!line.contains("nanos"), "{line}");
    }

    #[test]
    fn malformed_line_is_named() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let p = tmp.path().join(HISTORY_FILE);
        std::fs::write(&p, format!("{}{{oops\n", entry("a", 1, "").to_line())).expect("write");
        let e = read(&p).expect_err("malformed").to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
