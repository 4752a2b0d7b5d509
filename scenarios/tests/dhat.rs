//! `--dhat`: the profile is valid, its top site is the leaking code, and its
//! bytes-at-end agree with the counting allocator.

use std::process::Command;

use soak_harness::{RunConfig, Variant};
use soak_scenarios::calibration::Calibration;

fn profiled(variant: Variant, hours: f64, dhat_from: f64) -> soak_harness::Outcome {
    let cfg = RunConfig {
        variant,
        hours,
        dhat: true,
        dhat_from,
        ..RunConfig::default()
    };
    soak_harness::run(&Calibration, &cfg).expect("runs under dhat")
}

#[test]
fn dhat_bytes_at_end_match_the_counting_allocator_within_1_percent() {
    let o = profiled(Variant::Leaky, 4.0, 0.0);
    let d = o.summary.dhat.as_ref().expect("dhat section");
    let dhat = d.bytes_at_end as f64;
    let counted = d.counted_bytes_at_end as f64;
    assert!(
        counted > 1e6,
        "the run held megabytes at the end: {counted}"
    );
    assert!(
        (dhat / counted - 1.0).abs() < 0.01,
        "dhat {dhat} vs counted {counted}"
    );
    // The heap curve still comes from the same probes.
    assert_eq!(o.summary.samples, 4 * 60 + 1);
    assert!(o.summary.peak_live_bytes > 1_000_000);
}

#[test]
fn top_sites_point_at_the_scenario_code_that_holds_the_bytes() {
    let o = profiled(Variant::Leaky, 4.0, 0.0);
    let d = o.summary.dhat.as_ref().expect("dhat section");
    assert!(!d.top_sites.is_empty());
    assert!(d.top_sites.windows(2).all(|w| w[0].bytes >= w[1].bytes));
    let first = &d.top_sites[0].frames[0];
    assert!(first.contains("scenarios/src/calibration.rs"), "{first}");
    assert!(!first.starts_with("0x"), "addresses are trimmed: {first}");
}

#[test]
fn late_start_profiles_only_the_window() {
    let whole = profiled(Variant::Leaky, 6.0, 0.0);
    let late = profiled(Variant::Leaky, 6.0, 3.0);
    let w = whole.summary.dhat.as_ref().expect("dhat");
    let l = late.summary.dhat.as_ref().expect("dhat");
    assert_eq!(l.from_hours, 3.0);
    // Blocks allocated before hour 3 (the ring buffer, early leaked items) are not
    // attributed in the late profile.
    assert!(
        l.bytes_at_end < w.bytes_at_end,
        "{} vs {}",
        l.bytes_at_end,
        w.bytes_at_end
    );
}

#[test]
fn cli_writes_a_valid_dhat_file_next_to_the_reports() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("r");
    let o = Command::new(env!("CARGO_BIN_EXE_soak"))
        .args([
            "run",
            "calibration",
            "--hours",
            "2",
            "--dhat",
            "--out",
            out.to_str().expect("utf-8"),
        ])
        .output()
        .expect("runs");
    // Two hours of a daily curve: inconclusive (3), the profile written all the same.
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dir = out.join("calibration").join("fixed");
    let text = std::fs::read_to_string(dir.join("dhat-heap.json")).expect("profile written");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(v["dhatFileVersion"], 2);
    assert!(v["pps"].as_array().is_some_and(|a| !a.is_empty()));
    assert!(v["ftbl"].as_array().is_some_and(|a| !a.is_empty()));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary"))
            .expect("JSON");
    assert!(s["dhat"]["top_sites"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
}

/// Issue acceptance: `moderator-flood --variant leaky --hours 4 --dhat` names the
/// leaky map's insert path as the top site; in the fixed variant that site holds
/// under a hundredth of it (the swept maps' last entries).
#[test]
fn moderator_flood_top_site_is_the_leaky_maps_insert_path_and_absent_when_fixed() {
    use soak_scenarios::moderator_flood::ModeratorFlood;
    let run = |variant| {
        let cfg = RunConfig {
            variant,
            hours: 4.0,
            dhat: true,
            ..RunConfig::default()
        };
        soak_harness::run(&ModeratorFlood, &cfg).expect("runs under dhat")
    };
    let location = |frame: &str| {
        frame
            .rsplit_once(" (")
            .map(|(_, l)| l.to_string())
            .unwrap_or_default()
    };
    let leaky = run(Variant::Leaky);
    let d = leaky.summary.dhat.as_ref().expect("dhat section");
    let top = &d.top_sites[0].frames[0];
    assert!(top.contains("components/src/ttl_map.rs"), "top site: {top}");
    assert!(
        top.contains("insert") || top.contains("upsert"),
        "an insert path: {top}"
    );
    assert!((d.bytes_at_end as f64 / d.counted_bytes_at_end as f64 - 1.0).abs() < 0.01);
    // The leaky maps hold most of what is live at the end of the day.
    assert!(d.top_sites[0].bytes as f64 > 0.1 * d.bytes_at_end as f64);

    let fixed = run(Variant::Fixed);
    let f = fixed.summary.dhat.as_ref().expect("dhat section");
    // The fixed maps insert at the same line, and sweep: what that site still holds
    // at the end of the day is the last minutes' entries, not the day's.
    let leak_site = location(top);
    let leaky_bytes = d.top_sites[0].bytes;
    for site in &f.top_sites {
        if site.frames.iter().any(|fr| location(fr) == leak_site) {
            assert!(
                (site.bytes as f64) < 0.01 * leaky_bytes as f64,
                "fixed variant holds {} B at the leaky insert site {leak_site} (leaky: {leaky_bytes} B): {site:?}",
                site.bytes
            );
        }
    }
}
