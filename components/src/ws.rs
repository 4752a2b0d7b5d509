//! A WebSocket server under churn (seed 004, and the WebSocket parts of seed 002):
//! a bounded client registry, an interaction manager, a heartbeat, and graceful
//! shutdown, over any byte stream.
//!
//! Seed 004 found a server whose `connectedClients` map lost an entry only on a
//! graceful close and whose `interactionsBySession` index was never pruned; with no
//! heartbeat, clients that vanished without a close frame (half-open connections)
//! stayed forever. The fix here:
//!
//! - [`registry`]: at most [`Config::max_clients`] clients (10,000), ordered by last
//!   activity; an idle TTL (1 h) refreshed by every inbound frame, and eviction
//!   closes the socket (the seed's LRU `dispose`).
//! - [`interactions`]: pending interactions with a timeout and an index by session,
//!   pruned when the session's last client leaves.
//! - The heartbeat is one sweep task serving every connection, not a timer per
//!   connection: each sweep pings clients silent for [`Heartbeat::ping_after`] and
//!   evicts those silent for [`Heartbeat::timeout`].
//! - [`server::Server::shutdown`] ends every task the server started (mini-redis's
//!   shutdown: a watch signal in, a completion channel out).
//!
//! The transport is a parameter: [`server::Server::accept`] takes any
//! `AsyncRead + AsyncWrite` stream — `tokio::io::duplex` halves in virtual time,
//! TCP on loopback in live mode ([`server::serve`]).
//!
//! The leaky twin (`Config::default().leaky(true)`, see [`Config::leaky`]) is the same code with the seed's bugs behind
//! `// LEAK:` comments: clients removed only on a graceful close, the session index
//! never pruned, no heartbeat, no bound and no TTL (a plain map).
//!
//! # Layout
//!
//! - `ws/registry.rs`: connected clients ordered by last activity; the bound.
//! - `ws/interactions.rs`: pending interactions and the by-session index.
//! - `ws/server.rs`: connection tasks, the sweep, the wire protocol, shutdown.
//! - `ws/client.rs`: a scripted WebSocket client fleet for scenarios and tests.

pub mod client;
pub mod interactions;
pub mod registry;
pub mod server;

use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub use client::{ClientHandle, Command, Fleet, Tally};
pub use server::{serve, Server, Stats};

/// Identifies a connection for the lifetime of a server.
pub type ClientId = u64;
/// Identifies a session (a group of clients: a call, a room).
pub type SessionId = u64;

/// Why the server ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The client missed its pings for [`Heartbeat::timeout`].
    Heartbeat,
    /// The client sent nothing for [`Config::idle_ttl`].
    Idle,
    /// The registry was full and this client was the least recently active.
    Capacity,
    /// The server is shutting down.
    Shutdown,
}

impl Cause {
    /// The close-frame reason text sent to the client.
    pub fn reason(self) -> &'static str {
        match self {
            Cause::Heartbeat => "heartbeat timeout",
            Cause::Idle => "idle",
            Cause::Capacity => "capacity",
            Cause::Shutdown => "shutdown",
        }
    }
}

/// Ping/pong liveness: what the single sweep does for every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// A client silent this long is pinged (again every `ping_after` while silent).
    pub ping_after: Duration,
    /// A client silent this long is evicted: it missed `timeout / ping_after - 1` pings.
    pub timeout: Duration,
}

/// Server settings. [`Config::default`] is the seed's fix with the scenario's
/// heartbeat; `Config::default().leaky(true)` its twin ([`Config::leaky`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// At most this many clients (seed 004: 10,000); `None` is unbounded.
    pub max_clients: Option<usize>,
    /// A client with no inbound frame for this long is evicted (seed 004: 1 h);
    /// `None` never.
    pub idle_ttl: Option<Duration>,
    /// Ping/pong liveness; `None` disables it.
    pub heartbeat: Option<Heartbeat>,
    /// Period of the one sweep serving every connection and interaction.
    pub sweep_every: Duration,
    /// A pending interaction not resolved within this is timed out.
    pub interaction_timeout: Duration,
    /// The handshake must complete within this.
    pub handshake_timeout: Duration,
    /// Time a closing connection gets to flush its close frame.
    pub close_grace: Duration,
    /// WebSocket framing settings (buffer sizes) for every connection.
    pub websocket: WebSocketConfig,
    /// Run the leaky twin (seed 004's bugs).
    pub leaky: bool,
}

/// The default heartbeat: ping a client after 10 minutes of silence (again every
/// 10 while silent), evict it after 25 (two missed pings). Any inbound frame
/// counts, so chatty clients are never pinged. A 30 s ping would cost 2,880 ping
/// round trips per idle client per day; this costs at most 144, and still closes a
/// half-open connection within 26 minutes instead of the seed's 1 h TTL.
pub const HEARTBEAT: Heartbeat = Heartbeat {
    ping_after: Duration::from_secs(10 * 60),
    timeout: Duration::from_secs(25 * 60),
};

/// Small per-connection buffers: 10,000 connections × two ends must stay cheap
/// (tungstenite's defaults are 128 KiB each way).
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(256)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024))
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_clients: Some(10_000),
            idle_ttl: Some(Duration::from_secs(3600)),
            heartbeat: Some(HEARTBEAT),
            sweep_every: Duration::from_secs(60),
            interaction_timeout: Duration::from_secs(120),
            handshake_timeout: Duration::from_secs(10),
            close_grace: Duration::from_secs(1),
            websocket: websocket_config(),
            leaky: false,
        }
    }
}

impl Config {
    /// With `true`, the leaky twin: seed 004's server (`Config::default().leaky(true)`).
    /// With `false`, the configuration as it is.
    pub fn leaky(mut self, leaky: bool) -> Self {
        if leaky {
            // LEAK: "const connectedClients = new Map(); // ⚠️ NEVER CLEARED" — a plain
            // map: no bound, no TTL, and no heartbeat to notice a vanished client.
            self.max_clients = None;
            self.idle_ttl = None;
            self.heartbeat = None;
        }
        self.leaky = leaky;
        self
    }

    /// Silence after which a client counts as suspect: it has missed a ping. Below
    /// it, a client may be alive and merely idle, so capacity never evicts it.
    pub fn suspect_after(&self) -> Duration {
        match self.heartbeat {
            Some(h) => h.ping_after + self.sweep_every,
            None => Duration::ZERO,
        }
    }
}
