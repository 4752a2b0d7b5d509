//! A Node.js target's inspector: where it is, the loopback rule, and a small
//! Chrome DevTools Protocol client for the few calls the heap probe makes.
//!
//! soak starts a Node target with `NODE_OPTIONS=--inspect=127.0.0.1:0
//! --inspect-publish-uid=stderr` ([`NODE_OPTIONS`]): the inspector binds loopback
//! on a free port, and its session id (without which nothing can attach) is
//! printed only on the target's stderr, as `Debugger listening on ws://…`
//! ([`listening_url`]), not served on `/json/list` where any local process could
//! read it. Every inspector URL, found there or given with `--inspect-url`, goes
//! through [`parse`], which refuses anything but a `ws://` URL on loopback
//! (127.0.0.0/8, `localhost`, `[::1]`), decided on the text before any connection.
//!
//! The client ([`Inspector`]) sends one JSON request per call and routes each
//! reply by its `id`; events are counted and dropped. A reader task owns the
//! socket's receiving half: when the target closes the inspector (or dies), every
//! waiting call ends with [`InspectorError::Closed`] and [`Inspector::is_closed`]
//! turns true, so the run goes on without it. A Node process that exits while a
//! session is attached waits for it ("Waiting for the debugger to disconnect…");
//! the client asks to be told (`NodeRuntime.notifyWhenWaitingForDisconnect`) and
//! disconnects at once, so a target that ends is never held up by soak.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{SplitSink, StreamExt as _};
use futures_util::SinkExt as _;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use url::Url;

use crate::addr;

/// What soak adds to a spawned target's `NODE_OPTIONS`: an inspector on loopback,
/// on a port the kernel picks, announced only on stderr.
pub const NODE_OPTIONS: &str = "--inspect=127.0.0.1:0 --inspect-publish-uid=stderr";

/// The event Node sends when it is exiting and waits for the session to close.
const WAITING: &str = "\"NodeRuntime.waitingForDisconnect\"";

/// The largest reply soak reads (a sampling profile of a big heap is a few MiB).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// Deepest JSON nesting soak parses. V8 keeps at most 128 frames per sampled
/// stack, two nesting levels each in a profile; anything deeper is not a profile
/// and is refused before parsing (the parser recurses).
const MAX_JSON_DEPTH: usize = 600;

/// The inspector URL on one line of the target's stderr, if the line announces
/// it (the target reads its own stderr, so the reading is its).
pub use crate::target::listening_url;

/// A checked inspector URL: `ws://` on loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectorUrl {
    /// The URL as given.
    pub url: Url,
    /// Where to connect (a loopback address; a name is never looked up).
    pub addr: SocketAddr,
}

/// Parses `text` as an inspector URL and applies the loopback rule (`flag` names
/// where it came from in messages, e.g. `--inspect-url`).
pub fn parse(flag: &str, text: &str) -> Result<InspectorUrl, String> {
    let shown: String = text.chars().take(80).collect();
    let url = Url::parse(text.trim()).map_err(|e| {
        format!("{flag} '{shown}' is not a URL ({e}); give the ws://127.0.0.1:PORT/ID the target printed")
    })?;
    if url.scheme() != "ws" {
        return Err(format!(
            "{flag} '{shown}': an inspector URL starts with ws:// (got {}://)",
            url.scheme()
        ));
    }
    let host = url
        .host()
        .ok_or_else(|| format!("{flag} '{shown}' has no host"))?;
    if !addr::is_loopback(&host) {
        return Err(format!(
            "{flag} '{shown}': {host} is not a loopback address (127.0.0.0/8, localhost or [::1]); \
             soak only opens an inspector on this machine's loopback"
        ));
    }
    let port = url
        .port()
        .ok_or_else(|| format!("{flag} '{shown}' has no port; give ws://127.0.0.1:PORT/ID"))?;
    // A loopback host is an address or `localhost`: never a name to resolve.
    let addr = addr::socket_addr(&host, port)
        .ok_or_else(|| format!("{flag} '{shown}': give the host as an address"))?;
    Ok(InspectorUrl { addr, url })
}

/// How long [`open_by_signal`] waits for the target's inspector to listen.
pub const OPEN_WAIT: Duration = Duration::from_secs(5);

/// The inspector [`open_by_signal`] found.
#[derive(Debug, Clone)]
pub struct Opened {
    /// Its URL.
    pub url: InspectorUrl,
    /// Its port.
    pub port: u16,
    /// Whether soak opened it (and so closes it at the end); `false` for one
    /// that was open already (left as it was).
    pub by_soak: bool,
}

/// Whether an executable's file name is Node's (`node`, `nodejs`, `node20`,
/// `node-20.1`: not `node_exporter`).
fn is_node_name(name: &str) -> bool {
    let rest = name
        .strip_prefix("nodejs")
        .or_else(|| name.strip_prefix("node"));
    rest.is_some_and(|r| {
        r.trim_start_matches('-')
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
    })
}

/// Opens the inspector of a running Node process `pid` that serves
/// `service_port` and was started without one: Node opens it on SIGUSR1 (on
/// 127.0.0.1:9229, or the port its `--inspect-port` sets); its URL is read from
/// `/json/list` on the port the process then newly listens on. An inspector
/// already open on one of its loopback ports is used as it is, unsignalled.
/// Refused, before any signal: a process that does not run `node`, does not
/// catch SIGUSR1 (it would end), is in another network namespace, or does not
/// listen on `service_port` (a wrapper, not the service). An inspector that
/// opens off loopback is closed again and refused.
pub async fn open_by_signal(pid: u32, service_port: u16) -> Result<Opened, String> {
    use std::os::fd::{FromRawFd as _, OwnedFd};
    let refuse = |why: String| format!("--open-inspector: process {pid} {why}");
    // Held from before the checks to the signal: a PID reused in between gets
    // no signal (pidfd_send_signal fails on a process that has gone).
    // SAFETY: pidfd_open takes a PID and flags and returns a new descriptor or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    let pidfd = i32::try_from(raw)
        .ok()
        .filter(|fd| *fd >= 0)
        // SAFETY: a descriptor pidfd_open just returned, owned here alone.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .map_err(|e| refuse(format!("cannot be read ({e})")))?;
    let name = exe
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !is_node_name(&name) {
        return Err(refuse(format!(
            "runs {}, not node; drop --open-inspector (its RSS is judged) or give a Node process",
            exe.display()
        )));
    }
    if !crate::procfs::same_network(pid) {
        return Err(refuse(
            "is in another network namespace (a container?): its inspector would not be on \
             soak's loopback; run soak inside it"
                .into(),
        ));
    }
    let before = crate::procfs::listening_sockets(pid);
    if !before.iter().any(|(p, _)| *p == service_port) {
        return Err(refuse(format!(
            "does not listen on port {service_port} (--url): give the PID of the Node process \
             that serves it, not a wrapper's"
        )));
    }
    for (port, loopback) in &before {
        if *port != service_port && *loopback {
            if let Ok(url) = json_list(*port).await {
                return Ok(Opened {
                    url,
                    port: *port,
                    by_soak: false,
                });
            }
        }
    }
    if !crate::procfs::catches_sigusr1(pid) {
        return Err(refuse(
            "does not catch SIGUSR1 (started with --disable-sigusr1?): the signal would end \
             it; start it with --inspect=127.0.0.1:PORT and give --inspect-url"
                .into(),
        ));
    }
    let sent = match &pidfd {
        // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
        Some(fd) => unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                std::os::fd::AsRawFd::as_raw_fd(fd),
                libc::SIGUSR1,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        },
        // SAFETY: kill(2) with a PID and a signal number touches no memory.
        None => i64::from(unsafe { libc::kill(pid as libc::pid_t, libc::SIGUSR1) }),
    };
    if sent != 0 {
        return Err(refuse(format!(
            "cannot be signalled ({})",
            std::io::Error::last_os_error()
        )));
    }
    let until = tokio::time::Instant::now() + OPEN_WAIT;
    loop {
        let new: Vec<(u16, bool)> = crate::procfs::listening_sockets(pid)
            .into_iter()
            .filter(|s| !before.contains(s))
            .collect();
        for (port, loopback) in new {
            let url = json_list(port).await;
            if !loopback {
                // Bound off loopback (its --inspect-port names another host):
                // closed again where soak's loopback reaches it.
                let closed = match &url {
                    Ok(u) => close_now(u).await,
                    Err(_) => false,
                };
                return Err(refuse(format!(
                    "opened its inspector on port {port} off loopback (its --inspect-port \
                     names another host){}; soak only uses loopback inspectors",
                    if closed {
                        ": closed again"
                    } else {
                        ", and it is still open"
                    }
                )));
            }
            if let Ok(url) = url {
                return Ok(Opened {
                    url,
                    port,
                    by_soak: true,
                });
            }
        }
        if tokio::time::Instant::now() >= until {
            return Err(refuse(format!(
                "opened no inspector within {} s of SIGUSR1 (its own SIGUSR1 handler, or its \
                 inspector port taken)",
                OPEN_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Has the inspector at `url` close itself: whether the call was answered.
pub async fn close_now(url: &InspectorUrl) -> bool {
    let Ok(insp) = Inspector::connect(url, Duration::from_secs(2)).await else {
        return false;
    };
    let done = insp
        .close_inspector_later(Duration::from_secs(2))
        .await
        .is_ok();
    insp.close().await;
    done
}

/// The first target's WebSocket URL from the inspector's `/json/list` on
/// 127.0.0.1:`port`, checked as [`parse`] checks (loopback only).
pub async fn json_list(port: u16) -> Result<InspectorUrl, String> {
    let endpoint = crate::addr::parse(
        "the inspector's list",
        &format!("http://127.0.0.1:{port}/json/list"),
        false,
    )?;
    let body = crate::prom::scrape(&endpoint, Duration::from_secs(2)).await?;
    let list: Vec<Value> = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let url = list
        .iter()
        .find_map(|t| t["webSocketDebuggerUrl"].as_str())
        .ok_or("no webSocketDebuggerUrl")?;
    parse("the target's inspector", url)
}

/// Which of the inspectors a spawned target printed is the service's: a wrapper
/// (`npm start`, a shell script running `node`) passes `NODE_OPTIONS` on, so each
/// Node process in the target's process group `pgid` opens one. The service's is
/// the one whose process also listens on `port`; failing that (the listener is
/// not in the group, or /proc cannot tell), the last one printed.
pub fn pick(urls: &[InspectorUrl], port: u16, pgid: u32) -> Option<&InspectorUrl> {
    if urls.len() > 1 {
        let group = crate::procfs::group(pgid);
        if let Some(owner) = crate::procfs::listener(port, &group) {
            if let Some(u) = urls
                .iter()
                .find(|u| crate::procfs::listener(u.addr.port(), &[owner]).is_some())
            {
                return Some(u);
            }
        }
    }
    urls.last()
}

/// Why an inspector call did not answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InspectorError {
    /// The connection or its WebSocket handshake failed.
    #[error("cannot open the inspector at {url}: {why}")]
    Connect {
        /// Where.
        url: String,
        /// Why.
        why: String,
    },
    /// The target closed the inspector (or ended).
    #[error("the target closed its inspector")]
    Closed,
    /// No reply in time.
    #[error("{method}: no reply from the inspector within {secs} s")]
    Timeout {
        /// The call.
        method: String,
        /// The time allowed, seconds.
        secs: f64,
    },
    /// The target answered with an error.
    #[error("{method}: the inspector answered with an error: {message}")]
    Protocol {
        /// The call.
        method: String,
        /// Its error message.
        message: String,
    },
    /// The reply could not be read.
    #[error("{method}: unreadable reply: {why}")]
    Malformed {
        /// The call.
        method: String,
        /// Why.
        why: String,
    },
}

type Reply = Result<Value, InspectorError>;
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Reply>>>>;
type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;

/// A connected inspector session.
#[derive(Debug)]
pub struct Inspector {
    /// `None` once the connection is closed (both halves dropped: the socket
    /// closes, which a Node target closing its inspector waits for).
    sink: Arc<tokio::sync::Mutex<Option<Sink>>>,
    pending: Pending,
    next_id: AtomicU64,
    closed: Arc<AtomicBool>,
    events: Arc<AtomicU64>,
    reader: tokio::task::JoinHandle<()>,
}

/// The JS heap right after a full collection ([`Inspector::full_gc`]), bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveHeap {
    /// The used size: live objects and compiled code.
    pub used: f64,
    /// The part of `used` that is V8's compiled code: its code spaces and, from
    /// Node 22, its trusted spaces (bytecode, code metadata) — it grows for
    /// minutes as V8 compiles and optimises a service's hot functions, and drops
    /// when V8 flushes bytecode left unused ([`READ_HEAP`]).
    pub code: f64,
}

/// `Runtime.getHeapUsage`: the JS heap, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct HeapUsage {
    /// Bytes in use (live objects, plus garbage not yet collected).
    #[serde(rename = "usedSize")]
    pub used: f64,
    /// Bytes the heap has reserved.
    #[serde(rename = "totalSize")]
    pub total: f64,
}

/// The script URL soak's own code in the target runs under (the function
/// [`Inspector::gc_function`] makes, which collects and reads the heap). What it
/// allocates is the probe's, not the service's: never a site (`node_heap`).
pub const PROBE_URL: &str = "soak:probe";

/// An expression that compiles the function `source` as a script named
/// [`PROBE_URL`] (`vm.runInThisContext` with a filename: V8's sampling profile
/// names a frame by its script's name, which a `//# sourceURL` comment does not
/// set) and evaluates to it.
fn as_probe(source: &str) -> String {
    format!(
        "require('vm').runInThisContext({}, {{ filename: {} }})",
        serde_json::Value::from(source),
        serde_json::Value::from(PROBE_URL)
    )
}

/// The function [`gc_expr`] hands `gc()` and `v8` to: it makes the function
/// that collects and answers `[used, code]`, the heap's used size and the part
/// of it that is V8's compiled code — its code spaces and, from V8 12 (Node 22),
/// its trusted spaces, where bytecode and code metadata moved (their ~1.4 MiB
/// grow as V8 compiles, and drop by half at once when it flushes start-up
/// bytecode a minute into a run: docs/performance.md, session 15).
const READ_HEAP: &str = "(function (gc, v8) { return function read() { \
   gc(); let code = 0; \
   for (const s of v8.getHeapSpaceStatistics()) \
     if (s.space_name.startsWith('code_') || s.space_name.includes('trusted_')) \
       code += s.space_used_size; \
   return [v8.getHeapStatistics().used_heap_size, code]; }; })";

/// The expression [`Inspector::gc_function`] evaluates: `gc()` from a context
/// of its own, handed to a function compiled as [`PROBE_URL`] that collects and
/// reads the heap.
fn gc_expr() -> String {
    format!(
        "(() => {{ const v8 = require('v8'); v8.setFlagsFromString('--expose-gc'); \
         let gc; try {{ gc = require('vm').runInNewContext('gc'); }} \
         finally {{ v8.setFlagsFromString('--no-expose-gc'); }} \
         return {}(gc, v8); }})()",
        as_probe(READ_HEAP)
    )
}

/// The expression [`Inspector::map_function`] evaluates: a function, compiled
/// as [`PROBE_URL`] like `gc()`'s, that answers `[enabled, map]` for a script
/// URL: whether Node keeps source maps (`--enable-source-maps`, or a loader such
/// as tsx turned them on) and the map it keeps for that script, as JSON without
/// its `sourcesContent` (the sources themselves: soak needs only their names).
fn map_expr() -> String {
    let map = "(function (m) { return function map(url) { \
       if (process.sourceMapsEnabled === false) return [false, null]; \
       const s = m.findSourceMap(url); if (!s) return [true, null]; \
       const p = Object.assign({}, s.payload); delete p.sourcesContent; \
       return [true, JSON.stringify(p)]; }; })";
    format!("{}(require('module'))", as_probe(map))
}

/// What a target keeps of a script's source map ([`Inspector::source_map`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetMap {
    /// The target keeps no source maps at all: asking again is no use.
    Off,
    /// None for this script.
    None,
    /// The map's JSON.
    Json(String),
}

impl Inspector {
    /// Connects to `url` within `timeout`.
    pub async fn connect(url: &InspectorUrl, timeout: Duration) -> Result<Self, InspectorError> {
        let fail = |why: String| InspectorError::Connect {
            url: url.url.to_string(),
            why,
        };
        let open = async {
            let tcp = TcpStream::connect(url.addr)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let _ = tcp.set_nodelay(true);
            let config = WebSocketConfig::default()
                .max_message_size(Some(MAX_MESSAGE_BYTES))
                .max_frame_size(Some(MAX_MESSAGE_BYTES));
            tokio_tungstenite::client_async_with_config(url.url.as_str(), tcp, Some(config))
                .await
                .map_err(|e| fail(e.to_string()))
        };
        let (ws, _) = tokio::time::timeout(timeout, open)
            .await
            .map_err(|_| fail(format!("no handshake within {} s", timeout.as_secs_f64())))??;
        let (sink, mut stream) = ws.split();
        let sink = Arc::new(tokio::sync::Mutex::new(Some(sink)));
        let pending: Pending = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        let events = Arc::new(AtomicU64::new(0));
        let reader = {
            let (pending, closed, events) = (pending.clone(), closed.clone(), events.clone());
            let sink = sink.clone();
            tokio::spawn(async move {
                while let Some(Ok(msg)) = stream.next().await {
                    match msg {
                        Message::Text(text)
                            if text.len() < 256 && text.as_str().contains(WAITING) =>
                        {
                            // The target is exiting and waits for us: let it go.
                            break;
                        }
                        Message::Text(text) => route(text.as_str(), &pending, &events),
                        Message::Close(_) => break,
                        _ => {}
                    }
                }
                // Close and drop both halves, so the socket closes: a target that
                // closes its inspector (or exits) blocks until it does.
                closed.store(true, Ordering::SeqCst);
                drop(stream);
                shut(&sink).await;
                let waiting: Vec<_> = lock(&pending).drain().collect();
                for (_, tx) in waiting {
                    let _ = tx.send(Err(InspectorError::Closed));
                }
            })
        };
        let insp = Inspector {
            sink,
            pending,
            next_id: AtomicU64::new(1),
            closed,
            events,
            reader,
        };
        // A Node process that exits (or calls process.exit) while a session is
        // attached waits for the session to disconnect; ask to be told, and the
        // reader disconnects at once. Other runtimes answer with an error: fine.
        let _ = insp
            .call(
                "NodeRuntime.notifyWhenWaitingForDisconnect",
                json!({ "enabled": true }),
                timeout,
            )
            .await;
        Ok(insp)
    }

    /// Whether the target has closed the inspector.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Events the target sent (not replies), since the connection opened.
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    /// Calls `method` with `params` and waits up to `timeout` for its result.
    pub async fn call(&self, method: &str, params: Value, timeout: Duration) -> Reply {
        if self.is_closed() {
            return Err(InspectorError::Closed);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let request = json!({ "id": id, "method": method, "params": params }).to_string();
        let sent = match self.sink.lock().await.as_mut() {
            Some(sink) => sink.send(Message::text(request)).await.is_ok(),
            None => false,
        };
        if !sent {
            lock(&self.pending).remove(&id);
            return Err(InspectorError::Closed);
        }
        let reply = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(InspectorError::Closed),
            Err(_) => {
                lock(&self.pending).remove(&id);
                Err(InspectorError::Timeout {
                    method: method.to_string(),
                    secs: timeout.as_secs_f64(),
                })
            }
        };
        reply.map_err(|e| match e {
            InspectorError::Protocol { message, .. } => InspectorError::Protocol {
                method: method.to_string(),
                message,
            },
            e => e,
        })
    }

    /// Calls `method` and reads its result as `T`.
    async fn call_as<T: for<'de> Deserialize<'de>>(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<T, InspectorError> {
        let v = self.call(method, params, timeout).await?;
        serde_json::from_value(v).map_err(|e| InspectorError::Malformed {
            method: method.to_string(),
            why: e.to_string(),
        })
    }

    /// `HeapProfiler.startSampling`: V8 samples an allocation every
    /// `interval_bytes` on average (Poisson) and keeps each sample while its
    /// object lives.
    pub async fn start_sampling(
        &self,
        interval_bytes: u64,
        timeout: Duration,
    ) -> Result<(), InspectorError> {
        self.call(
            "HeapProfiler.startSampling",
            json!({ "samplingInterval": interval_bytes }),
            timeout,
        )
        .await
        .map(drop)
    }

    /// `HeapProfiler.stopSampling` (its final profile is not read).
    pub async fn stop_sampling(&self, timeout: Duration) -> Result<(), InspectorError> {
        self.call("HeapProfiler.stopSampling", json!({}), timeout)
            .await
            .map(drop)
    }

    /// `HeapProfiler.getSamplingProfile`: the live samples' call tree, without
    /// stopping the sampler.
    /// `P` is what the caller reads it as (`node_heap::Profile`).
    pub async fn sampling_profile<P: serde::de::DeserializeOwned>(
        &self,
        timeout: Duration,
    ) -> Result<P, InspectorError> {
        #[derive(Deserialize)]
        struct Reply<P> {
            profile: P,
        }
        let r: Reply<P> = self
            .call_as("HeapProfiler.getSamplingProfile", json!({}), timeout)
            .await?;
        Ok(r.profile)
    }

    /// `HeapProfiler.collectGarbage`: V8's low-memory notification (several full
    /// collections, compiled code flushed); the reply comes when it is done.
    pub async fn collect_garbage(&self, timeout: Duration) -> Result<(), InspectorError> {
        self.call("HeapProfiler.collectGarbage", json!({}), timeout)
            .await
            .map(drop)
    }

    /// A function in the target that runs V8's `gc()` (one full mark-compact)
    /// and returns the JS heap's used size right after it, and its compiled
    /// code's part ([`READ_HEAP`]), before the target runs anything else: its
    /// remote object id, for
    /// [`Inspector::full_gc`].
    /// `gc()` comes from a context of its own (`vm`) created while
    /// `--expose-gc` is set and unset again at once, so the target's globals
    /// never see it; the expression uses the console's command-line API (Node's
    /// `require`). Kept in the object group `soak`; its script is named
    /// [`PROBE_URL`], so what it allocates is no site.
    pub async fn gc_function(&self, timeout: Duration) -> Result<String, InspectorError> {
        self.evaluate_function(&gc_expr(), "no gc() in this target", timeout)
            .await
    }

    /// Evaluates `expr` (with Node's `require`) to a function kept in the
    /// object group `soak`: its remote object id; `missing` says what is wrong
    /// when it is not one.
    async fn evaluate_function(
        &self,
        expr: &str,
        missing: &str,
        timeout: Duration,
    ) -> Result<String, InspectorError> {
        const METHOD: &str = "Runtime.evaluate";
        let v = self
            .call(
                METHOD,
                json!({ "expression": expr, "includeCommandLineAPI": true,
                        "objectGroup": "soak", "silent": true }),
                timeout,
            )
            .await?;
        match (
            v.get("exceptionDetails"),
            v["result"]["type"].as_str(),
            v["result"]["objectId"].as_str(),
        ) {
            (None, Some("function"), Some(id)) => Ok(id.to_string()),
            (thrown, ..) => Err(InspectorError::Malformed {
                method: METHOD.into(),
                why: format!(
                    "{missing} ({})",
                    thrown
                        .and_then(|e| e["exception"]["description"].as_str())
                        .unwrap_or("not a function")
                ),
            }),
        }
    }

    /// Calls the target's function `id` (one [`Inspector::evaluate_function`]
    /// made) with `arguments` (protocol `CallArgument`s), its result returned
    /// by value: the raw reply.
    async fn call_function(
        &self,
        id: &str,
        arguments: Value,
        timeout: Duration,
    ) -> Result<Value, InspectorError> {
        self.call(
            "Runtime.callFunctionOn",
            json!({ "functionDeclaration": "function (...a) { return this(...a); }",
                    "objectId": id, "arguments": arguments,
                    "returnByValue": true, "silent": true }),
            timeout,
        )
        .await
    }

    /// One full collection through the function [`Inspector::gc_function`]
    /// returned; right after it, the JS heap's used size and the part of it that
    /// is compiled code (the code and trusted spaces: [`READ_HEAP`]), bytes.
    pub async fn full_gc(&self, gc: &str, timeout: Duration) -> Result<LiveHeap, InspectorError> {
        const METHOD: &str = "Runtime.callFunctionOn";
        let v = self.call_function(gc, json!([]), timeout).await?;
        let value = &v["result"]["value"];
        match (
            v.get("exceptionDetails"),
            value[0].as_f64(),
            value[1].as_f64(),
        ) {
            (None, Some(used), Some(code)) => Ok(LiveHeap { used, code }),
            _ => Err(InspectorError::Malformed {
                method: METHOD.into(),
                why: "gc() did not return the heap's sizes".into(),
            }),
        }
    }

    /// A function in the target that tells the source map Node keeps for a
    /// script (code compiled in memory by a loader: ts-node, tsx), for
    /// [`Inspector::source_map`]: its remote object id. Kept in the object group
    /// `soak`, its script named [`PROBE_URL`].
    pub async fn map_function(&self, timeout: Duration) -> Result<String, InspectorError> {
        self.evaluate_function(&map_expr(), "no findSourceMap() in this target", timeout)
            .await
    }

    /// The source map Node keeps for the script at `url`, through the function
    /// [`Inspector::map_function`] returned.
    pub async fn source_map(
        &self,
        map: &str,
        url: &str,
        timeout: Duration,
    ) -> Result<TargetMap, InspectorError> {
        const METHOD: &str = "Runtime.callFunctionOn";
        let v = self
            .call_function(map, json!([{ "value": url }]), timeout)
            .await?;
        let value = &v["result"]["value"];
        match (v.get("exceptionDetails"), value[0].as_bool(), &value[1]) {
            (None, Some(false), _) => Ok(TargetMap::Off),
            (None, Some(true), Value::String(json)) => Ok(TargetMap::Json(json.clone())),
            (None, Some(true), Value::Null) => Ok(TargetMap::None),
            _ => Err(InspectorError::Malformed {
                method: METHOD.into(),
                why: "findSourceMap() did not answer [enabled, map]".into(),
            }),
        }
    }

    /// Has the target close its inspector on its next turn (an inspector soak
    /// opened with [`open_by_signal`] is not left open): `inspector.close()`
    /// ends every session, this one and any other client's, so it runs after
    /// this call has answered.
    pub async fn close_inspector_later(&self, timeout: Duration) -> Result<(), InspectorError> {
        const METHOD: &str = "Runtime.evaluate";
        let v = self
            .call(
                METHOD,
                json!({ "expression": "(r => { setImmediate(() => r('inspector').close()); })(require)",
                        "includeCommandLineAPI": true, "silent": true }),
                timeout,
            )
            .await?;
        match v.get("exceptionDetails") {
            None => Ok(()),
            Some(e) => Err(InspectorError::Malformed {
                method: METHOD.into(),
                why: format!(
                    "inspector.close() not scheduled ({})",
                    e["exception"]["description"]
                        .as_str()
                        .unwrap_or("an exception")
                ),
            }),
        }
    }

    /// `Runtime.getHeapUsage`.
    pub async fn heap_usage(&self, timeout: Duration) -> Result<HeapUsage, InspectorError> {
        self.call_as("Runtime.getHeapUsage", json!({}), timeout)
            .await
    }

    /// Closes the session (the target's inspector stays open for others).
    pub async fn close(mut self) {
        shut(&self.sink).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut self.reader).await;
    }
}

impl Drop for Inspector {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Sends a close frame (briefly) and drops the sending half.
async fn shut(sink: &tokio::sync::Mutex<Option<Sink>>) {
    let taken = sink.lock().await.take();
    if let Some(mut s) = taken {
        let _ = tokio::time::timeout(Duration::from_secs(1), s.close()).await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Hands a reply to the call waiting for its id; counts anything else as an event.
fn route(text: &str, pending: &Pending, events: &AtomicU64) {
    match read_reply(text) {
        Some((id, reply)) => {
            if let Some(tx) = lock(pending).remove(&id) {
                let _ = tx.send(reply);
            }
        }
        None => {
            events.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A reply's id and result (or error); `None` for an event or an unreadable message.
fn read_reply(text: &str) -> Option<(u64, Reply)> {
    #[derive(Deserialize)]
    struct Envelope {
        id: Option<u64>,
        result: Option<Value>,
        error: Option<ErrorBody>,
    }
    #[derive(Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        message: String,
    }
    let malformed = |why: String| InspectorError::Malformed {
        method: "reply".into(),
        why,
    };
    let depth = json_depth(text);
    if depth > MAX_JSON_DEPTH {
        // Still answer the call waiting for it, if the id can be found cheaply.
        let id = leading_id(text)?;
        return Some((
            id,
            Err(malformed(format!(
                "nested {depth} levels deep (at most {MAX_JSON_DEPTH})"
            ))),
        ));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    // Safe: the depth was bounded just above.
    de.disable_recursion_limit();
    let env = match Envelope::deserialize(&mut de) {
        Ok(e) => e,
        Err(e) => return leading_id(text).map(|id| (id, Err(malformed(e.to_string())))),
    };
    let id = env.id?;
    Some(match (env.error, env.result) {
        (Some(e), _) => (
            id,
            Err(InspectorError::Protocol {
                method: String::new(),
                message: e.message,
            }),
        ),
        (None, r) => (id, Ok(r.unwrap_or(Value::Null))),
    })
}

/// The `"id":N` a message starts with (V8 writes it first), for answering a call
/// whose reply cannot be parsed.
fn leading_id(text: &str) -> Option<u64> {
    let rest = text.trim_start().strip_prefix('{')?.trim_start();
    let rest = rest
        .strip_prefix("\"id\"")?
        .trim_start()
        .strip_prefix(':')?;
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The deepest nesting of objects and arrays in `text` (strings skipped).
fn json_depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The code part counts V8's code spaces and its trusted spaces (Node 22
    /// and later), nothing else: the function run in `node` on the spaces a
    /// Node 24 reports (Node 20 has no trusted spaces to read here).
    #[test]
    fn the_code_part_is_the_code_and_trusted_spaces() {
        let script = format!(
            "const spaces = {{ read_only_space: 1, new_space: 2, old_space: 400, \
               code_space: 30, shared_space: 0, trusted_space: 500, \
               shared_trusted_space: 7, new_large_object_space: 0, \
               large_object_space: 60, code_large_object_space: 3, \
               shared_large_object_space: 0, shared_trusted_large_object_space: 0, \
               trusted_large_object_space: 11 }}; \
             let collected = 0; \
             const v8 = {{ getHeapSpaceStatistics: () => Object.entries(spaces).map( \
               ([space_name, space_used_size]) => ({{ space_name, space_used_size }})), \
               getHeapStatistics: () => ({{ used_heap_size: 1014 }}) }}; \
             const read = {READ_HEAP}(() => {{ collected++; }}, v8); \
             console.log(JSON.stringify([read(), collected]));"
        );
        let Ok(out) = std::process::Command::new("node")
            .args(["-e", &script])
            .output()
        else {
            eprintln!("skipped: `node` is not on PATH");
            return;
        };
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "[[1014,551],1]",
            "code 30 + 3, trusted 500 + 7 + 11; one collection"
        );
    }

    #[test]
    fn only_nodes_own_names_are_node() {
        for yes in ["node", "nodejs", "node20", "node-20.11.1", "nodejs18"] {
            assert!(is_node_name(yes), "{yes}");
        }
        for no in [
            "node_exporter",
            "nodemon",
            "python3",
            "",
            "denode",
            "node-red",
        ] {
            assert!(!is_node_name(no), "{no}");
        }
    }

    #[test]
    fn the_probes_functions_run_under_the_probes_script_url() {
        for expr in [gc_expr(), map_expr()] {
            assert!(
                expr.contains(&format!("{{ filename: \"{PROBE_URL}\" }}")),
                "{expr}"
            );
        }
    }

    #[test]
    fn finds_the_url_node_prints() {
        let line =
            "Debugger listening on ws://127.0.0.1:36157/84548a9d-46d8-4626-ae43-423e7c669b2b";
        assert_eq!(
            listening_url(line),
            Some("ws://127.0.0.1:36157/84548a9d-46d8-4626-ae43-423e7c669b2b")
        );
        assert_eq!(
            listening_url("For help, see: https://nodejs.org/en/docs/inspector"),
            None
        );
        assert_eq!(listening_url("Debugger listening on http://x"), None);
        assert_eq!(listening_url("listening on ws://127.0.0.1:1/x"), None);
    }

    #[test]
    fn only_loopback_inspectors_are_opened() {
        for ok in [
            "ws://127.0.0.1:9229/abc",
            "ws://127.3.2.1:9229/abc",
            "ws://localhost:9229/abc",
            "ws://[::1]:9229/abc",
        ] {
            let u = parse("--inspect-url", ok).expect(ok);
            assert!(u.addr.ip().is_loopback(), "{ok}");
            assert_eq!(u.addr.port(), 9229);
        }
        for bad in [
            "ws://0.0.0.0:9229/abc",
            "ws://10.0.0.2:9229/abc",
            "ws://example.com:9229/abc",
            "ws://localhost.example.com:9229/abc",
            "ws://[::]:9229/abc",
            "ws://128.0.0.1:9229/abc",
        ] {
            let e = parse("--inspect-url", bad).expect_err(bad);
            assert!(e.contains("not a loopback address"), "{e}");
        }
        assert!(parse("x", "http://127.0.0.1:9229/abc")
            .expect_err("http")
            .contains("ws://"));
        assert!(parse("x", "wss://127.0.0.1:9229/abc").is_err());
        assert!(parse("x", "ws://127.0.0.1/abc")
            .expect_err("no port")
            .contains("no port"));
        assert!(parse("x", "not a url").is_err());
    }

    #[test]
    fn the_service_inspector_is_the_one_in_the_listening_process() {
        // Two "inspectors" in this process's group: one on a port this process
        // listens on, one on a port nobody holds. The service listens here too.
        let me_listening = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let service = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let free = crate::target::free_port().expect("port");
        let url = |p: u16| parse("x", &format!("ws://127.0.0.1:{p}/id")).expect("url");
        let ours = url(me_listening.local_addr().expect("addr").port());
        let other = url(free);
        // SAFETY: getpgrp has no preconditions.
        let pgid = unsafe { libc::getpgrp() } as u32;
        let port = service.local_addr().expect("addr").port();
        let urls = [ours.clone(), other.clone()];
        assert_eq!(pick(&urls, port, pgid), Some(&ours));
        // One URL, or no way to tell: the last printed.
        assert_eq!(pick(&urls[1..], port, pgid), Some(&other));
        assert_eq!(
            pick(&[other.clone(), ours.clone()], free, pgid),
            Some(&ours)
        );
        assert_eq!(pick(&[], port, pgid), None);
    }

    #[test]
    fn replies_are_routed_by_id_and_errors_carry_their_message() {
        let (id, r) =
            read_reply(r#"{"id":7,"result":{"usedSize":10,"totalSize":20}}"#).expect("a reply");
        assert_eq!(id, 7);
        let u: HeapUsage = serde_json::from_value(r.expect("ok")).expect("usage");
        assert_eq!((u.used, u.total), (10.0, 20.0));
        let (id, r) =
            read_reply(r#"{"id":8,"error":{"code":-32601,"message":"'X' wasn't found"}}"#)
                .expect("a reply");
        assert_eq!(id, 8);
        assert!(
            matches!(r, Err(InspectorError::Protocol { message, .. }) if message.contains("wasn't found"))
        );
        // An event has no id.
        assert!(read_reply(r#"{"method":"HeapProfiler.heapStatsUpdate","params":{}}"#).is_none());
        // A reply with no result is still an answer.
        assert_eq!(
            read_reply(r#"{"id":9,"result":{}}"#).map(|(i, _)| i),
            Some(9)
        );
    }

    #[test]
    fn deep_replies_are_read_and_absurd_ones_refused() {
        // 200 frames deep (V8 keeps at most 128): over serde_json's default limit.
        let mut node = String::from(r#"{"id":1,"children":[]}"#);
        for i in 2..=200 {
            node = format!(r#"{{"id":{i},"children":[{node}]}}"#);
        }
        let text = format!(r#"{{"id":3,"result":{{"profile":{{"head":{node}}}}}}}"#);
        let (id, r) = read_reply(&text).expect("a reply");
        assert_eq!(id, 3);
        assert!(r.is_ok(), "{r:?}");
        let absurd = format!(
            r#"{{"id":4,"result":{}{}}}"#,
            "[".repeat(5000),
            "]".repeat(5000)
        );
        let (id, r) = read_reply(&absurd).expect("answered");
        assert_eq!(id, 4);
        assert!(matches!(r, Err(InspectorError::Malformed { .. })), "{r:?}");
        assert_eq!(json_depth(r#"{"a":"[[[{{{","b":[1,{"c":2}]}"#), 3);
    }
}
