//! How a run ends when it does not end well: the target dies (exit 1, its status
//! and last stderr lines in the message, report written), or soak is interrupted
//! (the load and the target stop, the report is written and marked incomplete).

use std::path::Path;
use std::time::{Duration, Instant};

use super::support::{self, names, stderr, summary};

/// A run of `cmd` under the built-in `chat-bot` plan for `duration`, sampled
/// every 250 ms.
fn chat_bot_run(out: &Path, cmd: &str, duration: &str) -> std::process::Output {
    support::run(
        out,
        &[
            "--cmd",
            cmd,
            "--plan",
            "chat-bot",
            "--duration",
            duration,
            "--sample-every",
            "250ms",
        ],
    )
}

#[test]
fn a_target_that_dies_fails_the_run_with_its_status_and_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    // The watched process is the shell: it serves through soak-server for 3 s,
    // then says why it is leaving and exits 3.
    let cmd = format!(
        "sh -c '{} --port $PORT & s=$!; sleep 3; kill -9 $s; echo \"target: out of cheese\" >&2; exit 3'",
        support::soak_server()
    );
    let o = chat_bot_run(&out, &cmd, "10s");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let s = summary(&out, "chat-bot", "unlabelled");
    let msg = s["message"].as_str().expect("message");
    assert!(
        msg.contains("died") && msg.contains("exit status 3"),
        "{msg}"
    );
    assert!(msg.contains("out of cheese"), "{msg}");
    assert_eq!(s["verdict"], "fail");
    assert!(names(&s["failed_resources"]).contains(&"target".to_string()));
    assert_eq!(s["ending"]["how"], "died");
    let log = out.join("live-chat-bot/unlabelled/target-stderr.log");
    let log = std::fs::read_to_string(&log).expect("the target's stderr is kept");
    assert!(log.contains("out of cheese"), "{log}");
}

fn signal_name(signal: i32) -> &'static str {
    if signal == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    }
}

fn interrupted_by(signal: i32, name: &str, status: i32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let server = format!("{} --variant fixed", support::soak_server());
    let mut child = support::soak_live()
        .args([
            "--cmd",
            &server,
            "--plan",
            "chat-bot",
            "--duration",
            "30s",
            "--quiet",
            "--name",
            name,
        ])
        .arg("--out")
        .arg(&out)
        .spawn()
        .expect("soak-live starts");
    // Interrupt once the load is running (it starts within a second or two; the
    // run directory is written whole at the end).
    let started = Instant::now();
    let run_dir = out.join("live-chat-bot").join(name);
    std::thread::sleep(Duration::from_secs(4));
    // SAFETY: kill has no memory preconditions; the pid is our own child's.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
    let exit = child.wait().expect("soak-live ends");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "stopped promptly"
    );
    assert_eq!(exit.code(), Some(status));
    let s = summary(&out, "chat-bot", name);
    assert_eq!(s["complete"], false);
    assert_eq!(s["mode"], "live");
    let msg = s["message"].as_str().expect("message");
    assert!(
        msg.starts_with(&format!("partial run, stopped by {}", signal_name(signal))),
        "{msg}"
    );
    assert_eq!(s["ending"]["how"], "interrupted");
    // Written whole: goose's reports and the target's output came with the rest.
    for f in [
        "goose-report.html",
        "goose-report.json",
        "target-stderr.log",
    ] {
        assert!(run_dir.join(f).is_file(), "{f} missing");
    }
    assert!(s["live"]["requests"]["total"].as_u64().expect("count") > 0);
    // The spawned target was stopped.
    let pid = s["live"]["target"]["pid"].as_u64().expect("pid") as i32;
    assert!(
        !s["live"]["target"]["stopped"].is_null(),
        "{}",
        s["live"]["target"]
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "target {pid} still runs"
    );
    // The samples written parse.
    let csv = std::fs::read_to_string(run_dir.join("samples.csv")).expect("samples");
    assert!(csv.starts_with("wall_seconds,"), "{csv}");
}

#[test]
fn ctrl_c_stops_the_load_and_the_target_and_keeps_an_incomplete_report() {
    interrupted_by(libc::SIGINT, "sigint", 130);
}

#[test]
fn sigterm_stops_the_load_and_the_target_and_keeps_an_incomplete_report() {
    interrupted_by(libc::SIGTERM, "sigterm", 143);
}

#[test]
fn a_target_whose_port_was_taken_is_started_again_on_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    // The first start listens where another socket already does (as when an
    // outgoing connection took the port soak chose) and exits "address
    // already in use"; the second listens on soak's port.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    // It also leaves a helper running, which soak must not keep.
    let marker = dir.path().join("started-once");
    let helper = dir.path().join("helper-pid");
    let cmd = format!(
        "sh -c 'if [ -e {m} ]; then exec {s} --variant fixed --port $PORT; fi; \
         touch {m}; sleep 300 & echo $! > {h}; exec {s} --variant fixed --port {port}'",
        m = marker.display(),
        h = helper.display(),
        s = support::soak_server(),
    );
    let o = chat_bot_run(&out, &cmd, "5s");
    let err = stderr(&o);
    assert!(
        matches!(o.status.code(), Some(0 | 3)),
        "the run went on: {err}"
    );
    let helper = std::fs::read_to_string(&helper).expect("the first start ran");
    let helper = Path::new("/proc").join(helper.trim());
    assert!(
        !helper.exists(),
        "the first start's helper {} outlived it",
        helper.display()
    );
    let s = summary(&out, "chat-bot", "fixed");
    let notes = s["notes"].to_string();
    assert!(
        notes.contains("port was taken") && notes.contains("already in use"),
        "{notes}"
    );
    drop(taken);
}

/// A plan written for another service: soak-server answers its every request
/// 404. The run judges nothing (exit 2) and says which request failed and how;
/// the report is still written. With `--quiet` the outcome lines are printed
/// all the same (only progress is silenced).
#[test]
fn a_load_whose_every_request_fails_judges_nothing_and_names_the_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = support::one_request_plan(dir.path(), "elsewhere", 2, 20.0, "GET", "/no/such/path");
    let out = dir.path().join("out");
    let run = |duration: &str| {
        support::run(
            &out,
            &[
                "--cmd",
                support::soak_server(),
                "--plan",
                plan.to_str().expect("utf-8"),
                "--duration",
                duration,
                "--sample-every",
                "250ms",
            ],
        )
    };
    // A minute's run: stopped once 10 s and 100 requests have all missed.
    let o = run("60s");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // No --variant in the command nor given: the run is unlabelled, not "fixed".
    let s = summary(&out, "elsewhere", "unlabelled");
    assert_eq!(s["variant"], "unlabelled");
    assert_eq!(s["ending"]["how"], "load_failed", "{}", s["ending"]);
    let at = s["ending"]["at_seconds"].as_f64().expect("at_seconds");
    assert!((10.0..50.0).contains(&at), "stopped at {at} s of 60");
    let msg = s["message"].as_str().expect("message");
    assert!(msg.contains("every one of its"), "{msg}");
    assert!(msg.contains("GET /no/such/path: HTTP 404"), "{msg}");
    assert!(
        msg.contains("rather than run its whole --duration"),
        "{msg}"
    );
    assert_eq!(
        s["live"]["requests"]["errors"], s["live"]["requests"]["total"],
        "{}",
        s["live"]["requests"]
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("elsewhere (unlabelled, seed"), "{stdout}");
    assert!(stdout.contains("the load failed after"), "{stdout}");
    assert!(
        stdout.contains("failed (100.0%; the first: GET /no/such/path: HTTP 404)"),
        "{stdout}"
    );
    assert!(stdout.contains("  report: "), "{stdout}");
    assert!(!stdout.contains("replacing"), "{stdout}");
    assert!(
        !stdout.contains("holds an earlier run's report"),
        "{stdout}"
    );
    // A second run of the same plan and name replaces the first's report, and says
    // so before its load and at its end; a run too short to stop early fails the
    // same way at its end.
    let o = run("4s");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let s = summary(&out, "elsewhere", "unlabelled");
    let msg = s["message"].as_str().expect("message");
    assert!(msg.contains("every one of its"), "{msg}");
    assert!(!msg.contains("rather than run its whole"), "{msg}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("replacing an earlier run's report"),
        "{stdout}"
    );
    let opening = stdout.lines().take(3).collect::<Vec<_>>().join("\n");
    assert!(
        opening.contains("holds an earlier run's report: this run's replaces it"),
        "{stdout}"
    );
}

/// A service that refuses every request itself (a rate limiter answering 429)
/// ran its code for each: the run is judged as usual, the failures counted.
#[test]
fn a_service_that_refuses_every_request_itself_is_still_judged() {
    if !support::node_or_skip("a 429-answering service") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = support::one_request_plan(dir.path(), "limited", 2, 20.0, "POST", "/flag");
    let out = dir.path().join("out");
    let cmd = "node -e \"require('http').createServer((q, r) => { r.statusCode = 429; \
               r.end(); }).listen(process.env.PORT, '127.0.0.1')\"";
    let o = support::run(
        &out,
        &[
            "--cmd",
            cmd,
            "--no-heap",
            "--plan",
            plan.to_str().expect("utf-8"),
            "--duration",
            "4s",
            "--sample-every",
            "250ms",
        ],
    );
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)), "{}", stderr(&o));
    let s = summary(&out, "limited", "unlabelled");
    assert_ne!(s["ending"]["how"], "load_failed", "{}", s["ending"]);
    assert_eq!(s["complete"], true, "{}", s["message"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("failed (100.0%; the first: POST /flag: HTTP 429)"),
        "{stdout}"
    );
}

/// A started wrapper (`npm start`, a shell script) that runs the service as its
/// child: the process figures are the child's, which listens on the port, and
/// the summary says whose they are.
#[test]
fn a_wrapped_service_is_measured_in_the_process_that_listens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    // `; true` keeps the shell waiting for its child, as npm does.
    let cmd = format!("sh -c '{}; true'", support::soak_server());
    let o = chat_bot_run(&out, &cmd, "4s");
    assert_ne!(o.status.code(), Some(2), "{}", stderr(&o));
    let s = summary(&out, "chat-bot", "unlabelled");
    let notes = names(&s["notes"]);
    let wrapper = s["live"]["target"]["pid"].as_u64().expect("pid");
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("RSS, threads and descriptors are PID")
                && n.contains(&format!("(PID {wrapper})"))),
        "{notes:?}"
    );
    // The shell has one thread; soak-server's runtime has several.
    let threads = support::resource(&s, "threads");
    assert!(threads["peak"].as_f64().expect("peak") > 1.0, "{threads}");
}

/// A plan half of whose requests fail (a path the service does not have) is
/// judged, and its message says how much of the plan the service did not serve.
#[test]
fn a_load_whose_requests_largely_fail_says_so_in_its_verdict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("half.toml");
    std::fs::write(
        &plan,
        "about = \"test: half the requests 404\"\nusers = 2\n\n\
         [load]\ntrough = 20.0\npeak = 20.0\n\n\
         [pools]\nuser = { size = 1000, churn = 1.0 }\nguild = { size = 50 }\n\n\
         [[http]]\nmethod = \"GET\"\npath = \"/health\"\n\n\
         [[http]]\nmethod = \"GET\"\npath = \"/no/such/path\"\n",
    )
    .expect("plan written");
    let out = dir.path().join("out");
    // An absolute plan path: `run_for` joins it to the fixtures' directory as is.
    let plan = plan.to_str().expect("utf-8");
    let o = support::run_for(&out, support::soak_server(), plan, "4s", &[]);
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)), "{}", stderr(&o));
    let s = summary(&out, "half", "unlabelled");
    let msg = s["message"].as_str().expect("message");
    assert!(
        msg.contains(
            "% of the requests failed (the first: GET /no/such/path: HTTP 404): \
             the service did less than the plan asks"
        ),
        "{msg}"
    );
}
