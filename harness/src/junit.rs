//! `--junit FILE`: the runs as JUnit XML, so any CI's test page shows soak results.
//!
//! One `<testsuite>` per scenario, one `<testcase>` per scenario × variant × seed
//! (`classname="soak.SCENARIO"`, `name="VARIANT seed N"`). A failing verdict is a
//! `<failure>` whose `message` is the verdict's one line; a regression against a
//! baseline is a `<failure>` too; a run that errored is an `<error>`; any other
//! verdict (`inconclusive`, or a state this code does not know) is `<skipped>` with
//! the verdict message, neither pass nor fail. Each testcase carries `<properties>`:
//! the verdict, heap growth ± standard error, late-half growth and budget, and the
//! growth and budget of every other budgeted resource. This is the shape the common
//! parsers (Jenkins, GitLab, junitparser) read.

use std::fmt::Write as _;
use std::path::Path;

use crate::baseline::{verdict_word, Rule, RunComparison};
use crate::report;
use crate::summary::Summary;
use crate::Error;

/// One testcase's worth of input.
#[derive(Debug, Clone)]
pub enum Case<'a> {
    /// A finished run, with its comparison against a baseline when there was one.
    Run {
        /// The run's summary.
        summary: &'a Summary,
        /// Its comparison with the baseline.
        comparison: Option<&'a RunComparison>,
        /// Where its report was written, if anywhere.
        dir: Option<&'a Path>,
    },
    /// A run that stopped with an error before it had a verdict.
    Error {
        /// Scenario.
        scenario: String,
        /// Variant word.
        variant: String,
        /// Seed.
        seed: u64,
        /// The error line.
        message: String,
    },
}

impl Case<'_> {
    fn scenario(&self) -> &str {
        match self {
            Case::Run { summary, .. } => &summary.scenario,
            Case::Error { scenario, .. } => scenario,
        }
    }
}

/// Escapes text for an XML attribute or element body.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            // Characters XML 1.0 cannot hold at all.
            c if (c as u32) < 0x20 && c != '\r' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

enum Outcome {
    Pass,
    Failure(String, String),
    Skipped(String),
    Error(String),
}

fn outcome(case: &Case<'_>, rule: &Rule) -> Outcome {
    match case {
        Case::Error { message, .. } => Outcome::Error(message.clone()),
        Case::Run {
            summary,
            comparison,
            ..
        } => {
            let regressions = comparison.map(|c| c.messages(rule)).unwrap_or_default();
            classify(
                &verdict_word(&summary.verdict),
                &summary.message,
                &regressions,
            )
        }
    }
}

/// A verdict word, its message and any regression lines as a JUnit result: pass,
/// failure (a leak, or a regression of a passing run), or skipped for any other
/// word (`inconclusive`, or one this code does not know).
fn classify(word: &str, message: &str, regressions: &[String]) -> Outcome {
    match word {
        "pass" if regressions.is_empty() => Outcome::Pass,
        "pass" => Outcome::Failure(regressions[0].clone(), regressions.join("\n")),
        "fail" => {
            let mut body = message.to_string();
            for r in regressions {
                body.push('\n');
                body.push_str(r);
            }
            Outcome::Failure(message.to_string(), body)
        }
        _ => Outcome::Skipped(format!("{word}: {message}")),
    }
}

fn property(out: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "        <property name=\"{}\" value=\"{}\"/>",
        esc(name),
        esc(&value.to_string())
    );
}

fn properties(out: &mut String, s: &Summary, cmp: Option<&RunComparison>) {
    out.push_str("      <properties>\n");
    property(out, "verdict", verdict_word(&s.verdict));
    property(out, "virtual_hours", s.virtual_hours);
    property(
        out,
        "growth_bytes_per_hour",
        format!("{:.1}", s.growth_bytes_per_hour),
    );
    property(
        out,
        "growth_stderr_bytes_per_hour",
        format!("{:.1}", s.growth_stderr_bytes_per_hour),
    );
    property(
        out,
        "late_growth_bytes_per_hour",
        format!("{:.1}", s.late_growth_bytes_per_hour),
    );
    property(
        out,
        "budget_bytes_per_hour",
        format!("{:.1}", s.threshold_bytes_per_hour),
    );
    for r in &s.resources {
        if r.spec.name == "heap" {
            continue;
        }
        let (Some(budget), Some(e)) = (r.spec.budget_per_hour, r.estimate) else {
            continue;
        };
        let n = &r.spec.name;
        property(
            out,
            &format!("{n}.growth_per_hour"),
            format!("{:.3}", e.per_hour),
        );
        property(
            out,
            &format!("{n}.growth_stderr_per_hour"),
            format!("{:.3}", e.stderr),
        );
        property(out, &format!("{n}.budget_per_hour"), budget);
    }
    if let Some(c) = cmp {
        property(out, "baseline_seed", c.base_seed);
        if let Some(h) = c.memory() {
            property(
                out,
                "baseline_growth_bytes_per_hour",
                format!("{:.1}", h.old),
            );
            property(out, "change_bytes_per_hour", format!("{:.1}", h.delta()));
        }
    }
    out.push_str("      </properties>\n");
}

/// The JUnit XML document for `cases`.
pub fn to_xml(cases: &[Case<'_>], rule: &Rule, timestamp: &str) -> String {
    let mut scenarios: Vec<&str> = Vec::new();
    for c in cases {
        if !scenarios.contains(&c.scenario()) {
            scenarios.push(c.scenario());
        }
    }
    let mut suites = String::new();
    let (mut t_all, mut f_all, mut e_all, mut s_all, mut time_all) = (0, 0, 0, 0, 0.0);
    for (id, sc) in scenarios.iter().enumerate() {
        let mut body = String::new();
        let (mut t, mut f, mut e, mut sk, mut time) = (0, 0, 0, 0, 0.0);
        for case in cases.iter().filter(|c| c.scenario() == *sc) {
            t += 1;
            let (name, secs) = match case {
                Case::Run { summary, .. } => (
                    format!("{} seed {}", summary.variant, summary.seed),
                    summary.wall_seconds,
                ),
                Case::Error { variant, seed, .. } => (format!("{variant} seed {seed}"), 0.0),
            };
            time += secs;
            let _ = writeln!(
                body,
                "    <testcase classname=\"soak.{}\" name=\"{}\" time=\"{secs:.3}\">",
                esc(sc),
                esc(&name)
            );
            if let Case::Run {
                summary,
                comparison,
                ..
            } = case
            {
                properties(&mut body, summary, *comparison);
            }
            match outcome(case, rule) {
                Outcome::Pass => {}
                Outcome::Failure(msg, text) => {
                    f += 1;
                    let kind = if matches!(case, Case::Run { summary, .. } if verdict_word(&summary.verdict) == "pass")
                    {
                        "regression"
                    } else {
                        "leak"
                    };
                    let _ = writeln!(
                        body,
                        "      <failure message=\"{}\" type=\"{kind}\">{}</failure>",
                        esc(&msg),
                        esc(&text)
                    );
                }
                Outcome::Skipped(msg) => {
                    sk += 1;
                    let _ = writeln!(body, "      <skipped message=\"{}\"/>", esc(&msg));
                }
                Outcome::Error(msg) => {
                    e += 1;
                    let _ = writeln!(
                        body,
                        "      <error message=\"{}\" type=\"error\">{}</error>",
                        esc(&msg),
                        esc(&msg)
                    );
                }
            }
            if let Case::Run {
                dir: Some(d),
                summary,
                ..
            } = case
            {
                let _ = writeln!(
                    body,
                    "      <system-out>{}</system-out>",
                    esc(&format!(
                        "{}\nreport: {}",
                        summary.message,
                        d.join(report::SUMMARY_FILE).display()
                    ))
                );
            }
            body.push_str("    </testcase>\n");
        }
        let _ = writeln!(
            suites,
            "  <testsuite name=\"soak.{}\" id=\"{id}\" tests=\"{t}\" failures=\"{f}\" errors=\"{e}\" \
             skipped=\"{sk}\" time=\"{time:.3}\" timestamp=\"{}\" hostname=\"localhost\">\n{body}  </testsuite>",
            esc(sc),
            esc(timestamp)
        );
        t_all += t;
        f_all += f;
        e_all += e;
        s_all += sk;
        time_all += time;
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"soak\" tests=\"{t_all}\" \
         failures=\"{f_all}\" errors=\"{e_all}\" skipped=\"{s_all}\" time=\"{time_all:.3}\">\n{suites}</testsuites>\n"
    )
}

/// Writes the JUnit XML for `cases` to `path` atomically.
pub fn write(path: &Path, cases: &[Case<'_>], rule: &Rule) -> Result<(), Error> {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // JUnit timestamps carry no zone designator.
    let ts = crate::history::rfc3339(unix)
        .trim_end_matches('Z')
        .to_string();
    report::write_atomic(path, to_xml(cases, rule, &ts).as_bytes())
}

/// Fails (exit 2) unless `path`'s directory exists and a file can be created in
/// it, so a bad `--junit` costs nothing before the runs start.
pub fn check_path(path: &Path) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if path.is_dir() {
        return Err(Error::Usage(format!(
            "--junit {} is a directory; give a file name such as soak-junit.xml",
            path.display()
        )));
    }
    report::check_writable(dir).map_err(|_| {
        Error::Usage(format!(
            "--junit {}: cannot write in {}; give a file in a writable directory",
            path.display(),
            dir.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_map_to_junit_results() {
        assert!(matches!(classify("pass", "ok", &[]), Outcome::Pass));
        let reg = vec!["regression: x".to_string()];
        assert!(
            matches!(classify("pass", "ok", &reg), Outcome::Failure(m, _) if m == "regression: x")
        );
        assert!(
            matches!(classify("fail", "fail: heap", &reg), Outcome::Failure(m, b)
            if m == "fail: heap" && b.contains("regression: x"))
        );
        // A third state (inconclusive, or one added later) is neither pass nor fail.
        for word in ["inconclusive", "something-new"] {
            assert!(
                matches!(classify(word, "why", &[]), Outcome::Skipped(m) if m == format!("{word}: why"))
            );
        }
    }

    #[test]
    fn escapes_what_xml_cannot_hold() {
        assert_eq!(esc("a<b & \"c\"\n"), "a&lt;b &amp; &quot;c&quot;&#10;");
        assert_eq!(esc("\u{1}x"), "?x");
    }
}
