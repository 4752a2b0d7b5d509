//! `soak live --heap` on native targets: the preload library counts the heap
//! (judged instead of RSS), and says so plainly when it cannot see it — a static
//! binary, an allocator compiled in — judging RSS instead. 10-second runs of the
//! C flag server (`fixtures/flag-server.c`, built here with `cc`) at 300 flags/s.

use std::path::Path;

use super::support::{self, compile_c, example, names, preload_library, resource, stderr, summary};

/// `soak live --heap` on `cmd` for `duration` with the flag-flood plan, sites
/// sampled densely; returns the exit status and the summary. The warm-up covers
/// the fixed server's filling of its 1,000 recent flags (3.3 s at 300 flags/s,
/// longer when the load starts late on a busy machine): a fill inside the window
/// is growth the judge cannot tell from a leak in a short run.
fn heap_run(out: &Path, cmd: &str, name: &str, duration: &str) -> (Option<i32>, serde_json::Value) {
    preload_library();
    let plan = support::fixture("cooldown-test.toml");
    let o = support::run(
        out,
        &[
            "--cmd",
            cmd,
            "--heap",
            "--plan",
            plan.to_str().expect("utf-8 path"),
            "--duration",
            duration,
            "--sample-every",
            "250ms",
            "--warmup",
            "5s",
            "--sample-bytes",
            "8KiB",
            "--name",
            name,
        ],
    );
    // 0 pass, 1 fail, 3 inconclusive: a verdict either way, never a usage error.
    assert!(
        matches!(o.status.code(), Some(0 | 1 | 3)),
        "{:?}: {}",
        o.status,
        stderr(&o)
    );
    (o.status.code(), summary(out, "cooldown-test", name))
}

/// The heap column of a run's samples.csv.
fn heap_column(out: &Path, name: &str) -> Vec<f64> {
    let csv = std::fs::read_to_string(
        out.join("live-cooldown-test")
            .join(name)
            .join("samples.csv"),
    )
    .expect("samples.csv");
    let header: Vec<&str> = csv.lines().next().expect("header").split(',').collect();
    let col = header
        .iter()
        .position(|c| *c == "live_bytes")
        .expect("live_bytes column");
    csv.lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(col)?.parse().ok())
        .collect()
}

#[test]
fn the_leaky_c_server_fails_on_its_heap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = compile_c("flag-server", dir.path(), "flag-server-leaky", &["-DLEAKY"]);
    let out = dir.path().join("out");
    let (code, s) = heap_run(&out, exe.to_str().expect("utf-8"), "leaky", "10s");
    assert_eq!(code, Some(1), "{}", s["message"]);
    assert!(
        names(&s["failed_resources"]).contains(&"heap".to_string()),
        "{}",
        s["message"]
    );
    let heap = resource(&s, "heap");
    assert!(heap["budget_per_hour"].is_number(), "{heap}");
    // RSS is reported, not judged, while the heap is.
    assert!(resource(&s, "rss")["budget_per_hour"].is_null());
    // Each kept flag holds its record and its user name (~80 bytes).
    let live = heap_column(&out, "leaky");
    let requests = s["live"]["requests"]["total"].as_f64().expect("total");
    let per_flag = (live[live.len() - 1] - live[0]) / requests;
    assert!(
        (40.0..120.0).contains(&per_flag),
        "{per_flag} bytes per request"
    );
    let facts = &s["live"]["native_heap"];
    assert_eq!(facts["judged"], true, "{facts}");
    assert!(facts["samples"].as_u64().expect("samples") > 100, "{facts}");
    // The growing site, named from the target's own file, ranks first, and the
    // failing verdict's line names it.
    let top = s["growth_sites"][0]["frames"][0].as_str().unwrap_or("");
    let malloc = support::line_of("flag-server.c", "struct flag *f = malloc");
    let strdup = support::line_of("flag-server.c", "f->user = strdup(user)");
    assert!(
        top.starts_with("remember_flag (")
            && (top.contains(&format!("flag-server.c:{malloc}"))
                || top.contains(&format!("flag-server.c:{strdup}"))),
        "{}",
        s["growth_sites"]
    );
    assert!(
        s["message"].to_string().contains("remember_flag"),
        "{}",
        s["message"]
    );
}

#[test]
fn the_fixed_c_server_passes_on_its_heap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = compile_c("flag-server", dir.path(), "flag-server", &[]);
    let out = dir.path().join("out");
    let (code, s) = heap_run(&out, exe.to_str().expect("utf-8"), "fixed", "10s");
    assert!(
        !names(&s["failed_resources"]).contains(&"heap".to_string()),
        "{}",
        s["message"]
    );
    // 10 s cannot tell the budget from zero (core's detectability rule: exit 3);
    // what matters here is that the heap is not failed and stays flat below.
    assert!(matches!(code, Some(0 | 3)), "{}", s["message"]);
    // The last thousand flags, after the warm-up: flat.
    let live = heap_column(&out, "fixed");
    let late = &live[live.len() / 2..];
    let spread = late.iter().cloned().fold(f64::MIN, f64::max)
        - late.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread < 64.0 * 1024.0, "{live:?}");
}

#[test]
fn a_static_binary_is_said_unseen_and_rss_is_judged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = compile_c(
        "flag-server",
        dir.path(),
        "flag-server-static",
        &["-static"],
    );
    let out = dir.path().join("out");
    let (_, s) = heap_run(&out, exe.to_str().expect("utf-8"), "static", "10s");
    let facts = &s["live"]["native_heap"];
    assert_eq!(facts["judged"], false, "{facts}");
    let warning = facts["warning"].as_str().expect("a warning");
    assert!(
        warning.contains("no allocation reached the preload"),
        "{warning}"
    );
    assert!(warning.contains("judging RSS only"), "{warning}");
    assert!(resource(&s, "heap")["budget_per_hour"].is_null());
    assert!(resource(&s, "rss")["budget_per_hour"].is_number());
}

#[test]
fn a_compiled_in_allocator_is_said_unseen_and_rss_is_judged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let exe = example("threaded-service-mimalloc");
    let (_, s) = heap_run(&out, exe.to_str().expect("utf-8"), "mimalloc", "10s");
    let facts = &s["live"]["native_heap"];
    assert_eq!(facts["judged"], false, "{facts}");
    let warning = facts["warning"].as_str().expect("a warning");
    assert!(warning.contains("allocator is compiled in"), "{warning}");
    assert!(warning.contains("Counting::new"), "{warning}");
    assert!(resource(&s, "rss")["budget_per_hour"].is_number());
}

#[test]
fn heap_with_pid_is_refused_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = support::run(
        &dir.path().join("out"),
        &[
            "--pid",
            &std::process::id().to_string(),
            "--url",
            "http://127.0.0.1:9",
            "--heap",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--heap") && err.contains("--cmd"), "{err}");
}
