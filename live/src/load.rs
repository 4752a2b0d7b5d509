//! The load: a dispatcher that turns the plan's compressed day into timed events,
//! and goose users that carry them out against the target.
//!
//! Open loop: the dispatcher draws arrival times from the plan's [`Shape`](soak_harness::traffic::Shape) (the
//! harness's non-homogeneous Poisson arrivals, on the virtual day clock, played
//! `compression` times faster), decides each event entirely from the seeded RNG
//! (action, path, session, frames, hold, departure), and queues it at its wall
//! time. Goose users take events from the queue: each user runs one transaction
//! in a loop that waits up to 200 ms for an event (so it notices the end of the
//! run) and carries it out. When every user is busy and the queue holds
//! [`QUEUE_PER_USER`] events per user, new events are shed and counted: the
//! summary says the load generator could not keep up.
//!
//! HTTP events are goose requests (goose times and reports them). A WebSocket
//! session is a custom transaction over tokio-tungstenite on real TCP: the
//! handshake and every frame (an `ask` includes its `ok ID` reply) are timed and
//! recorded with goose's `record_custom_request_duration`; then the socket is
//! handed to a holder task, which keeps it open for the session's hold time
//! (answering the server's pings) and leaves as drawn: close handshake, socket
//! dropped without a close frame, or silence with the socket left open
//! (half-open: it reads and discards bytes without answering, until the server
//! closes or the run ends).
//!
//! Every request is also counted in [`LoadStats`] — per sample for the load
//! column and latency panel, in total for the summary — and the ids a queued
//! HTTP request's path named in [`recent::RecentIds`] (the `recent_*` load
//! gauges; a shed one never reaches the target and is not counted).

pub mod recent;
pub mod stats;

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use goose::config::GooseConfiguration;
use goose::goose::{
    GooseMethod, GooseRequest, GooseUser, Scenario, Transaction, TransactionFunction,
};
use goose::metrics::GooseMetrics;
use goose::prelude::TransactionResult;
use goose::GooseAttack;
use soak_harness::traffic::{Arrivals, Rng};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::addr::Endpoint;
use crate::plan::{ActionKind, Departure, Plan, WsSpec};
pub use stats::{Kind, LoadStats};

/// Goose's HTML report, kept in the run directory.
pub const GOOSE_HTML: &str = "goose-report.html";
/// Goose's JSON report.
pub const GOOSE_JSON: &str = "goose-report.json";

/// Queue length per goose user before events are shed.
pub const QUEUE_PER_USER: usize = 64;

/// How long a handshake, frame or reply may take before it counts as failed.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest the dispatcher leaves the `recent_*` counts unaged between requests.
const RECENT_STEP: Duration = Duration::from_millis(100);

/// One WebSocket data frame of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// `join SESSION`.
    Join(u64),
    /// `say …`.
    Say,
    /// `ask`, awaiting `ok ID`.
    Ask,
    /// `done ID` for the latest unresolved ask (a `say` when there is none).
    Done,
}

/// One event, fully decided by the dispatcher.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An HTTP request: action index, rendered path and body.
    Http {
        /// Index into the plan's actions.
        action: usize,
        /// The path with placeholders filled.
        path: String,
        /// The body with placeholders filled, if the action has one.
        body: Option<String>,
    },
    /// A WebSocket session.
    Ws {
        /// Index into the plan's actions.
        action: usize,
        /// Rendered upgrade path.
        path: String,
        /// Frames to send.
        frames: Vec<Frame>,
        /// Wall time to keep the socket open afterwards.
        hold: Duration,
        /// How it leaves.
        departure: Departure,
    },
}

/// Decides one event at virtual hour `hour`.
pub fn draw(plan: &Plan, rng: &mut Rng, hour: f64) -> Event {
    draw_with_ids(plan, rng, hour, &mut Vec::new())
}

/// [`draw`], and the ids an HTTP request's path used into `ids` (cleared
/// first): (pool index in [`crate::plan::PLACEHOLDERS`], id).
pub fn draw_with_ids(plan: &Plan, rng: &mut Rng, hour: f64, ids: &mut Vec<(usize, u64)>) -> Event {
    ids.clear();
    let action = plan.pick(rng);
    match &plan.actions[action].kind {
        ActionKind::Http(h) => {
            let path = plan.render_with(&h.path, rng, hour, |pool, id| ids.push((pool, id)));
            let body = h
                .body
                .as_deref()
                .map(|b| plan.render_body(b, rng, hour, ids));
            Event::Http { action, path, body }
        }
        ActionKind::Ws(w) => {
            let path = plan.render(&w.path, rng, hour);
            let session = plan
                .pools
                .get("session")
                .map(|p| p.draw(rng, hour))
                .unwrap_or(0);
            let frames = frames(w, rng, session);
            let lo = w.hold.0.as_secs_f64();
            let hi = w.hold.1.as_secs_f64();
            let hold = Duration::from_secs_f64(lo + (hi - lo) * rng.unit());
            Event::Ws {
                action,
                path,
                frames,
                hold,
                departure: w.departure(rng),
            }
        }
    }
}

fn frames(w: &WsSpec, rng: &mut Rng, session: u64) -> Vec<Frame> {
    let n = rng.between(u64::from(w.messages.0), u64::from(w.messages.1));
    let mut out = Vec::with_capacity(n as usize);
    out.push(Frame::Join(session));
    let mut open_asks = 0u32;
    for _ in 1..n {
        if open_asks > 0 && rng.chance(w.resolve) {
            open_asks -= 1;
            out.push(Frame::Done);
        } else if rng.chance(w.ask) {
            open_asks += 1;
            out.push(Frame::Ask);
        } else {
            out.push(Frame::Say);
        }
    }
    out
}

/// Where the load goes and what it shares.
#[derive(Debug)]
pub struct Shared {
    /// The plan.
    pub plan: Plan,
    /// The target.
    pub endpoint: Endpoint,
    /// Counters.
    pub stats: Arc<LoadStats>,
    queue: flume::Receiver<Event>,
    /// Flips to true when the run is over: holders drop their sockets.
    stop: watch::Receiver<bool>,
    ws: tokio_tungstenite::tungstenite::protocol::WebSocketConfig,
}

/// The producing end of the event queue.
#[derive(Debug)]
pub struct Dispatcher {
    plan: Plan,
    seed: u64,
    compression: f64,
    duration: Duration,
    queue: flume::Sender<Event>,
    stats: Arc<LoadStats>,
}

/// Builds the queue, the dispatcher and what goose users share.
pub fn setup(
    plan: Plan,
    endpoint: Endpoint,
    seed: u64,
    compression: f64,
    duration: Duration,
    users: usize,
) -> (Dispatcher, Arc<Shared>, watch::Sender<bool>) {
    let (tx, rx) = flume::bounded(users * QUEUE_PER_USER);
    let (stop_tx, stop_rx) = watch::channel(false);
    let stats = Arc::new(LoadStats::default());
    let shared = Arc::new(Shared {
        plan: plan.clone(),
        endpoint,
        stats: stats.clone(),
        queue: rx,
        stop: stop_rx,
        ws: soak_components::ws::websocket_config(),
    });
    let dispatcher = Dispatcher {
        plan,
        seed,
        compression,
        duration,
        queue: tx,
        stats,
    };
    (dispatcher, shared, stop_tx)
}

impl Dispatcher {
    /// Expected events over the run (the integral of the curve).
    pub fn expected_events(&self) -> f64 {
        expected_events(&self.plan, self.compression, self.duration)
    }

    /// Queues events at their wall times from `start` until the run's duration
    /// has passed or `stop` flips. Returns the number of events produced.
    pub async fn run(self, start: Instant, mut stop: watch::Receiver<bool>) -> u64 {
        let k = self.compression;
        let virtual_len = self.duration.mul_f64(k);
        let shape = self.plan.load.shape(k);
        let arrivals = Arrivals::new(shape, Rng::stream(self.seed, "arrivals"), virtual_len);
        let mut rng = Rng::stream(self.seed, "events");
        let mut produced = 0u64;
        // The run's retention (`--retention`, else the plan's): the window of
        // the `recent_*` counts, kept only where they are columns.
        let mut recent = self
            .plan
            .recent_pools()
            .map(|(r, _)| recent::RecentIds::new(r));
        let mut ids = Vec::new();
        for t in arrivals {
            let at = start + t.div_f64(k);
            if at > Instant::now() + Duration::from_millis(1)
                && !self.wait(at, &mut recent, &mut stop).await
            {
                break;
            }
            if *stop.borrow() {
                break;
            }
            let ev = draw_with_ids(&self.plan, &mut rng, t.as_secs_f64() / 3600.0, &mut ids);
            produced += 1;
            self.stats
                .events
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if self.queue.try_send(ev).is_err() {
                self.stats
                    .shed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            } else if let Some(r) = recent.as_mut() {
                // (Each note ages the counts to its time first.)
                let now = Instant::now();
                for &(pool, id) in &ids {
                    r.note(now, pool, id);
                }
                self.stats.set_recent(r.counts());
            }
        }
        // The samples go on to the end of the duration: so does the counts' ageing.
        if recent.is_some() && !*stop.borrow() {
            self.wait(start + self.duration, &mut recent, &mut stop)
                .await;
        }
        produced
    }
}

impl Dispatcher {
    /// Sleeps until `at`; false when `stop` flipped first. With `recent`
    /// counted, sleeps in steps of [`RECENT_STEP`] and ages the counts at each,
    /// so they fall while no request is due (a quiet trough, a slow plan).
    async fn wait(
        &self,
        at: Instant,
        recent: &mut Option<recent::RecentIds>,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        while at > Instant::now() {
            let wake = match recent {
                Some(_) => at.min(Instant::now() + RECENT_STEP),
                None => at,
            };
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = stop.changed() => return false,
            }
            if let Some(r) = recent.as_mut() {
                r.expire(Instant::now());
                self.stats.set_recent(r.counts());
            }
        }
        true
    }
}

/// Expected events of `plan` over `duration` of wall time at `compression`.
pub fn expected_events(plan: &Plan, compression: f64, duration: Duration) -> f64 {
    let shape = plan.load.shape(compression);
    let virtual_len = duration.mul_f64(compression);
    let step = Duration::from_secs(60);
    let mut t = Duration::ZERO;
    let mut total = 0.0;
    while t < virtual_len {
        let dt = step.min(virtual_len - t);
        total += shape.expected(t, dt);
        t += dt;
    }
    total
}

/// Goose's settings for a run: never read from soak's argv.
pub fn goose_config(
    base_url: &str,
    users: usize,
    duration: Duration,
    report_files: &[String],
) -> Result<GooseConfiguration, String> {
    let mut args: Vec<String> = vec![
        "--host".into(),
        base_url.into(),
        "--users".into(),
        users.to_string(),
        "--increase-rate".into(),
        users.to_string(),
        "--run-time".into(),
        format!("{}s", duration.as_secs().max(1)),
        "--quiet".into(),
        "--no-print-metrics".into(),
        "--no-reset-metrics".into(),
        "--no-transaction-metrics".into(),
        "--no-scenario-metrics".into(),
        // No control port: a live run listens on nothing.
        "--no-telnet".into(),
    ];
    for f in report_files {
        args.push("--report-file".into());
        args.push(f.clone());
    }
    GooseConfiguration::parse_args_default(&args)
        .map_err(|e| format!("goose refused its settings: {e}"))
}

/// A goose attack whose users carry out `shared`'s events.
pub fn attack(config: GooseConfiguration, shared: Arc<Shared>) -> Result<GooseAttack, String> {
    let s = shared.clone();
    let work: TransactionFunction = Arc::new(move |user| {
        let s = s.clone();
        Box::pin(async move { next_event(user, &s).await })
    });
    let scenario = Scenario::new(&shared.plan.name)
        .register_transaction(Transaction::new(work).set_name("event"));
    let client = goose::client::GooseClientBuilder::new()
        .without_cookies()
        .timeout(IO_TIMEOUT)
        .user_agent("soak-live");
    GooseAttack::initialize_with_config(config)
        .and_then(|a| a.set_client_builder_without_cookies(client))
        .map(|a| a.register_scenario(scenario))
        .map_err(|e| format!("cannot set up goose: {e}"))
}

/// Runs the attack to its end.
pub async fn execute(attack: GooseAttack) -> Result<GooseMetrics, String> {
    attack
        .execute()
        .await
        .map_err(|e| format!("goose failed: {e}"))
}

/// Requests goose itself counted (successes and failures over every request name).
pub fn goose_requests(m: &GooseMetrics) -> u64 {
    m.requests
        .values()
        .map(|r| (r.success_count + r.fail_count) as u64)
        .sum()
}

async fn next_event(user: &mut GooseUser, s: &Shared) -> TransactionResult {
    let ev = match tokio::time::timeout(Duration::from_millis(200), s.queue.recv_async()).await {
        Ok(Ok(ev)) => ev,
        // The dispatcher is done: idle (a disconnected queue answers at once, and a
        // user that never yields would starve goose's own task).
        Ok(Err(_)) => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            return Ok(());
        }
        // Nothing to do yet: let goose check for the end of the run.
        Err(_) => return Ok(()),
    };
    match ev {
        Event::Http { action, path, body } => http(user, s, action, &path, body).await,
        Event::Ws {
            path,
            frames,
            hold,
            departure,
            ..
        } => ws_session(user, s, &path, &frames, hold, departure).await,
    }
}

async fn http(
    user: &mut GooseUser,
    s: &Shared,
    action: usize,
    path: &str,
    body: Option<String>,
) -> TransactionResult {
    let ActionKind::Http(spec) = &s.plan.actions[action].kind else {
        return Ok(());
    };
    let method = match spec.method.as_str() {
        "POST" => GooseMethod::Post,
        "PUT" => GooseMethod::Put,
        "DELETE" => GooseMethod::Delete,
        "PATCH" => GooseMethod::Patch,
        "HEAD" => GooseMethod::Head,
        _ => GooseMethod::Get,
    };
    let mut req = GooseRequest::builder()
        .method(method)
        .path(path)
        .name(spec.name.as_str());
    if body.is_some() || !spec.headers.is_empty() {
        // Headers were checked when the plan was read (plan::check_header).
        let mut rb = user.get_request_builder(&method, path)?;
        for (k, v) in &spec.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        req = req.set_request_builder(rb);
    }
    let req = req.build();
    let started = std::time::Instant::now();
    let res = user.request(req).await;
    let took = started.elapsed();
    let ok = match res {
        Ok(r) => {
            let ok = r.request.success;
            if !ok {
                let status = r.request.status_code;
                let error = &r.request.error;
                // No answer, or one that says the route is not there: the
                // request never reached the service's code.
                let reached = !matches!(status, 0 | 404 | 405 | 501);
                s.stats.note_failure(reached, || match status {
                    0 => format!("{} {path}: {error}", spec.method),
                    _ => format!("{} {path}: HTTP {status}", spec.method),
                });
            }
            // Read the body so the connection goes back to the pool.
            if let Ok(resp) = r.response {
                let _ = resp.bytes().await;
            }
            ok
        }
        Err(e) => {
            s.stats
                .note_failure(false, || format!("{} {path}: {e}", spec.method));
            false
        }
    };
    s.stats.record(Kind::Http, took, ok);
    Ok(())
}

type Ws = WebSocketStream<TcpStream>;

/// Counts a connection open from the handshake until the socket is dropped.
struct Open(Arc<LoadStats>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.closed();
    }
}

/// Counts a session active from the handshake until its planned hold ends (or
/// it is cut short) — or, for a session that goes silent with its socket open
/// (half-open), until the run's retention (`--retention`, else the plan's) has
/// passed after that, the time the run allows a server to notice: the load the
/// plan puts on the target, which
/// the target's own behaviour (evicting, or not, the sockets left open) does
/// not change.
struct Active(Arc<LoadStats>);

impl Active {
    fn new(stats: &Arc<LoadStats>) -> Self {
        stats.session_began();
        Active(stats.clone())
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.session_ended();
    }
}

async fn connect(s: &Shared, path: &str) -> Result<Ws, String> {
    let tcp = TcpStream::connect(s.endpoint.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let url = format!("ws://{}{}", s.endpoint.host_header(), path);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(s.ws))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

async fn record(
    user: &mut GooseUser,
    s: &Shared,
    kind: Kind,
    name: &str,
    took: Duration,
    result: &Result<(), String>,
) -> TransactionResult {
    s.stats.record(kind, took, result.is_ok());
    if let Err(e) = result {
        // A frame's failure is the service's; a handshake's, its route's.
        let reached = kind == Kind::WsFrame;
        s.stats
            .note_failure(reached, || format!("WebSocket {name}: {e}"));
    }
    user.record_custom_request_duration(
        "WS",
        name,
        took,
        result.is_ok(),
        None,
        result.as_ref().err().map(String::as_str),
    )
    .await
}

async fn ws_session(
    user: &mut GooseUser,
    s: &Shared,
    path: &str,
    frames: &[Frame],
    hold: Duration,
    departure: Departure,
) -> TransactionResult {
    let started = std::time::Instant::now();
    let connected = tokio::time::timeout(IO_TIMEOUT, connect(s, path))
        .await
        .unwrap_or_else(|_| Err("handshake timed out".into()));
    let took = started.elapsed();
    let mut ws = match connected {
        Ok(ws) => {
            record(user, s, Kind::WsConnect, "connect", took, &Ok(())).await?;
            ws
        }
        Err(e) => return record(user, s, Kind::WsConnect, "connect", took, &Err(e)).await,
    };
    s.stats.opened();
    let open = Open(s.stats.clone());
    let active = Active::new(&s.stats);
    let mut asks: Vec<u64> = Vec::new();
    for f in frames {
        let started = std::time::Instant::now();
        let (name, result) = match *f {
            Frame::Join(session) => ("join", send(&mut ws, format!("join {session}")).await),
            Frame::Say => ("say", send(&mut ws, "say hello from soak".into()).await),
            Frame::Ask => ("ask", ask(&mut ws).await.map(|id| asks.push(id))),
            Frame::Done => match asks.pop() {
                Some(id) => ("done", send(&mut ws, format!("done {id}")).await),
                None => ("say", send(&mut ws, "say hello from soak".into()).await),
            },
        };
        let took = started.elapsed();
        let failed = result.is_err();
        record(user, s, Kind::WsFrame, name, took, &result).await?;
        if failed {
            // The connection is broken: drop it (the server sees it end abruptly).
            return Ok(());
        }
    }
    let stop = s.stop.clone();
    let linger = s.plan.retention;
    tokio::spawn(holder(ws, open, active, hold, linger, departure, stop));
    Ok(())
}

async fn send(ws: &mut Ws, text: String) -> Result<(), String> {
    match tokio::time::timeout(IO_TIMEOUT, ws.send(Message::text(text))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("send: {e}")),
        Err(_) => Err("send timed out".into()),
    }
}

async fn ask(ws: &mut Ws) -> Result<u64, String> {
    send(ws, "ask".into()).await?;
    let reply = async {
        while let Some(m) = ws.next().await {
            match m {
                Ok(Message::Text(t)) => {
                    if let Some(id) = t.strip_prefix("ok ").and_then(|n| n.trim().parse().ok()) {
                        return Ok(id);
                    }
                }
                Ok(Message::Close(_)) => return Err("closed by the server".to_string()),
                Ok(_) => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        Err("closed by the server".to_string())
    };
    tokio::time::timeout(IO_TIMEOUT, reply)
        .await
        .unwrap_or_else(|_| Err("no reply within 10s".into()))
}

async fn holder(
    mut ws: Ws,
    open: Open,
    active: Active,
    hold: Duration,
    linger: Option<Duration>,
    departure: Departure,
    mut stop: watch::Receiver<bool>,
) {
    if *stop.borrow_and_update() {
        return;
    }
    let until = Instant::now() + hold;
    // Idle, reading so the server's pings are answered (tungstenite replies).
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(_)) => {}
                // The server closed on us (eviction, shutdown) or the socket broke.
                _ => return,
            },
            _ = tokio::time::sleep_until(until) => break,
            _ = stop.changed() => return,
        }
    }
    match (departure, linger) {
        (Departure::HalfOpen, Some(linger)) => {
            tokio::spawn(async move {
                tokio::time::sleep(linger).await;
                drop(active);
            });
        }
        _ => drop(active),
    }
    match departure {
        Departure::Graceful => {
            let bye = async {
                let _ = ws.close(None).await;
                while let Some(Ok(_)) = ws.next().await {}
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), bye).await;
        }
        // Dropping the stream closes the socket without a close frame.
        Departure::Abrupt => {}
        Departure::HalfOpen => {
            let tcp = ws.get_ref();
            let mut sink = [0u8; 4096];
            loop {
                tokio::select! {
                    r = tcp.readable() => {
                        if r.is_err() {
                            break;
                        }
                        match tcp.try_read(&mut sink) {
                            // The server gave up on us and closed its end.
                            Ok(0) => break,
                            Ok(_) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                            Err(_) => break,
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
        }
    }
    drop(ws);
    drop(open);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan;

    #[test]
    fn events_are_decided_by_the_seed() {
        let p = plan::builtin("chat-bot").expect("listed").expect("valid");
        let mut a = Rng::new(3);
        let mut b = Rng::new(3);
        let xs: Vec<Event> = (0..50)
            .map(|i| draw(&p, &mut a, f64::from(i) / 10.0))
            .collect();
        let ys: Vec<Event> = (0..50)
            .map(|i| draw(&p, &mut b, f64::from(i) / 10.0))
            .collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().any(|e| matches!(e, Event::Http { .. })));
        assert!(xs.iter().any(|e| matches!(e, Event::Ws { .. })));
        for e in &xs {
            if let Event::Ws { frames, .. } = e {
                assert!(matches!(frames[0], Frame::Join(_)));
            }
        }
    }

    #[test]
    fn the_recent_ids_age_while_no_request_is_due() {
        // Two requests a wall second, each naming a new user (a million of them),
        // kept 1 s: on virtual time, read every 100 ms, the count is the requests
        // of the last second — and falls to zero in a gap, with no request to
        // prompt it.
        let p = plan::Plan::parse(
            "t",
            "retention = \"1s\"\n[load]\ntrough=2\npeak=2\n[pools]\nuser={size=1000000}\n\
             [[http]]\npath=\"/u/{user}\"",
        )
        .expect("valid");
        let endpoint = crate::addr::parse("url", "http://127.0.0.1:9", false).expect("loopback");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        let seen = rt.block_on(async {
            // One user's queue holds 64 events: all 60 are queued, none shed.
            let (d, shared, _holders) = setup(p, endpoint, 7, 1.0, Duration::from_secs(30), 1);
            let (_stop_tx, stop) = watch::channel(false);
            let run = tokio::spawn(d.run(Instant::now(), stop));
            let mut seen = Vec::new();
            for _ in 0..300 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let events = shared.stats.totals().events;
                seen.push((events, shared.stats.take_interval().recent[0]));
            }
            assert!(run.await.expect("dispatcher") > 40);
            assert_eq!(shared.stats.totals().shed, 0);
            seen
        });
        for k in 12..seen.len() {
            let (events, count) = seen[k];
            // At least every request of the last 0.9 s, at most those of 1.2 s.
            let (lo, hi) = (events - seen[k - 9].0, events - seen[k - 12].0);
            assert!(
                (lo..=hi).contains(&count),
                "{k}: {count} not in {lo}..={hi}"
            );
        }
        let first = seen.iter().position(|s| s.1 > 0).expect("a request");
        assert!(seen[first..].iter().any(|s| s.1 == 0), "{seen:?}");
    }

    #[test]
    fn expected_events_integrate_the_compressed_day() {
        let p = plan::Plan::parse("t", "[load]\ntrough=10\npeak=10\n[[http]]\npath=\"/\"")
            .expect("valid");
        // A flat 10 events per wall second for 60 wall seconds, whatever the day.
        for k in [1.0, 144.0, 1440.0] {
            let n = expected_events(&p, k, Duration::from_secs(60));
            assert!((n - 600.0).abs() < 1.0, "{k}: {n}");
        }
    }
}
