//! Finding the runs below a directory for `soak report` and the index: a bounded
//! walk that never follows a symbolic link, so a link out of the tree, around it
//! or into a loop is not taken, and `/proc` or `/` end in bounded time.

use std::fs;
use std::path::{Path, PathBuf};

use super::SUMMARY_FILE;
use crate::limits::MAX_REPORT_DEPTH;

/// Most directories one walk looks into: a report root of a year of nightly runs
/// of every scenario holds a few thousand.
pub const MAX_DIRS: usize = 20_000;

/// What a walk found.
#[derive(Debug, Default)]
pub struct Found {
    /// Run directories (holding `summary.json`), sorted.
    pub runs: Vec<PathBuf>,
    /// What was not searched and why: symbolic links, directories deeper than
    /// [`MAX_REPORT_DEPTH`], the rest of a tree past [`MAX_DIRS`].
    pub skipped: Vec<(PathBuf, String)>,
}

/// Walks `root` (followed if it is itself a link: the user named it) and every
/// directory below it down to [`MAX_REPORT_DEPTH`] levels, skipping hidden entries
/// (staging directories, `.git`) and never following a symbolic link below the root.
pub fn walk(root: &Path) -> Found {
    let mut found = Found::default();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    let mut visited = 0usize;
    while let Some((d, depth)) = stack.pop() {
        visited += 1;
        if visited > MAX_DIRS {
            found.skipped.push((
                d,
                format!("more than {MAX_DIRS} directories; pass a report root, not a whole disk"),
            ));
            break;
        }
        // `symlink_metadata`: a summary.json that is a link does not make a run.
        if fs::symlink_metadata(d.join(SUMMARY_FILE)).is_ok_and(|m| m.is_file()) {
            found.runs.push(d.clone());
        }
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            // `DirEntry::file_type` does not follow links.
            let Ok(t) = e.file_type() else { continue };
            if t.is_symlink() {
                if fs::metadata(e.path()).is_ok_and(|m| m.is_dir()) {
                    found.skipped.push((
                        e.path(),
                        "a symbolic link; soak report does not follow links".into(),
                    ));
                }
                continue;
            }
            if !t.is_dir() {
                continue;
            }
            if depth + 1 > MAX_REPORT_DEPTH {
                found.skipped.push((
                    e.path(),
                    format!("deeper than {MAX_REPORT_DEPTH} levels below the directory given"),
                ));
                continue;
            }
            stack.push((e.path(), depth + 1));
        }
    }
    found.runs.sort();
    found.skipped.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path) {
        fs::create_dir_all(dir).expect("mkdir");
        fs::write(dir.join(SUMMARY_FILE), b"{}").expect("write");
    }

    #[test]
    fn links_are_never_followed_and_depth_is_bounded() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("reports");
        run(&root.join("a").join("fixed"));
        run(&tmp.path().join("outside").join("fixed"));
        let deep: PathBuf =
            (0..=MAX_REPORT_DEPTH).fold(root.clone(), |p, i| p.join(format!("d{i}")));
        run(&deep);
        std::os::unix::fs::symlink("..", root.join("a").join("loop")).expect("link");
        std::os::unix::fs::symlink(tmp.path().join("outside"), root.join("out")).expect("link");
        run(&root.join(".b.staging-1"));
        let f = walk(&root);
        assert_eq!(f.runs, vec![root.join("a").join("fixed")]);
        let why: Vec<&str> = f.skipped.iter().map(|(_, w)| w.as_str()).collect();
        assert_eq!(f.skipped.len(), 3, "{:?}", f.skipped);
        assert!(why.iter().filter(|w| w.contains("symbolic link")).count() == 2);
        assert!(why.iter().any(|w| w.contains("deeper than")));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn proc_ends() {
        // /proc is full of links back to / and of directories that come and go:
        // the walk must end, finding nothing.
        let f = walk(Path::new("/proc"));
        assert!(f.runs.is_empty());
    }
}
