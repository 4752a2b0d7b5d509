//! The WebSocket server in virtual time: real clients over `tokio::io::duplex`,
//! the clock jumping from sweep to sweep.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use soak_components::ws::{Command, Config, Fleet, Server, Tally};
use tokio::time::sleep;

const MIN: Duration = Duration::from_secs(60);

fn pipe() -> (tokio::io::DuplexStream, tokio::io::DuplexStream) {
    tokio::io::duplex(8 * 1024)
}

/// Lets every task woken at this instant run (the clock advances only when all
/// are idle, so a 1 ms sleep is a settle).
async fn settle() {
    sleep(Duration::from_millis(1)).await;
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

fn get(c: &AtomicU64) -> u64 {
    Tally::get(c)
}

#[tokio::test(start_paused = true)]
async fn heartbeat_evicts_a_half_open_client_and_closes_its_socket() {
    let server = Server::start(Config::default());
    let monitor = server.monitor();
    let fleet = Fleet::new();
    let tally = fleet.tally();
    let (near, far) = pipe();
    server.accept(far);
    let client = fleet.connect(near);
    settle().await;
    assert_eq!(monitor.clients(), 1);
    client.send(Command::Vanish);
    settle().await;
    // Half-open: the server saw neither a close frame nor EOF.
    assert_eq!((monitor.clients(), monitor.stats().closed_abrupt), (1, 0));
    sleep(20 * MIN).await;
    assert_eq!(monitor.clients(), 1, "pinged, not yet timed out");
    assert!(monitor.stats().pings >= 1);
    sleep(7 * MIN).await;
    let stats = monitor.stats();
    assert_eq!((monitor.clients(), stats.evicted_heartbeat), (0, 1));
    // Eviction closed the server's end: the vanished client's transport saw EOF.
    assert_eq!(get(&tally.reaped), 1);
    assert_eq!(get(&tally.evicted), 0);
    server.shutdown().await;
    fleet.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_answers_pings_is_never_evicted() {
    let server = Server::start(Config::default());
    let monitor = server.monitor();
    let fleet = Fleet::new();
    let tally = fleet.tally();
    let (near, far) = pipe();
    server.accept(far);
    let _client = fleet.connect(near);
    // Five hours of silence from the application: only pongs.
    sleep(300 * MIN).await;
    let stats = monitor.stats();
    assert_eq!(monitor.clients(), 1);
    assert_eq!(stats.evicted(), 0);
    assert!(
        stats.pongs >= 25,
        "pinged every 10 min while silent: {stats:?}"
    );
    assert_eq!(get(&tally.evicted), 0);
    assert_eq!(get(&tally.live), 1);
    server.shutdown().await;
    fleet.finish().await;
    assert_eq!(get(&tally.shutdown), 1);
}

#[tokio::test(start_paused = true)]
async fn leaky_server_keeps_a_vanished_client_forever() {
    let server = Server::start(Config::default().leaky(true));
    let monitor = server.monitor();
    let fleet = Fleet::new();
    let tally = fleet.tally();
    let (near, far) = pipe();
    server.accept(far);
    let client = fleet.connect(near);
    settle().await;
    client.send(Command::Vanish);
    let tasks = alive_tasks();
    sleep(600 * MIN).await;
    assert_eq!(monitor.clients(), 1);
    assert_eq!(monitor.stats().pings, 0, "no heartbeat");
    assert_eq!(
        alive_tasks(),
        tasks,
        "its server task (and half-open peer) still there"
    );
    assert_eq!(get(&tally.reaped), 0);
    server.shutdown().await;
    fleet.finish().await;
    assert_eq!(
        get(&tally.reaped),
        1,
        "shutdown closes even leaked connections"
    );
}

/// A client that drops its transport without a close frame: the server sees EOF.
async fn abrupt_client(server: &Server) {
    let (near, far) = pipe();
    server.accept(far);
    let (ws, _) = tokio_tungstenite::client_async("ws://soak.invalid/ws", near)
        .await
        .expect("handshake over duplex");
    drop(ws);
    settle().await;
}

#[tokio::test(start_paused = true)]
async fn an_abrupt_close_is_removed_only_by_the_fixed_server() {
    for (config, left) in [(Config::default(), 0), (Config::default().leaky(true), 1)] {
        let leaky = config.leaky;
        let server = Server::start(config);
        let monitor = server.monitor();
        abrupt_client(&server).await;
        let stats = monitor.stats();
        assert_eq!(stats.closed_abrupt, 1);
        assert_eq!(monitor.clients(), left, "leaky = {leaky}");
        server.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_bound_refuses_newcomers_over_live_clients_and_evicts_suspects() {
    let config = Config {
        max_clients: Some(3),
        ..Config::default()
    };
    let suspect_after = config.suspect_after();
    let server = Server::start(config);
    let monitor = server.monitor();
    let fleet = Fleet::new();
    let tally = fleet.tally();
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (near, far) = pipe();
        server.accept(far);
        clients.push(fleet.connect(near));
    }
    settle().await;
    assert_eq!(monitor.clients(), 3);
    // Full of clients that may be alive: the newcomer is refused, nobody evicted.
    let (near, far) = pipe();
    server.accept(far);
    let refused = fleet.connect(near);
    settle().await;
    assert_eq!((monitor.stats().refused, get(&tally.refused)), (1, 1));
    assert!(refused.is_gone());
    // One vanishes; once it has missed a ping it is the one evicted for room.
    clients[0].send(Command::Vanish);
    sleep(suspect_after + MIN).await;
    assert_eq!(monitor.stats().evicted_heartbeat, 0, "not timed out yet");
    let (near, far) = pipe();
    server.accept(far);
    let _newcomer = fleet.connect(near);
    settle().await;
    let stats = monitor.stats();
    assert_eq!((stats.evicted_capacity, stats.refused), (1, 1));
    assert_eq!(monitor.clients(), 3);
    assert_eq!(get(&tally.evicted), 0, "no live client was evicted");
    assert_eq!(get(&tally.reaped), 1);
    server.shutdown().await;
    fleet.finish().await;
}

#[tokio::test(start_paused = true)]
async fn idle_ttl_evicts_without_a_heartbeat() {
    let config = Config {
        heartbeat: None,
        ..Config::default()
    };
    let server = Server::start(config);
    let monitor = server.monitor();
    let fleet = Fleet::new();
    let tally = fleet.tally();
    let (near, far) = pipe();
    server.accept(far);
    let client = fleet.connect(near);
    sleep(50 * MIN).await;
    client.send(Command::Say); // activity refreshes the TTL
    sleep(50 * MIN).await;
    assert_eq!(monitor.clients(), 1);
    sleep(12 * MIN).await;
    assert_eq!((monitor.clients(), monitor.stats().evicted_idle), (0, 1));
    assert_eq!(get(&tally.evicted), 1, "the client saw the eviction");
    server.shutdown().await;
    fleet.finish().await;
}

async fn session_with_interactions(config: Config) -> (usize, usize, (u64, u64, u64)) {
    let server = Server::start(config);
    let monitor = server.monitor();
    let fleet = Fleet::new();
    let mut clients = Vec::new();
    for _ in 0..2 {
        let (near, far) = pipe();
        server.accept(far);
        let c = fleet.connect(near);
        c.send(Command::Join(42));
        clients.push(c);
    }
    for c in &clients {
        c.send(Command::Ask);
        c.send(Command::Ask);
    }
    settle().await;
    assert_eq!((monitor.sessions(), monitor.pending()), (1, 4));
    clients[0].send(Command::Resolve);
    settle().await;
    for c in &clients {
        c.send(Command::Close);
    }
    settle().await;
    let after = (monitor.indexed_sessions(), monitor.indexed_interactions());
    let counts = monitor.interaction_counts();
    assert_eq!(monitor.sessions(), 0);
    server.shutdown().await;
    fleet.finish().await;
    (after.0, after.1, counts)
}

#[tokio::test(start_paused = true)]
async fn the_session_index_is_pruned_when_the_session_ends() {
    let (sessions, ids, (created, resolved, timed_out)) =
        session_with_interactions(Config::default()).await;
    assert_eq!((sessions, ids), (0, 0));
    assert_eq!((created, resolved, timed_out), (4, 1, 3));
}

#[tokio::test(start_paused = true)]
async fn the_leaky_session_index_is_never_pruned() {
    let (sessions, ids, (created, resolved, _)) =
        session_with_interactions(Config::default().leaky(true)).await;
    assert_eq!((created, resolved), (4, 1));
    assert_eq!((sessions, ids), (1, 4), "even the resolved id stays");
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_every_task_it_started() {
    let baseline = alive_tasks();
    let server = Server::start(Config::default());
    let monitor = server.monitor();
    let fleet = Fleet::new();
    let tally = fleet.tally();
    let mut clients = Vec::new();
    for i in 0..50 {
        let (near, far) = pipe();
        server.accept(far);
        let c = fleet.connect(near);
        c.send(Command::Join(i % 5));
        clients.push(c);
    }
    settle().await;
    for c in clients.iter().take(10) {
        c.send(Command::Vanish);
    }
    sleep(3 * MIN).await;
    assert_eq!(monitor.clients(), 50);
    assert_eq!(
        alive_tasks(),
        baseline + 1 + 50 + 50,
        "sweep + 50 servers + 50 clients"
    );
    server.shutdown().await;
    fleet.finish().await;
    settle().await;
    assert_eq!(alive_tasks(), baseline);
    assert_eq!((get(&tally.shutdown), get(&tally.reaped)), (40, 10));
    assert_eq!((monitor.clients(), monitor.sessions()), (0, 0));
}

/// Live mode: the same server over TCP on loopback (real clock, no sleeps).
#[tokio::test]
async fn serve_over_tcp_loopback_then_shut_down() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(soak_components::ws::serve(
        listener,
        Config::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), tcp)
        .await
        .expect("handshake over TCP");
    ws.send(Message::text("join 1")).await.expect("send");
    ws.send(Message::text("ask")).await.expect("send");
    let reply = ws.next().await.expect("a reply").expect("a frame");
    assert_eq!(reply, Message::text("ok 1"));
    stop.send(()).expect("server still running");
    match ws.next().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.reason.as_str(), "shutdown"),
        other => panic!("expected a shutdown close frame, got {other:?}"),
    }
    server
        .await
        .expect("serve task")
        .expect("serve returns Ok after shutdown");
}
