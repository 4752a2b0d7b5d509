//! soak-server under aggressive churn for 10 s: the leaky twin's heap (through
//! the preloaded sampler, `--heap`) grows past a budget, its sites reach the
//! server's code and its /metrics gauges name the registry and the session index;
//! the fixed server stays within it on RSS. And goose's traffic reaches the target: soak's
//! count, goose's count and the target's counter agree.

use super::support::{self, names, stderr, summary};

/// 10 s of churn sampled every 250 ms, the first 3 s left out of the fit. The
/// budget (200 MB/h) sits between the fixed server filling over 10 s (pending
/// interaction deadlines are kept for their 30 s timeout; 20-50 MB/h measured)
/// and the leak (150 sessions/s × a registry entry and two index entries each;
/// several hundred MB/h).
fn churn(variant: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let cmd = format!("{} --variant {variant}", support::soak_server());
    let o = support::short_run(
        &out,
        &cmd,
        "churn-test.toml",
        &[&["--warmup", "3s", "--max-growth", "200MB/h"], extra].concat(),
    );
    let s = summary(&out, "churn-test", variant);
    // The harness reads the live run back like any other, and redraws it.
    let run_dir = out.join("live-churn-test").join(variant);
    let (samples, back) = soak_harness::report::load_run(&run_dir).expect("loads");
    assert!(back.is_live() && samples.rows() >= 30, "{}", samples.rows());
    soak_harness::report::redraw(&run_dir).expect("redraws");
    (o.status.code(), s, stderr(&o))
}

fn requests_agree(s: &serde_json::Value) {
    let r = &s["live"]["requests"];
    let total = r["total"].as_f64().expect("total");
    let target = r["target_counted"].as_f64().expect("the target counted");
    let goose = r["goose_counted"].as_f64().expect("goose counted");
    assert!(total > 1_000.0, "{r}");
    assert!((total - target).abs() <= 0.05 * total, "{r}");
    assert_eq!(total, goose, "{r}");
    assert_eq!(r["shed"], 0, "{r}");
}

#[test]
fn leaky_soak_server_fails_and_its_gauges_name_the_registry_and_session_index() {
    // With the preloaded heap sampler: its sites name the server's own code. Ten
    // seconds of the leak are ~1.3 MB: sampled every 16 KiB on average, not the
    // default 512 KiB, they are enough samples to rank the sites by.
    let (code, s, err) = churn("leaky", &["--heap", "--sample-bytes", "16KiB"]);
    // Ten seconds on a busy 2-core machine sometimes see the leak's pace slow as
    // the load generator falls behind: then the answer is inconclusive ("a fill"),
    // never a pass. The 10-minute runs in docs/performance.md fail on every seed.
    assert!(matches!(code, Some(1 | 3)), "{}\n{err}", s["message"]);
    let judged = if code == Some(1) {
        &s["failed_resources"]
    } else {
        &s["inconclusive_resources"]
    };
    assert!(
        names(judged).contains(&"heap".to_string()),
        "{}",
        s["message"]
    );
    let grown = names(&s["grown_gauges"]);
    for g in [
        "soak_server_registry_entries",
        "soak_server_interactions_by_session",
    ] {
        assert!(grown.contains(&g.to_string()), "{g} not in {grown:?}");
    }
    // The fastest growing owners are tokio's and tungstenite's, each followed by
    // the server's line that called into them (the spawn in `accept`, the
    // session's channel), or the server's own code: most of the top sites reach
    // components/src/ws, and the message's "where" is the server's own code.
    let sites = s["growth_sites"].as_array().expect("growth_sites");
    let top = &sites[..sites.len().min(3)];
    let ours = top
        .iter()
        .filter(|g| g["frames"].to_string().contains("components/src/ws/"))
        .count();
    assert!(
        ours >= 2,
        "the top sites reach the server's code: {}",
        serde_json::to_string_pretty(top).unwrap_or_default()
    );
    let message = s["message"].as_str().unwrap_or_default();
    let at = message.split(" — ").last().unwrap_or_default();
    assert!(
        at.contains("components/src/ws/") || at.contains("live/src/server.rs"),
        "the where names the server's code: {message}"
    );
    requests_agree(&s);
}

#[test]
fn fixed_soak_server_passes_and_its_registry_stays_empty() {
    let (code, s, err) = churn("fixed", &[]);
    assert_eq!(code, Some(0), "{}\n{err}", s["message"]);
    let grown = names(&s["grown_gauges"]);
    assert!(
        !grown.contains(&"soak_server_registry_entries".to_string()),
        "{grown:?}"
    );
    let peak = s["live"]["metrics_peak"]["soak_server_interactions_by_session"]
        .as_f64()
        .expect("gauge sampled");
    assert!(peak < 200.0, "index peaked at {peak}");
    requests_agree(&s);
}

#[test]
fn ws_sessions_count_the_plans_load_not_the_sockets_a_server_keeps_open() {
    // The growth model takes `ws_sessions` as a load gauge (a covariate), so it
    // must not rise with what the target keeps: here every session departs
    // half-open and nothing closes the sockets within the run. A half-open
    // session counts for the declared retention after its hold (2 s here).
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let cmd = format!("{} --variant fixed", support::soak_server());
    let o = support::short_run(&out, &cmd, "half-open-test.toml", &["--retention", "2s"]);
    assert!(o.status.code().is_some(), "{}", stderr(&o));
    let run_dir = out.join("live-half-open-test").join("fixed");
    let (samples, _) = soak_harness::report::load_run(&run_dir).expect("loads");
    let col = |name: &str| samples.column(name).unwrap_or_else(|| panic!("no {name}"));
    let (t, open, sessions) = (samples.hours(), col("ws_connections"), col("ws_sessions"));
    // After the first 3 s: 50 a second × (200 ms + 2 s) ≈ 110 sessions, steady,
    // while every socket stays open: hundreds at the end, and rising.
    let late: Vec<f64> = (0..t.len())
        .filter(|&i| t[i] * 3600.0 >= 3.0)
        .map(|i| sessions[i])
        .collect();
    let mean = late.iter().sum::<f64>() / late.len().max(1) as f64;
    assert!((60.0..180.0).contains(&mean), "{sessions:?}");
    let last_open = open.last().copied().unwrap_or(0.0);
    assert!(last_open > 2.5 * mean, "{open:?} vs {sessions:?}");
    for (s, c) in sessions.iter().zip(&open) {
        // (One may open or end between the two reads; no server closes a silent
        // socket within these 10 s, so every session counted still has one.)
        assert!(*s <= c + 1.0, "a session is an open connection: {s} > {c}");
    }
}
