//! The CI side of the command line: `--junit`, `--baseline`, `--save-baseline`,
//! the regression rule's options, the run history, and the `compare` and `report`
//! commands' baseline and Markdown output.
//!
//! A [`Session`] wraps the runs of one `soak run` / `soak all`: it validates every
//! CI option before anything runs (bad input: exit 2, nothing written), compares
//! each finished run with its baseline, and at the end writes the JUnit file,
//! appends the history, redraws the trend charts and the index, and saves the
//! runs that passed without regression as the new baseline.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::baseline::{self, verdict_word, Rule, RunComparison};
use crate::history::{self, Entry};
use crate::junit::{self, Case};
use crate::report::tree::{self, Comparisons, Tree};
use crate::report::{self, markdown, trend};
use crate::run::Outcome;
use crate::summary::Summary;
use crate::units::parse_rate;
use crate::Error;

use super::{EXIT_FAIL, EXIT_PASS};

/// The regression rule's options.
#[derive(Debug, Args, Clone)]
pub struct RuleArgs {
    /// Smallest rise in heap growth (against --baseline) that counts as a
    /// regression, whatever the uncertainty.
    #[arg(
        long,
        default_value = "128KiB/h",
        value_name = "RATE",
        allow_hyphen_values = true
    )]
    pub regression_floor: String,
    /// Smallest rise in task, descriptor or gauge growth that counts as a
    /// regression, per virtual hour.
    #[arg(
        long,
        default_value = "0.5",
        value_name = "N",
        allow_hyphen_values = true
    )]
    pub regression_count_floor: String,
    /// How many combined standard errors a rise must also clear to count.
    #[arg(
        long,
        default_value = "3",
        value_name = "Z",
        allow_hyphen_values = true
    )]
    pub regression_z: String,
}

impl RuleArgs {
    /// The validated rule.
    pub fn to_rule(&self) -> Result<Rule, Error> {
        let num = |flag: &str, text: &str| {
            text.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--{flag} '{text}' is not a non-negative number; e.g. --{flag} 0.5"
                    ))
                })
        };
        let rule = Rule {
            heap_floor: parse_rate(&self.regression_floor)
                .map_err(|e| Error::Usage(format!("--regression-floor: {e}")))?,
            count_floor: num("regression-count-floor", &self.regression_count_floor)?,
            z: num("regression-z", &self.regression_z)?,
        };
        rule.validate()?;
        Ok(rule)
    }
}

/// CI options of `soak run` and `soak all`.
#[derive(Debug, Args, Clone)]
pub struct CiArgs {
    /// Write the runs as JUnit XML to FILE (one testcase per scenario, variant and
    /// seed; failures carry the verdict message).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Compare every budgeted resource's growth with the runs in this report tree
    /// (an earlier --out or --save-baseline directory); a rise past the regression
    /// rule exits 1 even under budget.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    /// After the runs, copy every run that passed (and did not regress) into DIR as
    /// the new baseline; failing runs never replace their baseline.
    #[arg(long, value_name = "DIR")]
    pub save_baseline: Option<PathBuf>,
    /// The regression rule.
    #[command(flatten)]
    pub rule: RuleArgs,
    /// Do not append the runs to OUT/history.jsonl.
    #[arg(long)]
    pub no_history: bool,
}

struct Done {
    summary: Summary,
    dir: Option<PathBuf>,
    comparison: Option<RunComparison>,
}

/// The CI bookkeeping around the runs of one command.
pub struct Session {
    out: PathBuf,
    junit: Option<PathBuf>,
    baseline: Option<Tree>,
    save: Option<PathBuf>,
    rule: Rule,
    history: bool,
    done: Vec<Done>,
    errors: Vec<(String, String, u64, String)>,
}

impl Session {
    /// Validates the CI options for runs of `planned` (scenario, variant) pairs
    /// writing under `out`. Every error here is exit 2 with nothing written.
    pub fn start(args: &CiArgs, out: &Path, planned: &[(String, String)]) -> Result<Self, Error> {
        let rule = args.rule.to_rule()?;
        if let Some(j) = &args.junit {
            junit::check_path(j)?;
        }
        let baseline = match &args.baseline {
            Some(dir) => {
                let tree = Tree::load(dir, "baseline")?;
                tree.check_overlap(planned.iter().cloned())?;
                Some(tree)
            }
            None => None,
        };
        if let Some(dir) = &args.save_baseline {
            if dir.exists() && !dir.is_dir() {
                return Err(Error::Usage(format!(
                    "--save-baseline {} exists and is not a directory; give a directory",
                    dir.display()
                )));
            }
        }
        Ok(Session {
            out: out.to_path_buf(),
            junit: args.junit.clone(),
            baseline,
            save: args.save_baseline.clone(),
            rule,
            history: !args.no_history,
            done: Vec::new(),
            errors: Vec::new(),
        })
    }

    /// Records a finished run: compares it with the baseline and prints any
    /// regression. Returns the exit status it adds (1 on a regression).
    pub fn record(&mut self, o: &Outcome) -> u8 {
        let comparison = self.baseline.as_ref().and_then(|b| {
            b.baseline_for(&o.summary)
                .map(|base| baseline::compare(&base.summary, &base.rel, &o.summary, &self.rule))
        });
        let mut code = EXIT_PASS;
        match &comparison {
            Some(c) => {
                for m in c.messages(&self.rule) {
                    outln!("  {m}");
                    code = EXIT_FAIL;
                }
                if !c.regressed() {
                    if let Some(h) = c.memory() {
                        outln!(
                            "  vs baseline (seed {}): {} {} {}",
                            c.base_seed,
                            h.resource,
                            h.rate(h.old),
                            h.delta_text()
                        );
                    }
                }
            }
            None if self.baseline.is_some() => {
                outln!(
                    "  no baseline run of {}/{}: not compared",
                    o.summary.scenario,
                    o.summary.variant
                );
            }
            None => {}
        }
        self.done.push(Done {
            summary: o.summary.clone(),
            dir: o.dir.clone(),
            comparison,
        });
        code
    }

    /// Records a run that stopped with an error (it shows in JUnit as `<error>`).
    pub fn record_error(&mut self, scenario: &str, variant: &str, seed: u64, e: &Error) {
        self.errors
            .push((scenario.into(), variant.into(), seed, e.to_string()));
    }

    /// Where the runs' index page is (written by every run and by [`Self::finish`]).
    pub fn index_path(&self) -> PathBuf {
        self.out.join("index.html")
    }

    /// Writes JUnit, history, trends, the index and the baseline. Returns an error
    /// only for a file that could not be written.
    pub fn finish(self) -> Result<(), Error> {
        if let Some(path) = &self.junit {
            let mut cases: Vec<Case<'_>> = self
                .done
                .iter()
                .map(|d| Case::Run {
                    summary: &d.summary,
                    comparison: d.comparison.as_ref(),
                    dir: d.dir.as_deref(),
                })
                .collect();
            cases.extend(self.errors.iter().map(|(s, v, seed, m)| Case::Error {
                scenario: s.clone(),
                variant: v.clone(),
                seed: *seed,
                message: m.clone(),
            }));
            junit::write(path, &cases, &self.rule)?;
            outln!("junit: {}", path.display());
        }
        let written: Vec<&Done> = self.done.iter().filter(|d| d.dir.is_some()).collect();
        if self.history && !written.is_empty() {
            let commit = history::current_commit();
            let entries: Vec<Entry> = written
                .iter()
                .map(|d| {
                    let rel = rel(&self.out, d.dir.as_deref().unwrap_or(&self.out));
                    let regressions = d
                        .comparison
                        .as_ref()
                        .map(|c| c.regressions().map(|r| r.resource.clone()).collect())
                        .unwrap_or_default();
                    Entry::new(&d.summary, &rel, commit.clone(), regressions)
                })
                .collect();
            history::append(&self.out, &entries)?;
            let all = history::read(&self.out.join(history::HISTORY_FILE))?;
            trend::draw_all(&self.out, &all)?;
            report::write_index(&self.out)?;
        }
        if let Some(dest) = &self.save {
            let mut keep = Vec::new();
            for d in &written {
                let word = baseline::verdict_word(&d.summary.verdict);
                let regressed = d.comparison.as_ref().is_some_and(RunComparison::regressed);
                if word == "pass" && !regressed {
                    keep.push(d.dir.clone().unwrap_or_default());
                } else {
                    outln!(
                        "baseline: {} not saved ({}); {} keeps its earlier run",
                        baseline::label(&d.summary),
                        if regressed {
                            "regressed".to_string()
                        } else {
                            word
                        },
                        dest.display()
                    );
                }
            }
            if !keep.is_empty() {
                let saved = tree::save(dest, &self.out, &keep)?;
                outln!(
                    "baseline: saved {} run(s) to {}",
                    saved.len(),
                    dest.display()
                );
            }
        }
        Ok(())
    }
}

fn rel(root: &Path, dir: &Path) -> String {
    dir.strip_prefix(root)
        .unwrap_or(dir)
        .to_string_lossy()
        .into_owned()
}

/// `soak compare BASE CURRENT`: prints every run's change and each regression;
/// 1 when any run regressed.
pub fn compare(
    base: &Path,
    current: &Path,
    rule: &RuleArgs,
    markdown_file: Option<&Path>,
    link_prefix: Option<&str>,
) -> Result<u8, Error> {
    let rule = rule.to_rule()?;
    let base = Tree::load(base, "baseline")?;
    let cur = Tree::load(current, "current report")?;
    let cmp = comparisons(&base, &cur, &rule)?;
    print_comparisons(&cur, &cmp, &rule);
    if let Some(md) = markdown_file {
        write_markdown(md, &cur, Some(&cmp), &rule, link_prefix)?;
    }
    Ok(if cmp.regressed() {
        EXIT_FAIL
    } else {
        EXIT_PASS
    })
}

fn comparisons(base: &Tree, cur: &Tree, rule: &Rule) -> Result<Comparisons, Error> {
    Comparisons::of(
        base,
        cur.runs.iter().map(|r| (r.rel.clone(), &r.summary)),
        rule,
    )
}

fn print_comparisons(cur: &Tree, cmp: &Comparisons, rule: &Rule) {
    for r in &cur.runs {
        match cmp.runs.get(&r.rel) {
            Some(c) => {
                let heap = c
                    .memory()
                    .map(|h| {
                        format!(
                            "{} {} → {} ({})",
                            h.resource,
                            h.rate(h.old),
                            h.rate(h.new),
                            h.delta_text()
                        )
                    })
                    .unwrap_or_else(|| "memory not compared".into());
                // A run against a baseline that failed (a fix's against the
                // leak's): what it is now, not "ok".
                let state = match c.memory().filter(|m| m.baseline_failed) {
                    _ if c.regressed() => "REGRESSED".to_string(),
                    Some(m) => format!(
                        "the baseline failed its budget; {} now",
                        r.summary
                            .resource(&m.resource)
                            .map_or("not judged".to_string(), |v| verdict_word(&v.verdict))
                    ),
                    None => "ok".to_string(),
                };
                outln!("{} vs seed {}: {heap}: {state}", r.label(), c.base_seed);
                for n in &c.notes {
                    outln!("  note: {n}");
                }
            }
            None => outln!(
                "{}: no baseline run of this scenario and variant",
                r.label()
            ),
        }
    }
    for m in cmp.messages(rule) {
        outln!("{m}");
    }
}

fn write_markdown(
    path: &Path,
    cur: &Tree,
    cmp: Option<&Comparisons>,
    rule: &Rule,
    link_prefix: Option<&str>,
) -> Result<(), Error> {
    let rows: Vec<markdown::Row<'_>> = cur
        .runs
        .iter()
        .map(|r| markdown::Row {
            rel: &r.rel,
            summary: &r.summary,
            comparison: cmp.and_then(|c| c.runs.get(&r.rel)),
        })
        .collect();
    let text = markdown::to_markdown("soak", &rows, rule, cmp.is_some(), link_prefix);
    markdown::append(path, &text)
}

/// The extra options of `soak report`.
#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// Append a Markdown table of every run (verdict, growth ± error, budget,
    /// change against --baseline, chart links) to FILE, e.g. "$GITHUB_STEP_SUMMARY".
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Compare the tree's runs with this baseline tree; exits 1 on a regression.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    /// Copy every run of the tree that passed (and did not regress) into DIR as
    /// the new baseline.
    #[arg(long, value_name = "DIR")]
    pub save_baseline: Option<PathBuf>,
    /// Prefix for chart links in the Markdown (where the tree is published);
    /// links are relative to the report root without it.
    #[arg(long, value_name = "URL")]
    pub link_prefix: Option<String>,
    /// The regression rule.
    #[command(flatten)]
    pub rule: RuleArgs,
}

/// `soak report DIR`'s CI part, after the charts are redrawn: merges the histories
/// below DIR, draws the trend charts, rewrites the index, and with the options
/// compares, writes Markdown and saves the baseline. Runs in `rejected` (already
/// reported as malformed) are left out. Returns the exit status.
pub fn report(dir: &Path, args: &ReportArgs, rejected: &[PathBuf]) -> Result<u8, Error> {
    let rule = args.rule.to_rule()?;
    let cur = Tree::load_except(dir, "report", rejected)?;
    let base = match &args.baseline {
        Some(b) => Some(Tree::load(b, "baseline")?),
        None => None,
    };
    let cmp = match &base {
        Some(b) => Some(comparisons(b, &cur, &rule)?),
        None => None,
    };
    let is_root = !dir.join(report::SUMMARY_FILE).is_file();
    if is_root {
        let history = history::merge(dir)?;
        let trends = trend::draw_all(dir, &history)?;
        report::write_index_locked(dir)?;
        for t in &trends {
            outln!("trend {}", t.display());
        }
    }
    if let Some(c) = &cmp {
        print_comparisons(&cur, c, &rule);
    }
    if let Some(md) = &args.markdown {
        write_markdown(md, &cur, cmp.as_ref(), &rule, args.link_prefix.as_deref())?;
    }
    if let Some(dest) = &args.save_baseline {
        let keep: Vec<PathBuf> = cur
            .runs
            .iter()
            .filter(|r| {
                let regressed = cmp
                    .as_ref()
                    .and_then(|c| c.runs.get(&r.rel))
                    .is_some_and(RunComparison::regressed);
                // A partial run (stopped by a signal) is never a baseline.
                baseline::verdict_word(&r.summary.verdict) == "pass"
                    && r.summary.complete
                    && !regressed
            })
            .map(|r| r.dir.clone())
            .collect();
        let saved = tree::save(dest, dir, &keep)?;
        outln!(
            "baseline: saved {} of {} run(s) to {} (runs that failed or regressed keep their earlier baseline)",
            saved.len(),
            cur.runs.len(),
            dest.display()
        );
    }
    Ok(match &cmp {
        Some(c) if c.regressed() => EXIT_FAIL,
        _ => EXIT_PASS,
    })
}
