//! The command-line contract: exit statuses, one-line errors, report files written
//! atomically and only after validation, `soak report` redrawing from saved files.

use std::path::Path;
use std::process::{Command, Output};

fn soak(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_soak"))
        .args(args)
        .output()
        .expect("soak binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary written");
    serde_json::from_str(&text).expect("summary is JSON")
}

#[test]
fn list_names_every_scenario() {
    let o = soak(&["list"]);
    assert_eq!(o.status.code(), Some(0));
    for s in soak_scenarios::all() {
        assert!(stdout(&o).contains(s.name()), "{}", stdout(&o));
    }
}

#[test]
fn bad_input_exits_2_with_one_line_and_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("reports");
    let out_s = out.to_str().expect("utf-8 path");
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "no-such-scenario"],
            "unknown scenario 'no-such-scenario'",
        ),
        (
            &["run", "calibration", "--max-growth", "banana"],
            "--max-growth",
        ),
        (
            &["run", "calibration", "--hours", "-3"],
            "--hours must be a positive",
        ),
        (
            &["run", "calibration", "--hours", "abc"],
            "--hours 'abc' is not a number",
        ),
        (&["run", "calibration", "--hours", "0.05"], "fewer than"),
        (
            &["run", "calibration", "--leak-rate", "4XB/h"],
            "--leak-rate",
        ),
        (
            &["run", "calibration", "--sample-every", "0s"],
            "--sample-every",
        ),
        (
            &["run", "calibration", "--warmup", "30", "--hours", "24"],
            "--warmup",
        ),
        (
            &["run", "calibration", "--max-task-growth", "-1"],
            "--max-task-growth",
        ),
        (
            &["run", "calibration", "--max-hours", "10"],
            "--max-hours only applies with --hours auto",
        ),
        (
            &["run", "calibration", "--hours", "auto", "--max-hours", "0"],
            "--max-hours must be a positive",
        ),
        (
            &["run", "calibration", "--retention", "a day"],
            "--retention 'a day' is not a number",
        ),
    ];
    for (args, needle) in cases {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--out", out_s]);
        let o = soak(&all);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err}"
        );
        assert!(err.starts_with("error: "), "{err}");
        assert!(!out.exists(), "{args:?} left {} behind", out.display());
    }
    // The unknown-scenario line lists what exists.
    let o = soak(&["run", "nope", "--out", out_s]);
    assert!(stderr(&o).contains("calibration"), "{}", stderr(&o));
}

#[test]
fn unwritable_out_exits_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").expect("write");
    for out in [
        file.join("reports"),
        file.clone(),
        "/proc/soak-reports".into(),
    ] {
        let o = soak(&[
            "run",
            "calibration",
            "--hours",
            "2",
            "--out",
            out.to_str().expect("utf-8"),
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", out.display());
        assert!(err.contains("cannot write reports to"), "{err}");
        assert!(err.contains("--out"), "says how to fix it: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    assert_eq!(std::fs::read(&file).expect("still there"), b"x");
}

#[test]
fn usage_errors_from_clap_exit_2_and_help_exits_0() {
    assert_eq!(soak(&["run"]).status.code(), Some(2));
    assert_eq!(soak(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        soak(&["run", "calibration", "--variant", "maybe"])
            .status
            .code(),
        Some(2)
    );
    let help = soak(&["run", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = stdout(&help);
    for opt in [
        "--variant",
        "--hours",
        "--seed",
        "--max-growth",
        "--out",
        "--dhat",
        "--leak-rate",
        "--sample-every",
    ] {
        assert!(text.contains(opt), "help lists {opt}");
    }
    assert!(text.contains("[default: 1MB/h]"), "help shows defaults");
}

#[test]
fn leak_run_exits_1_with_growth_within_10_percent_and_complete_reports() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("reports");
    let o = soak(&[
        "run",
        "calibration",
        "--leak-rate",
        "4MiB/h",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).is_empty(),
        "no progress bar without a terminal: {}",
        stderr(&o)
    );
    let dir = out.join("calibration").join("fixed");
    let s = summary(&dir);
    let g = s["growth_bytes_per_hour"].as_f64().expect("number");
    assert!((g / 4_194_304.0 - 1.0).abs() < 0.10, "{g}");
    assert_eq!(s["verdict"], "fail");
    for key in [
        "scenario",
        "variant",
        "seed",
        "virtual_hours",
        "wall_seconds",
        "samples",
        "threshold_bytes_per_hour",
        "growth_bytes_per_hour",
        "verdict",
        "peak_live_bytes",
        "final_live_bytes",
        "resources",
        "teardown",
    ] {
        assert!(!s[key].is_null(), "summary has {key}");
    }
    assert_eq!(s["threshold_bytes_per_hour"].as_f64(), Some(1e6));
    let csv = std::fs::read_to_string(dir.join("samples.csv")).expect("csv");
    let header = csv.lines().next().expect("header");
    assert!(
        header.starts_with("virtual_seconds,live_bytes,live_blocks,rss_bytes,alive_tasks,open_fds")
    );
    assert_eq!(csv.lines().count(), 1 + 1441);
    let svg = std::fs::read_to_string(dir.join("heap.svg")).expect("svg");
    assert!(
        svg.contains("<svg") && svg.contains("virtual hours"),
        "svg has axes"
    );
    let png = std::fs::read(dir.join("heap.png")).expect("png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(out.join("index.html").is_file());
    // No temporary files left behind.
    for e in std::fs::read_dir(&dir).expect("dir") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "stray temp file {name}");
    }
    // `soak sites` prints the run's sites, the leak's past the budget, and says
    // once what a share is (they need not add to 100%).
    let sites = soak(&["sites", dir.to_str().expect("utf-8")]);
    assert_eq!(sites.status.code(), Some(0), "{}", stderr(&sites));
    let table = stdout(&sites);
    assert!(
        table.starts_with("calibration (fixed, seed 1): heap "),
        "{table}"
    );
    assert!(table.contains("growth/h ± err   share"), "{table}");
    assert!(table.contains("PAST"), "{table}");
    assert_eq!(
        table.matches("shares need not add to 100%").count(),
        1,
        "{table}"
    );
}

#[test]
fn report_redraws_charts_from_saved_files_and_rejects_malformed_ones() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("reports");
    let out_s = out.to_str().expect("utf-8");
    // Three hours of a daily curve cannot judge a leak that grows with traffic:
    // inconclusive (3), with every report file written all the same.
    let o = soak(&["run", "calibration", "--hours", "3", "--out", out_s]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let dir = out.join("calibration").join("fixed");
    let svg_before = std::fs::read_to_string(dir.join("heap.svg")).expect("svg");
    std::fs::remove_file(dir.join("heap.svg")).expect("rm");
    std::fs::remove_file(dir.join("heap.png")).expect("rm");
    let r = soak(&["report", out_s]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    assert_eq!(
        std::fs::read_to_string(dir.join("heap.svg")).expect("redrawn"),
        svg_before
    );
    assert!(dir.join("heap.png").is_file());

    std::fs::write(
        dir.join("samples.csv"),
        "virtual_seconds,live_bytes\n0,zz\n",
    )
    .expect("write");
    let r = soak(&["report", out_s]);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains("samples.csv is malformed: line 2"),
        "{}",
        stderr(&r)
    );
    let r = soak(&[
        "report",
        tmp.path().join("nothing-here").to_str().expect("utf-8"),
    ]);
    assert_eq!(r.status.code(), Some(2));
}

#[test]
fn scenario_binary_runs_alone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("r");
    let o = Command::new(env!("CARGO_BIN_EXE_calibration"))
        .args(["--hours", "2", "--out", out.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    // Two hours of a daily curve: inconclusive (see the verdict tests).
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(out
        .join("calibration")
        .join("fixed")
        .join("summary.json")
        .is_file());
    let help = Command::new(env!("CARGO_BIN_EXE_calibration"))
        .arg("--help")
        .output()
        .expect("runs");
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("--leak-rate"));
}

#[test]
fn an_inconclusive_run_exits_3_and_says_why_in_summary_chart_and_index() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("reports");
    let out_s = out.to_str().expect("utf-8");
    let o = soak(&["run", "moderator-flood", "--hours", "1", "--out", out_s]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    let why = "window shorter than the subject's longest retention (24 h; the run was 1 h)";
    assert!(
        stdout(&o).contains(&format!("inconclusive: heap, tasks, fds: {why}")),
        "{}",
        stdout(&o)
    );
    let dir = out.join("moderator-flood").join("fixed");
    let s = summary(&dir);
    assert_eq!(s["verdict"], "inconclusive");
    assert_eq!(s["retention_hours"], 24.0);
    assert_eq!(
        s["inconclusive_resources"],
        serde_json::json!(["heap", "tasks", "fds"])
    );
    let heap = &s["resources"][0];
    assert_eq!(
        (&heap["verdict"], &heap["reason"]["kind"]),
        (&"inconclusive".into(), &"retention".into())
    );
    let svg = std::fs::read_to_string(dir.join("heap.svg")).expect("svg");
    assert!(
        svg.contains("INCONCLUSIVE") && svg.contains("longest retention"),
        "chart shows state and reason"
    );
    let index = std::fs::read_to_string(out.join("index.html")).expect("index");
    assert!(index.contains("<tr class=\"inconclusive\">"), "{index}");
    assert!(index.contains("0 pass, 0 fail, 1 inconclusive"), "{index}");
}

#[test]
fn hours_auto_stops_once_settled_and_records_the_hours() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("reports");
    let out_s = out.to_str().expect("utf-8");
    let o = soak(&[
        "run",
        "raid-burst",
        "--hours",
        "auto",
        "--max-hours",
        "6",
        "--out",
        out_s,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("--hours auto: settled after 2 of at most 6 virtual h"),
        "{}",
        stdout(&o)
    );
    let s = summary(&out.join("raid-burst").join("fixed"));
    assert_eq!(s["virtual_hours"], 2.0);
    assert_eq!(s["samples"], 121);
    assert_eq!(s["auto"]["max_hours"], 6.0);
    assert_eq!(s["auto"]["settled"], true);
}

#[test]
fn all_counts_inconclusive_runs_as_their_own_state() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("reports");
    let o = soak(&[
        "all",
        "--hours",
        "1",
        "-q",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("6 runs: 0 pass, 0 fail, 6 inconclusive"),
        "{}",
        stdout(&o)
    );
    // The closing lines point at the page over every run.
    let index = out.join("index.html");
    assert!(index.is_file());
    assert!(
        stdout(&o).contains(&format!("index: {}", index.display())),
        "{}",
        stdout(&o)
    );
}
