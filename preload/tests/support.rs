//! Building the test programs and running them under the library.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use soak_harness::alloc::HeapStats;
use soak_harness::sites::shared::{self, Mapped};

/// The library next to this test binary (`target/<profile>/`), built first when
/// this test run did not build it: a cdylib is no dependency of an integration test,
/// so on a clean checkout `cargo nextest run` builds the tests but not the library.
pub fn library() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(find_or_build).clone()
}

fn find_or_build() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps dir");
    let profile_dir = deps.parent().expect("profile dir");
    let find = || {
        [profile_dir, deps]
            .into_iter()
            .map(|d| d.join("libsoak_preload.so"))
            .find(|so| so.is_file())
    };
    if let Some(so) = find() {
        return so;
    }
    // target/<dir>/deps/main-…: the same profile and target directory as this test.
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_string(),
        Some(name) => name.to_string(),
        None => "release".to_string(),
    };
    let target_dir = profile_dir.parent().expect("target dir");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "soak-preload", "--profile", &profile])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "cargo build -p soak-preload --profile {profile}"
    );
    find().unwrap_or_else(|| panic!("libsoak_preload.so not built next to {}", exe.display()))
}

/// Compiles `tests/c/NAME.c` into `dir` with `cc` (debug info, threads).
pub fn compile(name: &str, dir: &Path, extra: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/c/{name}.c"));
    let out = dir.join(name);
    let status = Command::new("cc")
        .args(["-O1", "-g", "-pthread", "-o"])
        .arg(&out)
        .arg(&src)
        .args(extra)
        .status()
        .expect("cc runs");
    assert!(status.success(), "cc {}", src.display());
    out
}

/// A program running under the library, talked to by lines.
pub struct Run {
    pub child: Child,
    out: BufReader<ChildStdout>,
    input: Option<ChildStdin>,
    pub dir: PathBuf,
}

impl Run {
    /// Starts `exe args` with the library preloaded, publishing in `dir`, sampling
    /// every `sample_bytes` on average.
    pub fn start(exe: &Path, args: &[&str], dir: &Path, sample_bytes: u64) -> Run {
        let mut child = Command::new(exe)
            .args(args)
            .env("LD_PRELOAD", library())
            .env(shared::DIR_ENV, dir)
            .env(shared::SAMPLE_BYTES_ENV, sample_bytes.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starts");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        let input = child.stdin.take();
        Run {
            child,
            out,
            input,
            dir: dir.to_path_buf(),
        }
    }

    /// The next line that starts with `prefix` (earlier lines skipped).
    pub fn expect(&mut self, prefix: &str) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.out.read_line(&mut line).expect("reads stdout");
            assert!(n > 0, "the program ended before printing '{prefix}'");
            if line.starts_with(prefix) {
                return line.trim().to_string();
            }
        }
    }

    /// Lets the program go on.
    pub fn go(&mut self) {
        let input = self.input.as_mut().expect("stdin");
        input.write_all(b"go\n").expect("writes");
        input.flush().expect("flushes");
    }

    /// The heap region the program published.
    pub fn heap(&self) -> Mapped {
        let path = shared::file(&self.dir, self.child.id());
        Mapped::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Waits for the exit status.
    pub fn wait(mut self) -> std::process::ExitStatus {
        drop(self.input.take());
        self.child.wait().expect("waits")
    }
}

/// `b − a`, field by field, as signed numbers.
pub fn delta(a: HeapStats, b: HeapStats) -> (i64, i64) {
    (
        b.live_blocks as i64 - a.live_blocks as i64,
        b.live_bytes as i64 - a.live_bytes as i64,
    )
}
