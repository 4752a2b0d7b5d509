//! Running `soak-live` and reading what it wrote.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `soak-live` binary (the same as `soak live`).
pub fn soak_live() -> Command {
    Command::new(env!("CARGO_BIN_EXE_soak-live"))
}

/// The `soak-server` binary.
pub fn soak_server() -> &'static str {
    env!("CARGO_BIN_EXE_soak-server")
}

/// A file under `live/tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// Runs soak-live with `args` and `--out out`.
pub fn run(out: &Path, args: &[&str]) -> Output {
    soak_live()
        .args(args)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .output()
        .expect("soak-live runs")
}

/// A 10-s run of `cmd` with the fixture plan `plan`, sampled every 250 ms, and
/// `extra` options (`--warmup`, budgets, …).
pub fn short_run(out: &Path, cmd: &str, plan: &str, extra: &[&str]) -> Output {
    let plan = fixture(plan);
    let mut args = vec![
        "--cmd",
        cmd,
        "--plan",
        plan.to_str().expect("utf-8 path"),
        "--duration",
        "10s",
        "--sample-every",
        "250ms",
    ];
    args.extend_from_slice(extra);
    run(out, &args)
}

/// The summary of the only run under `out`.
pub fn summary(out: &Path, plan: &str, name: &str) -> serde_json::Value {
    let path = out
        .join(format!("live-{plan}"))
        .join(name)
        .join("summary.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("summary.json parses")
}

/// The names in a JSON array of strings.
pub fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `node` can be run; when not, says that the calling test (`what`) is
/// skipped.
pub fn node_or_skip(what: &str) -> bool {
    let here = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !here {
        eprintln!("skipped: `node` is not on PATH ({what} needs it)");
    }
    here
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
