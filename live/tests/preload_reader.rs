//! The preloaded heap read from outside, without soak live around it: the C
//! flag server under `libsoak_preload.so`, requests sent from here, the heap and
//! sites read from its published file, the sites named from its binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use soak_harness::sites::shared;
use soak_live::preload::{HeapReader, Reach};

use super::support::{compile_c, line_of, preload_library};

struct Served {
    reader: HeapReader,
    /// Live bytes after each round of requests.
    live: Vec<u64>,
    requests: usize,
    /// Holds the binary the sites are named from.
    _dir: tempfile::TempDir,
}

/// Starts the flag server (`-DLEAKY` or not) under the library, sends `rounds`
/// rounds of 500 flags over one keep-alive connection, reading the heap after
/// each.
fn serve(leaky: bool, rounds: usize) -> Served {
    let dir = tempfile::tempdir().expect("temp dir");
    let flags: &[&str] = if leaky { &["-DLEAKY"] } else { &[] };
    let exe = compile_c("flag-server", dir.path(), "flag-server", flags);
    let port = soak_live::target::free_port().expect("port");
    let mut child = Command::new(&exe)
        .env("PORT", port.to_string())
        .env("LD_PRELOAD", preload_library())
        .env(shared::DIR_ENV, dir.path())
        // Dense sampling: a few seconds of requests make a clear series.
        .env(shared::SAMPLE_BYTES_ENV, "8192")
        .stdout(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("listening line");
    assert!(line.contains("listening"), "{line}");
    let mut reader = HeapReader::new(dir.path(), child.id());
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    let mut live = Vec::new();
    let mut n = 0;
    let mut buf = [0u8; 4096];
    for _ in 0..rounds {
        for _ in 0..500 {
            n += 1;
            let req = format!(
                "POST /flag/g{}/user-{n} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
                n % 7
            );
            conn.write_all(req.as_bytes()).expect("sends");
            let got = conn.read(&mut buf).expect("answer");
            assert!(
                buf[..got].starts_with(b"HTTP/1.1 200"),
                "{}",
                String::from_utf8_lossy(&buf[..got])
            );
        }
        live.push(reader.read().expect("published").live_bytes);
    }
    let requests = n as u64;
    assert_eq!(reader.reach(0, requests, false), Reach::Counting);
    // Weighed from a count past every block: none for those requests.
    assert_eq!(
        reader.reach(u64::MAX, requests, false),
        Reach::Bypassed {
            allocations: 0,
            requests
        }
    );
    // Stay up for the symboliser's look at /proc/PID/maps (taken while reading).
    let _ = child.kill();
    let _ = child.wait();
    Served {
        reader,
        live,
        requests: n,
        _dir: dir,
    }
}

/// The site whose live bytes grew most over the run, with its frames trimmed.
fn top_site(s: &Served) -> (Vec<String>, f64) {
    s.reader
        .sites()
        .iter()
        .zip(s.reader.named_sites())
        .map(|(site, (frames, _))| {
            let growth = site.live.last().copied().unwrap_or(0.0) - site.live[0];
            (frames, growth)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("sites")
}

#[test]
fn the_leaky_flag_server_is_named_to_its_function_and_line() {
    let s = serve(true, 12);
    let grown = s.live.last().copied().unwrap_or(0) as f64 - s.live[0] as f64;
    // Each kept flag: its 56-byte record and its user name (usable sizes 56, 24).
    let per_flag = grown / (s.requests - 500) as f64;
    assert!(
        (70.0..100.0).contains(&per_flag),
        "{per_flag} bytes per flag"
    );
    let (frames, growth) = top_site(&s);
    let first = &frames[0];
    assert!(first.starts_with("remember_flag ("), "{frames:?}");
    let malloc = line_of("flag-server.c", "struct flag *f = malloc");
    let strdup = line_of("flag-server.c", "f->user = strdup(user)");
    assert!(
        first.contains(&format!("flag-server.c:{malloc}"))
            || first.contains(&format!("flag-server.c:{strdup}")),
        "{first} (expected line {malloc} or {strdup})"
    );
    assert!(growth > 0.3 * grown, "{growth} of {grown}");
}

#[test]
fn the_fixed_flag_server_holds_its_last_thousand_flags() {
    let s = serve(false, 12);
    // After the first 1,000 flags the list stops growing.
    let late = &s.live[4..];
    let spread = late.iter().max().copied().unwrap_or(0) - late.iter().min().copied().unwrap_or(0);
    assert!(spread < 16 * 1024, "{:?}", s.live);
    let (frames, growth) = top_site(&s);
    assert!(growth < 200_000.0, "{frames:?} grew {growth}");
}
