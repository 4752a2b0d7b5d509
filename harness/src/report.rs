//! Report files: `samples.csv`, `sites.csv`, `summary.json`, `heap.svg`, `heap.png` under
//! `OUT/SCENARIO/VARIANT/`, and `OUT/index.html` over every run found there.
//!
//! A run directory appears whole or not at all: its files are written into a
//! staging directory and swapped in under a lock ([`rundir`]), so a reader sees
//! the previous report or the new one, never a mix, and a second writer waits.
//! Charts are drawn from the two data files alone: `soak report DIR` validates
//! them and redraws the charts without running anything.

mod chart;
mod index;
pub mod markdown;
pub mod rundir;
pub mod tree;
pub mod trend;
pub mod walk;

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Per-site series of estimated live bytes (`virtual_seconds`, then `s1`, `s2`, …).
pub use crate::attribution::SITES_FILE;
pub use crate::profile::DHAT_FILE;
pub use chart::{draw, render, Charts};
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

/// Checks, before any run starts, every directory a run's report will be written
/// through, so a bad `--out` costs no replay: the root exists (or is created) and is
/// writable, `root/SCENARIO/` is a writable directory if it exists (else it is
/// created when the report is written), and `root/SCENARIO/VARIANT/`, if there from
/// an earlier run, is a writable directory (not a file or a symlink). The run
/// directory itself is not created: it appears only whole ([`write_run`]), so a run
/// stopped before it writes leaves no empty directory. Also removes what dead runs
/// left there. Returns the run directory's path.
pub fn prepare_dir(root: &Path, scenario: &str, variant: Variant) -> Result<PathBuf, Error> {
    check_writable(root)?;
    let parent = root.join(scenario);
    if std::fs::symlink_metadata(&parent).is_ok() {
        check_writable(&parent)?;
    }
    let dir = parent.join(variant.as_str());
    let out = |why: &str| Error::Output {
        path: dir.clone(),
        source: std::io::Error::other(why.to_string()),
    };
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(out(
                "it is a symlink, and soak replaces run directories whole",
            ))
        }
        Ok(m) if !m.is_dir() => return Err(out("it exists and is not a directory")),
        Ok(_) => check_writable(&dir)?,
        Err(_) => {}
    }
    rundir::clean_leftovers(root);
    rundir::clean_leftovers(&parent);
    Ok(dir)
}

/// Fails with [`Error::Output`] unless `root` exists or can be created, and a file
/// can be written in it. Creates nothing when it fails.
pub fn check_writable(root: &Path) -> Result<(), Error> {
    let out = |source| Error::Output {
        path: root.to_path_buf(),
        source,
    };
    let link = std::fs::symlink_metadata(root).is_ok_and(|m| m.file_type().is_symlink());
    match std::fs::metadata(root) {
        Ok(m) if !m.is_dir() => {
            return Err(out(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "it exists and is not a directory",
            )))
        }
        Err(e) if link => {
            return Err(out(std::io::Error::new(
                e.kind(),
                format!("it is a symbolic link that leads nowhere ({e})"),
            )))
        }
        _ => {}
    }
    std::fs::create_dir_all(root).map_err(out)?;
    let probe = root.join(format!(".soak-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(out)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync,
/// rename over the target. On failure the target is as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
        kept_previous: false,
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

/// A file a mode adds to its run directories (goose's report, the target's
/// logs, a heap profile), written with the rest, so it appears with the swap.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    /// Its name in the run directory: a plain file name, none of soak's own.
    pub name: String,
    /// Its contents.
    pub content: Content,
}

/// Where an attachment's bytes are.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// In memory.
    Bytes(Vec<u8>),
    /// In a file, moved into the run directory (copied across file systems).
    File(PathBuf),
}

/// The files soak writes in every run directory: no attachment may take a name.
pub const OWN_FILES: [&str; 6] = [
    SAMPLES_FILE,
    SUMMARY_FILE,
    SVG_FILE,
    PNG_FILE,
    SITES_FILE,
    DHAT_FILE,
];

/// Why `name` cannot be an attachment's name, if it cannot.
pub fn attachment_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) {
        Some(format!(
            "{} is not a plain file name",
            crate::units::echo(name)
        ))
    } else if OWN_FILES.contains(&name) {
        Some(format!("{name} is one of soak's own report files"))
    } else {
        None
    }
}

/// Writes one run's report as the run directory `dir` (`ROOT/SCENARIO/VARIANT`),
/// whole: the data files, charts, dhat's profile (when there is one) and the
/// mode's attachments are staged beside it and swapped in under the directory's
/// lock, so nothing of a previous run survives (a stale `dhat-heap.json` included)
/// and a failed write leaves the previous report as it was. Then refreshes
/// `ROOT/index.html` under the root's lock.
pub fn write_run(
    dir: &Path,
    samples: &Samples,
    summary: &Summary,
    dhat_json: Option<&str>,
    sites: Option<&Samples>,
    attachments: &[Attachment],
) -> Result<(), Error> {
    // Everything that can fail without I/O happens before the lock.
    for a in attachments {
        if let Some(why) = attachment_name_problem(&a.name) {
            return Err(Error::Usage(format!("attachment {why}")));
        }
    }
    let charts = render(dir, samples, sites, summary)?;
    let csv = samples.to_csv();
    let sites_csv = sites.map(Samples::to_csv);
    let json = summary.to_json();
    let bytes = rundir::Source::Bytes;
    let mut files: Vec<rundir::RunFile<'_>> = vec![(SAMPLES_FILE, bytes(csv.as_bytes()))];
    if let Some(s) = &sites_csv {
        files.push((SITES_FILE, bytes(s.as_bytes())));
    }
    if let Some(d) = dhat_json {
        files.push((DHAT_FILE, bytes(d.as_bytes())));
    }
    for a in attachments {
        files.push((
            &a.name,
            match &a.content {
                Content::Bytes(b) => bytes(b),
                Content::File(p) => rundir::Source::File(p),
            },
        ));
    }
    files.push((SVG_FILE, bytes(charts.svg.as_bytes())));
    files.push((PNG_FILE, bytes(&charts.png)));
    files.push((SUMMARY_FILE, bytes(json.as_bytes())));
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Error::Write {
            path: parent.to_path_buf(),
            source,
            kept_previous: true,
        })?;
    }
    {
        let _lock = rundir::lock(&rundir::lock_file_for(dir), dir)?;
        if let Some(parent) = dir.parent() {
            rundir::clean_leftovers(parent);
        }
        rundir::replace(dir, &files)?;
    }
    if let Some(root) = dir.parent().and_then(Path::parent) {
        write_index_locked(root)?;
    }
    Ok(())
}

/// [`write_index`] under the root's lock (`ROOT/.index.lock`), so concurrent runs
/// into one root each leave an index that lists the other.
pub fn write_index_locked(root: &Path) -> Result<(), Error> {
    let _lock = rundir::lock(&root.join(".index.lock"), &root.join("index.html"))?;
    rundir::clean_leftovers(root);
    write_index(root)
}

/// Largest report file `soak report` reads: well above what the sample cap lets a
/// run write, so a huge or endless file (`/dev/zero`) is refused, not read.
pub const MAX_READ_BYTES: u64 = 512 << 20;

/// Reads a run directory's `sites.csv`, `None` when the run has none (sampling
/// was off, or an older soak wrote it).
pub fn load_sites(dir: &Path) -> Result<Option<Samples>, Error> {
    let path = dir.join(SITES_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Samples::from_csv(&text, &path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read { path, source }),
    }
}

/// Reads and validates a run directory's `samples.csv` and `summary.json`: each
/// file on its own (see [`Samples::from_csv`], [`Summary::from_json`]), then as a
/// pair: the probe columns are there, the row count is the summary's, and the
/// samples are those the summary was computed from (its `samples_digest`).
pub fn load_run(dir: &Path) -> Result<(Samples, Summary), Error> {
    let read = |name: &str| {
        let path = dir.join(name);
        let file = std::fs::File::open(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(file, MAX_READ_BYTES + 1),
            &mut text,
        )
        .map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        if text.len() as u64 > MAX_READ_BYTES {
            return Err(Error::Malformed {
                path,
                why: format!("larger than {MAX_READ_BYTES} bytes, more than soak ever writes"),
            });
        }
        Ok(text)
    };
    let samples_path = dir.join(SAMPLES_FILE);
    let samples = Samples::from_csv(&read(SAMPLES_FILE)?, &samples_path)?;
    let summary = Summary::from_json(&read(SUMMARY_FILE)?, &dir.join(SUMMARY_FILE))?;
    let mismatch = |why: String| Error::Malformed {
        path: samples_path.clone(),
        why,
    };
    // The time column (virtual_seconds, or wall_seconds in a live run) was
    // checked by from_csv; the probe columns follow it.
    samples
        .require_columns(&crate::probe::FIXED_COLUMNS[1..])
        .map_err(|why| mismatch(format!("line 1: {why}")))?;
    if samples.rows() != summary.samples {
        return Err(mismatch(format!(
            "{} rows but {SUMMARY_FILE} says {} samples; the two files are from different runs",
            samples.rows(),
            summary.samples
        )));
    }
    if let Some(d) = &summary.samples_digest {
        if *d != samples.digest() {
            return Err(mismatch(format!(
                "its values are not those {SUMMARY_FILE} was computed from; the two files are from different runs"
            )));
        }
    }
    Ok((samples, summary))
}

/// Every run directory (one holding `summary.json`) at or below `root`, sorted;
/// see [`walk::walk`] for what is skipped (symlinks, hidden and too-deep
/// directories).
pub fn find_runs(root: &Path) -> Vec<PathBuf> {
    walk::walk(root).runs
}

/// What `soak report DIR` did.
#[derive(Debug, Default)]
pub struct Redrawn {
    /// Runs whose files passed validation and whose charts were redrawn.
    pub redrawn: Vec<PathBuf>,
    /// Runs whose files did not pass validation (or could not be redrawn), each
    /// with the one-line reason; their files are left as they were.
    pub rejected: Vec<(PathBuf, Error)>,
    /// Directories not searched, and why (symlinks, too deep, too many).
    pub skipped: Vec<(PathBuf, String)>,
    /// The index written, when `DIR` is a report root.
    pub index: Option<PathBuf>,
}

/// The error for a `DIR` argument (`soak report`, `soak sites`) that is not a
/// directory: a path mistyped, not a report tree without runs.
pub fn require_dir(dir: &Path) -> Result<(), Error> {
    if dir.is_dir() {
        return Ok(());
    }
    Err(Error::Read {
        path: dir.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "not a directory; pass a report root (e.g. reports/) or a run directory",
        ),
    })
}

/// `soak report DIR`: validates every run at or below `dir` ([`load_run`]) and
/// redraws the charts of those that pass, each under its run directory's lock; a
/// run that fails is listed in [`Redrawn::rejected`] and the others are still
/// redrawn. Then writes the index when `dir` is a report root (not itself a run).
/// Errors only when `dir` is not a directory or holds no run at all.
pub fn redraw(dir: &Path) -> Result<Redrawn, Error> {
    require_dir(dir)?;
    let found = walk::walk(dir);
    if found.runs.is_empty() {
        let why = match found.skipped.first() {
            Some((p, why)) => format!(
                "no {SUMMARY_FILE} found at or below it (skipped {}: {why})",
                p.display()
            ),
            None => format!("no {SUMMARY_FILE} found at or below it"),
        };
        return Err(Error::Malformed {
            path: dir.to_path_buf(),
            why,
        });
    }
    let mut done = Redrawn {
        skipped: found.skipped,
        ..Redrawn::default()
    };
    for run in found.runs {
        let redrawn = rundir::lock(&rundir::lock_file_for(&run), &run).and_then(|_lock| {
            let (samples, summary) = load_run(&run)?;
            let sites = load_sites(&run)?;
            draw(&run, &samples, sites.as_ref(), &summary)
        });
        match redrawn {
            Ok(()) => done.redrawn.push(run),
            Err(e) => done.rejected.push((run, e)),
        }
    }
    if !dir.join(SUMMARY_FILE).is_file() {
        write_index_locked(dir)?;
        done.index = Some(dir.join("index.html"));
    }
    Ok(done)
}
