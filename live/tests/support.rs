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
    run_for(out, cmd, plan, "10s", extra)
}

/// [`short_run`] for `duration` instead of 10 s.
pub fn run_for(out: &Path, cmd: &str, plan: &str, duration: &str, extra: &[&str]) -> Output {
    let plan = fixture(plan);
    let mut args = vec![
        "--cmd",
        cmd,
        "--plan",
        plan.to_str().expect("utf-8 path"),
        "--duration",
        duration,
        "--sample-every",
        "250ms",
    ];
    args.extend_from_slice(extra);
    run(out, &args)
}

/// A plan file `DIR/NAME.toml`: `users` goose users sending `rate` requests a
/// second, all day, of one HTTP request (`method`, `path`; `{user}` and `{guild}`
/// draw from a large churning pool and 50 guilds).
pub fn one_request_plan(
    dir: &Path,
    name: &str,
    users: u32,
    rate: f64,
    method: &str,
    path: &str,
) -> PathBuf {
    let plan = dir.join(format!("{name}.toml"));
    let text = format!(
        "about = \"test: {method} {path} at {rate}/s\"\nusers = {users}\n\n\
         [load]\ntrough = {rate:?}\npeak = {rate:?}\n\n\
         [pools]\nuser = {{ size = 1000000, churn = 1.0 }}\nguild = {{ size = 50 }}\n\n\
         [[http]]\nmethod = \"{method}\"\npath = \"{path}\"\n"
    );
    std::fs::write(&plan, text).expect("plan written");
    plan
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

/// `libsoak_preload.so`, built first if this test run did not build it (a
/// targeted `-p soak-live` run): the path `soak live --heap` finds too.
pub fn preload_library() -> PathBuf {
    if let Ok(p) = soak_live::preload::library() {
        return p;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "soak-preload"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build -p soak-preload");
    soak_live::preload::library().expect("built next to the test binaries")
}

/// Compiles the C fixture `NAME.c` into `dir` as `out` with `cc` (debug info,
/// threads, `defines` such as `-DLEAKY`).
pub fn compile_c(name: &str, dir: &Path, out: &str, flags: &[&str]) -> PathBuf {
    let exe = dir.join(out);
    let status = Command::new("cc")
        .args(["-O1", "-g", "-pthread"])
        .args(flags)
        .arg("-o")
        .arg(&exe)
        .arg(fixture(&format!("{name}.c")))
        .status()
        .expect("cc runs");
    assert!(status.success(), "cc {name}.c");
    exe
}

/// The line of `file` (a fixture) holding `text`, 1-based.
pub fn line_of(file: &str, text: &str) -> usize {
    let src = std::fs::read_to_string(fixture(file)).expect("fixture reads");
    src.lines()
        .position(|l| l.contains(text))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{file} has no line with {text:?}"))
}

/// An example of this package (`target/<profile>/examples/NAME`), built first if
/// this test run did not build it.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = profile.join("examples").join(name);
    if !path.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "-p", "soak-live", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build --example {name}");
    }
    path
}

/// The resource called `name` in a summary.
pub fn resource<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    s["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["name"] == name))
        .unwrap_or_else(|| panic!("no resource {name} in {}", s["resources"]))
}

/// The config of a 4-s in-process run of the fixed soak-server on the churn test
/// plan, sampled every 200 ms, reports under `out`, plus `extra` options: what
/// the toy-probe tests hand to `soak_live::run::run_with`.
pub fn toy_config(out: &Path, extra: &[&str]) -> soak_live::config::LiveConfig {
    let plan = fixture("churn-test.toml");
    let cmd = format!("{} --variant fixed", soak_server());
    let mut args = vec![
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
    args.extend_from_slice(extra);
    <soak_live::cli::LiveArgs as clap::Parser>::try_parse_from(args)
        .expect("parses")
        .to_config()
        .expect("valid")
}

/// `cmd` started with PORT=`port` (its output dropped), once it listens there.
pub fn listening_on(mut cmd: std::process::Command, port: u16) -> Kill {
    let child = cmd
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the service starts");
    let pid = child.id();
    // Killed however the test ends.
    let mut child = Kill(child);
    let mut waited = 0;
    while !soak_live::procfs::listening_ports(pid).contains(&port) {
        assert!(waited < 100, "the service never listened on {port}");
        if let Ok(Some(s)) = child.0.try_wait() {
            panic!("the service exited: {s}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
    }
    child
}

/// A child process killed when dropped.
pub struct Kill(pub std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
