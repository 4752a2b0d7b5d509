//! Report trees as a whole: every run below a root with its summary parsed
//! ([`Tree`]), each current run matched with its baseline run and compared
//! ([`Comparisons`], under [`crate::baseline`]'s rule), and `--save-baseline`'s copy
//! of the runs that passed ([`save`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::baseline::{compare, label, Rule, RunComparison};
use crate::report;
use crate::summary::Summary;
use crate::Error;

/// One run found in a report tree.
#[derive(Debug, Clone)]
pub struct Run {
    /// Its directory.
    pub dir: PathBuf,
    /// The directory relative to the tree's root (`seed-1/calibration/fixed`).
    pub rel: String,
    /// Its parsed `summary.json`.
    pub summary: Summary,
}

impl Run {
    /// `scenario/variant seed N`, for messages.
    pub fn label(&self) -> String {
        label(&self.summary)
    }
}

/// Every run of a report tree, with summaries parsed.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The root given.
    pub root: PathBuf,
    /// Runs, sorted by directory.
    pub runs: Vec<Run>,
}

impl Tree {
    /// Reads every `summary.json` at or below `root`. `what` names the tree in
    /// errors ("baseline", "report tree"). A missing directory, a tree without any
    /// summary, or a summary that does not parse is an error (exit 2).
    pub fn load(root: &Path, what: &str) -> Result<Tree, Error> {
        Tree::load_except(root, what, &[])
    }

    /// [`Tree::load`] without the run directories in `skip` (runs `soak report`
    /// already rejected and reported).
    pub fn load_except(root: &Path, what: &str, skip: &[PathBuf]) -> Result<Tree, Error> {
        if !root.is_dir() {
            return Err(Error::Usage(format!(
                "{what} directory {} does not exist or is not a directory; pass a report \
                 root written by `soak all --out DIR` or `--save-baseline DIR`",
                root.display()
            )));
        }
        let mut runs = Vec::new();
        for dir in report::find_runs(root) {
            if skip.contains(&dir) {
                continue;
            }
            let path = dir.join(report::SUMMARY_FILE);
            let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            let summary = Summary::from_json(&text, &path)?;
            let rel = dir
                .strip_prefix(root)
                .unwrap_or(&dir)
                .to_string_lossy()
                .into_owned();
            runs.push(Run { dir, rel, summary });
        }
        if runs.is_empty() {
            return Err(Error::Usage(format!(
                "{what} directory {} holds no {} (no run below it); pass a report root \
                 written by `soak all --out DIR` or `--save-baseline DIR`",
                root.display(),
                report::SUMMARY_FILE
            )));
        }
        Ok(Tree {
            root: root.to_path_buf(),
            runs,
        })
    }

    /// The `scenario/variant` pairs the tree holds.
    pub fn pairs(&self) -> BTreeSet<(String, String)> {
        self.runs
            .iter()
            .map(|r| (r.summary.scenario.clone(), r.summary.variant.to_string()))
            .collect()
    }

    /// The baseline run for `current`: same scenario and variant, preferring the
    /// same seed and length, then the same length, then the same seed, then the
    /// lowest seed. `None` when the tree has no run of that scenario and variant.
    pub fn baseline_for(&self, current: &Summary) -> Option<&Run> {
        let variant = current.variant.to_string();
        self.runs
            .iter()
            .filter(|r| {
                r.summary.scenario == current.scenario && r.summary.variant.to_string() == variant
            })
            .min_by_key(|r| {
                let same_seed = r.summary.seed == current.seed;
                let same_hours = r.summary.same_length(current);
                let rank = match (same_seed, same_hours) {
                    (true, true) => 0,
                    (false, true) => 1,
                    (true, false) => 2,
                    (false, false) => 3,
                };
                (rank, r.summary.seed, r.rel.clone())
            })
    }

    /// Fails (exit 2) when none of the `current` scenario/variant pairs is in this
    /// tree: a baseline from another scenario set, or of the other variant.
    pub fn check_overlap(
        &self,
        current: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), Error> {
        let ours = self.pairs();
        let theirs: BTreeSet<(String, String)> = current.into_iter().collect();
        if theirs.is_empty() || !ours.is_disjoint(&theirs) {
            return Ok(());
        }
        let list = |set: &BTreeSet<(String, String)>| {
            let v: Vec<String> = set
                .iter()
                .take(8)
                .map(|(s, v)| format!("{s}/{v}"))
                .collect();
            let more = set.len().saturating_sub(8);
            if more > 0 {
                format!("{} and {more} more", v.join(", "))
            } else {
                v.join(", ")
            }
        };
        Err(Error::Usage(format!(
            "baseline {} is from another scenario set: it holds {} but the runs to compare \
             are {}; pass a baseline of the same scenarios and variant (a live run's variant \
             is its --variant label)",
            self.root.display(),
            list(&ours),
            list(&theirs)
        )))
    }
}

/// Every current run compared with the baseline, plus the runs that had none.
#[derive(Debug, Clone, Default)]
pub struct Comparisons {
    /// Keyed by the current run's label (`scenario/variant seed N`), or its
    /// directory when a tree holds the same label twice.
    pub runs: BTreeMap<String, RunComparison>,
    /// Current runs with no baseline run of their scenario and variant.
    pub missing: Vec<String>,
}

impl Comparisons {
    /// Compares each summary of `current` with its baseline run in `base`. Fails
    /// (exit 2) when the two share no scenario/variant at all.
    pub fn of<'a>(
        base: &Tree,
        current: impl IntoIterator<Item = (String, &'a Summary)> + Clone,
        rule: &Rule,
    ) -> Result<Comparisons, Error> {
        base.check_overlap(
            current
                .clone()
                .into_iter()
                .map(|(_, s)| (s.scenario.clone(), s.variant.to_string())),
        )?;
        let mut out = Comparisons::default();
        for (key, s) in current {
            match base.baseline_for(s) {
                Some(b) => {
                    out.runs.insert(key, compare(&b.summary, &b.rel, s, rule));
                }
                None => out.missing.push(label(s)),
            }
        }
        Ok(out)
    }

    /// Whether any run regressed.
    pub fn regressed(&self) -> bool {
        self.runs.values().any(RunComparison::regressed)
    }

    /// Every regression line.
    pub fn messages(&self, rule: &Rule) -> Vec<String> {
        self.runs.values().flat_map(|c| c.messages(rule)).collect()
    }
}

/// Saves the runs in `dirs` (below `out_root`) into `dest`, mirroring their paths
/// relative to `out_root`, each replacing its earlier copy as a whole (the new copy
/// is staged beside it and renamed into place). Callers pass only runs that passed
/// and did not regress: a baseline is never overwritten by a failing run.
pub fn save(dest: &Path, out_root: &Path, dirs: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    report::check_writable(dest)?;
    let mut saved = Vec::new();
    for dir in dirs {
        let rel = dir.strip_prefix(out_root).unwrap_or(dir);
        let target = dest.join(rel);
        let parent = target.parent().unwrap_or(dest).to_path_buf();
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into());
        let out = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Output { path, source }
        };
        std::fs::create_dir_all(&parent).map_err(out(&parent))?;
        let pid = std::process::id();
        let staging = parent.join(format!(".{name}.staging-{pid}"));
        let old = parent.join(format!(".{name}.old-{pid}"));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(out(&staging))?;
        let copied = (|| -> std::io::Result<()> {
            for e in std::fs::read_dir(dir)? {
                let e = e?;
                let from = e.path();
                let fname = e.file_name();
                // Run files only: temp files and subdirectories stay behind.
                if from.is_file() && !fname.to_string_lossy().starts_with('.') {
                    std::fs::copy(&from, staging.join(&fname))?;
                }
            }
            Ok(())
        })();
        if let Err(source) = copied {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(Error::Output {
                path: target,
                source,
            });
        }
        let had_old = target.exists();
        if had_old {
            std::fs::rename(&target, &old).map_err(out(&target))?;
        }
        if let Err(source) = std::fs::rename(&staging, &target) {
            if had_old {
                let _ = std::fs::rename(&old, &target);
            }
            let _ = std::fs::remove_dir_all(&staging);
            return Err(Error::Output {
                path: target,
                source,
            });
        }
        if had_old {
            let _ = std::fs::remove_dir_all(&old);
        }
        saved.push(target);
    }
    Ok(saved)
}
