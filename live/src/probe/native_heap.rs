//! The native heap of a `--cmd` target (`--heap`): `soak-preload` as the target's
//! `LD_PRELOAD` counts every block its C library hands out and samples allocation
//! sites, and publishes both in a file this probe reads at every sample
//! ([`crate::preload`]). Its `heap` (exact live bytes) is judged like a virtual
//! run's heap; its sites, named from the target's own files
//! ([`soak_harness::symbolize`]), go to the run's attribution.
//!
//! What it cannot see it says, and then judges nothing: a target that never
//! loaded the library (statically linked), or one whose allocator is compiled in
//! (a Rust `#[global_allocator]` of jemalloc or mimalloc: its blocks never reach
//! `malloc`). The first shows at attach, the second as fewer blocks counted than
//! one per [`preload::REQUESTS_PER_BLOCK`] requests of load (weighed after
//! [`DETECT_SECONDS`] and [`DETECT_REQUESTS`]); either way the heap is withdrawn from
//! judging and RSS is judged, with a note (the exit status is RSS's).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use soak_harness::sites::shared;

use super::{
    Attached, Budget, Column, Probe, ProbeFuture, Refusal, Resource, Row, Setup, Site, Sites,
    Spawn, TargetView, WindDown,
};
use crate::config::HeapMode;
use crate::load::LoadStats;
use crate::preload::{self, HeapReader, Reach};

/// Seconds of load after which a target that counted (almost) nothing is taken
/// to allocate around `malloc`, once the load has made [`DETECT_REQUESTS`].
pub const DETECT_SECONDS: f64 = 5.0;
/// The requests the load makes before the blocks counted are weighed against
/// them ([`HeapReader::reach`]); a run that makes fewer is weighed at its end.
const DETECT_REQUESTS: u64 = 200;

/// The heap column (`live_bytes`, as in a virtual run) and its block count.
const BYTES: &str = "live_bytes";
const BLOCKS: &str = "live_blocks";
/// The judged resource's name, as in a virtual run.
const RESOURCE: &str = "heap";

/// Reads the preloaded library's published heap.
#[derive(Debug)]
pub struct NativeHeap {
    sample_bytes: u64,
    load: Arc<LoadStats>,
    library: Option<PathBuf>,
    dir: Option<PathBuf>,
    /// Why this target is not for the library (a Node target has its own probe).
    skip: Option<String>,
    reader: Option<HeapReader>,
    /// Why the heap is not judged, once known.
    withdrawn: Option<String>,
    checked: bool,
    /// The blocks counted and the requests made at attach, just before the
    /// load starts (or at the first sample that read the heap, if attach could
    /// not): the blocks weighed against requests are the load's.
    start: Option<(u64, u64)>,
    /// Whether the program carries an allocator of its own
    /// ([`preload::embeds_allocator`]): then fewer blocks than requests is
    /// enough to say it allocates around `malloc`.
    embedded: bool,
    exe: String,
}

/// Only with `--heap`: preloading changes the target's allocator, so it is
/// asked for, never implied.
pub fn register(setup: &Setup<'_>) -> Option<Box<dyn Probe>> {
    (setup.cfg.heap == HeapMode::Required).then(|| {
        Box::new(NativeHeap {
            sample_bytes: setup.cfg.sample_bytes,
            load: setup.load.clone(),
            library: None,
            dir: None,
            skip: None,
            reader: None,
            withdrawn: None,
            checked: false,
            start: None,
            embedded: false,
            exe: String::new(),
        }) as Box<dyn Probe>
    })
}

/// Whether a program (a path or a name) is Node, whose heap V8 keeps.
fn is_node(program: &str) -> bool {
    let name = program.rsplit('/').next().unwrap_or(program);
    name == "node" || name == "nodejs" || name.starts_with("node-")
}

impl NativeHeap {
    /// The warning for a target that does not allocate through the library.
    fn unseen(&self, reach: Reach) -> Option<String> {
        let exe = &self.exe;
        match reach {
            Reach::Counting => None,
            Reach::NotLoaded => Some(format!(
                "no allocation reached the preload: {exe} did not load {} (statically linked, \
                 or a loader that ignores LD_PRELOAD); judging RSS only",
                preload::LIBRARY
            )),
            Reach::Foreign => Some(format!(
                "the preload cannot read {exe}'s C library's block sizes (not glibc's layout); \
                 judging RSS only"
            )),
            Reach::Bypassed {
                allocations,
                requests,
            } => Some(format!(
                "almost no allocation reached the preload ({allocations} blocks for {requests} \
                 requests of load): {exe} allocates without malloc — an allocator compiled in (a \
                 Rust #[global_allocator] of jemalloc or mimalloc?) or memory of its own; judging \
                 RSS only. For a Rust service, wrap its allocator in \
                 soak_harness::Counting::new(inner) and serve /metrics, or soak it without --heap"
            )),
        }
    }

    /// Decides, once, whether the heap is seen: when the load has made
    /// [`DETECT_REQUESTS`] after [`DETECT_SECONDS`], or at the end (`last`).
    fn check(&mut self, last: bool) {
        if self.checked || self.withdrawn.is_some() {
            return;
        }
        let Some(reader) = &mut self.reader else {
            return;
        };
        let (since, first) = self.start.unwrap_or((0, 0));
        let requests = self.load.requests().saturating_sub(first);
        if requests < DETECT_REQUESTS && !last {
            return;
        }
        self.checked = true;
        let reach = reader.reach(since, requests, self.embedded);
        self.withdrawn = self.unseen(reach);
    }

    /// The sampled sites, named from the target's files and trimmed to its own
    /// code as a virtual run's are.
    fn sites(&self, reader: &HeapReader) -> Sites {
        let sites = reader
            .sites()
            .iter()
            .zip(reader.named_sites())
            .filter(|(s, _)| s.live.iter().any(|v| *v > 0.0))
            .map(|(s, (frames, whose))| Site {
                frames,
                whose: Some(whose),
                live_bytes: s.live.clone(),
            })
            .collect();
        let (sample_bytes, samples, _, _) = reader.sampling();
        Sites {
            resource: RESOURCE.into(),
            sample_bytes,
            samples,
            frame_depth: soak_harness::sites::FRAME_DEPTH,
            sites,
        }
    }
}

impl Probe for NativeHeap {
    fn name(&self) -> &'static str {
        "native-heap"
    }

    fn is_heap(&self) -> bool {
        true
    }

    fn needs_spawn(&self) -> bool {
        true
    }

    /// Twice a second: the counters are read from shared memory without touching
    /// the target, and a heap that follows its load (sessions held, requests in
    /// flight) is fitted closer with its load read twice as often (soak-server
    /// at a steady rate, 5-minute runs: the heap's standard error 270–293 KiB per
    /// wall hour at 1 s, 135–210 at 500 ms; docs/performance.md).
    fn sample_every(&self) -> Option<Duration> {
        Some(Duration::from_millis(500))
    }

    fn before_spawn(&mut self, spawn: &mut Spawn) -> Result<(), String> {
        let program = spawn
            .command()
            .split_whitespace()
            .find(|w| !w.contains('=') && *w != "env" && *w != "exec")
            .unwrap_or("");
        if is_node(program) {
            self.skip = Some("a Node target: V8 keeps its heap (the js-heap probe's)".into());
            return Ok(());
        }
        let library = preload::library()?;
        let dir = spawn.scratch().join("native-heap");
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        spawn.append("LD_PRELOAD", &library.to_string_lossy());
        spawn.set(shared::DIR_ENV, &dir.to_string_lossy());
        spawn.set(shared::SAMPLE_BYTES_ENV, &self.sample_bytes.to_string());
        self.library = Some(library);
        self.dir = Some(dir);
        Ok(())
    }

    fn attach<'a>(&'a mut self, target: &'a TargetView<'a>) -> ProbeFuture<'a, Attached> {
        Box::pin(async move {
            if let Some(why) = &self.skip {
                return Err(Refusal::NotHere(why.clone()));
            }
            let path = std::fs::read_link(format!("/proc/{}/exe", target.pid)).ok();
            let exe = path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| format!("PID {}", target.pid));
            if is_node(&exe) {
                return Err(Refusal::NotHere(
                    "a Node target: V8 keeps its heap (the js-heap probe's)".into(),
                ));
            }
            self.embedded = path.as_deref().is_some_and(preload::embeds_allocator);
            self.exe = exe;
            let Some(dir) = &self.dir else {
                return Err(Refusal::NotHere(
                    "the target was not started by soak".into(),
                ));
            };
            let mut reader = HeapReader::new(dir, target.pid);
            // The target listens, so its start-up (and the library's) is long past.
            if !reader.loaded() {
                self.withdrawn = self.unseen(Reach::NotLoaded);
            }
            if let Some(h) = reader.read() {
                self.start = Some((h.total_allocs, self.load.requests()));
            }
            self.reader = Some(reader);
            Ok(vec![
                Column::resource(BYTES, Resource::new(RESOURCE, "bytes", Budget::Memory))
                    .main("target heap (preload)"),
                Column::resource(BLOCKS, Resource::new("heap_blocks", "blocks", Budget::None))
                    .in_panel("target heap blocks (preload)", "blocks"),
            ])
        })
    }

    fn sample<'a>(&'a mut self, row: &'a mut Row<'_>) -> ProbeFuture<'a, ()> {
        if let Some(h) = self.reader.as_mut().and_then(HeapReader::read) {
            // The count the load started at: the blocks weighed are the load's.
            if self.start.is_none() {
                self.start = Some((h.total_allocs, self.load.requests()));
            }
            row.set(BYTES, h.live_bytes as f64);
            row.set(BLOCKS, h.live_blocks as f64);
        }
        if row.at_seconds() >= DETECT_SECONDS {
            self.check(false);
        }
        Box::pin(async {})
    }

    fn finish<'a>(&'a mut self, end: &'a mut WindDown) -> ProbeFuture<'a, ()> {
        Box::pin(async move {
            if end.load_seconds > 0.0 {
                self.check(true);
            }
            let Some(reader) = &self.reader else { return };
            let (sample_bytes, samples, missed, orphaned) = reader.sampling();
            end.fact(
                "native_heap",
                json!({
                    "library": self.library,
                    "sample_bytes": sample_bytes,
                    "samples": samples,
                    "missed": missed,
                    "orphaned": orphaned,
                    "sites": reader.sites().len(),
                    "judged": self.withdrawn.is_none(),
                    "warning": self.withdrawn,
                }),
            );
            match &self.withdrawn {
                Some(why) => end.withdraw(RESOURCE, why),
                None if sample_bytes > 0 => end.sites(self.sites(reader)),
                None => {}
            }
        })
    }

    fn describe(&self) -> Option<String> {
        let lib = self.library.as_ref()?;
        Some(format!(
            "native heap through {} (sites every {})",
            lib.display(),
            soak_harness::units::bytes_text(self.sample_bytes as f64)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_node_from_native_programs() {
        assert!(is_node("node"));
        assert!(is_node("/usr/local/bin/node"));
        assert!(!is_node("target/release/soak-server"));
        assert!(!is_node("nodemon-like"));
    }
}
