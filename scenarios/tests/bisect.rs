//! `soak run … --bisect` under `git bisect run`: a throwaway repository of five
//! commits whose file `variant` decides the subject (the third turns the leak
//! on), bisected with the soak binary, names the third commit. And the statuses
//! `--bisect` maps: pass 0, fail 1, inconclusive and usage errors 125 (skip).

use std::path::Path;
use std::process::{Command, Output};

fn git(repo: &Path, args: &[&str]) -> Output {
    let o = Command::new("git")
        .args(args)
        .current_dir(repo)
        // A repository of its own: no user or system configuration, a fixed author.
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "soak")
        .env("GIT_AUTHOR_EMAIL", "soak@localhost")
        .env("GIT_COMMITTER_NAME", "soak")
        .env("GIT_COMMITTER_EMAIL", "soak@localhost")
        .output()
        .expect("git runs");
    o
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn git_bisect_run_finds_the_commit_that_brought_the_leak_in() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    let ok = |o: Output| assert!(o.status.success(), "{}", text(&o));
    ok(git(&repo, &["init", "-q", "-b", "main"]));
    let mut commits = Vec::new();
    for (i, variant) in ["fixed", "fixed", "leaky", "leaky", "leaky"]
        .iter()
        .enumerate()
    {
        std::fs::write(repo.join("variant"), format!("{variant}\n")).expect("write");
        std::fs::write(repo.join("notes"), format!("change {}\n", i + 1)).expect("write");
        ok(git(&repo, &["add", "."]));
        ok(git(
            &repo,
            &["commit", "-q", "-m", &format!("change {}", i + 1)],
        ));
        let head = git(&repo, &["rev-parse", "HEAD"]);
        commits.push(String::from_utf8_lossy(&head.stdout).trim().to_string());
    }
    ok(git(&repo, &["bisect", "start", &commits[4], &commits[0]]));
    // Two virtual hours of raid-burst tell its leaky twin (fail) from the fixed
    // one (pass); reports go outside the repository.
    let out = tmp.path().join("reports");
    let script = format!(
        "\"{}\" run raid-burst --variant \"$(cat variant)\" --hours 2 --quiet --no-history \
         --out \"{}\" --bisect",
        env!("CARGO_BIN_EXE_soak"),
        out.display()
    );
    let run = git(&repo, &["bisect", "run", "sh", "-c", &script]);
    let said = text(&run);
    assert!(run.status.success(), "{said}");
    assert!(
        said.contains(&format!("{} is the first bad commit", commits[2])),
        "{said}"
    );
    // It tested the commits it needed, each an ordinary soak run.
    assert!(said.matches("raid-burst (").count() >= 2, "{said}");
}

#[test]
fn bisect_maps_pass_fail_inconclusive_and_usage_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("r");
    let out_s = out.to_str().expect("utf-8");
    for (args, code) in [
        (&["--hours", "2"][..], 0),
        (&["--hours", "2", "--variant", "leaky"][..], 1),
        // Shorter than the retention: inconclusive, skip.
        (&["--hours", "0.5"][..], 125),
        // The commit's soak does not know this: skip, not bad.
        (&["--variant", "maybe"][..], 125),
        (&["--mute", "nosuch"][..], 125),
    ] {
        let mut all = vec!["run", "raid-burst", "--quiet", "--out", out_s, "--bisect"];
        all.extend(args);
        let o = Command::new(env!("CARGO_BIN_EXE_soak"))
            .args(&all)
            .output()
            .expect("soak runs");
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", text(&o));
    }
    // Without --bisect the statuses are soak's own.
    let o = Command::new(env!("CARGO_BIN_EXE_soak"))
        .args([
            "run",
            "raid-burst",
            "--hours",
            "0.5",
            "--quiet",
            "--out",
            out_s,
        ])
        .output()
        .expect("soak runs");
    assert_eq!(o.status.code(), Some(3));
}
