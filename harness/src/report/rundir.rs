//! A run directory appears whole or not at all.
//!
//! `OUT/SCENARIO/VARIANT/` is never written in place. A run writes every file into
//! a sibling staging directory, `OUT/SCENARIO/.VARIANT.staging-PID`, and swaps it
//! in with one `renameat2(RENAME_EXCHANGE)` (Linux; elsewhere two renames through
//! `.VARIANT.old-PID`), then removes the old one. A reader therefore sees either the
//! previous report or the new one, never a mix.
//!
//! Writers of one run directory take its lock first (`OUT/SCENARIO/.VARIANT.lock`,
//! `flock`, released by the kernel when the process dies): a second writer waits
//! for the first to finish, up to [`LOCK_WAIT`], then fails with a clear message.
//! The index takes the root's lock (`OUT/.index.lock`) the same way.
//!
//! Whatever a dead process left — staging and old directories, `.NAME.tmp-PID`
//! files, write checks — is removed by the next writer ([`clean_leftovers`]),
//! recognised by a PID that is no longer running.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Error;

/// How long a writer waits for another to release a lock before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(120);

/// An exclusive `flock` on a lock file, held until dropped (or the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Takes the exclusive lock `lock_file` guarding `what`, waiting up to
/// [`LOCK_WAIT`] for another process to release it.
pub fn lock(lock_file: &Path, what: &Path) -> Result<Lock, Error> {
    lock_within(lock_file, what, LOCK_WAIT)
}

/// [`lock`] with an explicit wait.
pub fn lock_within(lock_file: &Path, what: &Path, wait: Duration) -> Result<Lock, Error> {
    let out = |source| Error::Output {
        path: lock_file.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock_file)
        .map_err(out)?;
    let started = Instant::now();
    loop {
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted {
            return Err(out(e));
        }
        if started.elapsed() >= wait {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(Error::Busy {
                path: what.to_path_buf(),
                pid: text.trim().parse().ok(),
                wait_seconds: wait.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Record the holder for the message another process may print; best effort.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", std::process::id());
    Ok(Lock { _file: file })
}

/// The lock file guarding run directory `dir` (`parent/.NAME.lock`).
pub fn lock_file_for(dir: &Path) -> PathBuf {
    sibling(dir, "lock")
}

/// `parent/.NAME.SUFFIX` for `dir = parent/NAME`.
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    parent.join(format!(".{name}.{suffix}"))
}

/// Whether process `pid` is still running (a PID we cannot signal still exists).
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// What a leftover name says about itself: which kind, and the PID that made it.
#[derive(Debug, PartialEq, Eq)]
enum Leftover {
    /// `.NAME.staging-PID`: a run directory being written.
    Staging { name: String, pid: u32 },
    /// `.NAME.old-PID`: a previous run directory being swapped out.
    Old { name: String, pid: u32 },
    /// `.NAME.tmp-PID`, `.tmp-PID-NAME`, `.soak-write-check-PID`: a temporary file.
    Temp { pid: u32 },
}

fn parse_leftover(file_name: &str) -> Option<Leftover> {
    let rest = file_name.strip_prefix('.')?;
    let pid_after = |s: &str, marker: &str| -> Option<(String, u32)> {
        let i = s.rfind(marker)?;
        let pid = s[i + marker.len()..].parse().ok()?;
        Some((s[..i].to_string(), pid))
    };
    if let Some((name, pid)) = pid_after(rest, ".staging-") {
        return Some(Leftover::Staging { name, pid });
    }
    if let Some((name, pid)) = pid_after(rest, ".old-") {
        return Some(Leftover::Old { name, pid });
    }
    if let Some((_, pid)) = pid_after(rest, ".tmp-") {
        return Some(Leftover::Temp { pid });
    }
    if let Some(tail) = rest.strip_prefix("tmp-") {
        let pid = tail.split('-').next()?.parse().ok()?;
        return Some(Leftover::Temp { pid });
    }
    if let Some(tail) = rest.strip_prefix("soak-write-check-") {
        return Some(Leftover::Temp {
            pid: tail.parse().ok()?,
        });
    }
    None
}

/// Removes what dead processes left in `dir` (not below it): staging and old run
/// directories, temporary files and write checks. An old run directory whose
/// run directory is missing (the process died between the two renames of the
/// fallback swap) is put back instead. Errors are ignored: cleaning is best effort
/// and never makes a run fail. Returns how many entries it removed or restored.
pub fn clean_leftovers(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut cleaned = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(left) = parse_leftover(&name) else {
            continue;
        };
        let path = e.path();
        let done = match left {
            Leftover::Staging { pid, .. } if !alive(pid) => fs::remove_dir_all(&path).is_ok(),
            Leftover::Old { name, pid } if !alive(pid) => {
                let run = dir.join(&name);
                if fs::symlink_metadata(&run).is_err() {
                    fs::rename(&path, &run).is_ok()
                } else {
                    fs::remove_dir_all(&path).is_ok()
                }
            }
            Leftover::Temp { pid } if !alive(pid) => fs::remove_file(&path).is_ok(),
            _ => false,
        };
        cleaned += usize::from(done);
    }
    cleaned
}

/// One file of a run directory: its name and contents.
pub type RunFile<'a> = (&'a str, Source<'a>);

/// Where a run file's contents come from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// These bytes.
    Bytes(&'a [u8]),
    /// This file, moved into the run directory (copied across file systems).
    File(&'a Path),
}

/// Writes `files` (in order) into a fresh staging directory beside `dir` and swaps
/// it in as `dir`, replacing any previous run directory whole. The caller holds
/// `dir`'s [`lock`]. On any error the staging directory is removed and `dir` is
/// as it was; the error names the file as it would have appeared in `dir`.
pub fn replace(dir: &Path, files: &[RunFile<'_>]) -> Result<(), Error> {
    let staging = sibling(dir, &format!("staging-{}", std::process::id()));
    let fail = |name: &str, source: io::Error| Error::Write {
        path: dir.join(name),
        source,
        kept_previous: true,
    };
    let written = (|| {
        if fs::symlink_metadata(&staging).is_ok() {
            fs::remove_dir_all(&staging).map_err(|e| fail("", e))?;
        }
        fs::create_dir(&staging).map_err(|e| fail("", e))?;
        for (name, source) in files {
            stage(&staging.join(name), *source).map_err(|e| fail(name, e))?;
        }
        sync_dir(&staging).map_err(|e| fail("", e))?;
        swap_in(&staging, dir).map_err(|e| fail("", e))
    })();
    if written.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    written?;
    if let Some(parent) = dir.parent() {
        let _ = sync_dir(parent);
    }
    Ok(())
}

/// Writes one file of the staging directory, synced.
fn stage(to: &Path, source: Source<'_>) -> io::Result<()> {
    match source {
        Source::Bytes(bytes) => {
            let mut f = File::create(to)?;
            f.write_all(bytes)?;
            f.sync_all()
        }
        Source::File(from) => {
            if fs::rename(from, to).is_err() {
                fs::copy(from, to)?;
            }
            File::open(to)?.sync_all()
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Puts `staging` in place of `dir`; afterwards `staging` no longer exists.
fn swap_in(staging: &Path, dir: &Path) -> io::Result<()> {
    if fs::symlink_metadata(dir).is_err() {
        return fs::rename(staging, dir);
    }
    match exchange(staging, dir) {
        Ok(()) => {
            // `staging` now holds the previous report; losing it is the point.
            // If it cannot be removed, the next run's clean-up will.
            let _ = fs::remove_dir_all(staging);
            Ok(())
        }
        Err(_) => {
            // No atomic exchange here: the previous report moves aside first, so
            // a crash in between leaves it as `.NAME.old-PID`, which the next
            // writer puts back.
            let old = sibling(dir, &format!("old-{}", std::process::id()));
            fs::rename(dir, &old)?;
            if let Err(e) = fs::rename(staging, dir) {
                let _ = fs::rename(&old, dir);
                return Err(e);
            }
            let _ = fs::remove_dir_all(&old);
            Ok(())
        }
    }
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt as _;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))
    };
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: two valid NUL-terminated paths relative to the working directory.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no atomic exchange on this system",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftover_names() {
        assert_eq!(
            parse_leftover(".fixed.staging-42"),
            Some(Leftover::Staging {
                name: "fixed".into(),
                pid: 42
            })
        );
        assert_eq!(
            parse_leftover(".leaky.old-7"),
            Some(Leftover::Old {
                name: "leaky".into(),
                pid: 7
            })
        );
        assert_eq!(
            parse_leftover(".summary.json.tmp-9"),
            Some(Leftover::Temp { pid: 9 })
        );
        assert_eq!(
            parse_leftover(".tmp-9-heap.png"),
            Some(Leftover::Temp { pid: 9 })
        );
        assert_eq!(
            parse_leftover(".soak-write-check-3"),
            Some(Leftover::Temp { pid: 3 })
        );
        for keep in [
            "fixed",
            ".fixed.lock",
            ".index.lock",
            ".git",
            ".x.tmp-",
            ".x.tmp-abc",
        ] {
            assert_eq!(parse_leftover(keep), None, "{keep}");
        }
    }

    #[test]
    fn replace_swaps_whole_and_cleans_the_dead() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("fixed");
        let one = Source::Bytes(b"1");
        replace(&dir, &[("a", one), ("b", one)]).expect("first");
        let from = tmp.path().join("attached");
        fs::write(&from, b"3").expect("w");
        replace(
            &dir,
            &[("a", Source::Bytes(b"2")), ("c", Source::File(&from))],
        )
        .expect("second");
        assert_eq!(fs::read(dir.join("a")).expect("a"), b"2");
        assert_eq!(fs::read(dir.join("c")).expect("c"), b"3");
        assert!(!from.exists(), "moved, not copied");
        assert!(
            !dir.join("b").exists(),
            "nothing of the previous run survives"
        );
        // A dead writer's leftovers (PID 0 is never a live process of ours;
        // i32::MAX is beyond pid_max) go; a live one's stay.
        let dead = u32::try_from(i32::MAX).expect("fits");
        fs::create_dir(tmp.path().join(format!(".fixed.staging-{dead}"))).expect("mk");
        fs::write(tmp.path().join(format!(".index.html.tmp-{dead}")), b"x").expect("w");
        let mine = tmp
            .path()
            .join(format!(".fixed.staging-{}", std::process::id()));
        fs::create_dir(&mine).expect("mk");
        assert_eq!(clean_leftovers(tmp.path()), 2);
        assert!(mine.exists());
        let names: Vec<String> = fs::read_dir(tmp.path())
            .expect("ls")
            .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_dead_swap_is_undone() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dead = u32::try_from(i32::MAX).expect("fits");
        let old = tmp.path().join(format!(".fixed.old-{dead}"));
        fs::create_dir(&old).expect("mk");
        fs::write(old.join("summary.json"), b"{}").expect("w");
        clean_leftovers(tmp.path());
        assert!(tmp.path().join("fixed").join("summary.json").is_file());
    }

    #[test]
    fn a_held_lock_makes_the_second_writer_wait_then_fail() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("fixed");
        let file = lock_file_for(&dir);
        let held = lock(&file, &dir).expect("first");
        // flock locks belong to the open file description: a second open in the
        // same process conflicts, as another process would.
        let e = lock_within(&file, &dir, Duration::from_millis(100)).expect_err("busy");
        let msg = e.to_string();
        assert!(msg.contains("another soak process"), "{msg}");
        assert!(
            msg.contains(&format!("(pid {})", std::process::id())),
            "{msg}"
        );
        drop(held);
        lock_within(&file, &dir, Duration::from_millis(100)).expect("free again");
    }
}
