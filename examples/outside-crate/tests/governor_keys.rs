//! `governor-keys` over a virtual day: governor's keyed limiter with its
//! housekeeping stays within soak's default budget (1 MB/h of heap); without it
//! the heap fails, the `keys` gauge is named as what grew, and the "where" names
//! governor's frame or ours — with this file's lines when built with line tables.

use outside_crate::governor_keys::GovernorKeys;
use soak_harness::frames::Kind;
use soak_harness::{Outcome, RunConfig, Variant, Verdict};

use crate::support;

fn day(variant: Variant) -> Outcome {
    let cfg = RunConfig::new().variant(variant);
    let outcome = soak_harness::run(&GovernorKeys, &cfg).expect("the scenario runs");
    let s = &outcome.summary;
    // Shown with `--nocapture`: the figures behind the verdict.
    println!(
        "{} {}: {} in {:.2} s wall; keys peak {}, at end {}; peak heap {} B",
        s.scenario,
        s.variant,
        s.message,
        s.wall_seconds,
        peak(&outcome, "keys"),
        extra(&outcome, "keys_at_end"),
        s.peak_live_bytes
    );
    outcome
}

fn extra(o: &Outcome, key: &str) -> f64 {
    o.summary
        .extras
        .get(key)
        .and_then(|v| v.as_f64())
        .unwrap_or_else(|| panic!("summary lacks {key}"))
}

fn peak(o: &Outcome, gauge: &str) -> f64 {
    let col = o.samples.column(gauge).expect("the scenario's gauge");
    col.into_iter().fold(0.0, f64::max)
}

#[test]
fn fixed_passes() {
    let o = day(Variant::Fixed);
    o.assert_within_budget();
    // The cooldown works on virtual time: double taps are refused.
    assert!(extra(&o, "commands_limited") > 100_000.0);
    // Housekeeping bounds the map by the last minute's users (at most 60/s).
    assert!(peak(&o, "keys") < 5_000.0, "{}", peak(&o, "keys"));
    assert!(
        o.summary.grown_gauges.is_empty(),
        "{:?}",
        o.summary.grown_gauges
    );
    // Dropping the limiter stopped its housekeeping task and freed every key.
    let t = &o.summary.teardown;
    assert!(t.tasks_back && t.heap_back, "{t:?}");
}

#[test]
fn leaky_fails() {
    let o = day(Variant::Leaky);
    assert_eq!(o.verdict(), Verdict::Fail, "{}", o.summary.message);
    let heap = o
        .summary
        .resources
        .iter()
        .find(|r| r.spec.name == "heap")
        .expect("heap is judged");
    assert_eq!(heap.verdict, Verdict::Fail);
    assert!(heap.per_hour() > 1.5e6, "{}", o.summary.message);
    assert_eq!(o.summary.grown_gauges, ["keys"]);
    // Every user who ever sent a command is still there: ~28,000 new keys an hour.
    let keys = o
        .summary
        .resources
        .iter()
        .find(|r| r.spec.name == "keys")
        .expect("the gauge is reported");
    assert!(keys.per_hour() > 20_000.0, "{}", keys.per_hour());
    assert!(extra(&o, "keys_at_end") > 500_000.0);
    // The "where" names governor's code or ours first: never the harness's
    // allocator, never the standard library's String or hashbrown's table.
    let (owner, site, frame) = support::failing_owner(&o);
    let ours = |f: &soak_harness::frames::Frame| {
        support::is_ours(f, "limiter::Cooldowns::check", "src/limiter.rs")
    };
    assert!(
        (frame.kind == Kind::Dependency && frame.package.as_deref() == Some("governor"))
            || ours(frame),
        "{frame:?}: {}",
        o.summary.message
    );
    // A dependency's frame is followed by our own that called into it:
    // `Cooldowns::check` with line tables; without them `check` was inlined into
    // the scenario's body, which is what the binary has.
    if frame.kind == Kind::Dependency {
        let caller = site.caller.as_ref().expect("the caller into governor");
        assert_eq!(caller.kind, Kind::Own, "{caller:?}");
        assert!(
            caller.function.contains("outside_crate::")
                || caller
                    .file
                    .as_deref()
                    .is_some_and(|f| f.contains("outside-crate/src/")),
            "{caller:?}"
        );
        if support::line_tables() {
            assert!(ours(caller), "{caller:?}");
        }
        assert!(owner.caller.is_some(), "{owner:?}");
    }
    // With line tables, this crate's file and line are in the message.
    assert_eq!(
        o.summary
            .message
            .contains("examples/outside-crate/src/limiter.rs:"),
        support::line_tables(),
        "{}",
        o.summary.message
    );
}

/// dhat's top sites show this crate's code that called into governor (with line
/// tables its file, relative: it is the tree being built), not only governor's,
/// dashmap's or the harness's.
#[test]
fn dhat_attributes_the_leak_to_our_code() {
    let cfg = RunConfig::new()
        .variant(Variant::Leaky)
        .hours(2.0)
        .dhat(0.0);
    let o = soak_harness::run(&GovernorKeys, &cfg).expect("the scenario runs");
    let dhat = o.summary.dhat.as_ref().expect("a dhat report");
    let top = dhat.top_sites.first().expect("a top site");
    assert!(
        top.frames
            .iter()
            .any(|f| f.contains("outside-crate/src/limiter.rs") || f.contains("outside_crate::")),
        "{:#?}",
        dhat.top_sites
    );
}

/// The binary says once, and only without line tables, how to get file:line.
#[test]
fn without_line_tables_the_run_says_how_to_get_them() {
    let out = std::env::temp_dir().join(format!("outside-crate-hint-{}", std::process::id()));
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_governor-soak"))
        .args(["run", "governor-keys", "--variant", "leaky", "--hours", "2"])
        .args(["-q", "--no-history", "--out"])
        .arg(&out)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let notes = stdout.matches("debug = \"line-tables-only\"").count();
    let summary = std::fs::read_to_string(out.join("governor-keys/leaky/summary.json"));
    let _ = std::fs::remove_dir_all(&out);
    let summary = summary.expect("the report is written");
    if support::line_tables() {
        assert_eq!(notes, 0, "{stdout}");
        assert!(summary.contains("\"line_tables\": true"), "{summary}");
        assert!(!summary.contains("\"hint\""), "{summary}");
    } else {
        assert_eq!(notes, 1, "{stdout}");
        assert!(summary.contains("\"line_tables\": false"), "{summary}");
        assert!(summary.contains("line-tables-only"), "{summary}");
    }
}
