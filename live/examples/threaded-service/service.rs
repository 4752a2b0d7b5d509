//! The service: `POST /flag/{guild}/{user}` and `POST /modstats/reset/{user}`
//! (the `cooldowns` plan), each answered after a look-up in a shared cache of
//! cooldowns, and `GET /health`. One OS thread per connection; a connection is
//! closed after `--requests-per-connection` requests, as many servers do, so
//! threads keep coming and going.
//!
//! The fixed service bounds its cache (`lru::LruCache::new`); the leaky twin
//! (`--variant leaky`) builds it unbounded and so keeps an entry per user and
//! guild ever seen.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lru::LruCache;

/// Cooldown entries the fixed service keeps.
const CAPACITY: usize = 4096;

/// One user's cooldown record.
struct Cooldown {
    last: Instant,
    count: u64,
    reasons: Vec<String>,
}

type Cache = Arc<Mutex<LruCache<String, Cooldown>>>;

struct Options {
    leaky: bool,
    port: u16,
    per_connection: usize,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        leaky: false,
        port: std::env::var("PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(8080),
        per_connection: 100,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--variant" => o.leaky = value("--variant")? == "leaky",
            "--port" => {
                o.port = value("--port")?
                    .parse()
                    .map_err(|e| format!("--port: {e}"))?
            }
            "--requests-per-connection" => {
                o.per_connection = value("--requests-per-connection")?
                    .parse()
                    .map_err(|e| format!("--requests-per-connection: {e}"))?
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

pub fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("threaded-service: {e}");
            return ExitCode::from(2);
        }
    };
    let cache: Cache = Arc::new(Mutex::new(if o.leaky {
        // LEAK: the capacity went missing in a refactor: every user and guild
        // flagged stays cached for good.
        LruCache::unbounded()
    } else {
        LruCache::new(NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN))
    }));
    let listener = match TcpListener::bind(("127.0.0.1", o.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("threaded-service: cannot bind 127.0.0.1:{}: {e}", o.port);
            return ExitCode::from(2);
        }
    };
    println!(
        "threaded-service ({}) listening on http://127.0.0.1:{}",
        if o.leaky { "leaky" } else { "fixed" },
        o.port
    );
    for conn in listener.incoming().flatten() {
        let cache = cache.clone();
        let limit = o.per_connection;
        std::thread::spawn(move || {
            let _ = serve(conn, &cache, limit);
        });
    }
    ExitCode::SUCCESS
}

/// Serves one connection until the peer closes it or `limit` requests are done.
fn serve(conn: TcpStream, cache: &Cache, limit: usize) -> std::io::Result<()> {
    let mut out = conn.try_clone()?;
    let mut input = BufReader::new(conn);
    for served in 1..=limit {
        let mut head = String::new();
        if input.read_line(&mut head)? == 0 {
            return Ok(());
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if input.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        std::io::Read::read_exact(&mut input, &mut body)?;
        let (status, text) = answer(&head, cache);
        let close = served == limit;
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{text}",
            text.len(),
            if close { "Connection: close\r\n" } else { "" },
        );
        out.write_all(response.as_bytes())?;
    }
    Ok(())
}

/// The answer to one request line.
fn answer(head: &str, cache: &Cache) -> (&'static str, String) {
    let mut parts = head.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let key = match (method, segments.as_slice()) {
        ("GET", [h]) if h == "health" => return ("200 OK", "ok\n".into()),
        ("POST", [f, guild, user]) if f == "flag" => format!("{guild}:{user}"),
        ("POST", [m, r, user]) if m == "modstats" && r == "reset" => format!("reset:{user}"),
        _ => return ("404 Not Found", "not found\n".into()),
    };
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    let entry = cache.get_or_insert_mut(key.clone(), || Cooldown {
        last: now,
        count: 0,
        reasons: Vec::new(),
    });
    let waited = now.duration_since(entry.last).as_millis();
    entry.last = now;
    entry.count += 1;
    if entry.reasons.len() < 4 {
        entry
            .reasons
            .push(format!("flag #{} after {waited} ms", entry.count));
    }
    ("200 OK", format!("{key}: {} flags\n", entry.count))
}
