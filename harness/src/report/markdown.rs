//! The Markdown summary of a report tree (`--markdown FILE`; in CI,
//! `$GITHUB_STEP_SUMMARY`): one table row per run with its verdict, heap growth ±
//! standard error, budget, change against the baseline and a link to its chart,
//! then the verdict message of every run that did not pass and every regression.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use crate::baseline::{rate, verdict_word, Rule, RunComparison};
use crate::report::{PNG_FILE, SVG_FILE};
use crate::summary::Summary;
use crate::Error;

/// One run for the table.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// The run's directory relative to the report root (for links).
    pub rel: &'a str,
    /// Its summary.
    pub summary: &'a Summary,
    /// Its comparison with the baseline, when one was given.
    pub comparison: Option<&'a RunComparison>,
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn mark(word: &str) -> &'static str {
    match word {
        "pass" => "✅",
        "fail" => "❌",
        _ => "⚠️",
    }
}

/// The Markdown document. `link_prefix` is prepended to chart paths (a URL where
/// the report tree is published); without it links are relative to the report root.
/// `with_baseline` adds the "vs baseline" column even for rows without a comparison.
pub fn to_markdown(
    title: &str,
    rows: &[Row<'_>],
    rule: &Rule,
    with_baseline: bool,
    link_prefix: Option<&str>,
) -> String {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for r in rows {
        *counts.entry(verdict_word(&r.summary.verdict)).or_default() += 1;
    }
    let regressed = rows
        .iter()
        .filter(|r| r.comparison.is_some_and(RunComparison::regressed))
        .count();
    let mut out = String::new();
    let tally: Vec<String> = counts.iter().map(|(w, n)| format!("{n} {w}")).collect();
    let _ = writeln!(out, "## {title}\n");
    let runs = if rows.len() == 1 { "run" } else { "runs" };
    let _ = write!(out, "{} {runs}: {}", rows.len(), tally.join(", "));
    if with_baseline {
        let _ = write!(
            out,
            "; {regressed} regressed against the baseline (a rise of more than max(floor {} heap, \
             {:.2}/h counts; {}σ))",
            rate(rule.heap_floor, "bytes", "h"),
            rule.count_floor,
            rule.z
        );
    }
    out.push_str(".\n\n");
    out.push_str("| scenario | variant | seed | verdict | heap growth | budget |");
    if with_baseline {
        out.push_str(" vs baseline |");
    }
    out.push_str(" chart |\n|---|---|---:|---|---:|---:|");
    if with_baseline {
        out.push_str("---|");
    }
    out.push_str("---|\n");
    let link = |rel: &str, file: &str| {
        let path = if rel.is_empty() {
            file.to_string()
        } else {
            format!("{rel}/{file}")
        };
        match link_prefix {
            Some(p) => format!("{}/{path}", p.trim_end_matches('/')),
            None => path,
        }
    };
    for r in rows {
        let s = r.summary;
        let word = verdict_word(&s.verdict);
        let mut verdict = format!("{} {word}", mark(&word));
        if !s.failed_resources.is_empty() {
            let _ = write!(verdict, " ({})", s.failed_resources.join(", "));
        }
        let per = s.time_base.per_hour();
        let growth = format!(
            "{} ± {}",
            rate(s.growth_bytes_per_hour, "bytes", per),
            rate(s.growth_stderr_bytes_per_hour, "bytes", per)
        );
        let _ = write!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&s.run_name()),
            s.variant,
            s.seed,
            cell(&verdict),
            growth,
            rate(s.threshold_bytes_per_hour, "bytes", per)
        );
        if with_baseline {
            let change = match r.comparison {
                None => "no baseline".to_string(),
                Some(c) => {
                    let mut parts: Vec<String> = Vec::new();
                    let memory = c.memory();
                    if let Some(h) = memory {
                        parts.push(h.delta_text());
                    }
                    for g in c.regressions() {
                        if Some(&g.resource) != memory.map(|m| &m.resource) {
                            parts.push(format!("{} {}", g.resource, g.delta_text()));
                        }
                    }
                    let flag = if c.regressed() {
                        "🔺 regression "
                    } else {
                        ""
                    };
                    format!("{flag}{} (seed {})", parts.join("; "), c.base_seed)
                }
            };
            let _ = write!(out, " {} |", cell(&change));
        }
        let _ = writeln!(
            out,
            " [png]({}) [svg]({}) |",
            link(r.rel, PNG_FILE),
            link(r.rel, SVG_FILE)
        );
    }
    let notes: Vec<String> = rows
        .iter()
        .filter(|r| verdict_word(&r.summary.verdict) != "pass")
        .map(|r| {
            format!(
                "- **{}**: {}",
                crate::baseline::label(r.summary),
                r.summary.message
            )
        })
        .chain(
            rows.iter()
                .filter_map(|r| r.comparison)
                .flat_map(|c| c.messages(rule))
                .map(|m| format!("- 🔺 {m}")),
        )
        .collect();
    if !notes.is_empty() {
        out.push_str("\n### What did not pass\n\n");
        for n in notes {
            out.push_str(&cell(&n));
            out.push('\n');
        }
    }
    out
}

/// Appends `text` to `path` (as `$GITHUB_STEP_SUMMARY` expects: each step may add
/// to it), creating the file if needed.
pub fn append(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| Error::Output {
            path: path.to_path_buf(),
            source,
        })
}
