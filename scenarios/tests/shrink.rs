//! `soak shrink` on the built-in scenarios, the cheap cases: calibration's
//! injected leak needs no traffic (and the `#[test]` shrink writes for it compiles
//! and catches it), calibration's leaky twin leaks its item size ÷ 50 per request,
//! and the command's statuses: nothing to shrink (0, 3), a refused `--mute` (2),
//! a shrink that writes the minimal run's report with `shrink.json` (1). The
//! acceptance runs over moderator-flood, raid-burst and timer-lifecycle are
//! minutes long: `ci/shrink.sh`, figures in docs/shrink.md.

use std::process::{Command, Output};

use soak_harness::shrink::{self, Found, Settings, Shrunk};
use soak_harness::{RunConfig, Variant};
use soak_scenarios::calibration::{Calibration, LEAK_ONE_IN};

fn soak(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_soak"))
        .args(args)
        .output()
        .expect("soak binary runs")
}

fn shrunk(cfg: &RunConfig, max_runs: usize) -> Shrunk {
    let found = shrink::shrink(
        &Calibration,
        cfg,
        Settings {
            max_runs,
            progress: &mut |_, _| {},
        },
    )
    .expect("shrinks");
    match found {
        Found::Shrunk(s, _) => *s,
        other => panic!("not shrunk: {other:?}"),
    }
}

/// The `#[test]` `soak shrink calibration --leak-rate 4MiB/h` writes, as written
/// (its `///` lines aside): compiled here, with `#[test]` taken off so that the
/// test below can run it and see it fail while the leak is there. The snippet
/// builds any scenario with `Type::default()`; calibration's is a unit struct.
#[allow(clippy::default_constructed_unit_structs)]
mod written {
    macro_rules! as_written {
        ($(#[$attr:meta])* fn $name:ident() $body:block) => {
            pub fn $name() $body
        };
    }

    as_written! {
    // BEGIN written
    #[test]
    fn calibration_stays_within_budget() {
        let cfg = soak_harness::RunConfig::new()
            .variant(soak_harness::Variant::Fixed)
            .seed(1)
            .mute("requests")
            .leak_rate(4194304.0)
            .auto(1.0);
        let scenario = soak_scenarios::calibration::Calibration::default();
        soak_harness::run(&scenario, &cfg)
            .expect("the scenario runs")
            .assert_within_budget();
    }
    // END written
        }
}

#[test]
fn an_injected_leak_needs_no_kind_and_the_written_test_catches_it() {
    let s = shrunk(&RunConfig::new().leak_rate(4.0 * 1024.0 * 1024.0), 40);
    assert_eq!(s.fails_without_traffic, Some(true));
    assert!(s.needed.is_empty(), "{:?}", s.needed);
    assert_eq!(s.not_needed, ["requests"]);
    let m = s.trial(s.minimal).expect("minimal run");
    assert!(m.fails);
    assert_eq!(m.cfg.mute, ["requests"]);
    // No traffic, nothing kept: the first hourly look settles it.
    assert_eq!(m.virtual_hours, 1.0);
    assert_eq!(s.top_site, s.original_top_site);

    let source = include_str!("shrink.rs");
    // As rustfmt indents it inside the macro: one level in.
    let golden: Vec<&str> = source
        .lines()
        .skip_while(|l| l.trim() != "// BEGIN written")
        .skip(1)
        .take_while(|l| l.trim() != "// END written")
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect();
    let code: Vec<&str> = s.test.lines().filter(|l| !l.starts_with("///")).collect();
    assert_eq!(code, golden, "the test shrink writes changed:\n{}", s.test);
    let caught = std::panic::catch_unwind(written::calibration_stays_within_budget);
    assert!(
        caught.is_err(),
        "the written test passes with the leak there"
    );
}

#[test]
fn calibration_leaks_its_item_size_over_fifty_per_request() {
    // Three runs: the original, every kind muted (muting the only kind is also
    // its ablation, and delta debugging has nothing left to split), the
    // shortened run; then out of runs, with both runs the bytes per event need.
    let s = shrunk(&RunConfig::new().variant(Variant::Leaky), 3);
    assert_eq!(s.needed, ["requests"]);
    assert_eq!(s.fails_without_traffic, Some(false));
    let p = s
        .per_event
        .iter()
        .find(|p| p.resource == "heap")
        .expect("bytes per request");
    // Items are 256 B to 4 KiB, uniform: 2,176 B on average; one in fifty kept.
    let expected = (256.0 + 4096.0) / 2.0 / LEAK_ONE_IN as f64;
    let err = p.per_event / expected - 1.0;
    assert!(
        err.abs() < 0.15,
        "{:.1} B per request ({err:+.3})",
        p.per_event
    );
    assert!(p.stderr < 0.05 * expected, "{p:?}");
}

#[test]
fn nothing_to_shrink_exits_0_or_3_and_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("r");
    let out_s = out.to_str().expect("utf-8");
    for (args, code, says) in [
        (
            ["raid-burst", "--hours", "2"],
            0,
            "nothing to shrink: the run passes",
        ),
        (
            ["moderator-flood", "--hours", "4"],
            3,
            "nothing to shrink: the run is inconclusive",
        ),
    ] {
        let mut all = vec!["shrink"];
        all.extend(args);
        all.extend(["--out", out_s]);
        let o = soak(&all);
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {text}");
        assert!(text.contains(says), "{text}");
        assert!(!out.join("shrink").join(args[0]).exists());
    }
}

#[test]
fn a_mute_of_no_kind_exits_2_listing_the_scenarios_kinds() {
    for (scenario, kinds) in [
        (
            "moderator-flood",
            "flags, flag_waves, resets, reset_bursts, messages, spam_accounts",
        ),
        (
            "raid-burst",
            "messages, joins, tickets, deletions, raid_spam, raid_tickets, nukes, restores",
        ),
        ("timer-lifecycle", "calls, reconnects, deploys"),
        ("calibration", "requests"),
        (
            "artifact-cache",
            "artifact_requests, auth_requests, interactions, reconnect_storm",
        ),
        (
            "connection-churn",
            "arrivals, departures, half_open, blip, reconnect_storm, chat, interactions, resolutions",
        ),
    ] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let out = tmp.path().join("r");
        for cmd in ["run", "shrink"] {
            let o = soak(&[
                cmd,
                scenario,
                "--mute",
                "nosuch",
                "--out",
                out.to_str().expect("utf-8"),
            ]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{cmd} {scenario}: {err}");
            let line = err.lines().last().unwrap_or_default();
            assert!(line.starts_with("error: --mute 'nosuch'"), "{err}");
            assert!(line.ends_with(&format!("its kinds: {kinds}")), "{err}");
            // No run directory appears (the root is checked, and made, first).
            assert!(!out.join(scenario).exists() && !out.join("shrink").join(scenario).exists());
        }
    }
}

#[test]
fn a_shrink_writes_the_minimal_run_with_shrink_json_and_exits_1() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("r");
    let o = soak(&[
        "shrink",
        "calibration",
        "--leak-rate",
        "4MiB/h",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    let progress = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{text}{progress}");
    assert!(text.contains("needed: none"), "{text}");
    assert!(
        text.contains("minimal run: soak run calibration --variant fixed"),
        "{text}"
    );
    assert!(text.contains("#[test]"), "{text}");
    // One progress line per run, each with the command that reproduces it.
    assert!(progress.lines().count() >= 3, "{progress}");
    assert!(progress
        .lines()
        .all(|l| l.starts_with("shrink [") && l.contains(": soak run calibration ")));
    let dir = out.join("shrink").join("calibration").join("fixed");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("shrink.json")).expect("shrink.json"),
    )
    .expect("JSON");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("summary.json")).expect("summary.json"),
    )
    .expect("JSON");
    assert_eq!(summary["verdict"], "fail");
    assert_eq!(json["needed"], serde_json::json!([]));
    let minimal = json["minimal"].as_u64().expect("minimal run") as usize;
    let run = &json["runs"][minimal - 1];
    assert_eq!(run["verdict"], "fail");
    assert_eq!(summary["wall_seconds"], run["wall_seconds"]);
    assert!(json["speedup"].as_f64().is_some_and(|x| x > 0.0));
    // The report is an ordinary run directory: `soak report` redraws it.
    let r = soak(&["report", out.join("shrink").to_str().expect("utf-8")]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
}
