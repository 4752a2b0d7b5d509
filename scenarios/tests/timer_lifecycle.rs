//! `timer-lifecycle` end to end: fixed passes and leaky fails (on tasks) for
//! seeds 1–5 over 24 virtual hours, the leaky heap stays under the 1 MB/h budget
//! (the case the heap budget alone misses), the report files carry the task,
//! descriptor and listener columns, and the teardown check tells the twins apart.

use soak_harness::Summary;
use soak_harness::{run, RunConfig, Variant};
use soak_scenarios::timer_lifecycle::TimerLifecycle;

use crate::support;

fn extra(s: &Summary, key: &str) -> u64 {
    s.extras
        .get(key)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_else(|| panic!("summary field {key}"))
}

fn per_hour(s: &Summary, resource: &str) -> f64 {
    s.resource(resource)
        .unwrap_or_else(|| panic!("resource {resource}"))
        .per_hour()
}

#[test]
fn fixed_passes_for_seeds_1_to_5() {
    for seed in 1..=5 {
        let o = support::day(&TimerLifecycle, Variant::Fixed, seed);
        let s = &o.summary;
        eprintln!(
            "fixed seed {seed}: {} heap {:.0} B/h tasks {:.2}/h fds {:.2}/h listeners {:.2}/h \
             sessions {} wall {:.2}s",
            s.verdict,
            s.growth_bytes_per_hour,
            per_hour(s, "tasks"),
            per_hour(s, "fds"),
            per_hour(s, "listeners"),
            extra(s, "voice_sessions"),
            s.wall_seconds
        );
        assert!(o.passed(), "seed {seed}: {}", s.message);
        assert!(s.failed_resources.is_empty());
        support::no_site_past_budget(s);
        assert!(
            extra(s, "lifecycles") > 2_000,
            "thousands of lifecycles a day"
        );
        assert_eq!(extra(s, "open_errors"), 0);
    }
}

#[test]
fn leaky_fails_on_tasks_while_heap_stays_under_budget_for_seeds_1_to_5() {
    for seed in 1..=5 {
        let o = support::day(&TimerLifecycle, Variant::Leaky, seed);
        let s = &o.summary;
        eprintln!(
            "leaky seed {seed}: {} heap {:.0} B/h tasks {:.1}/h fds {:.2}/h listeners {:.1}/h \
             wall {:.2}s",
            s.verdict,
            s.growth_bytes_per_hour,
            per_hour(s, "tasks"),
            per_hour(s, "fds"),
            per_hour(s, "listeners"),
            s.wall_seconds
        );
        assert!(!o.passed(), "seed {seed} passed: {}", s.message);
        for r in [
            "tasks",
            "fds",
            "listeners",
            "unmanaged_intervals",
            "wrapper_depth",
        ] {
            assert!(
                s.failed_resources.iter().any(|f| f == r),
                "seed {seed}: {r} not flagged: {:?}",
                s.failed_resources
            );
        }
        assert!(s.message.contains("tasks grew"), "{}", s.message);
        // The case a heap budget alone misses: thousands of parked tasks, little heap.
        assert!(
            s.growth_bytes_per_hour > 0.0 && s.growth_bytes_per_hour < 1e6,
            "seed {seed}: heap {} B/h",
            s.growth_bytes_per_hour
        );
        assert_eq!(
            s.resource("heap").map(|r| r.verdict),
            Some(soak_harness::Verdict::Pass)
        );
        assert!(per_hour(s, "tasks") > 50.0);
        // The heap that does grow, slowly, is the intervals' tasks.
        support::top_site_on(s, &["components/src/lifecycle"]);
    }
}

#[test]
fn samples_csv_has_task_descriptor_and_listener_columns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = RunConfig {
        variant: Variant::Leaky,
        hours: 6.0,
        ..RunConfig::default()
    };
    let mut o = run(&TimerLifecycle, &cfg).expect("scenario runs");
    let run_dir = o.write_report(dir.path()).expect("report written");
    let csv = std::fs::read_to_string(run_dir.join("samples.csv")).expect("samples.csv");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    for col in [
        "alive_tasks",
        "open_fds",
        "listeners",
        "wrapper_depth",
        "unmanaged_intervals",
        "open_streams",
    ] {
        assert!(header.contains(&col), "samples.csv lacks {col}: {header:?}");
    }
    let last: Vec<f64> = lines
        .last()
        .expect("rows")
        .split(',')
        .map(|v| v.parse().expect("number"))
        .collect();
    let col = |name: &str| last[header.iter().position(|h| *h == name).expect("column")];

    let summary_text = std::fs::read_to_string(run_dir.join("summary.json")).expect("summary");
    let s = Summary::from_json(&summary_text, &run_dir.join("summary.json")).expect("parses");
    // Exact bookkeeping: five leaked listeners and one wrapper layer per tracker
    // ever started (one at the start plus one per restart, 17 restarts by 05:40).
    let trackers = extra(&s, "restarts") + 1;
    assert_eq!(trackers, 18);
    assert_eq!(col("listeners"), 5.0 * trackers as f64);
    assert_eq!(col("wrapper_depth"), trackers as f64);
    assert_eq!(col("open_streams"), trackers as f64);
    for r in ["tasks", "fds", "listeners"] {
        let v = s
            .resource(r)
            .unwrap_or_else(|| panic!("{r} in summary.json resources"));
        assert_eq!(v.spec.budget_per_hour, Some(1.0), "{r} is budgeted");
    }
}

#[test]
fn teardown_is_clean_for_fixed_and_not_for_leaky() {
    let fixed = support::day(&TimerLifecycle, Variant::Fixed, 1).summary;
    let t = &fixed.teardown;
    assert!(
        t.tasks_back && t.fds_back && t.gauges_back && t.clean,
        "{t:?}"
    );
    assert_eq!(t.tasks_after, t.tasks_before);
    for g in [
        "listeners",
        "wrapper_depth",
        "unmanaged_intervals",
        "managed_intervals",
        "open_streams",
    ] {
        assert_eq!(
            t.gauges_after.get(g),
            Some(&0.0),
            "{g} after fixed shutdown"
        );
    }

    let leaky = support::day(&TimerLifecycle, Variant::Leaky, 1).summary;
    let t = &leaky.teardown;
    assert!(
        !t.tasks_back && !t.fds_back && !t.gauges_back && !t.clean,
        "{t:?}"
    );
    // Exactly what was leaked: one cleanup interval per voice session, one flush
    // timer and one descriptor per monitoring stack, five listeners per tracker.
    let stacks = extra(&leaky, "restarts") + 1;
    assert_eq!(
        t.tasks_after - t.tasks_before,
        extra(&leaky, "voice_sessions") + stacks
    );
    assert_eq!(t.fds_after - t.fds_before, stacks);
    assert_eq!(
        t.gauges_after.get("listeners"),
        Some(&(5.0 * stacks as f64))
    );
    assert!(t.gauges_not_at_rest.contains_key("listeners"));
}
