//! A fleet of scripted WebSocket clients: real handshakes and framing, driven by
//! commands from one central loop instead of a timer per client.
//!
//! Each client is a mostly idle task that reads its socket (so it answers the
//! server's pings, as a browser does) and waits for a [`Command`]. A client that
//! [`Command::Vanish`]es models a host that dropped off the network: it stops
//! speaking WebSocket (no close frame, no pongs) but its end of the transport stays
//! open, so the server sees a half-open connection, not EOF. Bytes the server sends
//! it are discarded, and it goes away only when the server closes its side — the
//! way a half-open TCP connection lasts until the server gives up on it.
//!
//! The [`Tally`] counts what happened to the clients; `evicted` counts live,
//! heartbeating clients that the server closed on (anything but a refusal or
//! shutdown): it must stay 0.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::{Cause, SessionId};

/// What the central loop tells a client to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Join a session (`join ID`).
    Join(SessionId),
    /// Send a chat message (`say …`).
    Say,
    /// Open an interaction (`ask`); the client remembers the id the server returns.
    Ask,
    /// Resolve the latest interaction this client opened (`done ID`); the ones it
    /// chose not to resolve are left to time out.
    Resolve,
    /// Leave with a close handshake.
    Close,
    /// Drop off the network: no close frame, no more reads or pongs.
    Vanish,
}

/// How the central loop reaches one client.
#[derive(Debug, Clone)]
pub struct ClientHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl ClientHandle {
    /// Queues `cmd`; false once the client has ended (closed, evicted, refused).
    pub fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).is_ok()
    }

    /// Whether the client's task has ended.
    pub fn is_gone(&self) -> bool {
        self.tx.is_closed()
    }
}

/// Counters over a fleet's clients.
#[derive(Debug, Default)]
pub struct Tally {
    /// Handshakes completed.
    pub connected: AtomicU64,
    /// Clients currently connected and speaking WebSocket (not vanished).
    pub live: AtomicU64,
    /// Handshakes that failed.
    pub handshake_failed: AtomicU64,
    /// Clients the server refused (registry full).
    pub refused: AtomicU64,
    /// Live clients — answering every ping — that the server closed on or dropped:
    /// evictions of clients that kept heartbeating. Must stay 0.
    pub evicted: AtomicU64,
    /// Clients closed by the server's shutdown.
    pub shutdown: AtomicU64,
    /// Clients that left with a close handshake.
    pub closed: AtomicU64,
    /// Clients that vanished.
    pub vanished: AtomicU64,
    /// Vanished clients whose half-open connection the server has since closed.
    pub reaped: AtomicU64,
    /// Interactions the server acknowledged (`ok ID`).
    pub asked: AtomicU64,
}

impl Tally {
    /// Reads one counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn sub(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Spawns clients and waits for all of them to end.
#[derive(Debug)]
pub struct Fleet {
    tally: Arc<Tally>,
    websocket: WebSocketConfig,
    done_tx: Option<mpsc::Sender<()>>,
    done_rx: mpsc::Receiver<()>,
}

impl Default for Fleet {
    fn default() -> Self {
        Fleet::new()
    }
}

impl Fleet {
    /// A fleet whose clients use the server's small buffers.
    pub fn new() -> Self {
        let (done_tx, done_rx) = mpsc::channel(1);
        Fleet {
            tally: Arc::new(Tally::default()),
            websocket: super::websocket_config(),
            done_tx: Some(done_tx),
            done_rx,
        }
    }

    /// The fleet's counters (shared; readable after the fleet is gone).
    pub fn tally(&self) -> Arc<Tally> {
        self.tally.clone()
    }

    /// Starts a client over `stream`: handshake, then commands.
    pub fn connect<S>(&self, stream: S) -> ClientHandle
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Some(done) = self.done_tx.clone() {
            tokio::spawn(client(stream, rx, self.tally.clone(), self.websocket, done));
        }
        ClientHandle { tx }
    }

    /// Waits until every client task has ended. Drop the handles first (a live
    /// client whose handle is dropped closes), or shut the server down.
    pub async fn finish(mut self) {
        self.done_tx = None;
        let _ = self.done_rx.recv().await;
    }
}

// Interaction ids a client keeps for `Resolve`; older ones have timed out anyway.
const REMEMBERED: usize = 8;

enum End {
    Closed,
    Vanished,
    ByServer,
}

async fn client<S>(
    stream: S,
    mut rx: mpsc::UnboundedReceiver<Command>,
    tally: Arc<Tally>,
    config: WebSocketConfig,
    _done: mpsc::Sender<()>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let connecting =
        tokio_tungstenite::client_async_with_config("ws://soak.invalid/ws", stream, Some(config));
    let Ok((mut ws, _)) = connecting.await else {
        Tally::add(&tally.handshake_failed);
        return;
    };
    Tally::add(&tally.connected);
    Tally::add(&tally.live);
    let mut opened: VecDeque<u64> = VecDeque::new();
    let end = loop {
        // Socket first: what the server said happened before our next command.
        tokio::select! {
            biased;
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if let Some(n) = t.as_str().strip_prefix("ok ").and_then(|n| n.parse().ok()) {
                        if opened.len() == REMEMBERED {
                            opened.pop_front(); // long timed out on the server
                        }
                        opened.push_back(n);
                        Tally::add(&tally.asked);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    match frame {
                        Some(f) if f.code == CloseCode::Again => Tally::add(&tally.refused),
                        Some(f) if f.reason.as_str() == Cause::Shutdown.reason() => {
                            Tally::add(&tally.shutdown)
                        }
                        _ => Tally::add(&tally.evicted),
                    }
                    break End::ByServer;
                }
                // Pings are answered by tungstenite on the next read.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    Tally::add(&tally.evicted);
                    break End::ByServer;
                }
            },
            cmd = rx.recv() => {
                let text = match cmd {
                    Some(Command::Join(s)) => format!("join {s}"),
                    Some(Command::Say) => "say hello".to_string(),
                    Some(Command::Ask) => "ask".to_string(),
                    Some(Command::Resolve) => match opened.pop_back() {
                        Some(n) => format!("done {n}"),
                        None => continue,
                    },
                    Some(Command::Close) | None => break End::Closed,
                    Some(Command::Vanish) => break End::Vanished,
                };
                if ws.send(Message::text(text)).await.is_err() {
                    // The server dropped us without a close frame we could read.
                    Tally::add(&tally.evicted);
                    break End::ByServer;
                }
            }
        }
    };
    Tally::sub(&tally.live);
    match end {
        End::Closed => {
            Tally::add(&tally.closed);
            if ws.close(None).await.is_ok() {
                // Read until the server's close reply ends the stream.
                while let Some(Ok(_)) = ws.next().await {}
            }
        }
        End::ByServer => {
            // Let tungstenite flush its close reply; the server may be gone already.
            while let Some(Ok(_)) = ws.next().await {}
        }
        End::Vanished => {
            Tally::add(&tally.vanished);
            let mut raw = ws.into_inner();
            let mut sink = [0u8; 64];
            // The network drops what the server sends; EOF means it closed its side.
            while let Ok(n) = raw.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
            Tally::add(&tally.reaped);
        }
    }
}
