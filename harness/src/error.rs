//! The harness's one error type. Every variant says what went wrong and what to do.

use std::path::PathBuf;

/// A boxed error from a scenario or component.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can stop the harness short of a verdict. All map to exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command-line value that does not parse or is out of range.
    #[error("{0}")]
    Usage(String),
    /// `soak run NAME` with a NAME nobody registered.
    #[error("unknown scenario {}; known scenarios: {}", crate::units::echo(name), known.join(", "))]
    UnknownScenario {
        /// What was asked for.
        name: String,
        /// What exists.
        known: Vec<String>,
    },
    /// The report directory cannot be created or written.
    #[error("cannot write reports to {}: {source}; pick a writable --out directory", path.display())]
    Output {
        /// The path that failed.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A report file could not be written after the run (disk full, file-size
    /// limit, a directory that became read-only). Names the file the user knows
    /// (not the staging copy) and says how to fix it.
    #[error(
        "cannot write {}: {source}; {}{}",
        path.display(),
        write_hint(source),
        if *kept_previous { "; the previous report is unchanged" } else { "" }
    )]
    Write {
        /// The file that could not be written, as it would appear when done.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
        /// Whether the run directory still holds the previous report untouched.
        kept_previous: bool,
    },
    /// Another process holds the lock of the run directory (or report root) for
    /// longer than soak waits.
    #[error(
        "another soak process{} has been writing {} for {wait_seconds} s; wait for it to \
         finish or pick another --out",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        path.display()
    )]
    Busy {
        /// The directory being written.
        path: PathBuf,
        /// The process holding the lock, when it recorded itself.
        pid: Option<u32>,
        /// How long soak waited.
        wait_seconds: u64,
    },
    /// A saved report file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A saved report file is not what `soak` writes.
    #[error("{} is malformed: {why}; re-run the scenario to regenerate it", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, with a line number where there is one.
        why: String,
    },
    /// The tokio runtime could not be built.
    #[error("cannot start the tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The scenario itself failed (a component error, a broken invariant).
    #[error("scenario '{scenario}' failed: {source}")]
    Scenario {
        /// Which scenario.
        scenario: String,
        /// Its error.
        #[source]
        source: BoxError,
    },
    /// The process's global allocator is not the counting allocator, so the heap
    /// cannot be measured.
    #[error(
        "the counting allocator is not installed, so the heap cannot be measured; add this \
         line to your binary or test crate: {}",
        crate::alloc::DECLARE_LINE
    )]
    AllocatorMissing,
    /// A run replayed in a child process (`--jobs`) ended without a verdict: its
    /// own error, a crash, a signal.
    #[error("{run}: {why}")]
    Child {
        /// `SCENARIO (VARIANT, seed N)`.
        run: String,
        /// What the child said, or how it ended.
        why: String,
    },
    /// A chart could not be drawn.
    #[error("cannot draw chart {}: {why}", path.display())]
    Chart {
        /// The chart file.
        path: PathBuf,
        /// The drawing backend's message.
        why: String,
    },
}

/// How to fix a failed write, by what the OS said.
fn write_hint(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::StorageFull | K::QuotaExceeded => "free space there or pick another --out",
        K::FileTooLarge => "raise the file-size limit (ulimit -f) or pick another --out",
        K::PermissionDenied | K::ReadOnlyFilesystem => "make it writable or pick another --out",
        _ => "check the directory or pick another --out",
    }
}

impl Error {
    /// Exit status for this error: always 2 (usage, input or harness error).
    pub fn exit_code(&self) -> u8 {
        crate::status::EXIT_ERROR
    }
}
