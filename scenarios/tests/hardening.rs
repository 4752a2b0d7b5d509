//! Nothing lost, nothing crashes (issue 13): every reproduction of the issue as a
//! test against the `soak` binary — bad input, huge settings, concurrent runs into
//! one `--out`, SIGTERM at random moments, a full disk, a read-only run directory,
//! `soak report` over broken, looping and huge trees — plus the determinism of the
//! heap columns. Runs are short (calibration, half a virtual hour) to stay cheap.

use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn soak(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_soak"))
        .args(args)
        .output()
        .expect("soak binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn summary(dir: &Path) -> serde_json::Value {
    let t = std::fs::read_to_string(dir.join("summary.json")).expect("summary");
    serde_json::from_str(&t).expect("summary is JSON")
}

/// Names below `root` that a run leaves only while it is writing: staging and
/// old run directories, temporary files, write checks.
fn leftovers(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if [".staging-", ".old-", ".tmp-", "tmp-", "write-check"]
                .iter()
                .any(|m| name.contains(m))
            {
                found.push(e.path());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    found
}

/// Asserts a usage error: exit 2, one line starting `error: `, containing `needle`.
fn one_line_error(o: &Output, needle: &str, what: &str) {
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{what}: {err}");
    assert!(err.starts_with("error: "), "{what}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{what}: one line: {err}");
    assert!(err.contains(needle), "{what}: wants {needle:?}: {err}");
}

#[test]
fn every_reproduction_is_one_line_exit_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("reports");
    let digits = "1".repeat(309);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        // Panics and aborts.
        (
            vec!["--sample-every", "1e20s", "--hours", "0.5"],
            "at most a year",
        ),
        (vec!["--leak-rate", "999999999999GB/h"], "too large"),
        (
            vec!["--leak-rate", "100GB/h", "--hours", "0.5"],
            "would inject 46.57 GiB",
        ),
        (
            vec!["--sample-every", "1ms", "--hours", "8760"],
            "at least 316s",
        ),
        (
            vec!["--sample-every", "1ms", "--hours", "0.5"],
            "at least 19ms",
        ),
        // Messages that misled.
        (vec!["--max-growth=-1MB/h"], "is negative"),
        (vec!["--max-growth=-1MB/min"], "is negative"),
        (
            vec!["--max-growth", "1MB/fortnight"],
            "unknown time unit '/fortnight'",
        ),
        (vec!["--leak-rate", &digits], "(309 characters)"),
        (vec!["--hours", &digits], "1.111e308"),
        (vec!["--seed", "-1"], "give a whole number from 0 to"),
        (vec!["--seed=-1"], "give a whole number from 0 to"),
        (
            vec!["--variant", "maybe"],
            "[possible values: fixed, leaky, both]",
        ),
        (vec!["--frobnicate"], "unexpected argument '--frobnicate'"),
    ];
    for (extra, needle) in &cases {
        let mut args = vec!["run", "calibration", "--out", path(&out)];
        args.extend(extra.iter().copied());
        let o = soak(&args);
        one_line_error(&o, needle, &format!("{extra:?}"));
        assert!(
            text(&o.stderr).len() < 300,
            "{extra:?}: short: {}",
            text(&o.stderr)
        );
        assert!(!text(&o.stderr).contains("tip: to pass"), "misleading tip");
        assert!(!out.exists(), "{extra:?} wrote {}", out.display());
    }
    one_line_error(
        &soak(&["run"]),
        "usage: soak run <SCENARIO>",
        "missing scenario",
    );
    one_line_error(
        &soak(&["frobnicate"]),
        "unrecognized subcommand",
        "subcommand",
    );

    // An unwritable stderr is not a panic (exit 101) either.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let o = Command::new(env!("CARGO_BIN_EXE_soak"))
        .args(["run", "nosuch"])
        .stderr(full)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    // Nor with --dhat, whose profiler prints its totals to stderr.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let o = Command::new(env!("CARGO_BIN_EXE_soak"))
        .args(["run", "calibration", "--hours", "0.5", "-q", "--dhat"])
        .args(["--out", path(&out)])
        .stderr(full)
        .output()
        .expect("runs");
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)), "{:?}", o.status);
    assert!(out.join("calibration/fixed/dhat-heap.json").is_file());
}

#[test]
fn a_run_directory_in_the_way_is_caught_before_the_replay() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("reports");
    std::fs::create_dir_all(out.join("calibration")).expect("mkdir");
    std::fs::write(out.join("calibration").join("fixed"), b"x").expect("file");
    let o = soak(&["run", "calibration", "--hours", "0.5", "--out", path(&out)]);
    one_line_error(&o, "calibration/fixed", "file in the way");
    assert!(
        text(&o.stdout).is_empty(),
        "nothing ran: {}",
        text(&o.stdout)
    );
}

#[test]
fn twenty_five_concurrent_pairs_never_mix_a_run_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("reports");
    let run = |seed: &str| {
        Command::new(env!("CARGO_BIN_EXE_soak"))
            .args(["run", "calibration", "--hours", "0.5", "-q", "--seed", seed])
            .args(["--out", path(&out)])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let dir = out.join("calibration").join("fixed");
    for pair in 0..25 {
        let (a, b) = (run("1"), run("2"));
        for child in [a, b] {
            let o = child.wait_with_output().expect("wait");
            // 0, 1 or 3 is the verdict; the point is that neither is an error.
            assert!(
                matches!(o.status.code(), Some(0 | 1 | 3)),
                "pair {pair}: {}",
                text(&o.stderr)
            );
        }
        // The validating reader (what `soak report` uses) accepts the pair only if
        // samples.csv is the one summary.json was computed from (its digest),
        // whichever run won.
        if let Err(e) = soak_harness::report::load_run(&dir) {
            panic!("pair {pair}: {e}");
        }
        let seed = summary(&dir)["seed"].as_u64();
        assert!(matches!(seed, Some(1 | 2)), "{seed:?}");
        assert_eq!(leftovers(&out), Vec::<PathBuf>::new(), "pair {pair}");
    }
}

/// A tiny deterministic generator for the kill moments (reproducible failures).
fn moments(n: usize, max_ms: u64) -> Vec<u64> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % max_ms
        })
        .collect()
}

#[test]
fn sigterm_at_twenty_random_moments_leaves_the_previous_or_a_partial_report() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("reports");
    let dir = out.join("calibration").join("fixed");
    let first = soak(&[
        "run",
        "calibration",
        "--hours",
        "2",
        "-q",
        "--out",
        path(&out),
    ]);
    assert!(
        matches!(first.status.code(), Some(0 | 1 | 3)),
        "{}",
        text(&first.stderr)
    );
    let mut previous = summary(&dir);
    let (mut partial, mut finished, mut untouched) = (0, 0, 0);
    for (i, ms) in moments(20, 900).into_iter().enumerate() {
        let seed = (10 + i).to_string();
        let child = Command::new(env!("CARGO_BIN_EXE_soak"))
            .args(["run", "calibration", "--hours", "12", "-q", "--seed", &seed])
            .args(["--out", path(&out)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(ms));
        // SAFETY: kill(2) on our own child's PID; nothing else is touched.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let o = child.wait_with_output().expect("wait");
        let now = summary(&dir);
        if let Err(e) = soak_harness::report::load_run(&dir) {
            panic!("kill {i} at {ms} ms: {e}");
        }
        let ours = now["seed"].as_u64() == seed.parse().ok();
        match (o.status.code(), o.status.signal()) {
            (Some(143), _) if ours => {
                assert_eq!(now["complete"], false, "kill {i}: partial report");
                assert!(text(&o.stdout).contains("partial run, stopped by SIGTERM"));
                partial += 1;
            }
            (Some(0 | 1 | 3), _) => {
                assert!(ours && now["complete"] == true, "kill {i}: finished before");
                finished += 1;
            }
            // Stopped before the replay began (or before the handler was
            // installed): the previous report, untouched.
            (Some(143), _) | (None, Some(libc::SIGTERM)) => {
                assert_eq!(now, previous, "kill {i} at {ms} ms");
                untouched += 1;
            }
            other => panic!("kill {i} at {ms} ms: {other:?}: {}", text(&o.stderr)),
        }
        assert_eq!(leftovers(&out), Vec::<PathBuf>::new(), "kill {i}");
        previous = now;
    }
    eprintln!("partial {partial}, finished {finished}, untouched {untouched}");
    assert!(partial > 0, "some kills must land mid-replay");
    let next = soak(&[
        "run",
        "calibration",
        "--hours",
        "0.5",
        "-q",
        "--out",
        path(&out),
    ]);
    assert!(matches!(next.status.code(), Some(0 | 1 | 3)));
    assert_eq!(leftovers(&out), Vec::<PathBuf>::new());
}

#[test]
fn a_second_signal_ends_the_process_at_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let child = Command::new(env!("CARGO_BIN_EXE_soak"))
        .args(["run", "connection-churn", "-q", "--out", path(tmp.path())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(300));
    // Two signals sent back to back can merge into one while the first is still
    // pending; send the second only once the first has been taken (its pending
    // bit in /proc is clear), while the run is still stopping and writing.
    let pending = |pid: u32| -> bool {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
            .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
            .any(|mask| mask & (1 << (libc::SIGINT - 1)) != 0)
    };
    // SAFETY: kill(2) on our own child's PID.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    while pending(child.id()) {
        std::thread::yield_now();
    }
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.signal(), Some(libc::SIGINT), "{:?}", o.status);
}

/// Runs soak with a file-size limit, so writing a report file past `bytes`
/// fails with EFBIG: a full disk any user can make.
fn soak_with_file_limit(args: &[&str], bytes: u64) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_soak"));
    cmd.args(args);
    // SAFETY: between fork and exec only async-signal-safe calls (signal,
    // setrlimit) on plain values.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("soak runs")
}

#[test]
fn a_full_disk_prints_the_verdict_exits_2_and_keeps_the_previous_report() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("reports");
    let dir = out.join("calibration").join("fixed");
    let first = soak(&[
        "run",
        "calibration",
        "--hours",
        "0.5",
        "-q",
        "--out",
        path(&out),
    ]);
    assert!(matches!(first.status.code(), Some(0 | 1 | 3)));
    let before: Vec<(String, Vec<u8>)> = ["samples.csv", "summary.json", "heap.svg", "heap.png"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(dir.join(f)).expect("file")))
        .collect();
    // The PNG (~400 KiB) does not fit; samples.csv and heap.svg do.
    let o = soak_with_file_limit(
        &[
            "run",
            "calibration",
            "--hours",
            "0.5",
            "--seed",
            "7",
            "-q",
            "--out",
            path(&out),
        ],
        250_000,
    );
    assert!(
        text(&o.stdout).starts_with("calibration (fixed, seed 7):"),
        "verdict printed first: {}",
        text(&o.stdout)
    );
    one_line_error(&o, "heap.png", "file too large");
    assert!(text(&o.stderr).contains("the previous report is unchanged"));
    for (f, bytes) in &before {
        assert_eq!(
            &std::fs::read(dir.join(f)).expect("still there"),
            bytes,
            "{f}"
        );
    }
    assert_eq!(leftovers(&out), Vec::<PathBuf>::new());
}

#[test]
fn a_read_only_run_directory_exits_2_before_the_replay_and_keeps_the_report() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("reports");
    let dir = out.join("calibration").join("fixed");
    let first = soak(&[
        "run",
        "calibration",
        "--hours",
        "0.5",
        "-q",
        "--out",
        path(&out),
    ]);
    assert!(matches!(first.status.code(), Some(0 | 1 | 3)));
    let before = std::fs::read(dir.join("summary.json")).expect("summary");
    // Read-only for everyone, root included: a read-only bind mount of the run
    // directory. Without the privilege to mount, file modes do it (non-root).
    let mounted = Command::new("mount")
        .args(["--bind", path(&dir), path(&dir)])
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("mount")
            .args(["-o", "remount,bind,ro", path(&dir)])
            .status()
            .is_ok_and(|s| s.success());
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !mounted {
        if root {
            eprintln!("skipped: root without the privilege to mount");
            return;
        }
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    }
    let o = soak(&[
        "run",
        "calibration",
        "--hours",
        "0.5",
        "--seed",
        "7",
        "--out",
        path(&out),
    ]);
    if mounted {
        let _ = Command::new("umount").arg(path(&dir)).status();
    }
    one_line_error(&o, "calibration/fixed", "read-only run directory");
    assert!(text(&o.stdout).is_empty(), "caught before the replay");
    assert_eq!(
        std::fs::read(dir.join("summary.json")).expect("kept"),
        before
    );
}

#[test]
fn leftovers_of_a_dead_run_and_a_stale_dhat_profile_do_not_survive_the_next_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("reports");
    let dir = out.join("calibration").join("fixed");
    let o = soak(&[
        "run",
        "calibration",
        "--hours",
        "0.5",
        "-q",
        "--dhat",
        "--out",
        path(&out),
    ]);
    assert!(
        matches!(o.status.code(), Some(0 | 1 | 3)),
        "{}",
        text(&o.stderr)
    );
    assert!(dir.join("dhat-heap.json").is_file());
    // What a run killed with SIGKILL mid-write leaves (i32::MAX is past pid_max).
    let dead = i32::MAX;
    let parent = out.join("calibration");
    std::fs::create_dir(parent.join(format!(".fixed.staging-{dead}"))).expect("mkdir");
    std::fs::write(
        parent
            .join(format!(".fixed.staging-{dead}"))
            .join("samples.csv"),
        b"x",
    )
    .expect("w");
    std::fs::write(out.join(format!(".index.html.tmp-{dead}")), b"x").expect("w");
    std::fs::write(dir.join(format!(".summary.json.tmp-{dead}")), b"x").expect("w");
    let o = soak(&[
        "run",
        "calibration",
        "--hours",
        "0.5",
        "-q",
        "--out",
        path(&out),
    ]);
    assert!(
        matches!(o.status.code(), Some(0 | 1 | 3)),
        "{}",
        text(&o.stderr)
    );
    assert!(
        !dir.join("dhat-heap.json").exists(),
        "stale dhat profile survived"
    );
    assert_eq!(leftovers(&out), Vec::<PathBuf>::new());
}

/// A report root with `n` copies of one run, each `SCENARIO/fixed`.
fn copies(root: &Path, n: usize) -> Vec<PathBuf> {
    let src = root.join("calibration").join("fixed");
    (1..n)
        .map(|i| {
            let d = root.join(format!("copy{i:03}")).join("fixed");
            std::fs::create_dir_all(&d).expect("mkdir");
            for f in ["samples.csv", "summary.json"] {
                std::fs::copy(src.join(f), d.join(f)).expect("copy");
            }
            d
        })
        .collect()
}

#[test]
fn soak_report_rejects_each_malformed_run_by_path_and_redraws_the_rest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("reports");
    let o = soak(&[
        "run",
        "calibration",
        "--hours",
        "0.5",
        "-q",
        "--out",
        path(&out),
    ]);
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)));
    let dirs = copies(&out, 12);
    let csv = std::fs::read_to_string(dirs[0].join("samples.csv")).expect("csv");
    let json = std::fs::read_to_string(dirs[0].join("summary.json")).expect("json");
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    let cell = |line: &str, col: usize, v: &str| {
        let mut c: Vec<&str> = line.split(',').collect();
        c[col] = v;
        c.join(",")
    };
    let broken = |k: usize, file: &str, body: String, says: &str| {
        std::fs::write(dirs[k].join(file), body).expect("write");
        (dirs[k].join(file), says.to_string())
    };
    let nan = {
        let mut l = lines.clone();
        l[3] = cell(&l[3], 1, "NaN");
        l.join("\n")
    };
    let inf = {
        let mut l = lines.clone();
        l[3] = cell(&l[3], 1, "inf");
        l.join("\n")
    };
    let negative = {
        let mut l = lines.clone();
        l[3] = cell(&l[3], 4, "-3");
        l.join("\n")
    };
    let backwards = {
        let mut l = lines.clone();
        l.swap(3, 4);
        l.join("\n")
    };
    let no_live_bytes: String = lines
        .iter()
        .map(|l| {
            let mut c: Vec<&str> = l.split(',').collect();
            c.remove(1);
            c.join(",")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let other_run = {
        lines[5] = cell(&lines[5], 6, "12345");
        lines.join("\n")
    };
    let expected = vec![
        broken(
            0,
            "samples.csv",
            nan,
            "'NaN' in column live_bytes is not a finite number",
        ),
        broken(
            1,
            "samples.csv",
            inf,
            "'inf' in column live_bytes is not a finite number",
        ),
        broken(2, "samples.csv", negative, "alive_tasks is negative"),
        broken(3, "samples.csv", backwards, "virtual_seconds goes back"),
        broken(4, "samples.csv", no_live_bytes, "no live_bytes column"),
        broken(5, "samples.csv", other_run, "from different runs"),
        broken(
            6,
            "summary.json",
            {
                let mut v: serde_json::Value = serde_json::from_str(&json).expect("json");
                v["verdict"] = "maybe".into();
                serde_json::to_string_pretty(&v).expect("json")
            },
            "unknown variant `maybe`",
        ),
        broken(7, "summary.json", "garbage".into(), "expected value"),
    ];
    let r = soak(&["report", path(&out)]);
    assert_eq!(r.status.code(), Some(2), "rejections show in the status");
    let err = text(&r.stderr);
    for (file, says) in &expected {
        let line = err
            .lines()
            .find(|l| l.contains(path(file)))
            .unwrap_or_else(|| panic!("{} not reported: {err}", file.display()));
        assert!(line.contains(says), "{line}");
        let run = file.parent().expect("run dir");
        assert!(
            !run.join("heap.svg").exists(),
            "rejected, not redrawn: {}",
            run.display()
        );
    }
    assert!(err.contains("8 of 12 runs rejected"), "{err}");
    assert_eq!(
        text(&r.stdout).matches("redrew ").count(),
        4,
        "{}",
        text(&r.stdout)
    );
    assert!(
        out.join("index.html").is_file(),
        "index written despite rejections"
    );
}

#[test]
fn soak_report_never_follows_links_and_ends_on_proc() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("reports");
    let o = soak(&[
        "run",
        "calibration",
        "--hours",
        "0.5",
        "-q",
        "--out",
        path(&out),
    ]);
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)));
    let outside = tmp.path().join("elsewhere");
    std::fs::create_dir_all(outside.join("fixed")).expect("mkdir");
    std::fs::write(outside.join("fixed").join("summary.json"), b"garbage").expect("w");
    let run = out.join("calibration").join("fixed");
    std::os::unix::fs::symlink("..", run.join("loop")).expect("link");
    std::os::unix::fs::symlink(&outside, out.join("out")).expect("link");
    let r = soak(&["report", path(&out)]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let said = text(&r.stdout);
    assert_eq!(said.matches("redrew ").count(), 1, "{said}");
    assert_eq!(said.matches("a symbolic link").count(), 2, "{said}");

    let p = soak(&["report", "/proc"]);
    one_line_error(&p, "no summary.json found", "/proc");
    // A path that is not there is a mistyped path, not a tree without runs.
    let missing = tmp.path().join("no-such-reports");
    for cmd in ["report", "sites"] {
        let p = soak(&[cmd, path(&missing)]);
        one_line_error(&p, "not a directory; pass a report root", cmd);
    }
}

#[test]
fn heap_columns_are_identical_standalone_and_inside_soak_all() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let column = |dir: &Path, name: &str| -> Vec<String> {
        let csv = std::fs::read_to_string(dir.join("samples.csv")).expect("csv");
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().expect("header").split(',').collect();
        let i = header.iter().position(|c| *c == name).expect("column");
        lines
            .map(|l| l.split(',').nth(i).unwrap_or("").to_string())
            .collect()
    };
    let mut dirs = Vec::new();
    // Different --out lengths on purpose: the heap columns must not see them.
    for out in ["a", "a-longer-report-root"] {
        let out = tmp.path().join(out);
        let o = soak(&[
            "run",
            "raid-burst",
            "--variant",
            "leaky",
            "--hours",
            "2",
            "-q",
            "--out",
            path(&out),
        ]);
        assert!(
            matches!(o.status.code(), Some(0 | 1 | 3)),
            "{}",
            text(&o.stderr)
        );
        dirs.push(out.join("raid-burst").join("leaky"));
    }
    // Inside `soak all`, one after another in one process and in parallel
    // child processes.
    for jobs in ["1", "2"] {
        let all = tmp.path().join(format!("all-jobs-{jobs}"));
        let o = soak(&[
            "all",
            "--variant",
            "leaky",
            "--hours",
            "2",
            "--jobs",
            jobs,
            "-q",
            "--out",
            path(&all),
        ]);
        assert!(
            matches!(o.status.code(), Some(0 | 1 | 3)),
            "{}",
            text(&o.stderr)
        );
        dirs.push(all.join("raid-burst").join("leaky"));
    }
    for name in ["live_bytes", "live_blocks"] {
        let first = column(&dirs[0], name);
        assert_eq!(first.len(), 121);
        for d in &dirs[1..] {
            assert_eq!(
                column(d, name),
                first,
                "{name}: {} vs {}",
                dirs[0].display(),
                d.display()
            );
        }
    }
}
