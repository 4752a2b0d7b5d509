//! What a shrink says: the options that reproduce a run, the printed report, and
//! the `#[test]` it hands over. Rendered from [`Shrunk`] and the runs' settings,
//! never patched afterwards.

use std::fmt::Write as _;

use super::{Shrunk, Trial};
use crate::config::{RunConfig, Variant};
use crate::scenario::Scenario;
use crate::summary::Summary;
use crate::units::bytes_text;

/// The options after `soak run SCENARIO` that give `cfg` back, exactly: every
/// setting that differs from its default (variant and seed always). Numbers are
/// written as Rust prints them, which parses back to the same value.
pub fn command_args(cfg: &RunConfig) -> Vec<String> {
    let d = RunConfig::default();
    let mut a: Vec<String> = vec![
        "--variant".into(),
        cfg.variant.to_string(),
        "--seed".into(),
        cfg.seed.to_string(),
    ];
    let mut opt = |flag: &str, value: String| {
        a.push(format!("--{flag}"));
        a.push(value);
    };
    if cfg.auto {
        opt("hours", "auto".into());
        opt("max-hours", cfg.hours.to_string());
    } else if cfg.hours != d.hours {
        opt("hours", cfg.hours.to_string());
    }
    if let Some(r) = cfg.retention_hours {
        opt("retention", r.to_string());
    }
    for (flag, v, dv) in [
        ("max-growth", cfg.max_growth, d.max_growth),
        ("max-fd-growth", cfg.max_fd_growth, d.max_fd_growth),
        ("leak-rate", cfg.leak_rate, d.leak_rate),
    ] {
        if v != dv {
            opt(flag, v.to_string());
        }
    }
    // Not given: the scenario's budget (`Scenario::task_budget`), else 1.
    if let Some(t) = cfg.max_task_growth {
        opt("max-task-growth", t.to_string());
    }
    if cfg.sample_every != d.sample_every {
        let ns = cfg.sample_every.as_nanos();
        opt(
            "sample-every",
            format!("{}.{:06}ms", ns / 1_000_000, ns % 1_000_000),
        );
    }
    if let Some(w) = cfg.warmup_hours {
        opt("warmup", w.to_string());
    }
    if cfg.sample_bytes != d.sample_bytes {
        opt("sample-bytes", cfg.sample_bytes.to_string());
    }
    if cfg.dhat {
        opt("dhat-from", cfg.dhat_from.to_string());
    }
    for k in &cfg.dhat_keep {
        opt("dhat-keep", k.clone());
    }
    if !cfg.mute.is_empty() {
        opt("mute", cfg.mute.join(","));
    }
    if cfg.load_scale != d.load_scale {
        opt("load-scale", cfg.load_scale.to_string());
    }
    a
}

/// `soak run SCENARIO ARGS…` on one line.
pub(super) fn command(scenario: &str, args: &[String]) -> String {
    let mut out = format!("soak run {scenario}");
    for a in args {
        out.push(' ');
        out.push_str(a);
    }
    out
}

/// A `#[test]` for the user's crate that replays `cfg` with `soak_harness::run`
/// and asserts it within budget: it fails while the leak is there and passes
/// once it is fixed. `summary` is the minimal run's (its message heads the test).
pub fn test_snippet(scenario: &dyn Scenario, cfg: &RunConfig, summary: &Summary) -> String {
    let d = RunConfig::default();
    let name: String = scenario
        .name()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut b = String::new();
    let mut call = |method: &str, arg: String| {
        let _ = write!(b, "\n        .{method}({arg})");
    };
    let variant = match cfg.variant {
        Variant::Fixed => "Fixed",
        Variant::Leaky => "Leaky",
        // A replay is never unlabelled (shrink takes fixed or leaky); named
        // for what it is should a caller of the library build one.
        Variant::Unlabelled => "Unlabelled",
    };
    call("variant", format!("soak_harness::Variant::{variant}"));
    call("seed", cfg.seed.to_string());
    for m in &cfg.mute {
        call("mute", format!("{m:?}"));
    }
    if cfg.load_scale != d.load_scale {
        call("load_scale", format!("{:?}", cfg.load_scale));
    }
    for (method, v, dv) in [
        ("max_growth", cfg.max_growth, d.max_growth),
        ("max_fd_growth", cfg.max_fd_growth, d.max_fd_growth),
        ("leak_rate", cfg.leak_rate, d.leak_rate),
    ] {
        if v != dv {
            call(method, format!("{v:?}"));
        }
    }
    if let Some(t) = cfg.max_task_growth {
        call("max_task_growth", format!("{t:?}"));
    }
    if cfg.sample_every != d.sample_every {
        call(
            "sample_every",
            format!(
                "std::time::Duration::from_nanos({})",
                cfg.sample_every.as_nanos()
            ),
        );
    }
    if let Some(w) = cfg.warmup_hours {
        call("warmup_hours", format!("{w:?}"));
    }
    if let Some(r) = cfg.retention_hours {
        call("retention_hours", format!("{r:?}"));
    }
    if cfg.sample_bytes != d.sample_bytes {
        call("sample_bytes", cfg.sample_bytes.to_string());
    }
    if cfg.auto {
        call("auto", format!("{:?}", cfg.hours));
    } else if cfg.hours != d.hours {
        call("hours", format!("{:?}", cfg.hours));
    }
    format!(
        "/// Replays what `soak shrink` found for {scenario} ({variant_l}, seed {seed}): {message}\n\
         /// It fails while the leak is there and passes once it is fixed.\n\
         #[test]\n\
         fn {name}_stays_within_budget() {{\n    \
             let cfg = soak_harness::RunConfig::new(){b};\n    \
             let scenario = {path}::default();\n    \
             soak_harness::run(&scenario, &cfg)\n        \
                 .expect(\"the scenario runs\")\n        \
                 .assert_within_budget();\n\
         }}\n",
        scenario = scenario.name(),
        variant_l = cfg.variant,
        seed = cfg.seed,
        // Without the allocation site's path, which is where this machine built it.
        message = one_line(summary.message.split(" — ").next().unwrap_or_default(), 160),
        path = scenario.type_path(),
    )
}

/// `text` on one line, cut to about `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.chars().filter(|c| !c.is_control()).collect();
    match flat.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}

/// The growth of `resource` in `t`, as `8.3 MiB/h ± 1.4 MiB/h`.
fn growth_text(t: &Trial, resource: &str) -> String {
    match t.growth_of(resource) {
        Some(g) => format!(
            "{} ± {}",
            crate::units::rate_text(g.per_hour, &g.unit, "h"),
            crate::units::rate_text(g.stderr, &g.unit, "h")
        ),
        None => "-".into(),
    }
}

/// A value per event in its unit.
fn per_event_text(v: f64, unit: &str) -> String {
    match unit {
        "bytes" if v.abs() < 1024.0 => format!("{v:.1} B"),
        "bytes" => bytes_text(v),
        "count" => format!("{v:.3}"),
        u => format!("{v:.3} {u}"),
    }
}

/// `2nd`, `3rd`, `11th`, ...
fn ordinal(k: usize) -> String {
    let suffix = match (k % 10, k % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{k}{suffix}")
}

/// What `soak shrink` prints.
pub(super) fn text(s: &Shrunk) -> String {
    let mut o = String::new();
    let r = s.resource.as_str();
    let Some(original) = s.trial(s.original) else {
        return o;
    };
    let _ = writeln!(
        o,
        "{} ({}, seed {}): shrunk in {} runs (at most {}){}",
        s.scenario,
        s.variant,
        s.seed,
        s.runs.len(),
        s.max_runs,
        if s.interrupted {
            "; stopped by a signal: the smallest failing run so far"
        } else if s.out_of_runs {
            "; out of runs: the smallest failing run so far"
        } else {
            ""
        }
    );
    if s.kinds.is_empty() {
        let _ = writeln!(
            o,
            "\n{} declares no traffic kinds: only the hours were shortened",
            s.scenario
        );
    } else {
        let _ = writeln!(
            o,
            "\n{:<20} {:<34} verdict",
            "kind muted",
            format!("{r} growth")
        );
        let mut row = |label: &str, t: &Trial| {
            let _ = writeln!(
                o,
                "{label:<20} {:<34} {}",
                growth_text(t, r),
                t.verdict.as_str()
            );
        };
        row("(none)", original);
        for a in &s.ablations {
            if let Some(t) = s.trial(a.run) {
                row(&a.kind, t);
            }
        }
        // With one kind, muting it is muting every kind: one row says both.
        let shown = |n: usize| s.ablations.iter().any(|a| a.run == n);
        if let Some(t) = s
            .without_traffic_run
            .filter(|n| !shown(*n))
            .and_then(|n| s.trial(n))
        {
            row("(every kind)", t);
        }
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        let _ = writeln!(o, "\nneeded: {}", list(&s.needed));
        let _ = writeln!(o, "not needed: {}", list(&s.not_needed));
        if !s.muted_by_you.is_empty() {
            let _ = writeln!(o, "muted as given: {}", s.muted_by_you.join(", "));
        }
        if s.fails_without_traffic == Some(true) {
            let _ = writeln!(
                o,
                "the run fails with every kind muted: the leak needs no traffic"
            );
        }
        if !s.per_event.is_empty() {
            let _ = writeln!(
                o,
                "\nper event (what muting the kind removed, full-length runs):"
            );
            // The heap always; another resource when muting the kind moved it.
            let shown = s.per_event.iter().filter(|p| {
                p.resource == "heap" || p.growth_per_hour.abs() > 2.0 * p.stderr * p.events_per_hour
            });
            for p in shown {
                let _ = writeln!(
                    o,
                    "  {}: {} ± {} of {} per event ({:.0} events/h)",
                    p.kind,
                    per_event_text(p.per_event, &p.unit),
                    per_event_text(p.stderr, &p.unit),
                    p.resource,
                    p.events_per_hour
                );
            }
        }
    }
    if let Some(m) = s.trial(s.minimal) {
        let _ = writeln!(o, "\nminimal run: {}", s.command);
        let _ = writeln!(
            o,
            "  {}: {r} {} after {} virtual h; {:.2} s wall against {:.2} s: {:.1}× faster",
            m.verdict.as_str(),
            growth_text(m, r),
            crate::units::number_text(m.virtual_hours),
            m.wall_seconds,
            original.wall_seconds,
            s.speedup
        );
    }
    let rank = match s.top_site_rank_in_original {
        Some(1) => "as in the original".to_string(),
        Some(k) => format!("the original's {} growing site", ordinal(k)),
        None => "not among the original's growing sites".to_string(),
    };
    match (&s.top_site, &s.original_top_site) {
        (Some(t), Some(ot)) if !s.same_top_site => {
            let _ = writeln!(o, "  top growing site: {t}, {rank} (its top: {ot})");
        }
        (Some(t), _) => {
            let _ = writeln!(o, "  top growing site: {t}, {rank}");
        }
        (None, _) => {
            let _ = writeln!(o, "  no allocation site grew");
        }
    }
    let _ = writeln!(
        o,
        "\na test for your crate (fails while the leak is there, passes once it is fixed):\n\n{}",
        s.test
    );
    o
}
