//! The HTTP side of `soak-server`: peeking a connection's first request head to
//! route it, a small HTTP/1.1 keep-alive loop for the cooldown endpoints, the
//! health check and the Prometheus exposition.
//!
//! Small on purpose: requests are a request line, headers and an optional
//! `Content-Length` body (ignored); no chunked bodies, no pipelining guarantees
//! beyond answering in order. That is what load generators and scrapers send.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use soak_components::rate_limit::{flag_key, Decision};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{App, Tracked};

/// Longest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// A connection idle this long between requests is closed.
const IDLE: Duration = Duration::from_secs(60);

/// What routing needs from a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target.
    pub path: String,
    /// `Upgrade: websocket` was present.
    pub upgrade: bool,
}

impl Head {
    /// Whether the client asks for a WebSocket.
    pub fn is_upgrade(&self) -> bool {
        self.upgrade
    }
}

/// Parses a request head (request line and headers, no body).
pub fn parse_head(text: &str) -> Option<Head> {
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split_ascii_whitespace();
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let upgrade = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("upgrade") && v.trim().eq_ignore_ascii_case("websocket")
        })
    });
    Some(Head {
        method,
        path,
        upgrade,
    })
}

/// Peeks (without consuming) until a whole request head has arrived; `None` when
/// the client closes, sends no head within 10 s, or sends more than 16 KiB.
pub async fn peek_head(stream: &TcpStream) -> Option<Head> {
    let mut buf = vec![0u8; MAX_HEAD];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n = tokio::time::timeout_at(deadline, stream.peek(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        let seen = &buf[..n];
        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            return parse_head(std::str::from_utf8(&seen[..end]).ok()?);
        }
        if n == buf.len() {
            return None;
        }
        // Part of the head is in: wait for more bytes than we have seen.
        tokio::time::timeout_at(deadline, wait_for_more(stream, n))
            .await
            .ok()?;
    }
}

async fn wait_for_more(stream: &TcpStream, seen: usize) {
    let mut probe = vec![0u8; seen + 1];
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        match stream.peek(&mut probe).await {
            Ok(n) if n > seen || n == 0 => return,
            Ok(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            Err(_) => return,
        }
    }
}

/// Serves HTTP requests on one connection until the client closes it, asks to,
/// or stays idle for a minute.
pub async fn serve_connection(stream: Tracked, app: &App) {
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    loop {
        // Request head.
        let mut head = String::new();
        let mut content_length = 0usize;
        let mut close = false;
        loop {
            line.clear();
            let read = tokio::time::timeout(IDLE, stream.read_line(&mut line)).await;
            match read {
                Ok(Ok(0)) | Err(_) | Ok(Err(_)) => return,
                Ok(Ok(_)) => {}
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            if head.len() + line.len() > MAX_HEAD {
                return;
            }
            if let Some((k, v)) = line.split_once(':') {
                let k = k.trim();
                if k.eq_ignore_ascii_case("content-length") {
                    content_length = v.trim().parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("connection") {
                    close = v.trim().eq_ignore_ascii_case("close");
                }
            } else if head.is_empty() && line.contains("HTTP/1.0") {
                close = true;
            }
            head.push_str(&line);
        }
        if content_length > 0 {
            let mut body = vec![0u8; content_length.min(1 << 20)];
            if stream.read_exact(&mut body).await.is_err() {
                return;
            }
        }
        let Some(req) = parse_head(&head.replace('\n', "\r\n").replace("\r\r", "\r")) else {
            return;
        };
        let (status, kind, body) = answer(&req, app);
        let mut out = String::with_capacity(body.len() + 128);
        let _ = write!(
            out,
            "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n{}\r\n",
            body.len(),
            if close { "connection: close\r\n" } else { "" }
        );
        out.push_str(&body);
        let inner = stream.get_mut();
        if inner.write_all(out.as_bytes()).await.is_err() || close {
            return;
        }
    }
}

fn answer(req: &Head, app: &App) -> (&'static str, &'static str, String) {
    let c = &app.counters;
    let path = req.path.split('?').next().unwrap_or("");
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["health"]) => ("200 OK", "text/plain", "ok\n".into()),
        ("GET", ["metrics"]) => {
            c.scrapes.fetch_add(1, Ordering::Relaxed);
            ("200 OK", "text/plain; version=0.0.4", exposition(app))
        }
        ("POST", ["flag", guild, moderator]) => {
            c.http_requests.fetch_add(1, Ordering::Relaxed);
            match (guild.parse::<u64>(), moderator.parse::<u64>()) {
                (Ok(g), Ok(m)) => decision(app.flag.check(&flag_key(g, m))),
                _ => bad_request(),
            }
        }
        ("POST", ["modstats", "reset", user]) => {
            c.http_requests.fetch_add(1, Ordering::Relaxed);
            match user.parse::<u64>() {
                Ok(u) => decision(app.reset.check(&u.to_string())),
                Err(_) => bad_request(),
            }
        }
        _ => {
            c.http_requests.fetch_add(1, Ordering::Relaxed);
            c.http_not_found.fetch_add(1, Ordering::Relaxed);
            ("404 Not Found", "text/plain", "not found\n".into())
        }
    }
}

fn bad_request() -> (&'static str, &'static str, String) {
    (
        "400 Bad Request",
        "text/plain",
        "ids must be numbers\n".into(),
    )
}

fn decision(d: Decision) -> (&'static str, &'static str, String) {
    let body = match d {
        Decision::Allowed => "{\"allowed\":true}\n".to_string(),
        Decision::Limited { retry_after } => format!(
            "{{\"allowed\":false,\"retry_after_ms\":{}}}\n",
            retry_after.as_millis()
        ),
    };
    ("200 OK", "application/json", body)
}

/// The Prometheus text exposition of the server's gauges and counters.
pub fn exposition(app: &App) -> String {
    // The heap is read before this answer's own buffer is allocated.
    let heap = Heap {
        live: soak_harness::alloc::stats().live_bytes,
        usable: super::usable::live_bytes(),
    };
    let mut out = String::with_capacity(4096);
    gauges(app, &heap, &mut out);
    counters(app, &mut out);
    out
}

/// The live heap, as [`exposition`] reports it.
struct Heap {
    /// Requested bytes (the counting allocator).
    live: u64,
    /// Usable bytes, when counted ([`super::usable`]).
    usable: Option<u64>,
}

/// The gauges of [`exposition`].
fn gauges(app: &App, heap: &Heap, out: &mut String) {
    let c = &app.counters;
    let m = &app.monitor;
    let ws_open = c.ws_open.load(Ordering::Relaxed);
    let mut gauge = |name: &str, help: &str, v: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    };
    gauge(
        "soak_server_connected_clients",
        "WebSocket connections whose socket is open.",
        ws_open as f64,
    );
    gauge(
        "soak_server_registry_entries",
        "Entries in the client registry (connectedClients).",
        m.clients() as f64,
    );
    gauge(
        "soak_server_sessions",
        "Sessions with at least one registered client.",
        m.sessions() as f64,
    );
    gauge(
        "soak_server_interactions_by_session",
        "Interaction ids held by the by-session index (interactionsBySession).",
        m.indexed_interactions() as f64,
    );
    gauge(
        "soak_server_indexed_sessions",
        "Sessions present in the by-session interaction index.",
        m.indexed_sessions() as f64,
    );
    gauge(
        "soak_server_pending_interactions",
        "Interactions awaiting resolution.",
        m.pending() as f64,
    );
    gauge(
        "soak_server_flag_cooldowns",
        "Entries in the /flag cooldown map.",
        app.flag.map().len() as f64,
    );
    gauge(
        "soak_server_reset_cooldowns",
        "Entries in the /modstats reset cooldown map.",
        app.reset.map().len() as f64,
    );
    gauge(
        "soak_server_tcp_connections",
        "TCP connections open (HTTP and WebSocket).",
        c.tcp_open.load(Ordering::Relaxed) as f64,
    );
    gauge(
        "soak_server_heap_live_bytes",
        "Bytes in live heap blocks (counting allocator).",
        heap.live as f64,
    );
    if let Some(usable) = heap.usable {
        gauge(
            "soak_server_heap_usable_bytes",
            "Usable size of the live heap blocks, as the system allocator rounds them \
             (with SOAK_SERVER_USABLE_HEAP=1).",
            usable as f64,
        );
    }
}

/// The counters of [`exposition`].
fn counters(app: &App, out: &mut String) {
    let c = &app.counters;
    let m = &app.monitor;
    let stats = m.stats();
    let (created, resolved, timed_out) = m.interaction_counts();
    let http = c.http_requests.load(Ordering::Relaxed);
    let upgrades = c.ws_upgrades.load(Ordering::Relaxed);
    let mut counter = |name: &str, help: &str, v: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    };
    counter(
        "soak_server_requests_total",
        "Application requests: HTTP requests (not /health or /metrics), WebSocket upgrades and WebSocket data frames.",
        http + upgrades + stats.messages,
    );
    counter(
        "soak_server_http_requests_total",
        "HTTP requests to application endpoints.",
        http,
    );
    counter(
        "soak_server_ws_upgrades_total",
        "WebSocket upgrade requests.",
        upgrades,
    );
    counter(
        "soak_server_ws_messages_total",
        "WebSocket data frames received.",
        stats.messages,
    );
    counter(
        "soak_server_ws_accepted_total",
        "WebSocket handshakes admitted to the registry.",
        stats.accepted,
    );
    counter(
        "soak_server_ws_closed_graceful_total",
        "Connections the client closed with a close frame.",
        stats.closed_graceful,
    );
    counter(
        "soak_server_ws_closed_abrupt_total",
        "Connections that ended without a close frame.",
        stats.closed_abrupt,
    );
    counter(
        "soak_server_ws_evicted_total",
        "Clients evicted (heartbeat, idle TTL or capacity).",
        stats.evicted(),
    );
    counter(
        "soak_server_interactions_created_total",
        "Interactions opened.",
        created,
    );
    counter(
        "soak_server_interactions_resolved_total",
        "Interactions resolved by their client.",
        resolved,
    );
    counter(
        "soak_server_interactions_timed_out_total",
        "Interactions timed out.",
        timed_out,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_route() {
        let ws = parse_head(
            "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade",
        )
        .expect("parses");
        assert!(ws.is_upgrade());
        assert_eq!(ws.path, "/chat");
        let get = parse_head("GET /metrics HTTP/1.1\r\nHost: x").expect("parses");
        assert!(!get.is_upgrade());
        assert_eq!(get.method, "GET");
        assert!(parse_head("").is_none());
    }
}
