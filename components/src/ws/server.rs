//! The server: one task per connection, one sweep task for all of them, and a
//! shutdown that ends every task it started.
//!
//! Wire protocol (text frames, client → server): `join SESSION`, `say TEXT`,
//! `ask` (opens an interaction; the server answers `ok ID`), `done ID` (resolves
//! it). Every inbound frame — these, pings, pongs, close — counts as activity.
//!
//! State lives in one `Mutex` shared by the tasks (never held across an `.await`):
//! the [`Registry`], session membership, and the [`Interactions`]. The sweep and the
//! capacity bound evict a client by removing its entry and sending its task
//! `Close(cause)`; the task writes a close frame and drops the stream, so eviction
//! closes the socket. Shutdown follows mini-redis: a `watch` stops the sweep and
//! handshakes in progress, every registered connection is evicted with
//! `Close(Shutdown)` through its link (so no shutdown future sits in the per-frame
//! loop), and each task holds a clone of an `mpsc::Sender` whose last drop tells
//! [`Server::shutdown`] that they all ended.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::interactions::Interactions;
use super::registry::{Admit, Entry, Registry};
use super::{Cause, ClientId, Config, SessionId};
use crate::hash::HashMap;

#[derive(Debug)]
enum Ctrl {
    Ping,
    Close(Cause),
}

type Link = mpsc::UnboundedSender<Ctrl>;

/// Counters since the server started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Handshakes completed and admitted to the registry.
    pub accepted: u64,
    /// Connections refused because the registry was full of possibly live clients.
    pub refused: u64,
    /// Handshakes that failed or timed out.
    pub handshake_failed: u64,
    /// Connections the client closed with a close frame.
    pub closed_graceful: u64,
    /// Connections that ended without a close frame (EOF, I/O error).
    pub closed_abrupt: u64,
    /// Clients evicted for missing their pings.
    pub evicted_heartbeat: u64,
    /// Clients evicted for exceeding the idle TTL.
    pub evicted_idle: u64,
    /// Clients evicted to make room for a newcomer.
    pub evicted_capacity: u64,
    /// Connections closed by shutdown.
    pub closed_shutdown: u64,
    /// Data frames received.
    pub messages: u64,
    /// Pings sent by the heartbeat.
    pub pings: u64,
    /// Pongs received.
    pub pongs: u64,
}

impl Stats {
    /// Evictions of every cause.
    pub fn evicted(&self) -> u64 {
        self.evicted_heartbeat + self.evicted_idle + self.evicted_capacity
    }
}

#[derive(Debug)]
struct State {
    registry: Registry<Link>,
    sessions: HashMap<SessionId, u32>,
    interactions: Interactions,
    next_client: ClientId,
    stats: Stats,
    closing: bool,
}

impl State {
    fn new(config: &Config) -> Self {
        State {
            registry: Registry::new(config.max_clients),
            sessions: HashMap::default(),
            interactions: Interactions::new(config.interaction_timeout, !config.leaky),
            next_client: 0,
            stats: Stats::default(),
            closing: false,
        }
    }

    /// Removes `id` from the registry and its session; false if it was not there.
    fn leave(&mut self, id: ClientId) -> bool {
        match self.registry.remove(id) {
            Some(e) => {
                self.leave_session(e.session);
                true
            }
            None => false,
        }
    }

    fn leave_session(&mut self, session: Option<SessionId>) {
        let Some(s) = session else { return };
        if let Some(n) = self.sessions.get_mut(&s) {
            *n -= 1;
            if *n == 0 {
                self.sessions.remove(&s);
                self.interactions.end_session(s);
            }
        }
    }

    /// The seed's LRU `dispose`: forget the client and close its socket.
    fn evict(&mut self, entry: Entry<Link>, cause: Cause) {
        self.leave_session(entry.session);
        match cause {
            Cause::Heartbeat => self.stats.evicted_heartbeat += 1,
            Cause::Idle => self.stats.evicted_idle += 1,
            Cause::Capacity => self.stats.evicted_capacity += 1,
            Cause::Shutdown => self.stats.closed_shutdown += 1,
        }
        // The task may already be gone (its stream failed): nothing to close then.
        let _ = entry.link.send(Ctrl::Close(cause));
    }

    /// Shutdown: refuse newcomers and close every registered connection.
    fn close_all(&mut self) {
        self.closing = true;
        for (_, entry) in self.registry.drain() {
            self.evict(entry, Cause::Shutdown);
        }
    }

    fn join(&mut self, id: ClientId, session: SessionId) {
        let Some(e) = self.registry.peek_mut(id) else {
            return;
        };
        let old = e.session.replace(session);
        if old != Some(session) {
            self.leave_session(old);
            *self.sessions.entry(session).or_insert(0) += 1;
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves counters, not broken invariants.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A read-only view of a server's state for gauges; outlives the server.
#[derive(Debug, Clone)]
pub struct Monitor {
    state: Arc<Mutex<State>>,
}

impl Monitor {
    /// Clients in the registry.
    pub fn clients(&self) -> usize {
        lock(&self.state).registry.len()
    }

    /// Sessions with at least one client in the registry.
    pub fn sessions(&self) -> usize {
        lock(&self.state).sessions.len()
    }

    /// Pending interactions.
    pub fn pending(&self) -> usize {
        lock(&self.state).interactions.pending()
    }

    /// Sessions in the by-session interaction index.
    pub fn indexed_sessions(&self) -> usize {
        lock(&self.state).interactions.indexed_sessions()
    }

    /// Interaction ids held by the by-session index.
    pub fn indexed_interactions(&self) -> usize {
        lock(&self.state).interactions.indexed_interactions()
    }

    /// Interactions created, resolved and timed out so far.
    pub fn interaction_counts(&self) -> (u64, u64, u64) {
        let st = lock(&self.state);
        let i = &st.interactions;
        (i.created, i.resolved, i.timed_out)
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        lock(&self.state).stats
    }
}

/// A running server. Dropping it signals every task to stop; [`Server::shutdown`]
/// also waits until they have.
#[derive(Debug)]
pub struct Server {
    state: Arc<Mutex<State>>,
    config: Arc<Config>,
    shutdown: watch::Sender<bool>,
    done_tx: Option<mpsc::Sender<()>>,
    done_rx: mpsc::Receiver<()>,
}

impl Server {
    /// Starts the server's sweep task. Must be called inside a tokio runtime.
    pub fn start(config: Config) -> Server {
        let state = Arc::new(Mutex::new(State::new(&config)));
        let config = Arc::new(config);
        let (shutdown, _) = watch::channel(false);
        let (done_tx, done_rx) = mpsc::channel(1);
        tokio::spawn(sweeper(
            state.clone(),
            config.clone(),
            shutdown.subscribe(),
            done_tx.clone(),
        ));
        Server {
            state,
            config,
            shutdown,
            done_tx: Some(done_tx),
            done_rx,
        }
    }

    /// A view of the state for gauges.
    pub fn monitor(&self) -> Monitor {
        Monitor {
            state: self.state.clone(),
        }
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Serves one connection over `stream` (any transport) on a task of its own.
    /// After shutdown has begun the stream is dropped unserved.
    pub fn accept<S>(&self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Some(done) = self.done_tx.clone() else {
            return;
        };
        if *self.shutdown.borrow() {
            return;
        }
        tokio::spawn(connection(
            self.state.clone(),
            self.config.clone(),
            stream,
            self.shutdown.subscribe(),
            done,
        ));
    }

    /// Closes every connection (close frame "shutdown"), stops the sweep, and
    /// returns once every task the server started has ended.
    pub async fn shutdown(mut self) {
        self.stop();
        self.done_tx = None;
        // `None` once the last task has dropped its sender.
        let _ = self.done_rx.recv().await;
    }
}

impl Server {
    fn stop(&self) {
        // Handshakes in progress and the sweep watch the signal; registered
        // connections are told through their link (no watch in their hot loop).
        self.shutdown.send_replace(true);
        lock(&self.state).close_all();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Tasks are told to stop and end on their own.
        self.stop();
    }
}

/// Serves WebSocket connections accepted from `listener` until `shutdown`
/// completes, then shuts the server down (live mode over TCP).
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future,
) -> std::io::Result<()> {
    let server = Server::start(config);
    tokio::pin!(shutdown);
    let result = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => server.accept(stream),
                Err(e) => break Err(e),
            },
            _ = &mut shutdown => break Ok(()),
        }
    };
    server.shutdown().await;
    result
}

async fn sweeper(
    state: Arc<Mutex<State>>,
    config: Arc<Config>,
    mut shutdown: watch::Receiver<bool>,
    _done: mpsc::Sender<()>,
) {
    let every = config.sweep_every;
    let mut iv = tokio::time::interval_at(Instant::now() + every, every);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = iv.tick() => sweep(&state, &config, Instant::now()),
            _ = shutdown.changed() => break,
        }
    }
}

fn sweep(state: &Mutex<State>, config: &Config, now: Instant) {
    let mut guard = lock(state);
    let st = &mut *guard;
    st.interactions.expire(now);
    let mut pings = 0;
    let evicted = st
        .registry
        .sweep(now, config.idle_ttl, config.heartbeat, |link| {
            if link.send(Ctrl::Ping).is_ok() {
                pings += 1;
            }
        });
    st.stats.pings += pings;
    for (_, entry, cause) in evicted {
        st.evict(entry, cause);
    }
}

enum Exit {
    Graceful,
    Abrupt,
    Evicted(Cause),
}

async fn connection<S>(
    state: Arc<Mutex<State>>,
    config: Arc<Config>,
    stream: S,
    mut shutdown: watch::Receiver<bool>,
    _done: mpsc::Sender<()>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let handshake = tokio::select! {
        r = timeout(
            config.handshake_timeout,
            tokio_tungstenite::accept_async_with_config(stream, Some(config.websocket)),
        ) => r,
        _ = shutdown.changed() => return,
    };
    let Ok(Ok(mut ws)) = handshake else {
        lock(&state).stats.handshake_failed += 1;
        return;
    };
    // Past the handshake, shutdown arrives through `link` as `Close(Shutdown)`.
    let (link, mut ctrl) = mpsc::unbounded_channel();
    let admitted = {
        let mut st = lock(&state);
        st.next_client += 1;
        let id = st.next_client;
        let admitted = if st.closing {
            Admit::Full
        } else {
            st.registry
                .admit(id, link, Instant::now(), config.suspect_after())
        };
        let admitted = match admitted {
            Admit::Admitted => true,
            Admit::Evicted(_, victim) => {
                st.evict(victim, Cause::Capacity);
                true
            }
            Admit::Full => false,
        };
        if admitted {
            st.stats.accepted += 1;
        } else {
            st.stats.refused += 1;
        }
        admitted.then_some(id)
    };
    let Some(id) = admitted else {
        close(
            &mut ws,
            CloseCode::Again,
            "registry full",
            config.close_grace,
        )
        .await;
        return;
    };

    drop(shutdown);
    let exit = serve_client(&state, &config, id, &mut ws, &mut ctrl).await;
    match exit {
        Exit::Evicted(cause) => {
            // The evictor (sweep, capacity or shutdown) removed and counted it.
            close(&mut ws, CloseCode::Away, cause.reason(), config.close_grace).await;
        }
        Exit::Graceful => {
            let mut st = lock(&state);
            st.leave(id);
            st.stats.closed_graceful += 1;
        }
        Exit::Abrupt => {
            let mut st = lock(&state);
            st.stats.closed_abrupt += 1;
            if !config.leaky {
                st.leave(id);
            }
            // LEAK (leaky): "connectedClients.delete(clientId); // ⚠️ ONLY on
            // graceful close" — a connection that ends without a close frame
            // keeps its entry.
        }
    }
}

async fn serve_client<S>(
    state: &Mutex<State>,
    config: &Config,
    id: ClientId,
    ws: &mut WebSocketStream<S>,
    ctrl: &mut mpsc::UnboundedReceiver<Ctrl>,
) -> Exit
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut graceful = false;
    loop {
        tokio::select! {
            biased;
            c = ctrl.recv() => match c {
                Some(Ctrl::Ping) => {
                    let ping = ws.send(Message::Ping(Default::default()));
                    if !matches!(timeout(config.close_grace, ping).await, Ok(Ok(()))) {
                        return Exit::Abrupt;
                    }
                }
                Some(Ctrl::Close(cause)) => return Exit::Evicted(cause),
                // The entry was dropped without a word: only at teardown.
                None => return Exit::Evicted(Cause::Shutdown),
            },
            m = ws.next() => match m {
                Some(Ok(msg)) => match handle(state, id, msg) {
                    Action::Nothing => {}
                    Action::Reply(text) => {
                        if ws.send(Message::text(text)).await.is_err() {
                            return Exit::Abrupt;
                        }
                    }
                    Action::Closing => graceful = true,
                },
                Some(Err(_)) | None => {
                    return if graceful { Exit::Graceful } else { Exit::Abrupt };
                }
            },
        }
    }
}

enum Action {
    Nothing,
    Reply(String),
    Closing,
}

fn handle(state: &Mutex<State>, id: ClientId, msg: Message) -> Action {
    let now = Instant::now();
    let mut guard = lock(state);
    let st = &mut *guard;
    // Every inbound frame is activity: it refreshes the TTL and answers the heartbeat.
    if !st.registry.touch(id, now) {
        // Evicted a moment ago; the task is about to close.
        return Action::Nothing;
    }
    match msg {
        Message::Text(text) => {
            st.stats.messages += 1;
            let mut words = text.as_str().split_ascii_whitespace();
            match (
                words.next(),
                words.next().and_then(|w| w.parse::<u64>().ok()),
            ) {
                (Some("join"), Some(session)) => st.join(id, session),
                (Some("ask"), _) => {
                    let session = st.registry.peek_mut(id).and_then(|e| e.session);
                    let n = st.interactions.create(id, session, now);
                    return Action::Reply(format!("ok {n}"));
                }
                (Some("done"), Some(n)) => {
                    st.interactions.resolve(n, id);
                }
                _ => {}
            }
            Action::Nothing
        }
        Message::Binary(_) => {
            st.stats.messages += 1;
            Action::Nothing
        }
        Message::Pong(_) => {
            st.stats.pongs += 1;
            Action::Nothing
        }
        Message::Close(_) => Action::Closing,
        Message::Ping(_) | Message::Frame(_) => Action::Nothing,
    }
}

async fn close<S>(ws: &mut WebSocketStream<S>, code: CloseCode, reason: &str, grace: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    // A peer that stopped reading may never take the frame: give up after `grace`.
    let _ = timeout(grace, ws.close(Some(frame))).await;
}
