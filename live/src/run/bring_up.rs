//! Phase 1: everything before the load. The target's address is decided, the
//! probes are built and (for `--cmd`) shape the target's environment, the target
//! is started or found and its port waited for, and each probe attaches and
//! names its columns. Every refusal here is a usage error: nothing has been
//! written, and a spawned target is stopped when the run is dropped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use soak_harness::report::check_writable;

use super::say;
use super::table::Layout;
use crate::addr::{self, Endpoint};
use crate::config::{HeapMode, LiveConfig, LiveError};
use crate::load::{self, LoadStats};
use crate::probe::{Probe, Refusal, Register, Setup, Spawn, TargetView};
use crate::rlimit::{self, NoFile};
use crate::target::{self, Target, TargetSpec};
use crate::{procfs, run};

/// A private directory of one run (goose's reports, the target's output, the
/// probes' files until the report takes them), removed when dropped.
#[derive(Debug)]
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, LiveError> {
        let dir = std::env::temp_dir().join(format!(
            "soak-live-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).map_err(|source| soak_harness::Error::Output {
            path: dir.clone(),
            source,
        })?;
        Ok(Scratch(dir))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The load, set up but not started.
pub(crate) struct Load {
    pub dispatcher: Option<load::Dispatcher>,
    pub holders_stop: tokio::sync::watch::Sender<bool>,
    pub stats: Arc<LoadStats>,
    pub expected_events: f64,
    pub attack: Option<goose::GooseAttack>,
}

/// Everything a run holds once the target is up and the probes are attached.
pub(crate) struct Running {
    pub target: Target,
    pub endpoint: Endpoint,
    /// `--cmd`, when soak spawned the target.
    pub command: Option<String>,
    pub probes: Vec<Box<dyn Probe>>,
    pub layout: Layout,
    pub load: Load,
    /// Notes for the summary gathered on the way (probes left out).
    pub notes: Vec<String>,
    /// The run directory (written whole at the end).
    pub dir: PathBuf,
    /// Whether `dir` already holds an earlier run's report (this one replaces it).
    pub replaces: bool,
    pub nofile: Result<NoFile, String>,
    pub cpu_before: f64,
    pub scratch: Scratch,
}

/// Phase 1 (see the module docs).
pub(crate) async fn bring_up(
    cfg: &LiveConfig,
    registry: &[Register],
    group: &AtomicI32,
) -> Result<Running, LiveError> {
    let nofile = rlimit::raise_nofile();
    let cpu_before = procfs::self_cpu_seconds();
    let scratch = Scratch::new()?;
    let mut tries = 1;
    let mut retried = Vec::new();
    let Launched {
        endpoint,
        dispatcher,
        shared,
        holders_stop,
        mut probes,
        mut notes,
        target,
        command,
    } = loop {
        match launch(cfg, registry, &scratch, group).await {
            // A port soak chose was taken before the target could listen
            // (`target::free_port` makes it rare): another port.
            Err(LiveError::Start(e))
                if cfg.url.is_none() && e.address_in_use() && tries < PORT_TRIES =>
            {
                let note = format!(
                    "the target's port was taken before it listened; started it again on \
                     another ({e})"
                );
                say(cfg, &note);
                retried.push(note);
                tries += 1;
            }
            Err(LiveError::Start(e)) if tries > 1 => {
                return Err(LiveError::Usage(format!(
                    "{e} (on the last of {tries} ports tried)"
                )))
            }
            done => break done?,
        }
    };
    notes.extend(retried);
    let stats = shared.stats.clone();
    let (layout, attach_notes) = attach(cfg, &mut probes, &target, &endpoint, &scratch).await?;
    notes.extend(attach_notes);
    // The report root, only now: every refusal above wrote nothing. The run
    // directory itself is written whole at the end.
    check_writable(&cfg.out)?;
    let dir = cfg.out.join(cfg.scenario()).join(&cfg.name);
    let replaces = dir.join(soak_harness::report::SUMMARY_FILE).is_file();
    let expected_events = dispatcher.expected_events();
    let reports: Vec<String> = [load::GOOSE_HTML, load::GOOSE_JSON]
        .iter()
        .map(|f| scratch.path().join(f).to_string_lossy().into_owned())
        .collect();
    let goose_cfg = load::goose_config(&endpoint.base(), cfg.users(), cfg.duration, &reports)
        .map_err(LiveError::Load)?;
    let attack = load::attack(goose_cfg, shared.clone()).map_err(LiveError::Load)?;
    let running = Running {
        target,
        endpoint,
        command,
        probes,
        layout,
        load: Load {
            dispatcher: Some(dispatcher),
            holders_stop,
            stats,
            expected_events,
            attack: Some(attack),
        },
        notes,
        dir,
        replaces,
        nofile,
        cpu_before,
        scratch,
    };
    say(cfg, &opening_line(cfg, &running));
    // Said before the load (under --quiet too), while the earlier report can still
    // be copied away: a rerun after a fix would otherwise replace the run it is
    // meant to be compared with.
    if running.replaces {
        super::tell(&format!(
            "  {} holds an earlier run's report: this run's replaces it (copy it elsewhere \
             now to keep it; --name keeps runs apart, e.g. --name after-fix)",
            running.dir.display()
        ));
    }
    Ok(running)
}

/// How many ports soak tries for a `--cmd` target that says its address is in use
/// (the hard stop allows each its `--startup-timeout`).
pub(crate) const PORT_TRIES: u32 = 3;

/// The run's address, load and probes, and the target started on it.
struct Launched {
    endpoint: Endpoint,
    dispatcher: load::Dispatcher,
    shared: Arc<load::Shared>,
    holders_stop: tokio::sync::watch::Sender<bool>,
    probes: Probes,
    notes: Vec<String>,
    target: Target,
    command: Option<String>,
}

/// Decides the target's address, sets up the load on it, builds the probes
/// and starts (or finds) the target.
async fn launch(
    cfg: &LiveConfig,
    registry: &[Register],
    scratch: &Scratch,
    group: &AtomicI32,
) -> Result<Launched, LiveError> {
    let endpoint = endpoint(cfg)?;
    // The plan carries the run's retention (`--retention`, else the plan's):
    // how long a half-open session counts in `ws_sessions`, and an id in
    // `recent_*`.
    let (dispatcher, shared, holders_stop) = load::setup(
        cfg.plan.clone(),
        endpoint.clone(),
        cfg.seed,
        cfg.compression(),
        cfg.duration,
        cfg.users(),
    );
    let setup = Setup {
        cfg,
        endpoint: &endpoint,
        load: &shared.stats,
    };
    let (mut probes, notes) = build(cfg, registry, &setup)?;
    let (target, command) = start_target(cfg, &endpoint, scratch, &mut probes, group).await?;
    Ok(Launched {
        endpoint,
        dispatcher,
        shared,
        holders_stop,
        probes,
        notes,
        target,
        command,
    })
}

/// Where the target listens: `--url`, else 127.0.0.1 on a free port.
fn endpoint(cfg: &LiveConfig) -> Result<Endpoint, LiveError> {
    if let Some(e) = &cfg.url {
        return Ok(e.clone());
    }
    match &cfg.target {
        TargetSpec::Cmd(_) => {
            let port = target::free_port()
                .map_err(|e| LiveError::Usage(format!("cannot find a free port: {e}")))?;
            addr::parse("url", &format!("http://127.0.0.1:{port}"), false).map_err(LiveError::Usage)
        }
        TargetSpec::Pid(_) => Err(LiveError::Usage(
            "--pid needs --url: where does the process listen?".into(),
        )),
    }
}

/// A run's probes, in registry order.
type Probes = Vec<Box<dyn Probe>>;

/// The registry's probes for this run, `--heap` / `--no-heap` applied: heap
/// probes are dropped with `--no-heap`, and those that must start the target
/// themselves are dropped for `--pid` (a note says so). `--heap` is refused
/// here when no heap probe could run at all.
fn build(
    cfg: &LiveConfig,
    registry: &[Register],
    setup: &Setup<'_>,
) -> Result<(Probes, Vec<String>), LiveError> {
    let mut probes: Probes = registry.iter().filter_map(|r| r(setup)).collect();
    if cfg.heap == HeapMode::Off {
        probes.retain(|p| !p.is_heap());
    }
    let spawned = matches!(cfg.target, TargetSpec::Cmd(_));
    let mut notes = Vec::new();
    let heap_names = |ps: &[Box<dyn Probe>]| -> Vec<&'static str> {
        ps.iter()
            .filter(|p| p.is_heap())
            .map(|p| p.name())
            .collect()
    };
    let registered = heap_names(&probes);
    if !spawned {
        probes.retain(|p| {
            let keep = !p.needs_spawn();
            if !keep && cfg.heap != HeapMode::Required {
                let instead = p
                    .attach_instead()
                    .map(|i| format!("; or, {i}"))
                    .unwrap_or_default();
                notes.push(format!(
                    "probe {} not run: it needs a target soak starts (--cmd){instead}",
                    p.name()
                ));
            }
            keep
        });
    }
    if cfg.heap == HeapMode::Required {
        if registered.is_empty() {
            return Err(LiveError::Usage(
                "--heap: this soak has no heap probe; run without --heap (the target's RSS is judged)"
                    .into(),
            ));
        }
        if heap_names(&probes).is_empty() {
            return Err(LiveError::Usage(format!(
                "--heap with --pid: the heap probes ({}) must start the target themselves; \
                 start it with --cmd (a Node target: or give --open-inspector, or \
                 --inspect-url), or drop --heap",
                registered.join(", ")
            )));
        }
    }
    Ok((probes, notes))
}

/// Starts a `--cmd` target with the probes' environment, or finds a `--pid` one;
/// waits for its port either way.
async fn start_target(
    cfg: &LiveConfig,
    endpoint: &Endpoint,
    scratch: &Scratch,
    probes: &mut [Box<dyn Probe>],
    group: &AtomicI32,
) -> Result<(Target, Option<String>), LiveError> {
    let (mut target, command) = match &cfg.target {
        TargetSpec::Cmd(cmd) => {
            let mut spawn = Spawn::new(cmd, scratch.path());
            for p in probes.iter_mut() {
                p.before_spawn(&mut spawn)
                    .map_err(|why| LiveError::Usage(format!("probe {}: {why}", p.name())))?;
            }
            let t = Target::spawn(cmd, endpoint.addr.port(), spawn.vars(), scratch.path())?;
            group.store(t.pid as i32, Ordering::SeqCst);
            (t, Some(cmd.clone()))
        }
        TargetSpec::Pid(pid) => (Target::attach(*pid)?, None),
    };
    let what = command
        .clone()
        .unwrap_or_else(|| format!("PID {}", target.pid));
    target
        .wait_for_port(endpoint.addr, cfg.startup_timeout, &what)
        .await?;
    Ok((target, command))
}

/// The process that serves the endpoint: a started command's process group
/// member listening on its port (the command itself, or what a wrapper such as
/// `npm start` ran), else the target.
fn serving_pid(target: &Target, endpoint: &Endpoint) -> u32 {
    if !target.spawned() {
        return target.pid;
    }
    let group = crate::procfs::group(target.pid);
    crate::procfs::listener(endpoint.addr.port(), &group).unwrap_or(target.pid)
}

/// Attaches every probe, in order; a probe that does not apply is dropped with a
/// note, one that reports a usage problem stops the run. With `--heap`, no heap
/// probe attaching is a usage error naming each one's reason.
async fn attach(
    cfg: &LiveConfig,
    probes: &mut Vec<Box<dyn Probe>>,
    target: &Target,
    endpoint: &Endpoint,
    scratch: &Scratch,
) -> Result<(Layout, Vec<String>), LiveError> {
    let mut notes = Vec::new();
    let serving = serving_pid(target, endpoint);
    if serving != target.pid {
        notes.push(format!(
            "RSS, threads and descriptors are PID {serving}'s, the process listening on \
             port {}, not the started command's (PID {})",
            endpoint.addr.port(),
            target.pid
        ));
    }
    let view = TargetView {
        pid: target.pid,
        serving,
        spawned: target.spawned(),
        endpoint,
        scratch: scratch.path(),
        stderr: target.stderr_lines(),
    };
    let mut declared = Vec::new();
    let mut kept = Vec::new();
    let mut heap_refusals = Vec::new();
    for mut p in std::mem::take(probes) {
        let answer = tokio::time::timeout(cfg.startup_timeout, p.attach(&view))
            .await
            .unwrap_or_else(|_| {
                Err(Refusal::NotHere(format!(
                    "did not attach within --startup-timeout {}",
                    run::secs_text(cfg.startup_timeout.as_secs_f64())
                )))
            });
        match answer {
            Ok(columns) => {
                declared.push((p.name(), p.is_heap(), columns));
                kept.push(p);
            }
            Err(Refusal::Usage(why)) => return Err(LiveError::Usage(why)),
            Err(Refusal::NotHere(why)) if p.is_heap() => {
                heap_refusals.push(format!("{}: {why}", p.name()));
            }
            Err(Refusal::NotHere(why)) => notes.push(format!("probe {}: {why}", p.name())),
        }
    }
    if !heap_refusals.is_empty() && !kept.iter().any(|p| p.is_heap()) {
        if cfg.heap == HeapMode::Required {
            return Err(LiveError::Usage(format!(
                "--heap: no heap probe could attach ({}); drop --heap to judge the target's RSS",
                heap_refusals.join("; ")
            )));
        }
        // One note for what the run could not see, and how to see it.
        let how = if view.spawned {
            "--heap preloads soak's heap sampler into a native --cmd target"
        } else {
            "a native heap needs a --cmd target (--heap), a Node one --open-inspector \
             or --inspect-url"
        };
        notes.push(format!(
            "no heap probe attached ({}): RSS judged; {how}",
            heap_refusals.join("; ")
        ));
    }
    *probes = kept;
    let (layout, layout_notes) = Layout::new(declared);
    notes.extend(layout_notes);
    Ok((layout, notes))
}

/// The run's first console line.
fn opening_line(cfg: &LiveConfig, r: &Running) -> String {
    let what = r
        .command
        .clone()
        .unwrap_or_else(|| format!("PID {}", r.target.pid));
    let probes: Vec<String> = r.probes.iter().filter_map(|p| p.describe()).collect();
    let nofile = match &r.nofile {
        Ok(n) => n.describe(),
        Err(e) => Some(e.clone()),
    };
    format!(
        "soak live: plan {} (seed {}), {} of load, a day every {} ({:.0}x), {} goose users\n  \
         target {} at {}{}{}",
        cfg.plan.name,
        cfg.seed,
        run::secs_text(cfg.duration.as_secs_f64()),
        run::secs_text(cfg.day.as_secs_f64()),
        cfg.compression(),
        cfg.users(),
        what,
        r.endpoint.base(),
        probes.iter().map(|d| format!("; {d}")).collect::<String>(),
        nofile.map(|n| format!("\n  {n}")).unwrap_or_default()
    )
}
