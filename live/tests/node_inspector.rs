//! The inspector client and the profile-to-sites logic against a real Node
//! process: a script that keeps a known number of bytes from a known function.
//! Skipped where `node` is absent.

use std::process::Stdio;
use std::time::Duration;

use soak_live::inspector::{self, Inspector, InspectorError, InspectorUrl};
use soak_live::node_heap::session::{Cadence, HeapSession};
use soak_live::node_heap::{sites, Class, Namer};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::support;

/// Keeps 40,000 arrays of 16 numbers (several MiB) from `hoard` when told to
/// on stdin (and lets them go on `drop`), answers `done CMD` on stdout, and exits when stdin closes.
const SCRIPT: &str = r#"
'use strict';
globalThis.kept = [];
function hoard(n) {
  for (let i = 0; i < n; i++) globalThis.kept.push(new Array(16).fill(i + 0.5));
}
process.stdin.on('data', (d) => {
  const cmd = String(d).trim();
  if (cmd === 'hoard') hoard(40000);
  if (cmd === 'drop') globalThis.kept = [];
  if (cmd === 'exit') process.exit(0);
  if (cmd === 'close') require('inspector').close();
  console.log('done ' + cmd);
});
process.stdin.on('end', () => process.exit(0));
"#;

struct Node {
    child: Child,
    url: InspectorUrl,
    /// The script's directory, where it runs.
    dir: std::path::PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Starts the script as soak starts a target: NODE_OPTIONS from soak, the URL
/// read from stderr.
async fn start() -> Node {
    let tmp = tempfile::tempdir().expect("tempdir");
    let script = tmp.path().join("hoard.js");
    std::fs::write(&script, SCRIPT).expect("write");
    let mut node = start_script(&[script.as_os_str()], tmp.path()).await;
    node._tmp = Some(tmp);
    node
}

/// Starts `node ARGS` (a script that answers `done CMD` on stdout) in `dir`.
async fn start_script(args: &[&std::ffi::OsStr], dir: &std::path::Path) -> Node {
    let dir = dir.to_path_buf();
    let mut child = Command::new("node")
        .args(args)
        .current_dir(&dir)
        .env("NODE_OPTIONS", inspector::NODE_OPTIONS)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let url = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(u) = inspector::listening_url(&line) {
                return inspector::parse("stderr", u).expect("a loopback URL");
            }
        }
        panic!("stderr ended without an inspector URL")
    })
    .await
    .expect("the URL within 10 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Node {
        child,
        url,
        dir,
        _tmp: None,
    }
}

/// How long a test's inspector call may take.
const CALL: Duration = Duration::from_secs(10);

/// The script started, and a session on its inspector.
async fn connected() -> (Node, Inspector) {
    let node = start().await;
    let insp = Inspector::connect(&node.url, CALL).await.expect("connects");
    (node, insp)
}

async fn tell(node: &mut Node, cmd: &str) {
    use tokio::io::AsyncWriteExt as _;
    let stdin = node.child.stdin.as_mut().expect("stdin");
    stdin
        .write_all(format!("{cmd}\n").as_bytes())
        .await
        .expect("write");
    let out = node.child.stdout.as_mut().expect("stdout");
    let mut line = String::new();
    let mut r = BufReader::new(out);
    tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut line))
        .await
        .expect("answered")
        .expect("read");
    assert_eq!(line.trim(), format!("done {cmd}"));
}

#[test]
fn gc_through_the_inspector_collects_leaves_the_targets_globals_alone_and_is_no_site() {
    if !support::node_or_skip("the inspector test") {
        return;
    }
    runtime().block_on(async {
        let (mut node, insp) = connected().await;
        let t = CALL;
        // Once the script runs (Node's `require` is not ready before).
        tell(&mut node, "ping").await;
        let gc = insp.gc_function(t).await.expect("gc() is had");
        tell(&mut node, "hoard").await;
        tell(&mut node, "drop").await;
        let garbage = insp.heap_usage(t).await.expect("usage").used;
        let after = insp.full_gc(&gc, t).await.expect("gc");
        let live = insp.heap_usage(t).await.expect("usage").used;
        // Read in the same call: the used size, and the compiled code within it.
        assert!(
            after.used <= live + 64e3 && after.used > live - 64e3,
            "{after:?} {live}"
        );
        assert!(
            after.code > 0.0 && after.code < after.used / 2.0,
            "{after:?}"
        );
        assert!(garbage - live > 4e6, "{garbage} → {live}");
        // The target's code sees no gc(), in its context or in a new one.
        for expr in ["typeof gc", "require('vm').runInNewContext('typeof gc')"] {
            let v = insp
                .call(
                    "Runtime.evaluate",
                    serde_json::json!({ "expression": expr, "includeCommandLineAPI": true }),
                    t,
                )
                .await
                .expect("evaluates");
            assert_eq!(v["result"]["value"], "undefined", "{expr}: {v}");
        }
        // What the reads allocate is sampled under the probe's own script (one
        // sample per 64 bytes: every read's few KiB of heap statistics are seen)…
        insp.start_sampling(64, t).await.expect("sampling");
        for _ in 0..5 {
            insp.full_gc(&gc, t).await.expect("gc");
        }
        let profile: soak_live::node_heap::Profile =
            insp.sampling_profile(t).await.expect("profile");
        fn probe_bytes(n: &soak_live::node_heap::ProfileNode, under: bool) -> f64 {
            let under = under || n.call_frame.url == inspector::PROBE_URL;
            let own = if under { n.self_size } else { 0.0 };
            own + n
                .children
                .iter()
                .map(|c| probe_bytes(c, under))
                .sum::<f64>()
        }
        assert!(probe_bytes(&profile.head, false) > 0.0, "{profile:#?}");
        // …and none of it is a site: no frame of soak's, nor the V8 module's it calls.
        let s = sites(&profile, &mut Namer::new(None));
        for site in &s {
            let text = site.frames[0].text();
            assert!(
                !text.contains("soak:probe") && !text.contains("node:v8"),
                "{text}: {s:#?}"
            );
        }
        insp.close().await;
    });
}

#[test]
fn the_sampled_heap_names_the_function_that_keeps_the_bytes() {
    if !support::node_or_skip("the inspector test") {
        return;
    }
    runtime().block_on(async {
        let (mut node, insp) = connected().await;
        assert!(node.url.addr.ip().is_loopback());
        let t = CALL;
        insp.start_sampling(32 * 1024, t).await.expect("sampling");
        insp.collect_garbage(t).await.expect("gc");
        let before = insp.heap_usage(t).await.expect("usage").used;
        tell(&mut node, "ping").await;
        tell(&mut node, "hoard").await;
        insp.collect_garbage(t).await.expect("gc");
        let after = insp.heap_usage(t).await.expect("usage").used;
        let kept = after - before;
        // 40,000 × (array header + 16 doubles): several MiB.
        assert!(kept > 4e6, "kept {kept}");
        let profile = insp.sampling_profile(t).await.expect("profile");
        let base = node.dir.canonicalize().expect("dir");
        let s = sites(&profile, &mut Namer::new(Some(base)));
        let top = &s[0];
        assert_eq!(top.frames[0].text(), "hoard (hoard.js:4)", "{s:#?}");
        assert_eq!(top.frames[0].class, Class::Own);
        // Array.prototype.fill and push are builtins: folded into hoard. The
        // estimate is a Poisson sample of about 150 objects per MiB: within 25%.
        assert!(
            (top.bytes - kept).abs() < 0.25 * kept,
            "site {} vs heap growth {kept}",
            top.bytes
        );
        insp.close().await;
    });
}

/// The TypeScript service of `fixtures/ts-service` (tsc's `dist/` or esbuild's
/// minified `bundle/`, each with its source map) after `hoard`, `add` and
/// `keep`: its sites as soak names them, with their bytes.
fn ts_service_sites(script: &str) -> Vec<(String, f64)> {
    runtime().block_on(async {
        let dir = support::fixture("ts-service").canonicalize().expect("dir");
        let mut node = start_script(&[dir.join(script).as_os_str()], &dir).await;
        let insp = Inspector::connect(&node.url, CALL).await.expect("connects");
        insp.start_sampling(32 * 1024, CALL)
            .await
            .expect("sampling");
        for cmd in ["hoard", "add", "keep"] {
            tell(&mut node, cmd).await;
        }
        insp.collect_garbage(CALL).await.expect("gc");
        let profile = insp.sampling_profile(CALL).await.expect("profile");
        insp.close().await;
        sites(&profile, &mut Namer::new(Some(dir)))
            .into_iter()
            .map(|s| (s.frames[0].text(), s.bytes))
            .collect()
    })
}

/// The three sites the fixture's commands fill, several MiB each, as `sites`
/// names them (their texts in `want`), found among the top five.
fn assert_named(sites: &[(String, f64)], want: &[&str]) {
    for w in want {
        let found = sites.iter().take(5).find(|(t, _)| t == w);
        assert!(
            matches!(found, Some((_, b)) if *b > 3e6),
            "{w} not among the top sites: {sites:#?}"
        );
    }
}

#[test]
fn a_compiled_or_bundled_typescript_service_is_named_in_its_sources() {
    if !support::node_or_skip("the inspector test") {
        return;
    }
    // dist/hoard.js: tsc's output (a class method on line 13, a function on
    // line 20); bundle/app.js: esbuild's, minified, every function on line 1,
    // `hoard` named `A` there and the dependency inlined — named as a package
    // again from the map's source path (V8's name for it, `a.keep`, stays).
    for (script, keep) in [("dist/hoard.js", "keep"), ("bundle/app.js", "a.keep")] {
        let dep = format!("{keep} [tiny-hoard@1.2.3] (node_modules/tiny-hoard/index.js:4)");
        assert_named(
            &ts_service_sites(script),
            &["add (src/hoard.ts:16)", "hoard (src/hoard.ts:23)", &dep],
        );
    }
}

#[test]
fn code_a_loader_compiled_in_memory_is_named_through_the_map_node_keeps() {
    if !support::node_or_skip("the inspector test") {
        return;
    }
    // `register.js` runs src/hoard.ts as tsc's output, compiled in memory (as
    // ts-node does): V8 names src/hoard.ts with the compiled code's lines, and
    // the file on disk names no map. With --enable-source-maps (tsx's own
    // setting) Node keeps the inline map, and the session asks for it in the
    // warm-up; without, the target keeps none, says so once, and the compiled
    // lines stay; and past the warm-up nothing is asked (Node would build and
    // keep a parsed map in the judged heap).
    let dir = support::fixture("ts-service").canonicalize().expect("dir");
    let mapped = ["add (src/hoard.ts:16)", "hoard (src/hoard.ts:23)"];
    let compiled = ["add (src/hoard.ts:13)", "hoard (src/hoard.ts:20)"];
    for (flag, warmup, want, calls) in [
        (Some("--enable-source-maps"), 10.0, mapped, 1),
        (None, 10.0, compiled, 1),
        (Some("--enable-source-maps"), 0.0, compiled, 0),
    ] {
        let (sites, facts) = runtime().block_on(async {
            let mut args: Vec<&std::ffi::OsStr> = flag.iter().map(|f| f.as_ref()).collect();
            args.extend(["-r", "./register.js", "src/hoard.ts"].map(std::ffi::OsStr::new));
            let mut node = start_script(&args, &dir).await;
            let mut session =
                HeapSession::connect(&node.url, Some(dir.clone()), Cadence::Auto, 600.0)
                    .await
                    .expect("connects");
            session.ask_maps_until(warmup);
            session.start().await.expect("sampling");
            tell(&mut node, "hoard").await;
            tell(&mut node, "add").await;
            let r = session.sample(0.0).await;
            assert!(r.live > 0.0, "{r:?}");
            assert!(session.failed().is_none(), "{:?}", session.failed());
            let sites: Vec<String> = session
                .sites()
                .columns()
                .iter()
                .map(|c| c.frames[0].clone())
                .collect();
            let facts = session.facts(1.0);
            session.close(false).await;
            (sites, facts)
        });
        for w in want {
            assert!(
                sites.iter().any(|s| s == w),
                "{flag:?} {warmup}: {w}: {sites:#?}"
            );
        }
        // One poll's asking is one timed call (the target's pause), or none.
        assert_eq!(facts["source_map_calls"]["count"], calls, "{facts}");
    }
}

#[test]
fn a_target_that_ends_closes_the_session_and_calls_fail_fast() {
    if !support::node_or_skip("the inspector test") {
        return;
    }
    runtime().block_on(async {
        let mut node = start().await;
        let base = node.dir.clone();
        let mut session = HeapSession::connect(&node.url, Some(base), Cadence::Auto, 600.0)
            .await
            .expect("connects");
        session.start().await.expect("sampling");
        tell(&mut node, "hoard").await;
        // The first sample runs a cycle: used and live sizes, and the profile, read.
        let r = session.sample(0.0).await;
        assert!(r.used > 0.0 && r.live > 0.0, "{r:?}");
        assert_eq!(session.sites().polls(), 1);
        // The next, within the minimum gap, reads the used size only.
        let r = session.sample(0.5).await;
        assert!(r.used > 0.0 && r.live.is_nan(), "{r:?}");
        // The target exits: the session notices and reads nothing more.
        tell(&mut node, "ping").await;
        let _ = node.child.stdin.take();
        let _ = tokio::time::timeout(Duration::from_secs(10), node.child.wait()).await;
        let r = session.sample(3.0).await;
        assert!(r.used.is_nan() && r.live.is_nan(), "{r:?}");
        let (at, e) = session.failed().expect("the failure is kept");
        assert_eq!(at, 3.0);
        assert_eq!(*e, InspectorError::Closed, "{e}");
        let facts = session.facts(3.0);
        assert_eq!(facts["inspector_closed_at_seconds"], 3.0);
        assert_eq!(facts["collections"]["count"], 1);
        let series = session.site_series(0.0);
        assert!(!series.is_empty());
        assert!(series.iter().all(|(_, v)| v.len() == 3 && v[1].is_nan()));
        session.close(false).await;
    });
}

#[test]
fn a_target_that_closes_its_inspector_is_let_go_at_once() {
    if !support::node_or_skip("the inspector test") {
        return;
    }
    runtime().block_on(async {
        let (mut node, insp) = connected().await;
        let t = CALL;
        insp.start_sampling(32 * 1024, t).await.expect("sampling");
        insp.heap_usage(t).await.expect("usage");
        // inspector.close() blocks the target until every session is gone: the
        // client closes its side at once, so the target answers right after.
        let at = std::time::Instant::now();
        tell(&mut node, "close").await;
        assert!(at.elapsed() < Duration::from_secs(3), "{:?}", at.elapsed());
        tell(&mut node, "ping").await;
        assert!(insp.is_closed());
        assert_eq!(insp.heap_usage(t).await, Err(InspectorError::Closed));
    });
}

#[test]
fn an_inspector_url_off_loopback_is_never_opened() {
    // Decided on the text: no connection is tried.
    let e = inspector::parse("--inspect-url", "ws://192.0.2.1:9229/x").expect_err("refused");
    assert!(e.contains("not a loopback address"), "{e}");
}
