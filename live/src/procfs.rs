//! Probes of another process through `/proc/PID`: resident set size, threads,
//! open descriptors, whether it is still alive; and this process's CPU time.

use std::fs;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcReading {
    /// `VmRSS` in bytes.
    pub rss_bytes: u64,
    /// `Threads`.
    pub threads: u64,
    /// Entries in `/proc/PID/fd`.
    pub fds: u64,
}

/// Reads `pid`'s RSS, threads and descriptors; `None` once the process is gone
/// (or a zombie: it has exited and only its exit status remains).
pub fn read(pid: u32) -> Option<ProcReading> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut r = ProcReading::default();
    for line in status.lines() {
        let value = |l: &str| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        if line.starts_with("State:") && line.contains('Z') {
            return None;
        } else if line.starts_with("VmRSS:") {
            r.rss_bytes = value(line) * 1024;
        } else if line.starts_with("Threads:") {
            r.threads = value(line);
        }
    }
    r.fds = fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    Some(r)
}

/// Whether a process with this id exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    read(pid).is_some()
}

/// CPU seconds (user + system) this process has used so far.
pub fn self_cpu_seconds() -> f64 {
    stat_cpu_seconds("/proc/self/stat").unwrap_or(0.0)
}

/// CPU seconds (user + system, all threads) `pid` has used so far; `None` once
/// it is gone.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    stat_cpu_seconds(&format!("/proc/{pid}/stat"))
}

fn stat_cpu_seconds(path: &str) -> Option<f64> {
    let stat = fs::read_to_string(path).ok()?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    Some((ticks(11) + ticks(12)) / hz)
}

/// This process's peak resident set size (`VmHWM`) in bytes.
pub fn self_peak_rss() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            })
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_itself() {
        let r = read(std::process::id()).expect("this process exists");
        assert!(r.rss_bytes > 0 && r.threads >= 1 && r.fds >= 3, "{r:?}");
        assert!(read(u32::MAX - 1).is_none());
        assert!(self_peak_rss() >= r.rss_bytes / 2);
        assert!(cpu_seconds(std::process::id()).is_some_and(|c| c >= 0.0));
        assert_eq!(cpu_seconds(u32::MAX - 1), None);
    }
}
