//! The native heap of a `--cmd` target, through `soak-preload`: the harness's
//! counting allocator and site sampler as a shared library soak sets as the
//! target's `LD_PRELOAD`. The target publishes its exact live bytes and blocks and
//! its sampled sites in `heap.PID` in a directory of the run
//! (`soak_harness::sites::shared`); soak maps that file and reads it at every
//! sample without stopping the target, and at the end names each site's frames
//! from the target's own files ([`soak_harness::symbolize`]).
//!
//! What the library cannot see — a statically linked target (the loader never
//! loads it), an allocator compiled into the program (a Rust
//! `#[global_allocator]` of jemalloc or mimalloc) — shows as no file, or as a file
//! that hardly counts anything while the target serves requests ([`Reach`]).

use std::path::{Path, PathBuf};

use soak_harness::alloc::HeapStats;
use soak_harness::sites::shared::{self, Mapped, FLAG_FOREIGN};

use soak_harness::attribution::{self, Whose};
use soak_harness::frames::rust::Rust;
use soak_harness::symbolize::{self, Mappings};

/// The library's file name.
pub const LIBRARY: &str = "libsoak_preload.so";
/// An environment variable naming the library, ahead of the places searched.
pub const LIBRARY_ENV: &str = "SOAK_PRELOAD";

/// A program that allocates through `malloc` counts at least a block per this
/// many requests of load ([`HeapReader::reach`]).
pub const REQUESTS_PER_BLOCK: u64 = 4;

/// Where the library is: `$SOAK_PRELOAD`, else next to the running binary (cargo
/// builds both into `target/<profile>/`), else one directory up (a test binary
/// runs from `deps/`).
pub fn library() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(LIBRARY_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "${LIBRARY_ENV} names {}, which is not a file; point it at {LIBRARY}",
                p.display()
            ))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find soak's own path: {e}"))?;
    let mut dir = exe.parent();
    for _ in 0..2 {
        let Some(d) = dir else { break };
        let p = d.join(LIBRARY);
        if p.is_file() {
            return Ok(p);
        }
        dir = d.parent();
    }
    Err(format!(
        "--heap needs {LIBRARY} next to {} (build it with `cargo build --release -p soak-preload`) or ${LIBRARY_ENV} naming it",
        exe.display()
    ))
}

/// One published site as tracked over a run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedSite {
    /// Return addresses in the target, innermost first.
    pub frames: Vec<usize>,
    /// Estimated live bytes at each sample (0 before the site appeared).
    pub live: Vec<f64>,
}

/// What reached the library, as told by what the target published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Nothing published: the library was never loaded (a static binary, or a
    /// loader that ignores `LD_PRELOAD`).
    NotLoaded,
    /// Loaded, but the C library's blocks are not laid out as it expects, so it
    /// cannot count them.
    Foreign,
    /// Loaded and counting, but only `allocations` blocks for `requests`
    /// requests of load: the program does not allocate through `malloc` (an
    /// allocator compiled in, or memory of its own).
    Bypassed {
        /// Allocations counted during the load so far.
        allocations: u64,
        /// Requests the load made in the same time.
        requests: u64,
    },
    /// Counting the target's heap.
    Counting,
}

/// Texts an allocator compiled into a program carries even stripped: its own
/// messages (mimalloc's, jemalloc's — `tikv-jemallocator`'s too).
const ALLOCATOR_MARKS: [&[u8]; 2] = [b"mimalloc: warning: ", b"<jemalloc>: "];

/// Whether the program file at `exe` carries an allocator of its own
/// ([`ALLOCATOR_MARKS`]), read in 8-MiB pieces (a Rust service with debug
/// information is 100 MB). `false` when it cannot be read.
pub fn embeds_allocator(exe: &Path) -> bool {
    use std::io::Read as _;
    const PIECE: usize = 8 << 20;
    let Ok(mut f) = std::fs::File::open(exe) else {
        return false;
    };
    let keep = ALLOCATOR_MARKS.iter().map(|m| m.len()).max().unwrap_or(0);
    let mut buf = vec![0u8; PIECE + keep];
    let mut held = 0;
    loop {
        let n = match f.read(&mut buf[held..]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let end = held + n;
        if ALLOCATOR_MARKS
            .iter()
            .any(|m| memchr::memmem::find(&buf[..end], m).is_some())
        {
            return true;
        }
        // Keep the tail, where a mark may begin that the next piece ends.
        let tail = end.min(keep);
        buf.copy_within(end - tail..end, 0);
        held = tail;
    }
}

/// Reads a target's published heap at every sample and keeps each site's series.
#[derive(Debug)]
pub struct HeapReader {
    pid: u32,
    file: PathBuf,
    mapped: Option<Mapped>,
    sites: Vec<TrackedSite>,
    /// Position in `sites` by site id (`usize::MAX`: not tracked).
    by_id: Vec<usize>,
    samples: usize,
    /// The target's mappings when a site was last first seen.
    maps: Option<Mappings>,
}

impl HeapReader {
    /// A reader of what process `pid` publishes in `dir`.
    pub fn new(dir: &Path, pid: u32) -> Self {
        HeapReader {
            pid,
            file: shared::file(dir, pid),
            mapped: None,
            sites: Vec::new(),
            by_id: Vec::new(),
            samples: 0,
            maps: None,
        }
    }

    /// Maps the file, again when it was replaced (a shell that executed the
    /// target publishes first under the same PID): the sites start over.
    fn refresh(&mut self) {
        use std::os::unix::fs::MetadataExt as _;
        let Ok(meta) = std::fs::metadata(&self.file) else {
            return;
        };
        if self
            .mapped
            .as_ref()
            .is_some_and(|m| m.inode() == meta.ino())
        {
            return;
        }
        if let Ok(m) = Mapped::open(&self.file) {
            self.mapped = Some(m);
            self.sites.clear();
            self.by_id.clear();
        }
    }

    /// One sample: the heap as counted, with every site's live bytes recorded;
    /// `None` while nothing is published.
    pub fn read(&mut self) -> Option<HeapStats> {
        self.refresh();
        let m = self.mapped.as_ref()?;
        let r = m.get();
        let heap = r.heap();
        let n = r.site_count();
        let mut new = false;
        for id in 1..n {
            if self.by_id.get(id).is_some_and(|&p| p != usize::MAX) {
                continue;
            }
            let Some(site) = r.site(id as u32) else { break };
            if self.by_id.len() <= id {
                self.by_id.resize(id + 1, usize::MAX);
            }
            self.by_id[id] = self.sites.len();
            self.sites.push(TrackedSite {
                frames: site.frames,
                live: vec![0.0; self.samples],
            });
            new = true;
        }
        for (id, &pos) in self.by_id.iter().enumerate() {
            if let Some(site) = self.sites.get_mut(pos) {
                site.live.push(r.site_live(id as u32).0 as f64);
            }
        }
        self.samples += 1;
        if new {
            // Where the new sites' code was loaded, while the target is there to ask.
            if let Ok(maps) = Mappings::of_pid(self.pid) {
                self.maps = Some(maps);
            }
        }
        Some(heap)
    }

    /// Whether the target has the library loaded now (its mappings name it). A
    /// file alone does not say so: the shell that executed the target published
    /// one under the same PID.
    pub fn loaded(&self) -> bool {
        let suffix = format!("/{LIBRARY}");
        std::fs::read_to_string(format!("/proc/{}/maps", self.pid))
            .is_ok_and(|text| text.lines().any(|l| l.trim_end().ends_with(&suffix)))
    }

    /// What reached the library so far. `since` is the allocation count the
    /// load started at ([`HeapReader::read`]'s `total_allocs` then) and
    /// `requests` the requests made since: a program that allocates through
    /// `malloc` makes at least a block per [`REQUESTS_PER_BLOCK`] requests (a C
    /// or `System`-allocator service makes several per request); one whose
    /// allocator is compiled in makes a few per thread it starts, whatever its
    /// load (one per 16 requests for the thread-per-connection example under a
    /// 300-request/s plan, 15 for 202 requests at 20/s). `embedded`: the
    /// program carries an allocator of its own ([`embeds_allocator`]); then a
    /// block per request is asked for, as a thread-per-connection service with
    /// many users at a slow rate starts a thread for every few requests.
    pub fn reach(&mut self, since: u64, requests: u64, embedded: bool) -> Reach {
        self.refresh();
        let Some(m) = &self.mapped else {
            return Reach::NotLoaded;
        };
        let r = m.get();
        if r.header.flags.load(std::sync::atomic::Ordering::Relaxed) & FLAG_FOREIGN != 0 {
            return Reach::Foreign;
        }
        let allocations = r.heap().total_allocs.saturating_sub(since);
        let per_block = if embedded { 1 } else { REQUESTS_PER_BLOCK };
        if allocations.saturating_mul(per_block) < requests.max(1) {
            Reach::Bypassed {
                allocations,
                requests,
            }
        } else {
            Reach::Counting
        }
    }

    /// The sampling as published: mean interval, samples taken, samples missed,
    /// sampled blocks orphaned (zeros while nothing is published).
    pub fn sampling(&self) -> (u64, u64, u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        match &self.mapped {
            Some(m) => {
                let h = &m.get().header;
                (
                    h.sample_bytes,
                    h.samples.load(Relaxed),
                    h.missed.load(Relaxed),
                    h.orphaned.load(Relaxed),
                )
            }
            None => (0, 0, 0, 0),
        }
    }

    /// Every site seen, with its series.
    pub fn sites(&self) -> &[TrackedSite] {
        &self.sites
    }

    /// Every site seen (as [`HeapReader::sites`]), named from the target's own
    /// binary and libraries (through its mappings as last seen) and classified
    /// as a virtual run's sites are: the frames it shows, and whose it is.
    pub fn named_sites(&self) -> Vec<(Vec<String>, Whose)> {
        let maps = match &self.maps {
            Some(m) => m.clone(),
            None => Mappings::of_pid(self.pid).unwrap_or_default(),
        };
        let mut addrs: Vec<u64> = self
            .sites
            .iter()
            .flat_map(|s| s.frames.iter().map(|&a| a as u64))
            .collect();
        addrs.sort_unstable();
        addrs.dedup();
        let resolved = symbolize::resolve_return_addresses(&maps, &addrs);
        let conv = Rust::for_this_process(&[]);
        self.sites
            .iter()
            .map(|s| {
                let (chain, shown) = attribution::classify_stack(&s.frames, &resolved, &conv);
                attribution::shown_text(&chain, &shown)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allocators_mark_is_found_across_a_piece_boundary_and_nowhere_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mark = ALLOCATOR_MARKS[1];
        // The mark begins 5 bytes before the first 8-MiB piece ends.
        let mut bytes = vec![0u8; (8 << 20) - 5];
        bytes.extend_from_slice(mark);
        bytes.extend_from_slice(&[0u8; 100]);
        let across = dir.path().join("across");
        std::fs::write(&across, &bytes).expect("written");
        assert!(embeds_allocator(&across));
        let without = dir.path().join("without");
        bytes.truncate((8 << 20) - 5);
        bytes.extend_from_slice(&mark[..mark.len() - 1]);
        std::fs::write(&without, &bytes).expect("written");
        assert!(!embeds_allocator(&without));
        assert!(!embeds_allocator(&dir.path().join("absent")));
    }
}
