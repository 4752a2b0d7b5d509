//! What the Node heap probe's inspector calls cost a loaded target: a forced
//! collection (`HeapProfiler.collectGarbage`), a sampling-profile poll
//! (`HeapProfiler.getSamplingProfile`) and `Runtime.getHeapUsage`, each timed on
//! the wall clock and in the target's CPU, while a steady HTTP load runs. The
//! figures pick the probe's collection period (docs/performance.md).
//!
//! ```sh
//! cargo run --release -p soak-live --example node_heap_costs -- \
//!     [--rate 150] [--seconds 60] [--gc-every 2] [--poll-every 5] \
//!     node live/tests/fixtures/cooldown-server.js --variant leaky
//! ```
//!
//! The paths requested follow the fixture: `/flag/gG/uN` (cooldown-server),
//! `/voice/sN/frame` (voice-server), `/item/gG/uN` (anything else). Loopback only.

use std::time::{Duration, Instant};

use soak_live::inspector::{self, Inspector};
use soak_live::node_heap::NodeSites;
use soak_live::procfs;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

struct Opts {
    rate: f64,
    seconds: f64,
    gc_every: f64,
    poll_every: f64,
    interval: u64,
    cmd: Vec<String>,
}

fn opts() -> Result<Opts, String> {
    let mut o = Opts {
        rate: 150.0,
        seconds: 60.0,
        gc_every: 2.0,
        poll_every: 5.0,
        interval: 32768,
        cmd: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let num = |v: Option<String>| -> Result<f64, String> {
            v.and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{a} needs a number"))
        };
        match a.as_str() {
            "--rate" => o.rate = num(args.next())?,
            "--seconds" => o.seconds = num(args.next())?,
            "--gc-every" => o.gc_every = num(args.next())?,
            "--poll-every" => o.poll_every = num(args.next())?,
            "--interval" => o.interval = num(args.next())? as u64,
            _ => {
                o.cmd.push(a);
                o.cmd.extend(args.by_ref());
            }
        }
    }
    if o.cmd.is_empty() {
        return Err(
            "give the target command, e.g. node live/tests/fixtures/cooldown-server.js".into(),
        );
    }
    Ok(o)
}

fn path_for(cmd: &str, i: u64) -> String {
    if cmd.contains("cooldown") {
        format!("POST /flag/g{}/u{}", i % 50, i * 7919 % 1_000_000)
    } else if cmd.contains("voice") {
        if i % 10 == 9 {
            format!("POST /voice/s{}/end", i * 31 % 3000)
        } else {
            format!("POST /voice/s{}/frame", i * 31 % 3000)
        }
    } else {
        format!("GET /item/g{}/u{}", i % 5000, i * 7919 % 50_000)
    }
}

async fn request(conn: &mut BufReader<TcpStream>, line: &str) -> std::io::Result<()> {
    let (method, path) = line.split_once(' ').unwrap_or(("GET", line));
    let req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n");
    conn.get_mut().write_all(req.as_bytes()).await?;
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if conn.read_line(&mut h).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if h == "\r\n" {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).await?;
    Ok(())
}

#[derive(Default)]
struct Stat(Vec<f64>);

impl Stat {
    fn text(&self, unit: &str) -> String {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return "-".into();
        }
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        format!(
            "n {:>3}  mean {mean:8.2} {unit}  median {:8.2}  max {:8.2}",
            v.len(),
            v[v.len() / 2],
            v[v.len() - 1]
        )
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let o = opts()?;
    let port = soak_live::target::free_port().map_err(|e| e.to_string())?;
    let cmd = o.cmd.join(" ");
    let mut child = Command::new(&o.cmd[0])
        .args(&o.cmd[1..])
        .env("PORT", port.to_string())
        .env("NODE_OPTIONS", inspector::NODE_OPTIONS)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{cmd}: {e}"))?;
    let pid = child.id().unwrap_or(0);
    let mut lines = BufReader::new(child.stderr.take().ok_or("no stderr")?).lines();
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .map_err(|_| "no inspector URL within 10 s")?
            .map_err(|e| e.to_string())?
            .ok_or("the target closed stderr without an inspector URL")?;
        if let Some(u) = inspector::listening_url(&line) {
            break inspector::parse("stderr", u)?;
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let t = Duration::from_secs(30);
    let insp = Inspector::connect(&url, t)
        .await
        .map_err(|e| e.to_string())?;
    insp.start_sampling(o.interval, t)
        .await
        .map_err(|e| e.to_string())?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    while TcpStream::connect(addr).await.is_err() {
        if start.elapsed() > Duration::from_secs(10) {
            return Err("the target never listened".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The load: 8 keep-alive connections sharing the rate.
    let conns = 8u64;
    let end = Instant::now() + Duration::from_secs_f64(o.seconds);
    let mut load = Vec::new();
    for c in 0..conns {
        let cmd = cmd.clone();
        let gap = Duration::from_secs_f64(conns as f64 / o.rate);
        load.push(tokio::spawn(async move {
            let mut conn = BufReader::new(TcpStream::connect(addr).await.ok()?);
            let mut lat = Vec::new();
            let mut next = tokio::time::Instant::now();
            let mut i = c;
            while Instant::now() < end {
                next += gap;
                tokio::time::sleep_until(next).await;
                let at = Instant::now();
                request(&mut conn, &path_for(&cmd, i)).await.ok()?;
                lat.push(at.elapsed().as_secs_f64() * 1e3);
                i += conns;
            }
            Some(lat)
        }));
    }

    let (mut gc_wall, mut gc_cpu, mut poll_wall, mut poll_cpu, mut usage_wall) = (
        Stat::default(),
        Stat::default(),
        Stat::default(),
        Stat::default(),
        Stat::default(),
    );
    let mut live = Stat::default();
    let mut sites = NodeSites::new(std::env::current_dir().ok());
    let cpu0 = procfs::cpu_seconds(pid).unwrap_or(0.0);
    let t0 = Instant::now();
    let (mut next_gc, mut next_poll) = (o.gc_every, o.poll_every);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = t0.elapsed().as_secs_f64();
        let at = Instant::now();
        let _ = insp.heap_usage(t).await;
        usage_wall.0.push(at.elapsed().as_secs_f64() * 1e3);
        if now >= next_gc {
            next_gc += o.gc_every;
            let c = procfs::cpu_seconds(pid).unwrap_or(0.0);
            let at = Instant::now();
            insp.collect_garbage(t).await.map_err(|e| e.to_string())?;
            gc_wall.0.push(at.elapsed().as_secs_f64() * 1e3);
            gc_cpu
                .0
                .push((procfs::cpu_seconds(pid).unwrap_or(0.0) - c) * 1e3);
            if let Ok(u) = insp.heap_usage(t).await {
                live.0.push(u.used / 1048576.0);
            }
        }
        if now >= next_poll {
            next_poll += o.poll_every;
            let c = procfs::cpu_seconds(pid).unwrap_or(0.0);
            let at = Instant::now();
            let p = insp.sampling_profile(t).await.map_err(|e| e.to_string())?;
            poll_wall.0.push(at.elapsed().as_secs_f64() * 1e3);
            poll_cpu
                .0
                .push((procfs::cpu_seconds(pid).unwrap_or(0.0) - c) * 1e3);
            sites.record(now, &p);
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = procfs::cpu_seconds(pid).unwrap_or(0.0) - cpu0;
    let mut lat = Stat::default();
    for l in load {
        if let Ok(Some(v)) = l.await {
            lat.0.extend(v);
        }
    }
    lat.0.sort_by(f64::total_cmp);
    let p99 = lat
        .0
        .get(lat.0.len() * 99 / 100)
        .copied()
        .unwrap_or(f64::NAN);
    println!("target: {cmd} ({} requests, p99 {p99:.2} ms)", lat.0.len());
    println!(
        "target CPU {:.1}% of a core over {wall:.0} s (probe calls included)",
        cpu / wall * 100.0
    );
    println!("collectGarbage wall   {}", gc_wall.text("ms"));
    println!("collectGarbage CPU    {}", gc_cpu.text("ms"));
    println!("getSamplingProfile wall {}", poll_wall.text("ms"));
    println!("getSamplingProfile CPU  {}", poll_cpu.text("ms"));
    println!("getHeapUsage wall     {}", usage_wall.text("ms"));
    println!("live heap after GC    {}", live.text("MiB"));
    let mean = |s: &Stat| s.0.iter().sum::<f64>() / s.0.len().max(1) as f64;
    println!(
        "collections under 2% of the target's CPU time: every {:.1} s or more; of wall time: every {:.1} s or more",
        mean(&gc_cpu) / 1e3 / (0.02 * cpu / wall),
        mean(&gc_wall) / 1e3 / 0.02
    );
    let cols = sites.columns();
    let mut order: Vec<usize> = (0..cols.len()).collect();
    let last = |i: usize| cols[i].values.last().copied().unwrap_or(0.0);
    order.sort_by(|a, b| last(*b).total_cmp(&last(*a)));
    println!("top sites at the last poll:");
    for &i in order.iter().take(6) {
        let v = &cols[i].values;
        println!(
            "  {:>10.0} KiB (first poll {:>8.0} KiB)  {}",
            last(i) / 1024.0,
            v.first().copied().unwrap_or(0.0) / 1024.0,
            cols[i].frames.join(" < ")
        );
    }
    insp.close().await;
    let _ = child.kill().await;
    Ok(())
}
