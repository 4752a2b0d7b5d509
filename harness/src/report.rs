//! Report files: `samples.csv`, `summary.json`, `heap.svg`, `heap.png` under
//! `OUT/SCENARIO/VARIANT/`, and `OUT/index.html` over every run found there.
//!
//! Every file is written to a temporary name in the same directory and renamed
//! into place, so an interrupted run never leaves a half-written summary that looks
//! complete. Charts are drawn from the two data files alone: `soak report DIR`
//! redraws them without running anything.

mod chart;
mod index;
pub mod markdown;
pub mod tree;
pub mod trend;

use std::io::Write as _;
use std::path::{Path, PathBuf};

pub use crate::profile::DHAT_FILE;
pub use chart::draw;
pub use index::write_index;
use trend::section as trend_section;

use crate::config::Variant;
use crate::samples::Samples;
use crate::summary::Summary;
use crate::Error;

/// File names inside a run directory.
pub const SAMPLES_FILE: &str = "samples.csv";
/// The summary's file name.
pub const SUMMARY_FILE: &str = "summary.json";
/// The SVG chart's file name.
pub const SVG_FILE: &str = "heap.svg";
/// The PNG chart's file name.
pub const PNG_FILE: &str = "heap.png";

/// Creates `root/scenario/variant/` and proves it writable, before any run starts,
/// so a bad `--out` costs nothing and leaves nothing behind.
pub fn prepare_dir(root: &Path, scenario: &str, variant: Variant) -> Result<PathBuf, Error> {
    check_writable(root)?;
    let dir = root.join(scenario).join(variant.as_str());
    std::fs::create_dir_all(&dir).map_err(|source| Error::Output {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

/// Fails with [`Error::Output`] unless `root` exists or can be created, and a file
/// can be written in it. Creates nothing when it fails.
pub fn check_writable(root: &Path) -> Result<(), Error> {
    let out = |source| Error::Output {
        path: root.to_path_buf(),
        source,
    };
    if root.exists() && !root.is_dir() {
        return Err(out(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "it exists and is not a directory",
        )));
    }
    std::fs::create_dir_all(root).map_err(out)?;
    let probe = root.join(format!(".soak-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(out)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync,
/// rename over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let err = |source| Error::Output {
        path: path.to_path_buf(),
        source,
    };
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}

/// Writes the data files and charts of one run (and dhat's profile when there is
/// one; a stale one from an earlier run is removed), then refreshes the root index.
pub fn write_run(
    dir: &Path,
    samples: &Samples,
    summary: &Summary,
    dhat_json: Option<&str>,
) -> Result<(), Error> {
    write_atomic(&dir.join(SAMPLES_FILE), samples.to_csv().as_bytes())?;
    match dhat_json {
        Some(json) => write_atomic(&dir.join(DHAT_FILE), json.as_bytes())?,
        None => match std::fs::remove_file(dir.join(DHAT_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::Output {
                    path: dir.join(DHAT_FILE),
                    source: e,
                })
            }
            _ => {}
        },
    }
    draw(dir, samples, summary)?;
    // The summary goes last: its presence means the run's files are complete.
    write_atomic(&dir.join(SUMMARY_FILE), summary.to_json().as_bytes())?;
    if let Some(root) = dir.parent().and_then(Path::parent) {
        write_index(root)?;
    }
    Ok(())
}

/// Reads a run directory's `samples.csv` and `summary.json`.
pub fn load_run(dir: &Path) -> Result<(Samples, Summary), Error> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|source| Error::Read { path, source })
    };
    let samples = Samples::from_csv(&read(SAMPLES_FILE)?, &dir.join(SAMPLES_FILE))?;
    let summary = Summary::from_json(&read(SUMMARY_FILE)?, &dir.join(SUMMARY_FILE))?;
    Ok((samples, summary))
}

/// Every run directory (one holding `summary.json`) at or below `root`, sorted.
pub fn find_runs(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        if d.join(SUMMARY_FILE).is_file() {
            found.push(d.clone());
        }
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() && !e.file_name().to_string_lossy().starts_with('.') {
                    stack.push(p);
                }
            }
        }
    }
    found.sort();
    found
}

/// `soak report DIR`: redraws the charts of every run at or below `dir` from its
/// saved files, and the index when `dir` is a report root. Returns the runs redrawn.
pub fn redraw(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    if !dir.is_dir() {
        return Err(Error::Read {
            path: dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not a directory; pass a report root (e.g. reports/) or a run directory",
            ),
        });
    }
    let runs = find_runs(dir);
    if runs.is_empty() {
        return Err(Error::Malformed {
            path: dir.to_path_buf(),
            why: format!("no {SUMMARY_FILE} found at or below it"),
        });
    }
    for run in &runs {
        let (samples, summary) = load_run(run)?;
        draw(run, &samples, &summary)?;
    }
    if !dir.join(SUMMARY_FILE).is_file() {
        write_index(dir)?;
    }
    Ok(runs)
}
