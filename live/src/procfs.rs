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

/// The processes in process group `pgid` (a spawned target and its children).
pub fn group(pgid: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    // pgrp is the third field after the command name.
                    let rest = &s[s.rfind(')')? + 1..];
                    rest.split_whitespace().nth(2)?.parse::<u32>().ok()
                })
                == Some(pgid)
        })
        .collect()
}

/// Whether a `/proc/net/tcp{,6}` local address (`HEXIP:HEXPORT`, the address in
/// host order per 32-bit word) is loopback: 127.0.0.0/8, `::1`, or `::ffff:127.x`.
fn loopback_hex(addr: &str) -> bool {
    let ip = addr.rsplit_once(':').map_or("", |(ip, _)| ip);
    match ip.len() {
        // IPv4: one little-endian word; the first octet is the last byte.
        8 => ip.get(6..8) == Some("7F"),
        32 => {
            ip == "00000000000000000000000001000000"
                || (ip.starts_with("0000000000000000FFFF0000") && ip.get(30..32) == Some("7F"))
        }
        _ => false,
    }
}

/// The TCP ports `pid` listens on, each with whether every socket on it is
/// bound to loopback.
pub fn listening_sockets(pid: u32) -> Vec<(u16, bool)> {
    let held = fd_links(pid);
    let mut out: Vec<(u16, bool)> = Vec::new();
    for (port, inode, lo) in listening_with_address() {
        if held.iter().any(|l| l.as_os_str() == inode.as_str()) {
            match out.iter_mut().find(|(p, _)| *p == port) {
                Some(e) => e.1 &= lo,
                None => out.push((port, lo)),
            }
        }
    }
    out.sort_unstable();
    out
}

/// [`listening`], with whether each socket is bound to loopback.
fn listening_with_address() -> Vec<(u16, String, bool)> {
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEXIP:HEXPORT; state 0A is LISTEN; inode is field 9.
            let local = f.get(1).copied().unwrap_or("");
            let local_port = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if let (Some(port), Some(&"0A"), Some(inode)) = (local_port, f.get(3), f.get(9)) {
                out.push((port, format!("socket:[{inode}]"), loopback_hex(local)));
            }
        }
    }
    out
}

/// The TCP sockets listening on this machine (any address): their ports, and
/// their inodes as `/proc/PID/fd` links name them (`socket:[INODE]`).
fn listening() -> Vec<(u16, String)> {
    listening_with_address()
        .into_iter()
        .map(|(port, inode, _)| (port, inode))
        .collect()
}

/// The links of `pid`'s open descriptors (`socket:[INODE]`, paths, …).
fn fd_links(pid: u32) -> Vec<std::path::PathBuf> {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or_else(
        |_| Vec::new(),
        |d| {
            d.filter_map(|e| fs::read_link(e.ok()?.path()).ok())
                .collect()
        },
    )
}

/// Whether `pid` holds a descriptor whose link is one of `links`.
fn holds(pid: u32, links: &[&str]) -> bool {
    fd_links(pid)
        .iter()
        .any(|l| links.iter().any(|i| l.as_os_str() == *i))
}

/// Which of `pids` holds a socket listening on TCP `port` (any address).
pub fn listener(port: u16, pids: &[u32]) -> Option<u32> {
    let sockets = listening();
    let inodes: Vec<&str> = sockets
        .iter()
        .filter(|(p, _)| *p == port)
        .map(|(_, i)| i.as_str())
        .collect();
    if inodes.is_empty() {
        return None;
    }
    pids.iter().copied().find(|pid| holds(*pid, &inodes))
}

/// The TCP ports `pid` listens on, ascending.
pub fn listening_ports(pid: u32) -> Vec<u16> {
    listening_sockets(pid).into_iter().map(|(p, _)| p).collect()
}

/// Whether `pid` catches SIGUSR1 (`SigCgt` in its status): Node does unless
/// started with `--disable-sigusr1`; a process that does not is ended by it.
pub fn catches_sigusr1(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .is_some_and(|mask| mask & (1 << (libc::SIGUSR1 - 1)) != 0)
    })
}

/// Whether `pid` shares soak's network namespace (its sockets are in soak's
/// `/proc/net/tcp`, and its loopback is soak's).
pub fn same_network(pid: u32) -> bool {
    match (
        fs::read_link(format!("/proc/{pid}/ns/net")),
        fs::read_link("/proc/self/ns/net"),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
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
    fn loopback_addresses_are_told_from_the_kernels_tables() {
        // /proc/net/tcp writes each 32-bit word in host (little-endian) order.
        assert!(loopback_hex("0100007F:2328")); // 127.0.0.1:9000
        assert!(loopback_hex("0200007F:2328")); // 127.0.0.2
        assert!(!loopback_hex("00000000:2328")); // 0.0.0.0
        assert!(!loopback_hex("0B0A000A:2328")); // 10.0.10.11
        assert!(loopback_hex("00000000000000000000000001000000:2328")); // ::1
        assert!(!loopback_hex("00000000000000000000000000000000:2328")); // ::
        assert!(loopback_hex("0000000000000000FFFF00000100007F:2328")); // ::ffff:127.0.0.1
        assert!(!loopback_hex("garbage"));
    }

    #[test]
    fn reads_itself() {
        let r = read(std::process::id()).expect("this process exists");
        assert!(r.rss_bytes > 0 && r.threads >= 1 && r.fds >= 3, "{r:?}");
        assert!(read(u32::MAX - 1).is_none());
        assert!(self_peak_rss() >= r.rss_bytes / 2);
        assert!(cpu_seconds(std::process::id()).is_some_and(|c| c >= 0.0));
        assert_eq!(cpu_seconds(u32::MAX - 1), None);
    }

    #[test]
    fn finds_which_process_listens_on_a_port() {
        let me = std::process::id();
        let l = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let port = l.local_addr().expect("addr").port();
        assert_eq!(listener(port, &[u32::MAX - 1, me]), Some(me));
        drop(l);
        assert_eq!(listener(port, &[me]), None);
        // This test's process group holds this process.
        // SAFETY: getpgrp has no preconditions.
        let pgid = unsafe { libc::getpgrp() } as u32;
        assert!(group(pgid).contains(&me));
    }
}
