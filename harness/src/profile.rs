//! `--dhat`: profile the replay with dhat and report where the bytes still live at
//! the end of the run were allocated.
//!
//! The counting allocator routes through `dhat::Alloc` only while a profile runs
//! ([`crate::alloc::set_dhat`]), so runs without `--dhat` pay one relaxed load per
//! allocation for the option (see `docs/performance.md`). dhat's own bookkeeping is
//! kept out of the counted heap ([`crate::alloc::as_profiler`]), which is what lets
//! the summary cross-check dhat's bytes-at-end against the counting allocator.
//!
//! The profile stops right after the last sample, before the scenario's teardown,
//! so "bytes at end" are the bytes the run was holding, not what shutdown left.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::frames::{self, rust::Rust, Frame};
use crate::{alloc, symbolize, Error};

/// dhat's profile's file name in a run directory (`--dhat`).
pub const DHAT_FILE: &str = "dhat-heap.json";

/// One allocation site dhat found holding bytes at the end of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DhatSite {
    /// Bytes live at the end from this site.
    pub bytes: u64,
    /// Blocks live at the end from this site.
    pub blocks: u64,
    /// The frames shown, innermost first, classified as the sampled sites'
    /// are ([`frames::show`]).
    pub frames: Vec<String>,
    /// The frame that owns the site's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Frame>,
}

/// What `--dhat` adds to the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DhatReport {
    /// The profile's file name (next to the summary).
    pub file: String,
    /// Virtual hour at which profiling started.
    pub from_hours: f64,
    /// Bytes live at the end summed over all sites (dhat's view).
    pub bytes_at_end: u64,
    /// Live bytes the counting allocator saw at the end, minus those already live
    /// when the profiler started.
    pub counted_bytes_at_end: i64,
    /// Sites holding the most bytes at the end.
    pub top_sites: Vec<DhatSite>,
}

/// A finished profile: the summary's part and dhat's file as written.
#[derive(Debug, Clone)]
pub struct Profile {
    /// What the summary lists.
    pub report: DhatReport,
    /// `dhat-heap.json`'s text, for the viewer.
    pub json: String,
}

/// How many allocation sites the summary lists.
pub const TOP_SITES: usize = 10;

/// Frames dhat records per allocation: deep enough to get from `alloc` through a
/// collection's growth path to the project's code.
const BACKTRACE_FRAMES: usize = 32;

/// A dhat profile in progress.
pub struct Session {
    profiler: Option<dhat::Profiler>,
    file: PathBuf,
    live_at_start: u64,
    from_hours: f64,
    keep: Vec<String>,
}

impl Session {
    /// Starts profiling now into a temporary file (read back and removed by
    /// [`Session::stop`]). `from_hours` is the virtual hour this start corresponds
    /// to, for the summary; `keep` names extra frame prefixes to count as the
    /// user's code ([`frames::rust::Rust`]).
    pub fn start(from_hours: f64, keep: &[String]) -> Self {
        let file = std::env::temp_dir().join(format!(
            "soak-dhat-{}-{}.json",
            std::process::id(),
            SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        alloc::set_dhat(true);
        let live_at_start = alloc::stats().live_bytes;
        let profiler = alloc::as_profiler(|| {
            dhat::Profiler::builder()
                .file_name(&file)
                .trim_backtraces(Some(BACKTRACE_FRAMES))
                .build()
        });
        Session {
            profiler: Some(profiler),
            file,
            live_at_start,
            from_hours,
            keep: keep.to_vec(),
        }
    }

    /// Stops profiling (dhat writes its file) and summarises the profile.
    pub fn stop(mut self) -> Result<Profile, Error> {
        let counted = alloc::stats().live_bytes as i64 - self.live_at_start as i64;
        if let Some(p) = self.profiler.take() {
            finish(p);
        }
        alloc::set_dhat(false);
        let text = std::fs::read_to_string(&self.file).map_err(|source| Error::Read {
            path: self.file.clone(),
            source,
        });
        let _ = std::fs::remove_file(&self.file);
        let text = text?;
        let mut report = summarise(&text, &self.file, &self.keep)?;
        report.counted_bytes_at_end = counted;
        report.from_hours = self.from_hours;
        Ok(Profile { report, json: text })
    }
}

/// Stops `p` (dhat writes its file) with stderr pointed at `/dev/null`: dhat prints
/// its totals with `eprintln!`, which panics when stderr is closed or full
/// (`2>/dev/full`), and they only repeat what the summary says.
fn finish(p: dhat::Profiler) {
    use std::os::fd::AsRawFd as _;
    let null = std::fs::OpenOptions::new().write(true).open("/dev/null");
    // SAFETY: dup/dup2/close on descriptor 2 and descriptors we own; the saved
    // copy puts stderr back as it was.
    let saved = unsafe { libc::dup(libc::STDERR_FILENO) };
    let quiet = match (&null, saved >= 0) {
        (Ok(n), true) => unsafe { libc::dup2(n.as_raw_fd(), libc::STDERR_FILENO) >= 0 },
        _ => false,
    };
    alloc::as_profiler(|| drop(p));
    if quiet {
        // SAFETY: as above.
        unsafe { libc::dup2(saved, libc::STDERR_FILENO) };
    }
    if saved >= 0 {
        // SAFETY: `saved` is ours and no longer needed.
        unsafe { libc::close(saved) };
    }
}

static SESSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Drop for Session {
    fn drop(&mut self) {
        // A run that failed part-way still turns dhat off.
        if let Some(p) = self.profiler.take() {
            finish(p);
        }
        alloc::set_dhat(false);
    }
}

#[derive(Deserialize)]
struct DhatFile {
    #[serde(rename = "dhatFileVersion")]
    version: u32,
    pps: Vec<ProgramPoint>,
    ftbl: Vec<String>,
}

#[derive(Deserialize)]
struct ProgramPoint {
    #[serde(default)]
    eb: u64,
    #[serde(default)]
    ebk: u64,
    fs: Vec<usize>,
}

/// Parses a `dhat-heap.json` and lists the sites holding the most bytes at the end.
pub fn summarise(text: &str, path: &Path, keep: &[String]) -> Result<DhatReport, Error> {
    let f: DhatFile = serde_json::from_str(text).map_err(|e| Error::Malformed {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    if f.version != 2 {
        return Err(Error::Malformed {
            path: path.to_path_buf(),
            why: format!("dhatFileVersion {} (expected 2)", f.version),
        });
    }
    let bytes_at_end = f.pps.iter().map(|p| p.eb).sum();
    let mut pps: Vec<&ProgramPoint> = f.pps.iter().filter(|p| p.eb > 0).collect();
    pps.sort_by_key(|p| std::cmp::Reverse(p.eb));
    pps.truncate(TOP_SITES);
    let lines = |p: &ProgramPoint| -> Vec<&str> {
        p.fs.iter()
            .filter_map(|&i| f.ftbl.get(i).map(String::as_str))
            .collect()
    };
    // dhat shortens paths to three components; the addresses are this process's
    // (it wrote the profile), so they resolve again, all at once.
    let mut addrs: Vec<u64> = pps
        .iter()
        .flat_map(|p| lines(p).into_iter().filter_map(frames::address))
        .collect();
    addrs.sort_unstable();
    addrs.dedup();
    let resolved = symbolize::resolve_return_addresses(&symbolize::Mappings::of_self(), &addrs);
    let conv = Rust::for_this_process(keep);
    let top_sites = pps
        .iter()
        .map(|p| {
            let mut raw = Vec::new();
            let mut last = None;
            for line in lines(p) {
                match frames::address(line) {
                    Some(a) if last == Some(a) => {}
                    Some(a) => {
                        last = Some(a);
                        match resolved.frames.get(&a) {
                            Some(fs) => raw.extend(fs.iter().cloned()),
                            None => raw.push(parse_line(line)),
                        }
                    }
                    None if line == "[root]" => {}
                    None => raw.push(parse_line(line)),
                }
            }
            let chain = frames::classify(&raw, &conv);
            let shown = frames::show(&chain, &conv);
            DhatSite {
                bytes: p.eb,
                blocks: p.ebk,
                frames: shown.frames.iter().map(|&i| chain[i].text()).collect(),
                owner: shown.owner.map(|o| chain[shown.frames[o]].clone()),
            }
        })
        .collect();
    Ok(DhatReport {
        file: DHAT_FILE.to_string(),
        from_hours: 0.0,
        bytes_at_end,
        counted_bytes_at_end: 0,
        top_sites,
    })
}

/// A profiler's frame line as a frame: `0x…: name (path:line:col)`.
fn parse_line(line: &str) -> symbolize::Frame {
    let text = match line.split_once(": ") {
        Some((a, rest)) if a.starts_with("0x") => rest,
        _ => line,
    };
    let (function, file, number) = match (text.rfind(" ("), text.strip_suffix(')')) {
        (Some(open), Some(_)) => {
            let loc = &text[open + 2..text.len() - 1];
            let mut parts = loc.rsplitn(3, ':');
            let (col, line, path) = (parts.next(), parts.next(), parts.next());
            let (path, number) = match (path, line, col) {
                (Some(p), Some(l), Some(_)) => (p, l.parse().ok()),
                (None, Some(p), Some(l)) => (p, l.parse().ok()),
                _ => (loc, None),
            };
            (&text[..open], Some(path.to_string()), number)
        }
        _ => (text, None, None),
    };
    symbolize::Frame {
        function: function.to_string(),
        file,
        line: number,
        inlined: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"dhatFileVersion":2,"mode":"rust-heap","verb":"Allocated",
      "bklt":true,"bkacc":false,"tu":"µs","Mtu":"s","tuth":10,"cmd":"t","pid":1,"te":5,
      "pps":[{"tb":10,"tbk":1,"eb":0,"ebk":0,"fs":[1]},
             {"tb":900,"tbk":9,"eb":800,"ebk":8,"fs":[2,3,4]},
             {"tb":50,"tbk":1,"eb":50,"ebk":1,"fs":[5]}],
      "ftbl":["[root]","0x1: std::a","0x2: alloc::vec::Vec<T>::push (/rustc/x/library/alloc/src/vec.rs:1:1)",
              "0x3: alloc (harness/src/alloc.rs:1:1)",
              "0x4: insert<K,V> (components/src/ttl_map.rs:9:5)",
              "0x5: tokio::runtime::thing"]}"#;

    #[test]
    fn top_sites_are_sorted_and_trimmed_to_our_code() {
        let r = summarise(SAMPLE, Path::new("d.json"), &[]).expect("parses");
        assert_eq!(r.bytes_at_end, 850);
        assert_eq!(r.top_sites.len(), 2);
        assert_eq!(r.top_sites[0].bytes, 800);
        assert_eq!(r.top_sites[0].blocks, 8);
        assert_eq!(
            r.top_sites[0].frames,
            vec!["insert (components/src/ttl_map.rs:9)"]
        );
        assert_eq!(
            r.top_sites[0].owner.as_ref().map(|o| o.kind),
            Some(frames::Kind::Own)
        );
        assert_eq!(r.top_sites[1].frames, vec!["tokio::runtime::thing"]);
    }

    #[test]
    fn wrong_version_and_garbage_are_malformed() {
        let bad = SAMPLE.replace("\"dhatFileVersion\":2", "\"dhatFileVersion\":1");
        assert!(summarise(&bad, Path::new("d.json"), &[])
            .expect_err("v1")
            .to_string()
            .contains("dhatFileVersion 1"));
        assert!(summarise("{", Path::new("d.json"), &[]).is_err());
    }
}
