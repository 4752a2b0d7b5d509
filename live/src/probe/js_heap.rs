//! The Node heap probe: a Node target's live JS heap, judged as the run's memory
//! (`js_heap`, the `--max-growth` budget), and its growth per function.
//!
//! Before a `--cmd` target starts, `NODE_OPTIONS` gets
//! [`inspector::NODE_OPTIONS`]: every Node process the command starts (a wrapper
//! such as `npm start` passes it on) opens an inspector on 127.0.0.1 at a free
//! port and prints its URL only on its stderr. Once the target listens, the probe
//! reads those URLs, keeps the one in the process that serves the port
//! ([`inspector::pick`]), connects, and starts V8's sampling heap profiler just
//! before the load. A target that prints no URL is not Node: the probe does not
//! attach and the run judges RSS (`--heap` makes that a usage error instead). A
//! `--pid` target is reached through `--inspect-url` (loopback only).
//!
//! Columns: `js_heap_bytes`, the live JS heap right after a full collection (on
//! the samples that ran one: [`session`](crate::node_heap::session) spaces them
//! so their pauses stay under 1% of the run), compiled code left out, judged;
//! `js_code_bytes`, the compiled code on the same samples, drawn (V8 compiles and
//! optimises a service's hot functions for minutes, a warm-up of some 100–200
//! KiB that is not data the service holds; from Node 22 its bytecode and code
//! metadata too, ~1.4 MiB that halves when V8 flushes start-up bytecode); and `js_heap_used_bytes`, the used
//! size at every sample (garbage and code included), drawn. At the end it hands
//! over each function's sampled live bytes ([`crate::node_heap`]) for the growth
//! fit, the cost of its collections and polls as facts, and a note if the target
//! closed the inspector during the run.

use std::time::Duration;

use soak_harness::units::{duration_text, DurationStyle};

use super::{
    Attached, Budget, Column, Probe, ProbeFuture, Refusal, Resource, Row, Setup, Site, Sites,
    Spawn, TargetView, WindDown,
};
use crate::config::HeapMode;
use crate::inspector::{self, InspectorUrl};
use crate::node_heap::session::{Cadence, HeapSession, SAMPLE_BYTES};
use crate::node_heap::FRAMES_PER_SITE;

/// The judged column.
pub const LIVE: &str = "js_heap_bytes";
/// The drawn column.
pub const USED: &str = "js_heap_used_bytes";
/// The compiled code's part of the heap after a collection, drawn.
pub const CODE: &str = "js_code_bytes";

/// How long the target's stderr may stay quiet before the probe stops looking
/// for inspector URLs (they are printed before the target runs any code).
const QUIET: Duration = Duration::from_millis(300);
/// The longest the probe reads stderr for URLs.
const LOOK_FOR: Duration = Duration::from_secs(3);

/// A Node target's JS heap over the inspector.
#[derive(Debug)]
pub struct NodeHeap {
    given: Option<InspectorUrl>,
    /// `--open-inspector`: a `--pid` target's inspector opened with SIGUSR1,
    /// and closed again at the end.
    open: bool,
    /// The process and port of the inspector soak opened (to close).
    opened: Option<(u32, u16)>,
    cadence: Cadence,
    window: f64,
    /// The warm-up, seconds into the load: sites are folded on what follows.
    warmup: f64,
    session: Option<HeapSession>,
    port: u16,
}

/// Unless `--no-heap`.
pub fn register(setup: &Setup<'_>) -> Option<Box<dyn Probe>> {
    if setup.cfg.heap == HeapMode::Off {
        return None;
    }
    Some(Box::new(NodeHeap {
        given: setup.cfg.inspect_url.clone(),
        open: setup.cfg.open_inspector,
        opened: None,
        cadence: setup.cfg.heap_every,
        window: setup
            .cfg
            .duration
            .saturating_sub(setup.cfg.warmup)
            .as_secs_f64(),
        warmup: setup.cfg.warmup.as_secs_f64(),
        session: None,
        port: setup.endpoint.addr.port(),
    }))
}

impl NodeHeap {
    /// The inspector URLs a spawned target printed on its stderr.
    async fn printed(target: &TargetView<'_>) -> Result<Vec<InspectorUrl>, String> {
        let Some(mut lines) = target.stderr_lines() else {
            return Ok(Vec::new());
        };
        let mut urls = Vec::new();
        let mut refused = None;
        let until = tokio::time::Instant::now() + LOOK_FOR;
        while let Ok(Some(line)) = tokio::time::timeout(
            QUIET.min(until.saturating_duration_since(tokio::time::Instant::now())),
            lines.next(),
        )
        .await
        {
            if let Some(u) = inspector::listening_url(&line) {
                match inspector::parse("the target's inspector", u) {
                    Ok(u) => urls.push(u),
                    Err(e) => refused = Some(e),
                }
            }
        }
        match (urls.is_empty(), refused) {
            (true, Some(e)) => Err(e),
            _ => Ok(urls),
        }
    }
}

impl Probe for NodeHeap {
    fn name(&self) -> &'static str {
        "js-heap"
    }

    fn is_heap(&self) -> bool {
        true
    }

    /// A `--pid` target is reached only through `--inspect-url` or
    /// `--open-inspector`; without either the probe must start the target
    /// itself (to open its inspector).
    fn needs_spawn(&self) -> bool {
        self.given.is_none() && !self.open
    }

    fn attach_instead(&self) -> Option<&'static str> {
        Some(
            "a Node process: --open-inspector (no restart), or --inspect-url when it runs \
             with --inspect",
        )
    }

    fn before_spawn(&mut self, spawn: &mut Spawn) -> Result<(), String> {
        spawn.append("NODE_OPTIONS", inspector::NODE_OPTIONS);
        Ok(())
    }

    fn attach<'a>(&'a mut self, target: &'a TargetView<'a>) -> ProbeFuture<'a, Attached> {
        Box::pin(async move {
            let url = match (&self.given, target.spawned) {
                (Some(u), _) => u.clone(),
                (None, false) if self.open => {
                    let o = inspector::open_by_signal(target.pid, self.port)
                        .await
                        .map_err(Refusal::NotHere)?;
                    if o.by_soak {
                        self.opened = Some((target.pid, o.port));
                    }
                    o.url
                }
                (None, false) => {
                    return Err(Refusal::NotHere(
                        "--pid without --inspect-url: no JS heap (pass --open-inspector to \
                         open a Node process's inspector for the run, or start it with \
                         --inspect=127.0.0.1:PORT and pass its ws:// URL)"
                            .into(),
                    ))
                }
                (None, true) => {
                    let urls = Self::printed(target).await.map_err(Refusal::NotHere)?;
                    match inspector::pick(&urls, self.port, target.pid) {
                        Some(u) => u.clone(),
                        None => {
                            return Err(Refusal::NotHere(
                                "the target printed no inspector URL: not a Node target".into(),
                            ))
                        }
                    }
                }
            };
            let base = std::fs::read_link(format!("/proc/{}/cwd", target.pid)).ok();
            let mut session =
                match HeapSession::connect(&url, base, self.cadence, self.window).await {
                    Ok(s) => s,
                    Err(e) => {
                        // An inspector soak opened is not left open for nothing.
                        if self.opened.take().is_some() {
                            inspector::close_now(&url).await;
                        }
                        return Err(Refusal::NotHere(e.to_string()));
                    }
                };
            session.ask_maps_until(self.warmup);
            self.session = Some(session);
            Ok(vec![
                Column::resource(LIVE, Resource::new("js_heap", "bytes", Budget::Memory))
                    .main("JS heap, live"),
                Column::series(USED).main("JS heap, used"),
                Column::series(CODE).main("JS compiled code"),
            ])
        })
    }

    fn start(&mut self) -> ProbeFuture<'_, ()> {
        Box::pin(async move {
            if let Some(s) = &mut self.session {
                // A failure here shows in the first sample (and the closing note).
                let _ = s.start().await;
            }
        })
    }

    fn sample<'a>(&'a mut self, row: &'a mut Row<'_>) -> ProbeFuture<'a, ()> {
        Box::pin(async move {
            let Some(s) = &mut self.session else { return };
            let r = s.sample(row.at_seconds()).await;
            row.set(LIVE, r.live);
            row.set(USED, r.used);
            row.set(CODE, r.code);
        })
    }

    fn finish<'a>(&'a mut self, end: &'a mut WindDown) -> ProbeFuture<'a, ()> {
        Box::pin(async move {
            let Some(mut s) = self.session.take() else {
                return;
            };
            let series = s.site_series(self.warmup);
            end.sites(Sites {
                resource: "js_heap".into(),
                sample_bytes: SAMPLE_BYTES,
                samples: s.sites().live_samples() as u64,
                frame_depth: FRAMES_PER_SITE,
                sites: series
                    .into_iter()
                    .map(|(frames, live_bytes)| Site {
                        frames,
                        whose: None,
                        live_bytes,
                    })
                    .collect(),
            });
            end.fact("js_heap", s.facts(end.load_seconds));
            if let Some((at, e)) = s.failed() {
                end.note(&format!(
                    "the JS heap probe stopped {} into the run ({e}): js_heap has no samples after that",
                    duration_text(at.round(), DurationStyle::Flag)
                ));
            }
            s.close(self.opened.is_some()).await;
            if let Some((pid, port)) = self.opened.take() {
                // Closing runs on the target's next turn: seen gone within 2 s.
                let mut gone = false;
                for _ in 0..20 {
                    if !crate::procfs::listening_ports(pid).contains(&port) {
                        gone = true;
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                end.note(&if gone {
                    format!("the inspector soak opened (SIGUSR1) on port {port} is closed again")
                } else if crate::procfs::alive(pid) {
                    format!(
                        "the inspector soak opened (SIGUSR1) on port {port} is still open: \
                         close it (kill -USR1 opens it; restart the process, or run \
                         `require('inspector').close()` in it)"
                    )
                } else {
                    format!("the target exited; its inspector on port {port} with it")
                });
            }
        })
    }

    fn describe(&self) -> Option<String> {
        self.session
            .as_ref()
            .map(|_| "JS heap over the inspector (127.0.0.1)".to_string())
    }
}
