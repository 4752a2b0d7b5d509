//! Refused input: exit status 2, one line saying what is wrong, nothing written.

use std::path::Path;
use std::process::{Command, Output};

use super::support::{self, stderr};

fn assert_refused(o: &Output, out: &Path, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!out.exists(), "{} was created", out.display());
}

/// Whether `unshare -n` gives this process a fresh network namespace.
fn unshare_works() -> bool {
    Command::new("unshare")
        .args(["-n", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn remote_target_is_refused_before_any_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    for url in [
        "http://10.11.12.13:8080",
        "http://8.8.8.8/",
        "http://example.com:80",
    ] {
        let args = [
            "--pid",
            "1",
            "--url",
            url,
            "--duration",
            "10s",
            "--out",
            out.to_str().expect("utf-8 path"),
        ];
        // In a fresh network namespace no packet can leave, whatever the code does.
        let o = if unshare_works() {
            Command::new("unshare")
                .arg("-n")
                .arg(env!("CARGO_BIN_EXE_soak-live"))
                .args(args)
                .output()
                .expect("unshare runs")
        } else {
            eprintln!("note: unshare -n is not available; running without a network namespace");
            support::soak_live().args(args).output().expect("runs")
        };
        assert_refused(&o, &out, "--allow-remote");
    }
}

#[test]
fn bad_inputs_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_plan = dir.path().join("bad.toml");
    std::fs::write(&bad_plan, "[load]\ntrough = 1\npeak = \"lots\"\n").expect("write");
    let bad_plan = bad_plan.to_string_lossy().into_owned();
    let server = format!("{} --variant fixed", support::soak_server());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--pid", "999999999", "--url", "http://127.0.0.1:9"],
            "no such process",
        ),
        (
            vec!["--cmd", "/nonexistent/soak-target --serve"],
            "exited during startup",
        ),
        (
            vec!["--cmd", "sleep 20", "--startup-timeout", "1s"],
            "never accepted a connection",
        ),
        (vec!["--cmd", &server, "--plan", &bad_plan], "plan"),
        (vec!["--cmd", &server, "--duration", "0"], "--duration"),
        (vec!["--cmd", &server, "--plan", "no-such-plan"], "built-in"),
        // (A native --cmd target with --heap is not refused: the native-heap
        // probe preloads into it; live/tests/native_heap.rs covers it.)
        (
            vec![
                "--pid",
                "1",
                "--url",
                "http://127.0.0.1:9",
                "--inspect-url",
                "ws://10.1.2.3:9229/abc",
            ],
            "not a loopback address",
        ),
        (
            vec!["--cmd", &server, "--inspect-url", "ws://127.0.0.1:9229/abc"],
            "for --pid targets",
        ),
        (vec!["--cmd", &server, "--heap-every", "0"], "--heap-every"),
    ];
    for (args, needle) in cases {
        let out = dir.path().join("out");
        let o = support::run(&out, &args);
        assert_refused(&o, &out, needle);
    }
}

/// A service that listens on a port of its own, not the `$PORT` soak gave it:
/// the refusal says where it listens and what `--url` to give.
#[test]
fn a_target_on_a_port_of_its_own_is_refused_naming_that_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let cmd = format!("{} --port {port}", support::soak_server());
    let o = support::run(&out, &["--cmd", &cmd, "--startup-timeout", "3s"]);
    assert_refused(&o, &out, &format!("it listens on {port} instead"));
    assert_refused(&o, &out, &format!("--url http://127.0.0.1:{port}"));
    assert_refused(&o, &out, "soak gave it PORT=");
}

/// A Node service on a port of its own listens on the inspector soak opened too:
/// the refusal names the service's port alone, not the inspector's.
#[test]
fn a_node_target_on_a_port_of_its_own_is_refused_naming_that_port_alone() {
    if !support::node_or_skip(
        "a_node_target_on_a_port_of_its_own_is_refused_naming_that_port_alone",
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let port = soak_live::target::free_port().expect("a free port");
    let cmd = format!(
        "node -e \"require('http').createServer((q, r) => r.end()).listen({port}, '127.0.0.1')\""
    );
    let o = support::run(&out, &["--cmd", &cmd, "--startup-timeout", "3s"]);
    assert_refused(&o, &out, &format!("it listens on {port} instead"));
    assert_refused(&o, &out, &format!("--url http://127.0.0.1:{port}"));
}

/// A running process (--pid) given the wrong port: it listens elsewhere, so the
/// run is refused at once (after a 2-s grace, not the 30-s --startup-timeout),
/// naming the port it listens on.
#[test]
fn a_running_process_on_another_port_is_refused_without_waiting_out_the_timeout() {
    let port = soak_live::target::free_port().expect("a port");
    let server = support::listening_on(std::process::Command::new(support::soak_server()), port);
    let wrong = soak_live::target::free_port().expect("another port");
    let dir = tempfile::tempdir().expect("tempdir");
    let o = support::run(
        &dir.path().join("out"),
        &[
            "--pid",
            &server.0.id().to_string(),
            "--url",
            &format!("http://127.0.0.1:{wrong}"),
            "--plan",
            "chat-bot",
            "--duration",
            "20s",
            "--startup-timeout",
            "60s",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "within 2s (PID {} listens elsewhere)",
            server.0.id()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("--url http://127.0.0.1:{port}")),
        "{err}"
    );
}
