//! `soak-server`'s command line: variant, address, timers; SIGINT/SIGTERM shut it
//! down gracefully (every WebSocket gets a close frame) and exit 0.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use soak_components::ws::Heartbeat;
use soak_harness::units::parse_duration;
use soak_harness::Variant;

use crate::rlimit;
use crate::server::{self, ServerConfig};

/// Serve the components' WebSocket server and seed 001's cooldown limiters on
/// real TCP, with GET /health and a Prometheus GET /metrics.
#[derive(Debug, Parser)]
#[command(name = "soak-server", version, after_help = AFTER_HELP)]
struct Args {
    /// Which build to serve: the fix, or the leaky twin (seed 004's registry and
    /// session index, seed 001's cooldown maps).
    #[arg(long, value_enum, default_value_t = Variant::Fixed)]
    variant: Variant,
    /// Port to listen on; 0 picks a free one. [default: $PORT, else 8080]
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    bind: IpAddr,
    /// Most clients the (fixed) registry holds.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_clients: usize,
    /// Ping a client silent this long (fixed variant).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    ping_after: String,
    /// Evict a client silent this long: it missed its pings (fixed variant).
    #[arg(long, default_value = "25s", value_name = "DURATION")]
    heartbeat_timeout: String,
    /// Evict a client that sent nothing for this long (fixed variant).
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    idle_ttl: String,
    /// Period of the sweep serving heartbeats, TTLs and interaction timeouts.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    sweep_every: String,
    /// How long a cooldown entry is kept before the sweep may drop it (fixed variant).
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    cooldown_ttl: String,
    /// Keep freed heap pages instead of returning them to the OS every second
    /// (RSS then stays at its high-water mark).
    #[arg(long)]
    no_trim: bool,
}

const AFTER_HELP: &str = "\
Examples:
  soak-server --variant leaky --port 0        pick a free port and print it
  soak live --cmd \"target/release/soak-server --variant leaky\" --duration 10m

Prints one line, `soak-server (VARIANT) listening on http://ADDR`, once it accepts
connections. Exit status: 0 after SIGINT or SIGTERM, 2 on bad options or a port
that cannot be bound.

Environment: SOAK_SERVER_USABLE_HEAP=1 adds soak_server_heap_usable_bytes to /metrics,
the C library's usable size of the live heap blocks (what `soak live --heap` counts;
soak_server_heap_live_bytes is their requested size), at the cost of a
malloc_usable_size call per allocation and free.";

fn duration(flag: &str, text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| format!("--{flag}: {e}"))
}

impl Args {
    fn config(&self) -> Result<(SocketAddr, ServerConfig), String> {
        let port = match self.port {
            Some(p) => p,
            None => match std::env::var("PORT") {
                Ok(p) => p.trim().parse().map_err(|_| {
                    format!("$PORT '{p}' is not a port number; unset it or pass --port")
                })?,
                Err(_) => 8080,
            },
        };
        let leaky = self.variant.is_leaky();
        let mut cfg = ServerConfig::new(leaky);
        let ping_after = duration("ping-after", &self.ping_after)?;
        let timeout = duration("heartbeat-timeout", &self.heartbeat_timeout)?;
        if timeout <= ping_after {
            return Err(format!(
                "--heartbeat-timeout {} must be longer than --ping-after {}",
                self.heartbeat_timeout, self.ping_after
            ));
        }
        let sweep = duration("sweep-every", &self.sweep_every)?;
        if sweep.is_zero() {
            return Err("--sweep-every must be positive, e.g. 1s".into());
        }
        cfg.ws.sweep_every = sweep;
        if !leaky {
            cfg.ws.heartbeat = Some(Heartbeat {
                ping_after,
                timeout,
            });
            cfg.ws.idle_ttl = Some(duration("idle-ttl", &self.idle_ttl)?);
            cfg.ws.max_clients = Some(self.max_clients.max(1));
        }
        cfg.cooldown_ttl = duration("cooldown-ttl", &self.cooldown_ttl)?;
        if cfg.cooldown_ttl < cfg.reset_cooldown {
            return Err(format!(
                "--cooldown-ttl {} must be at least the 30s reset cooldown",
                self.cooldown_ttl
            ));
        }
        if self.no_trim {
            cfg.trim_every = None;
        }
        Ok((SocketAddr::new(self.bind, port), cfg))
    }
}

/// Entry point of the `soak-server` binary.
pub fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let (addr, cfg) = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = rlimit::raise_nofile() {
        eprintln!("soak-server: {e}");
    }
    if std::env::var_os(soak_harness::sites::shared::DIR_ENV).is_some() {
        // A heap sampler is preloaded (`soak live --heap`): ours stands down, so
        // that every block reaches `malloc` and the preload counts what /metrics
        // counts (a sampled block would live in our own arena, unseen there).
        soak_harness::sites::configure(0, 0);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let variant = if cfg.leaky { "leaky" } else { "fixed" };
    rt.block_on(async move {
        let (listener, local) = match server::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                    "error: cannot listen on {addr}: {e}; pick another --port (0 picks a free one)"
                );
                return ExitCode::from(2);
            }
        };
        {
            use std::io::Write as _;
            let mut out = std::io::stdout();
            let _ = writeln!(out, "soak-server ({variant}) listening on http://{local}");
            let _ = out.flush();
        }
        match server::serve(listener, cfg, stop_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        }
    })
}

async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {},
                _ = i.recv() => {},
            }
        }
        // No signal handling: run until killed.
        _ => std::future::pending::<()>().await,
    }
}
