//! `soak-server`: the components' WebSocket server ([`soak_components::ws`]) and
//! seed 001's cooldown limiters served on real TCP, on the wall clock, with a
//! health check and a Prometheus exposition of its map sizes — the target of live
//! mode's own acceptance runs.
//!
//! One listener serves everything. Each accepted connection's first request is
//! peeked (not read): a WebSocket upgrade goes to [`ws::Server::accept`] untouched,
//! so the component performs its own handshake as in virtual time; anything else is
//! served as HTTP/1.1 with keep-alive ([`http`]):
//!
//! | request | answer |
//! |---|---|
//! | `GET /health` | `200 ok` |
//! | `GET /metrics` | Prometheus text: connected clients, registry entries, interactions by session, cooldown entries, heap, request counters |
//! | `POST /flag/{guild}/{moderator}` | seed 001's `/flag` cooldown (2 s per `guild:moderator`): `{"allowed":true}` or `{"allowed":false,"retry_after_ms":N}` |
//! | `POST /modstats/reset/{user}` | the `/modstats reset` cooldown (30 s per user), same answers |
//! | WebSocket upgrade on any path | the chat protocol of [`ws::server`] (`join`, `say`, `ask`, `done`) |
//!
//! The leaky variant is the components' leaky twins: [`ws::Config::leaky`] (clients
//! removed only on a graceful close, the session index never pruned, no heartbeat)
//! and cooldown maps that never drop an entry. Timers are scaled for live runs of
//! minutes, not a virtual day (see [`ServerConfig::new`]).

pub mod http;
pub mod usable;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use soak_components::rate_limit::Cooldown;
use soak_components::ttl_map::{Cleanup, TtlMapError};
use soak_components::ws::{self, server::Monitor, Heartbeat};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Settings of one `soak-server`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Run the leaky twins.
    pub leaky: bool,
    /// The WebSocket server's settings.
    pub ws: ws::Config,
    /// `/flag` cooldown between attempts per `guild:moderator`.
    pub flag_cooldown: Duration,
    /// `/modstats reset` cooldown between attempts per user.
    pub reset_cooldown: Duration,
    /// How long a cooldown entry is kept (the fixed variant's TTL).
    pub cooldown_ttl: Duration,
    /// Period of the cooldown maps' sweep.
    pub cooldown_sweep: Duration,
    /// Return freed heap pages to the OS this often (glibc `malloc_trim`), so RSS
    /// follows the live heap instead of staying at its high-water mark; `None` never.
    pub trim_every: Option<Duration>,
}

impl ServerConfig {
    /// The fixed (`leaky = false`) or leaky server with timers for live runs of
    /// minutes: heartbeat ping after 10 s of silence, eviction after 25 s, sweep
    /// every second, idle TTL 10 min, interactions time out after 30 s, cooldown
    /// entries kept 60 s and swept every 10 s, heap trimmed every second.
    pub fn new(leaky: bool) -> Self {
        let base = ws::Config {
            heartbeat: Some(Heartbeat {
                ping_after: Duration::from_secs(10),
                timeout: Duration::from_secs(25),
            }),
            sweep_every: Duration::from_secs(1),
            idle_ttl: Some(Duration::from_secs(600)),
            interaction_timeout: Duration::from_secs(30),
            ..ws::Config::default()
        };
        // The leaky twin keeps the live timings for what it still has.
        let ws = base.leaky(leaky);
        ServerConfig {
            leaky,
            ws,
            flag_cooldown: soak_components::rate_limit::FLAG_COOLDOWN,
            reset_cooldown: soak_components::rate_limit::RESET_COOLDOWN,
            cooldown_ttl: Duration::from_secs(60),
            cooldown_sweep: Duration::from_secs(10),
            trim_every: Some(Duration::from_secs(1)),
        }
    }
}

/// Request and connection counters, read by `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// HTTP requests to the application's endpoints (not `/health`, `/metrics`).
    pub http_requests: AtomicU64,
    /// HTTP requests answered 404.
    pub http_not_found: AtomicU64,
    /// `GET /metrics` scrapes.
    pub scrapes: AtomicU64,
    /// TCP connections accepted.
    pub tcp_accepted: AtomicU64,
    /// TCP connections currently open (HTTP and WebSocket).
    pub tcp_open: AtomicU64,
    /// WebSocket upgrades handed to the WebSocket server.
    pub ws_upgrades: AtomicU64,
    /// WebSocket connections currently open (socket not yet dropped).
    pub ws_open: AtomicU64,
}

/// Everything a connection handler needs.
#[derive(Debug)]
pub struct App {
    /// Settings.
    pub config: ServerConfig,
    /// The WebSocket server's state, for gauges.
    pub monitor: Monitor,
    /// `/flag` limiter.
    pub flag: Cooldown,
    /// `/modstats reset` limiter.
    pub reset: Cooldown,
    /// Counters.
    pub counters: Counters,
}

/// Serves `listener` until `shutdown` completes, then closes every WebSocket
/// (close frame "shutdown") and stops every task it started. Call inside a
/// multi-thread tokio runtime.
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future,
) -> Result<(), ServeError> {
    let cleanup = Cleanup::default().leaky(config.leaky);
    let ws_server = ws::Server::start(config.ws.clone());
    let flag = Cooldown::new(
        config.flag_cooldown,
        config.cooldown_ttl,
        config.cooldown_sweep,
        cleanup,
    )?;
    let reset = Cooldown::new(
        config.reset_cooldown,
        config.cooldown_ttl,
        config.cooldown_sweep,
        cleanup,
    )?;
    let trim = config.trim_every;
    let app = Arc::new(App {
        monitor: ws_server.monitor(),
        config,
        flag,
        reset,
        counters: Counters::default(),
    });
    let trimmer = trim.map(|every| tokio::spawn(trim_loop(every)));
    // Connections whose first request is a WebSocket upgrade come back here: only
    // the owner of the WebSocket server can hand it a stream.
    let (upgrades, mut upgraded) = tokio::sync::mpsc::unbounded_channel();
    tokio::pin!(shutdown);
    let result = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    app.counters.tcp_accepted.fetch_add(1, Ordering::Relaxed);
                    let _ = stream.set_nodelay(true);
                    let stream = Tracked::new(stream, app.clone());
                    route(stream, &app, upgrades.clone());
                }
                // Out of descriptors or a reset before accept: keep serving.
                Err(e) if is_transient(&e) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => break Err(ServeError::Io(e)),
            },
            Some(stream) = upgraded.recv() => ws_server.accept(stream),
            _ = &mut shutdown => break Ok(()),
        }
    };
    if let Some(t) = trimmer {
        t.abort();
    }
    ws_server.shutdown().await;
    app.flag.shutdown();
    app.reset.shutdown();
    result
}

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listener failed.
    #[error("listener failed: {0}")]
    Io(#[from] std::io::Error),
    /// A cooldown map could not be built.
    #[error("cannot start the cooldown maps: {0}")]
    Cooldown(#[from] TtlMapError),
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted)
        || e.raw_os_error() == Some(libc::EMFILE)
        || e.raw_os_error() == Some(libc::ENFILE)
}

fn route(stream: Tracked, app: &Arc<App>, upgrades: tokio::sync::mpsc::UnboundedSender<Tracked>) {
    let app = app.clone();
    // Peeking waits for the client: a task of its own, so accepting never stalls.
    tokio::spawn(async move {
        match http::peek_head(&stream.inner).await {
            Some(head) if head.is_upgrade() => {
                app.counters.ws_upgrades.fetch_add(1, Ordering::Relaxed);
                app.counters.ws_open.fetch_add(1, Ordering::Relaxed);
                let mut stream = stream;
                stream.ws = true;
                // Only fails during shutdown, when the stream is dropped unserved.
                let _ = upgrades.send(stream);
            }
            Some(_) => http::serve_connection(stream, &app).await,
            None => {}
        }
    });
}

async fn trim_loop(every: Duration) {
    let mut iv = tokio::time::interval(every);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        iv.tick().await;
        trim_heap();
    }
}

/// Returns free heap pages of every malloc arena to the OS (glibc); a no-op elsewhere.
pub fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no
    // preconditions and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A TCP stream that keeps the open-connection gauges right: counted when
/// accepted, uncounted when the last owner drops it.
#[derive(Debug)]
pub struct Tracked {
    inner: TcpStream,
    app: Arc<App>,
    ws: bool,
}

impl Tracked {
    fn new(inner: TcpStream, app: Arc<App>) -> Self {
        app.counters.tcp_open.fetch_add(1, Ordering::Relaxed);
        Tracked {
            inner,
            app,
            ws: false,
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.app.counters.tcp_open.fetch_sub(1, Ordering::Relaxed);
        if self.ws {
            self.app.counters.ws_open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Binds `addr` (port 0 picks a free one) and returns the listener and the
/// address it got.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
