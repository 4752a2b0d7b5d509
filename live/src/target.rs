//! The process under test: spawned from `--cmd` (soak owns it: waits for its
//! port, watches it, stops it with SIGTERM then SIGKILL, keeps its output) or
//! attached by `--pid` (soak only watches it and never signals it).
//!
//! A spawned target's stderr is written to a file (kept in the report) and kept
//! as lines in memory ([`StderrLog`]): its last lines go into the message when it
//! dies, and a probe reads its first lines as they arrive ([`Lines`]; the Node
//! probe finds the inspector's URL there).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a running process (`--pid`) that listens on other ports, and not on
/// the run's, is given before the run is refused: it is up, so it will not
/// start listening there by waiting out `--startup-timeout`.
pub const ATTACHED_GRACE: Duration = Duration::from_secs(2);

use crate::procfs;

/// Lines of the target's stderr kept for messages.
pub const STDERR_TAIL: usize = 12;

/// Lines from the start of the target's stderr kept for probes to read.
pub const STDERR_HEAD: usize = 1_000;

/// Longest stderr line kept in memory, in characters.
const LINE_CHARS: usize = 300;

/// The target's stderr in memory: its first [`STDERR_HEAD`] lines (for probes)
/// and its last [`STDERR_TAIL`] (for messages), filled as the lines arrive.
#[derive(Debug, Default)]
pub struct StderrLog {
    state: Mutex<LogState>,
    arrived: Notify,
}

#[derive(Debug, Default)]
struct LogState {
    head: Vec<String>,
    tail: VecDeque<String>,
    closed: bool,
}

impl StderrLog {
    fn push(&self, line: &str) {
        let line: String = line.chars().take(LINE_CHARS).collect();
        {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if s.head.len() < STDERR_HEAD {
                s.head.push(line.clone());
            }
            if s.tail.len() == STDERR_TAIL {
                s.tail.pop_front();
            }
            s.tail.push_back(line);
        }
        self.arrived.notify_waiters();
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.arrived.notify_waiters();
    }

    /// The first lines (up to [`STDERR_HEAD`]).
    fn head(&self) -> Vec<String> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.head.clone()
    }

    /// The last lines.
    pub fn tail(&self) -> Vec<String> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.tail.iter().cloned().collect()
    }
}

/// The line Node prints when its inspector listens.
const LISTENING: &str = "Debugger listening on ";

/// The inspector URL on one line of the target's stderr, if the line announces
/// it (`Debugger listening on ws://127.0.0.1:PORT/ID`).
pub fn listening_url(line: &str) -> Option<&str> {
    let at = line.find(LISTENING)? + LISTENING.len();
    let rest = &line[at..];
    let url = rest.split_whitespace().next()?;
    url.starts_with("ws://").then_some(url)
}

/// A reader of the target's stderr from its first line: [`Lines::next`] gives
/// the lines already written, then waits for the next one. Ends when stderr
/// closes, or after [`STDERR_HEAD`] lines. Several readers each see every line.
#[derive(Debug, Clone)]
pub struct Lines {
    log: Arc<StderrLog>,
    next: usize,
}

impl Lines {
    /// The next line, waiting for it to arrive; `None` once stderr closed (or past
    /// the first [`STDERR_HEAD`] lines). Bound it with a timeout of your own.
    pub async fn next(&mut self) -> Option<String> {
        loop {
            let arrived = self.log.arrived.notified();
            tokio::pin!(arrived);
            // Registered before looking, so a line pushed in between still wakes us.
            arrived.as_mut().enable();
            {
                let s = self.log.state.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(line) = s.head.get(self.next) {
                    self.next += 1;
                    return Some(line.clone());
                }
                if s.closed || self.next >= STDERR_HEAD {
                    return None;
                }
            }
            arrived.await;
        }
    }
}

/// How the target is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// A shell command soak starts (with `exec`, so the command keeps the PID).
    Cmd(String),
    /// An already running process.
    Pid(u32),
}

/// How a spawned target ended.
pub type Exit = soak_harness::summary::ProcessExit;

/// What a child's exit status says.
fn exit_of(s: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt as _;
    let signal = s.signal();
    let text = match (s.code(), signal) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("killed by signal {sig} ({})", signal_name(sig)),
        _ => "ended (no status)".into(),
    };
    Exit {
        code: s.code(),
        signal,
        text,
    }
}

/// The exit of a process that was not soak's child.
fn unknown_exit() -> Exit {
    Exit {
        code: None,
        signal: None,
        text: "exit status unknown (not soak's child)".into(),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGHUP => "SIGHUP",
        _ => "signal",
    }
}

/// Why the target could not be brought up (all usage errors: exit 2).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `--cmd` could not be started.
    #[error("--cmd '{cmd}' cannot be started: {why}")]
    Spawn {
        /// The command.
        cmd: String,
        /// Why.
        why: String,
    },
    /// The command exited before its port opened.
    #[error("--cmd '{cmd}' exited during startup ({exit}){tail}")]
    ExitedEarly {
        /// The command.
        cmd: String,
        /// How it ended.
        exit: String,
        /// `; last stderr: …`, or empty.
        tail: String,
    },
    /// `--pid` names no running process.
    #[error("--pid {0}: no such process; give the PID of a running process")]
    NoProcess(u32),
    /// The port never accepted a connection.
    #[error("{addr} never accepted a connection within {waited}; {hint}")]
    PortNeverOpened {
        /// Where soak tried.
        addr: std::net::SocketAddr,
        /// How long soak waited: `--startup-timeout 30s`, or `2s` for a running
        /// process (--pid) already listening elsewhere.
        waited: String,
        /// Where the target listens instead, and what to give (`--url`).
        hint: String,
    },
}

impl StartError {
    /// Whether the target said it could not listen because its address was
    /// taken (Node's `EADDRINUSE`, the OS's "address already in use").
    pub fn address_in_use(&self) -> bool {
        match self {
            StartError::ExitedEarly { tail, .. } => {
                let t = tail.to_ascii_lowercase();
                t.contains("eaddrinuse") || t.contains("address already in use")
            }
            _ => false,
        }
    }
}

/// A running target.
#[derive(Debug)]
pub struct Target {
    /// Its process id.
    pub pid: u32,
    child: Option<Child>,
    /// Where its stdout and stderr are being written (spawned targets only).
    logs: Option<Logs>,
    stderr: Arc<StderrLog>,
    exit: Option<Exit>,
}

/// The spawned target's output files, in the run's scratch directory until
/// the report takes them.
#[derive(Debug)]
struct Logs {
    dir: PathBuf,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// File names of the target's output in the report directory.
pub const STDOUT_FILE: &str = "target-stdout.log";
/// See [`STDOUT_FILE`].
pub const STDERR_FILE: &str = "target-stderr.log";

impl Target {
    /// Spawns `cmd` with `PORT=port` and `env` in its environment and `{port}`
    /// replaced; its output goes to files in `dir` (which must exist).
    pub fn spawn(
        cmd: &str,
        port: u16,
        env: &[(String, String)],
        dir: &Path,
    ) -> Result<Target, StartError> {
        let line = cmd.replace("{port}", &port.to_string());
        let spawn_err = |why: String| StartError::Spawn {
            cmd: cmd.to_string(),
            why,
        };
        let dir = dir.to_path_buf();
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(format!("exec {line}"))
            .env("PORT", port.to_string())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C at the terminal reaches soak, which
            // then stops the target itself (and the target's children with it).
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| spawn_err(e.to_string()))?;
        let pid = child.id().unwrap_or(0);
        let stderr = Arc::new(StderrLog::default());
        let mut tasks = Vec::new();
        if let Some(out) = child.stdout.take() {
            tasks.push(tokio::spawn(copy_lines(out, dir.join(STDOUT_FILE), None)));
        }
        if let Some(err) = child.stderr.take() {
            tasks.push(tokio::spawn(copy_lines(
                err,
                dir.join(STDERR_FILE),
                Some(stderr.clone()),
            )));
        }
        Ok(Target {
            pid,
            child: Some(child),
            logs: Some(Logs { dir, tasks }),
            stderr,
            exit: None,
        })
    }

    /// Attaches to a running process.
    pub fn attach(pid: u32) -> Result<Target, StartError> {
        if pid == 0 || !procfs::alive(pid) {
            return Err(StartError::NoProcess(pid));
        }
        Ok(Target {
            pid,
            child: None,
            logs: None,
            stderr: Arc::new(StderrLog::default()),
            exit: None,
        })
    }

    /// Whether soak started it (and so stops it).
    pub fn spawned(&self) -> bool {
        self.child.is_some()
    }

    /// Waits until `addr` accepts a TCP connection, the target exits, or
    /// `timeout` passes — for a running process (`--pid`) that listens on other
    /// ports and not this one, [`ATTACHED_GRACE`].
    pub async fn wait_for_port(
        &mut self,
        addr: std::net::SocketAddr,
        timeout: Duration,
        cmd: &str,
    ) -> Result<(), StartError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(exit) = self.exited() {
                self.kill_leftovers();
                // Let the output readers catch the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err(StartError::ExitedEarly {
                    cmd: cmd.to_string(),
                    exit: exit.text,
                    tail: self.tail_text(),
                });
            }
            if !self.spawned() && !procfs::alive(self.pid) {
                return Err(StartError::NoProcess(self.pid));
            }
            let attempt =
                tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr)).await;
            if let Ok(Ok(mut s)) = attempt {
                let _ = s.shutdown().await;
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StartError::PortNeverOpened {
                    addr,
                    waited: format!("--startup-timeout {}s", timeout.as_secs_f64()),
                    hint: self.listening_hint(addr),
                });
            }
            // A running process (--pid) that listens, but not here, will not start
            // to: say so now rather than after the whole --startup-timeout.
            let waited = timeout.saturating_sub(deadline - Instant::now());
            if !self.spawned() && waited >= ATTACHED_GRACE {
                let ports = procfs::listening_ports(self.pid);
                if !ports.is_empty() && !ports.contains(&addr.port()) {
                    return Err(StartError::PortNeverOpened {
                        addr,
                        waited: format!(
                            "{}s (PID {} listens elsewhere)",
                            ATTACHED_GRACE.as_secs(),
                            self.pid
                        ),
                        hint: self.listening_hint(addr),
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What a target that never accepted on `addr` listens on instead (its
    /// process group's TCP ports, a spawned target's), and what to give: a
    /// service that ignores `$PORT` listens where its code says.
    fn listening_hint(&self, addr: std::net::SocketAddr) -> String {
        let pids = if self.spawned() {
            procfs::group(self.pid)
        } else {
            vec![self.pid]
        };
        let mut ports: Vec<u16> = pids
            .iter()
            .flat_map(|p| procfs::listening_ports(*p))
            .collect();
        // The inspector soak opened for a Node target is not the service's port.
        let inspector: Vec<u16> = self
            .stderr
            .head()
            .iter()
            .filter_map(|l| listening_url(l))
            .filter_map(|u| url::Url::parse(u).ok()?.port())
            .collect();
        ports.retain(|p| !inspector.contains(p));
        ports.sort_unstable();
        ports.dedup();
        let given = if self.spawned() {
            format!("soak gave it PORT={} in its environment; ", addr.port())
        } else {
            String::new()
        };
        match ports.first() {
            None => format!(
                "{given}it listens on no TCP port: is it a server, and is it up (check --url)?"
            ),
            Some(first) => {
                let list: Vec<String> = ports.iter().map(u16::to_string).collect();
                format!(
                    "{given}it listens on {} instead: give the service's own port with --url, \
                     e.g. --url http://127.0.0.1:{first}",
                    list.join(", ")
                )
            }
        }
    }

    /// `Some` once the target has ended.
    pub fn exited(&mut self) -> Option<Exit> {
        if let Some(e) = &self.exit {
            return Some(e.clone());
        }
        let exit = match &mut self.child {
            Some(c) => match c.try_wait() {
                Ok(Some(status)) => exit_of(status),
                _ => return None,
            },
            None if procfs::alive(self.pid) => return None,
            None => unknown_exit(),
        };
        self.exit = Some(exit.clone());
        Some(exit)
    }

    /// The last lines of its stderr, as `; last stderr: a | b`, or empty.
    pub fn tail_text(&self) -> String {
        let tail = self.tail_lines();
        if tail.is_empty() {
            String::new()
        } else {
            format!("; last stderr: {}", tail.join(" | "))
        }
    }

    /// The last stderr lines.
    pub fn tail_lines(&self) -> Vec<String> {
        self.stderr.tail()
    }

    /// A reader of its stderr from the first line (`None` for an attached
    /// target, whose stderr soak does not see).
    pub fn stderr_lines(&self) -> Option<Lines> {
        self.logs.as_ref().map(|_| Lines {
            log: self.stderr.clone(),
            next: 0,
        })
    }

    /// Stops a spawned target: SIGTERM to its process group, SIGKILL after
    /// `grace`. Returns how it ended. An attached target is left running.
    pub async fn stop(&mut self, grace: Duration) -> Option<Exit> {
        if let Some(e) = self.exited() {
            return Some(e);
        }
        let child = self.child.as_mut()?;
        let pgid = self.pid as i32;
        // SAFETY: kill has no memory preconditions; the group is the child's own
        // (process_group(0) at spawn), so nothing else is signalled.
        unsafe {
            libc::kill(-pgid, libc::SIGTERM);
        }
        let status = match tokio::time::timeout(grace, child.wait()).await {
            Ok(Ok(s)) => Some(s),
            _ => {
                // SAFETY: as above.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
                child.wait().await.ok()
            }
        };
        let exit = status.map(exit_of);
        self.exit = exit.clone();
        exit
    }

    /// Its output files, complete (after it stopped): `(name in the report, path
    /// now)`. They stay in the scratch directory until the report takes them.
    pub async fn log_files(&mut self) -> Vec<(String, PathBuf)> {
        let Some(logs) = self.logs.take() else {
            return Vec::new();
        };
        for t in logs.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
        [STDOUT_FILE, STDERR_FILE]
            .iter()
            .map(|n| (n.to_string(), logs.dir.join(n)))
            .filter(|(_, p)| p.is_file())
            .collect()
    }

    /// What a spawned target whose first process exited left running in its
    /// process group (a wrapper's background helper): killed, so that a run
    /// that goes on with another start (bring_up's port retry) owns nothing it
    /// cannot see. The group outlives its leader while any member is left, so
    /// its id is not another process's.
    fn kill_leftovers(&self) {
        if self.spawned() {
            // SAFETY: kill has no memory preconditions; see above for the group.
            unsafe {
                libc::kill(-(self.pid as i32), libc::SIGKILL);
            }
        }
    }

    fn stop_copying(&mut self) {
        if let Some(logs) = self.logs.take() {
            for t in logs.tasks {
                t.abort();
            }
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        // A spawned target never outlives soak (kill_on_drop kills the process;
        // this takes the rest of its group).
        if self.exit.is_none() {
            if let Some(c) = &self.child {
                if c.id().is_some() {
                    // SAFETY: see `stop`.
                    unsafe {
                        libc::kill(-(self.pid as i32), libc::SIGKILL);
                    }
                }
            }
        }
        self.stop_copying();
    }
}

async fn copy_lines(from: impl AsyncRead + Unpin, to: PathBuf, log: Option<Arc<StderrLog>>) {
    let Ok(file) = tokio::fs::File::create(&to).await else {
        if let Some(l) = &log {
            l.close();
        }
        return;
    };
    let mut file = tokio::io::BufWriter::new(file);
    let mut lines = BufReader::new(from).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let _ = file.write_all(line.as_bytes()).await;
        let _ = file.write_all(b"\n").await;
        let _ = file.flush().await;
        if let Some(l) = &log {
            l.push(&line);
        }
    }
    let _ = file.flush().await;
    if let Some(l) = &log {
        l.close();
    }
}

/// A free TCP port on 127.0.0.1 for a target to listen on (bound, read,
/// released), chosen at random *below* the kernel's ephemeral range
/// ([`ephemeral_ports`]). A port the kernel hands out for `bind(0)` comes from
/// that range, and once released any process's outgoing connection can take it
/// as its local port — another run's load opens thousands — after which the
/// target's listen fails with "address already in use" (measured: two runs at
/// once, one target refused). Ports below the range are never given to
/// outgoing connections. Falls back to the kernel's choice when none of
/// [`PORT_CANDIDATES`] tried there is free.
pub fn free_port() -> std::io::Result<u16> {
    let (low, _) = ephemeral_ports();
    let floor = low.saturating_sub(BELOW_EPHEMERAL).max(1024);
    if floor < low {
        let span = u64::from(low - floor);
        for i in 0..PORT_CANDIDATES {
            let pick = random_u64(i) % span;
            // `pick < span = low - floor`, so `floor + pick < low` fits a u16.
            let port = floor + u16::try_from(pick).unwrap_or(0);
            if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
                return Ok(l.local_addr()?.port());
            }
        }
    }
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(l.local_addr()?.port())
}

/// How far below the ephemeral range [`free_port`] looks.
const BELOW_EPHEMERAL: u16 = 16_384;

/// How many ports below the ephemeral range [`free_port`] tries.
const PORT_CANDIDATES: u64 = 64;

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`), else
/// Linux's default 32768–60999.
pub fn ephemeral_ports() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut it = text.split_whitespace().map(|w| w.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32_768, 60_999))
}

/// A random number (std's per-process random hash keys, mixed with `salt`).
fn random_u64(salt: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(salt);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_is_chosen_below_the_ephemeral_range_and_is_free() {
        let (low, high) = ephemeral_ports();
        assert!(low <= high, "{low}-{high}");
        // Below the range soak has this many ports to draw from (none when the
        // range starts at 1024: then the kernel picks, in the range).
        let below = low.saturating_sub(low.saturating_sub(BELOW_EPHEMERAL).max(1024));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let port = free_port().expect("a port");
            // Free: it can be listened on.
            std::net::TcpListener::bind(("127.0.0.1", port)).expect("free");
            seen.insert(port);
            if below >= 1000 {
                assert!(port < low, "{port} is in the ephemeral range {low}-{high}");
            }
        }
        if below >= 1000 {
            // Picked at random, not the same port for every run on the machine.
            assert!(seen.len() > 10, "{seen:?}");
        }
    }

    #[test]
    fn only_a_target_that_says_its_address_is_taken_is_tried_again() {
        let early = |tail: &str| StartError::ExitedEarly {
            cmd: "x".into(),
            exit: "exit status 1".into(),
            tail: tail.into(),
        };
        for taken in [
            "; last stderr: Error: listen EADDRINUSE: address already in use 127.0.0.1:40123",
            "; last stderr: error: cannot listen on 127.0.0.1:9: Address already in use (os error 98)",
        ] {
            assert!(early(taken).address_in_use(), "{taken}");
        }
        assert!(!early("; last stderr: Error: Cannot find module 'x'").address_in_use());
        assert!(!early("").address_in_use());
        assert!(!StartError::NoProcess(1).address_in_use());
    }

    #[tokio::test]
    async fn stderr_is_read_from_its_first_line_as_lines_arrive() {
        let log = Arc::new(StderrLog::default());
        log.push("Debugger listening on ws://127.0.0.1:9229/x");
        let reader = |log: &Arc<StderrLog>| Lines {
            log: log.clone(),
            next: 0,
        };
        let mut early = reader(&log);
        assert_eq!(
            early.next().await.as_deref(),
            Some("Debugger listening on ws://127.0.0.1:9229/x")
        );
        // A second reader sees every line too, and waits for the next one.
        let mut late = reader(&log);
        let waiting = tokio::spawn(async move {
            let a = late.next().await;
            let b = late.next().await;
            (a, b, late.next().await)
        });
        tokio::task::yield_now().await;
        log.push("second");
        log.close();
        let (a, b, end) = waiting.await.expect("the reader finishes");
        assert!(a.is_some_and(|l| l.starts_with("Debugger")));
        assert_eq!(b.as_deref(), Some("second"));
        assert_eq!(end, None, "stderr closed");
        assert_eq!(early.next().await.as_deref(), Some("second"));
        assert_eq!(log.tail().len(), 2);
    }
}
