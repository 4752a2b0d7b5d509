//! Adding a probe takes one file and one registration line: this file is a toy
//! probe (the target's voluntary context switches per sample, from
//! `/proc/PID/status`) and the test that registers it — one line — and finds its
//! column in `samples.csv`, its resource in `summary.json` and its panel in the
//! chart.

use soak_live::probe::{
    Attached, Budget, Column, Probe, ProbeFuture, Resource, Row, Setup, TargetView,
};

use super::support::{self, names};

/// The target's voluntary context switches since the previous sample.
struct CtxSwitches {
    pid: u32,
    last: Option<f64>,
}

fn register(_: &Setup<'_>) -> Option<Box<dyn Probe>> {
    Some(Box::new(CtxSwitches { pid: 0, last: None }))
}

/// `voluntary_ctxt_switches` of `/proc/PID/status`.
fn read(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.starts_with("voluntary_ctxt_switches:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Probe for CtxSwitches {
    fn name(&self) -> &'static str {
        "ctx-switches"
    }

    fn attach<'a>(&'a mut self, target: &'a TargetView<'a>) -> ProbeFuture<'a, Attached> {
        self.pid = target.pid;
        self.last = read(self.pid);
        let column = Column::resource(
            "voluntary_switches",
            Resource::new("ctx_switches", "switches", Budget::None),
        )
        .in_panel("voluntary context switches per sample", "switches");
        Box::pin(async move { Ok(vec![column]) })
    }

    fn sample<'a>(&'a mut self, row: &'a mut Row<'_>) -> ProbeFuture<'a, ()> {
        let now = read(self.pid);
        if let (Some(a), Some(b)) = (self.last, now) {
            row.set("voluntary_switches", b - a);
        }
        self.last = now;
        Box::pin(async {})
    }
}

#[test]
fn a_probe_in_one_file_and_one_line_reaches_samples_summary_and_chart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let plan = support::fixture("churn-test.toml");
    let cmd = format!("{} --variant fixed", support::soak_server());
    let args = [
        "soak live",
        "--cmd",
        &cmd,
        "--plan",
        plan.to_str().expect("utf-8 path"),
        "--duration",
        "4s",
        "--sample-every",
        "200ms",
        "--quiet",
        "--out",
        out.to_str().expect("utf-8 path"),
    ];
    let cfg = <soak_live::cli::LiveArgs as clap::Parser>::try_parse_from(args)
        .expect("parses")
        .to_config()
        .expect("valid");

    // The one registration line.
    let registry = [soak_live::probe::REGISTRY, &[register]].concat();

    let outcome = soak_live::run::run_with(&cfg, &registry).expect("runs");
    let csv = std::fs::read_to_string(outcome.dir.join("samples.csv")).expect("samples");
    let header: Vec<&str> = csv.lines().next().expect("header").split(',').collect();
    let col = header
        .iter()
        .position(|c| *c == "voluntary_switches")
        .expect("the column is in samples.csv");
    // The server switches voluntarily while it waits for the load: counted.
    let counted: f64 = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(col)?.parse::<f64>().ok())
        .sum();
    assert!(counted > 0.0, "{csv}");
    let s = support::summary(&out, "churn-test", "fixed");
    let resources: Vec<String> = s["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        resources.contains(&"ctx_switches".to_string()),
        "{resources:?}"
    );
    assert!(!names(&s["failed_resources"]).contains(&"ctx_switches".to_string()));
    let svg = std::fs::read_to_string(outcome.dir.join("heap.svg")).expect("chart");
    assert!(
        svg.contains("voluntary context switches per sample"),
        "the panel is drawn"
    );
}
