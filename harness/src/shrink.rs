//! `soak shrink`: from a failing run, the smallest and fastest replay that still
//! fails — which kinds of traffic the leak needs, how short and how light a run
//! still shows it — and what it leaks per event of each kind it needs.
//!
//! The search is property-based testing's shrinking over soak's own inputs, in
//! three stages, each a series of ordinary runs ([`crate::run()`]):
//!
//! 1. **Kinds.** Every kind muted at once (does the leak need traffic at all?),
//!    then each kind muted alone (the ablation table), then delta debugging
//!    ([`ddmin`]) for a 1-minimal set of kinds that still fails: muting any one of
//!    them makes the run pass. A run *fails* here when it fails on a resource the
//!    original failed on (the same leak, not another one a muted kind exposes).
//! 2. **Hours.** The minimal kinds under `--hours auto`, at most the original's
//!    hours: the first hourly look that settles the verdict, with the threshold
//!    corrected for every look, so the shorter run is judged with the same
//!    confidence. The run is then `--hours auto --max-hours H`.
//! 3. **Load scale.** Halving the interval between a scale that passes and one
//!    that fails ([`SCALE_STEPS`] times): the lowest `--load-scale` that still
//!    fails within those hours.
//!
//! Every run counts against `max_runs`; when they run out, the search stops with
//! the smallest failing run found so far. Every run is reproducible from the
//! options it records ([`Trial::args`]). The bytes per event of a needed kind are
//! the heap growth that muting it removes (minimal set against minimal set
//! without it, both full-length) divided by its event rate over the fitted window.

pub mod ddmin;
mod render;

use std::collections::BTreeMap;

use serde::Serialize;

pub use render::{command_args, test_snippet};

use crate::config::RunConfig;
use crate::run::{self, Outcome};
use crate::scenario::Scenario;
use crate::summary::Summary;
use crate::verdict::Verdict;
use crate::Error;

/// Default of `--max-runs`: enough for eight kinds (ablation and delta
/// debugging) plus the hours and the load-scale stages.
pub const DEFAULT_MAX_RUNS: usize = 40;

/// How often the load-scale stage halves its interval: the lowest failing scale
/// is found to 1/16 of the original.
pub const SCALE_STEPS: usize = 4;

/// Which stage of the search made a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The run as given.
    Original,
    /// A set of kinds (all muted, or one of delta debugging's subsets).
    Kinds,
    /// The original with one kind muted.
    Ablation,
    /// The minimal kinds under `--hours auto`.
    Hours,
    /// The minimal kinds and hours at a lower `--load-scale`.
    LoadScale,
    /// The minimal set without one of its kinds (for the bytes per event).
    PerEvent,
    /// The minimal run (or the original) again, sampling allocation sites
    /// densely enough to name where its growth is.
    Minimal,
}

/// One resource's growth in a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Growth {
    /// `heap`, `tasks`, `fds` or a gauge.
    pub resource: String,
    /// `bytes`, `tasks`, `fds` or `count`.
    pub unit: String,
    /// Growth per virtual hour.
    pub per_hour: f64,
    /// Its standard error.
    pub stderr: f64,
    /// The resource's verdict.
    pub verdict: Verdict,
}

/// One run of the search: an ordinary run, reproduced by
/// `soak run SCENARIO` followed by [`Trial::args`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trial {
    /// 1 for the original, then in the order they ran.
    pub run: usize,
    /// The stage that made it.
    pub stage: Stage,
    /// The kinds it muted.
    pub muted: Vec<String>,
    /// The options after `soak run SCENARIO` that reproduce it.
    pub args: Vec<String>,
    /// Its verdict.
    pub verdict: Verdict,
    /// Whether it failed on a resource the original failed on.
    pub fails: bool,
    /// The resources that failed.
    pub failed_resources: Vec<String>,
    /// Virtual hours replayed.
    pub virtual_hours: f64,
    /// Wall seconds of the replay (`summary.json`'s `wall_seconds`).
    pub wall_seconds: f64,
    /// Growth of the heap and of every budgeted resource.
    pub growth: Vec<Growth>,
    /// Events per virtual hour of each kind over the fitted window.
    pub kind_rates: BTreeMap<String, f64>,
    /// The settings (not written: `args` says the same).
    #[serde(skip)]
    pub cfg: RunConfig,
}

impl Trial {
    /// The growth of `resource`, if measured.
    pub fn growth_of(&self, resource: &str) -> Option<&Growth> {
        self.growth.iter().find(|g| g.resource == resource)
    }
}

/// One row of the ablation table: the original with one kind muted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ablation {
    /// The kind muted.
    pub kind: String,
    /// The run (see [`Shrunk::runs`]).
    pub run: usize,
    /// Whether the run still failed the original's way.
    pub fails: bool,
}

/// What a needed kind leaks per event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerEvent {
    /// The kind.
    pub kind: String,
    /// The resource (`heap`, or one the original failed on).
    pub resource: String,
    /// Its unit (`bytes`, `tasks`, ...).
    pub unit: String,
    /// Growth per event.
    pub per_event: f64,
    /// Its standard error.
    pub stderr: f64,
    /// The kind's events per virtual hour over the fitted window.
    pub events_per_hour: f64,
    /// The growth muting the kind removed, per virtual hour.
    pub growth_per_hour: f64,
}

/// The result of a shrink that found a failing run.
#[derive(Debug, Clone, Serialize)]
pub struct Shrunk {
    /// The scenario.
    pub scenario: String,
    /// `fixed` or `leaky`.
    pub variant: String,
    /// The seed.
    pub seed: u64,
    /// The resource the tables show: the first the original failed on.
    pub resource: String,
    /// The kinds the scenario declares, in its order.
    pub kinds: Vec<String>,
    /// Kinds the given options already muted (left out of the search).
    pub muted_by_you: Vec<String>,
    /// The kinds the leak needs: a smallest set that still fails.
    pub needed: Vec<String>,
    /// The kinds it does not.
    pub not_needed: Vec<String>,
    /// Whether the run still fails with every kind muted (a leak with no
    /// traffic, or one of time).
    pub fails_without_traffic: Option<bool>,
    /// Each kind muted alone.
    pub ablations: Vec<Ablation>,
    /// The run with every kind muted, when made.
    pub without_traffic_run: Option<usize>,
    /// The shortest hours (the `--max-hours` of the minimal `--hours auto` run),
    /// when the hours stage shortened the run.
    pub hours: Option<f64>,
    /// The lowest load scale that still fails.
    pub load_scale: f64,
    /// The original run (`runs[0]`).
    pub original: usize,
    /// The minimal run.
    pub minimal: usize,
    /// The minimal command line.
    pub command: String,
    /// Original wall seconds over the minimal run's.
    pub speedup: f64,
    /// Growth per event of each needed kind.
    pub per_event: Vec<PerEvent>,
    /// Top growing allocation site of the original run.
    pub original_top_site: Option<String>,
    /// Top growing allocation site of the minimal run.
    pub top_site: Option<String>,
    /// Whether the two are the same site.
    pub same_top_site: bool,
    /// Where the minimal run's top site ranks among the original's growing
    /// sites (1: its top), if it is one of them.
    pub top_site_rank_in_original: Option<usize>,
    /// The run whose sites stand for the original's: the original, or the
    /// original again sampled densely ([`Stage::Minimal`]'s rule).
    pub original_sites_run: usize,
    /// A `#[test]` replaying the minimal run and asserting it within budget.
    pub test: String,
    /// Most runs allowed.
    pub max_runs: usize,
    /// Whether the search stopped because the runs ran out.
    pub out_of_runs: bool,
    /// Whether SIGINT or SIGTERM stopped it (a partial search).
    pub interrupted: bool,
    /// Every run, in order.
    pub runs: Vec<Trial>,
}

impl Shrunk {
    /// The run numbered `n`.
    pub fn trial(&self, n: usize) -> Option<&Trial> {
        self.runs.get(n.checked_sub(1)?)
    }

    /// `shrink.json`.
    pub fn to_json(&self) -> String {
        // Plain structs of numbers, strings and maps always serialise.
        let mut s =
            serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        s.push('\n');
        s
    }

    /// The report as text (what `soak shrink` prints).
    pub fn text(&self) -> String {
        render::text(self)
    }
}

/// What [`shrink`] found.
#[derive(Debug)]
pub enum Found {
    /// The original run did not fail: nothing to shrink (its outcome).
    NothingToShrink(Box<Outcome>),
    /// The search and the minimal run's outcome (to write its report).
    Shrunk(Box<Shrunk>, Box<Outcome>),
    /// SIGINT or SIGTERM stopped the original run.
    Interrupted,
}

/// How the search is bounded and reported.
pub struct Settings<'a> {
    /// Most runs, the original included.
    pub max_runs: usize,
    /// Called after every run.
    pub progress: &'a mut dyn FnMut(&Trial, usize),
}

/// Why a stage stopped early.
enum Halt {
    OutOfRuns,
    Error(Error),
}

impl From<Error> for Halt {
    fn from(e: Error) -> Self {
        Halt::Error(e)
    }
}

/// Shrinks the failing run of `scenario` under `cfg` (see the module docs).
pub fn shrink(scenario: &dyn Scenario, cfg: &RunConfig, set: Settings<'_>) -> Result<Found, Error> {
    let mut search = Search {
        scenario,
        original: cfg.clone(),
        target: Vec::new(),
        trials: Vec::new(),
        kept: BTreeMap::new(),
        set,
        interrupted: false,
    };
    let outcome = match search.run_outcome(Stage::Original, cfg.clone()) {
        Ok((_, Some(o))) => o,
        Ok((_, None)) | Err(Halt::OutOfRuns) if !search.interrupted => {
            return Err(Error::Usage(
                "--max-runs must allow at least one run; e.g. --max-runs 40".to_string(),
            ))
        }
        Ok((_, None)) | Err(Halt::OutOfRuns) => return Ok(Found::Interrupted),
        Err(Halt::Error(e)) => return Err(e),
    };
    if outcome.verdict() != Verdict::Fail {
        return Ok(Found::NothingToShrink(Box::new(outcome)));
    }
    search.target = outcome.summary.failed_resources.clone();
    search.trials[0].fails = true;
    search.kept.insert(0, outcome);
    search.all_stages()
}

/// What stage 1 found.
struct KindsFound {
    /// The needed kinds.
    needed: Vec<String>,
    /// The run replaying exactly them.
    run: usize,
    /// The run with every kind muted.
    none: usize,
    /// Whether that run failed.
    none_fails: bool,
}

struct Search<'a, 'p> {
    scenario: &'a dyn Scenario,
    original: RunConfig,
    /// The resources the original failed on.
    target: Vec<String>,
    trials: Vec<Trial>,
    /// Outcomes of failing runs (candidates for the minimal report).
    kept: BTreeMap<usize, Outcome>,
    set: Settings<'p>,
    /// Whether a signal stopped a run (and so the search).
    interrupted: bool,
}

impl Search<'_, '_> {
    /// Runs `cfg` (or finds the same settings already run) and returns its index;
    /// keeps the outcome of a run that fails.
    fn run(&mut self, stage: Stage, cfg: RunConfig) -> Result<usize, Halt> {
        let (i, outcome) = self.run_outcome(stage, cfg)?;
        if let Some(o) = outcome.filter(|_| self.trials[i].fails) {
            self.kept.insert(i, o);
        }
        Ok(i)
    }

    /// Runs `cfg` and returns its index and outcome, or the index of the run with
    /// the same settings made before (and no outcome).
    fn run_outcome(
        &mut self,
        stage: Stage,
        cfg: RunConfig,
    ) -> Result<(usize, Option<Outcome>), Halt> {
        let args = command_args(&cfg);
        if let Some(i) = self.trials.iter().position(|t| t.args == args) {
            return Ok((i, None));
        }
        if self.trials.len() >= self.set.max_runs {
            return Err(Halt::OutOfRuns);
        }
        let mut quiet = cfg.clone();
        quiet.progress = false;
        let outcome = run::run(self.scenario, &quiet)?;
        if !outcome.summary.complete {
            // Stopped by SIGINT/SIGTERM: a partial run answers nothing.
            self.interrupted = true;
            return Err(Halt::OutOfRuns);
        }
        let s = &outcome.summary;
        let fails = s.verdict == Verdict::Fail
            && s.failed_resources.iter().any(|r| self.target.contains(r));
        let trial = Trial {
            run: self.trials.len() + 1,
            stage,
            muted: cfg.mute.clone(),
            args,
            verdict: s.verdict,
            fails,
            failed_resources: s.failed_resources.clone(),
            virtual_hours: s.virtual_hours,
            wall_seconds: s.wall_seconds,
            growth: growth_of(s),
            kind_rates: kind_rates(&outcome),
            cfg,
        };
        (self.set.progress)(&trial, self.set.max_runs);
        self.trials.push(trial);
        Ok((self.trials.len() - 1, Some(outcome)))
    }

    /// The outcome of failing run `i`: kept, or (never in practice: every
    /// candidate is kept) replayed again, which gives the same run.
    fn take(&mut self, i: usize) -> Result<Outcome, Error> {
        match self.kept.remove(&i) {
            Some(o) => Ok(o),
            None => run::run(self.scenario, &self.trials[i].cfg),
        }
    }

    /// The original's settings with `keep` the only kinds replayed (besides those
    /// the original muted already).
    fn with_kinds(&self, all: &[String], keep: &[String]) -> RunConfig {
        let mut cfg = self.original.clone();
        cfg.mute = all
            .iter()
            .filter(|k| self.original.mute.contains(k) || !keep.contains(k))
            .cloned()
            .collect();
        cfg
    }

    fn all_stages(mut self) -> Result<Found, Error> {
        // In the scenario's order, from the original's summary.
        let declared: Vec<String> = self
            .kept
            .get(&0)
            .map(|o| o.summary.kinds.iter().map(|k| k.name.clone()).collect())
            .unwrap_or_default();
        // Fewest events first: of several smallest sets, delta debugging then
        // tends to find the one cheapest to replay.
        let mut searched: Vec<String> = declared
            .iter()
            .filter(|k| !self.original.mute.contains(k))
            .cloned()
            .collect();
        if let Some(o) = self.kept.get(&0) {
            let events = |k: &String| {
                o.summary
                    .kinds
                    .iter()
                    .find(|c| &c.name == k)
                    .map_or(0, |c| c.events)
            };
            searched.sort_by_key(events);
        }
        let mut out_of_runs = false;

        // Stage 1: kinds.
        let mut needed = searched.clone();
        let mut needed_run = 0;
        let mut fails_without = None;
        let mut without_run = None;
        let mut ablations = Vec::new();
        if !searched.is_empty() {
            match self.kinds_stage(&declared, &searched, &mut ablations) {
                Ok(k) => {
                    needed = k.needed;
                    needed_run = k.run;
                    fails_without = Some(k.none_fails);
                    without_run = Some(k.none + 1);
                }
                Err(Halt::Error(e)) => return Err(e),
                Err(Halt::OutOfRuns) => {
                    out_of_runs = true;
                    // The smallest failing set found so far.
                    if let Some(t) = self
                        .trials
                        .iter()
                        .filter(|t| t.fails)
                        .max_by_key(|t| t.muted.len())
                    {
                        needed = searched
                            .iter()
                            .filter(|k| !t.muted.contains(k))
                            .cloned()
                            .collect();
                        needed_run = t.run - 1;
                    }
                    if let Some(i) = self.trials.iter().position(|t| {
                        t.stage == Stage::Kinds && searched.iter().all(|k| t.muted.contains(k))
                    }) {
                        fails_without = Some(self.trials[i].fails);
                        without_run = Some(i + 1);
                    }
                }
            }
        }
        let in_order = |keep: &dyn Fn(&String) -> bool| -> Vec<String> {
            declared.iter().filter(|k| keep(k)).cloned().collect()
        };
        let needed = in_order(&|k| needed.contains(k));
        let not_needed = in_order(&|k| searched.contains(k) && !needed.contains(k));

        // Stages 2 and 3: hours, then load scale.
        let mut best = needed_run;
        let mut hours = None;
        if !out_of_runs {
            match self.hours_stage(best) {
                Ok((b, h)) => {
                    best = b;
                    hours = h;
                }
                Err(Halt::Error(e)) => return Err(e),
                Err(Halt::OutOfRuns) => out_of_runs = true,
            }
        }
        if !out_of_runs && !needed.is_empty() {
            match self.scale_stage(best) {
                Ok(b) => best = b,
                Err(Halt::Error(e)) => return Err(e),
                Err(Halt::OutOfRuns) => out_of_runs = true,
            }
        }

        // Bytes per event, from the full-length runs of stage 1.
        let mut per_event = Vec::new();
        for kind in &needed {
            let without: Vec<String> = needed.iter().filter(|k| *k != kind).cloned().collect();
            let cfg = self.with_kinds(&declared, &without);
            let args = command_args(&cfg);
            let known = self.trials.iter().position(|t| t.args == args);
            let i = match known {
                Some(i) => i,
                None if !out_of_runs => match self.run(Stage::PerEvent, cfg) {
                    Ok(i) => i,
                    Err(Halt::Error(e)) => return Err(e),
                    Err(Halt::OutOfRuns) => {
                        out_of_runs = true;
                        continue;
                    }
                },
                None => continue,
            };
            per_event.extend(self.per_event(kind, needed_run, i));
        }

        if !out_of_runs {
            match self.dense_stage(best) {
                Ok(b) => best = b,
                Err(Halt::Error(e)) => return Err(e),
                Err(Halt::OutOfRuns) => out_of_runs = true,
            }
        }
        // The original again, as densely sampled when its growth is too small for
        // the default interval to place (a task leak's few bytes an hour).
        let mut attributed = 0;
        if !out_of_runs {
            match self.dense_stage(0) {
                Ok(i) => attributed = i,
                Err(Halt::Error(e)) => return Err(e),
                Err(Halt::OutOfRuns) => out_of_runs = true,
            }
        }
        let minimal = self.take(best)?;
        let original_sites = self
            .kept
            .get(&attributed)
            .map(|o| growing_places(&o.summary))
            .unwrap_or_default();
        let top = growing_places(&minimal.summary).into_iter().next();
        let top_rank = top
            .as_ref()
            .and_then(|t| original_sites.iter().position(|o| o == t))
            .map(|i| i + 1);
        let original = &self.trials[0];
        let min_trial = &self.trials[best];
        // The test asserts the verdict: how densely sites were sampled for the
        // report does not change it.
        let test_cfg = RunConfig {
            sample_bytes: self.original.sample_bytes,
            ..min_trial.cfg.clone()
        };
        let shrunk = Shrunk {
            scenario: self.scenario.name().to_string(),
            variant: self.original.variant.to_string(),
            seed: self.original.seed,
            resource: self
                .target
                .first()
                .cloned()
                .unwrap_or_else(|| "heap".into()),
            kinds: declared,
            muted_by_you: self.original.mute.clone(),
            needed,
            not_needed,
            fails_without_traffic: fails_without,
            ablations,
            without_traffic_run: without_run,
            hours,
            load_scale: min_trial.cfg.load_scale,
            original: 1,
            minimal: best + 1,
            command: render::command(self.scenario.name(), &min_trial.args),
            speedup: original.wall_seconds / min_trial.wall_seconds.max(1e-3),
            per_event,
            same_top_site: top_rank == Some(1),
            top_site_rank_in_original: top_rank,
            original_top_site: original_sites.into_iter().next(),
            original_sites_run: attributed + 1,
            top_site: top,
            test: test_snippet(self.scenario, &test_cfg, &minimal.summary),
            max_runs: self.set.max_runs,
            out_of_runs: out_of_runs && !self.interrupted,
            interrupted: self.interrupted,
            runs: self.trials,
        };
        Ok(Found::Shrunk(Box::new(shrunk), Box::new(minimal)))
    }

    /// Stage 1: the needed kinds and the runs that tell.
    fn kinds_stage(
        &mut self,
        declared: &[String],
        searched: &[String],
        ablations: &mut Vec<Ablation>,
    ) -> Result<KindsFound, Halt> {
        let none = self.run(Stage::Kinds, self.with_kinds(declared, &[]))?;
        let none_fails = self.trials[none].fails;
        for k in declared.iter().filter(|k| searched.contains(k)) {
            let keep: Vec<String> = searched.iter().filter(|x| *x != k).cloned().collect();
            let i = self.run(Stage::Ablation, self.with_kinds(declared, &keep))?;
            ablations.push(Ablation {
                kind: k.clone(),
                run: i + 1,
                fails: self.trials[i].fails,
            });
        }
        if none_fails {
            return Ok(KindsFound {
                needed: Vec::new(),
                run: none,
                none,
                none_fails,
            });
        }
        let needed = ddmin::ddmin(searched, &mut |keep: &[String]| {
            let i = self.run(Stage::Kinds, self.with_kinds(declared, keep))?;
            Ok::<bool, Halt>(self.trials[i].fails)
        })?;
        let run = self.run(Stage::Kinds, self.with_kinds(declared, &needed))?;
        Ok(KindsFound {
            needed,
            run,
            none,
            none_fails,
        })
    }

    /// Stage 2: the run `from` under `--hours auto` at most as long; then at
    /// most the hours it took. Returns the shortest failing run and its hours.
    fn hours_stage(&mut self, from: usize) -> Result<(usize, Option<f64>), Halt> {
        let base = self.trials[from].cfg.clone();
        let mut auto = base.clone();
        auto.auto = true;
        let i = self.run(Stage::Hours, auto.clone())?;
        if !self.trials[i].fails {
            return Ok((from, None));
        }
        let took = self.trials[i].virtual_hours.ceil().max(1.0);
        if took >= auto.hours {
            return Ok((i, Some(auto.hours)));
        }
        let mut short = auto;
        short.hours = took;
        let j = self.run(Stage::Hours, short)?;
        Ok(if self.trials[j].fails {
            (j, Some(took))
        } else {
            (i, Some(self.trials[i].cfg.hours))
        })
    }

    /// Stage 3: the lowest load scale at which the run `from` still fails.
    fn scale_stage(&mut self, from: usize) -> Result<usize, Halt> {
        let base = self.trials[from].cfg.clone();
        let (mut lo, mut hi, mut best) = (0.0, base.load_scale, from);
        for _ in 0..SCALE_STEPS {
            let mid = (lo + hi) / 2.0;
            let mut cfg = base.clone();
            cfg.load_scale = mid;
            let i = self.run(Stage::LoadScale, cfg)?;
            if self.trials[i].fails {
                hi = mid;
                best = i;
            } else {
                lo = mid;
            }
        }
        Ok(best)
    }

    /// The minimal run `from` again with allocation sites sampled densely enough
    /// that its heap growth over the window is about [`SITE_SAMPLES`] samples,
    /// but no more than [`MAX_SITE_SAMPLES`] in all; the same run otherwise
    /// (sampling never touches the measured heap). Kept when it fails, as it
    /// must.
    fn dense_stage(&mut self, from: usize) -> Result<usize, Halt> {
        let Some(o) = self.kept.get(&from) else {
            return Ok(from);
        };
        let Some(b) = dense_sample_bytes(&o.summary) else {
            return Ok(from);
        };
        let mut cfg = self.trials[from].cfg.clone();
        cfg.sample_bytes = b;
        let i = self.run(Stage::Minimal, cfg)?;
        Ok(if self.trials[i].fails { i } else { from })
    }

    /// Growth per event of `kind`: what muting it removed from the minimal set's
    /// run `with`, per event, for the heap and each resource the original failed on.
    fn per_event(&self, kind: &str, with: usize, without: usize) -> Vec<PerEvent> {
        let (a, b) = (&self.trials[with], &self.trials[without]);
        let Some(&rate) = a.kind_rates.get(kind).filter(|r| **r > 0.0) else {
            return Vec::new();
        };
        let mut resources = vec!["heap".to_string()];
        resources.extend(self.target.iter().filter(|r| *r != "heap").cloned());
        resources
            .iter()
            .filter_map(|r| {
                let (ga, gb) = (a.growth_of(r)?, b.growth_of(r)?);
                let growth = ga.per_hour - gb.per_hour;
                Some(PerEvent {
                    kind: kind.to_string(),
                    resource: r.clone(),
                    unit: ga.unit.clone(),
                    per_event: growth / rate,
                    stderr: ga.stderr.hypot(gb.stderr) / rate,
                    events_per_hour: rate,
                    growth_per_hour: growth,
                })
            })
            .collect()
    }
}

/// Samples of its own heap growth the minimal run's sampler aims for.
pub const SITE_SAMPLES: f64 = 64.0;

/// Most samples the minimal run's sampler may take over the run.
pub const MAX_SITE_SAMPLES: f64 = 100_000.0;

/// The `--sample-bytes` (a power of two, at least 64) at which the run of `s`
/// would sample its heap growth about [`SITE_SAMPLES`] times without taking more
/// than [`MAX_SITE_SAMPLES`] samples in all; `None` when that is not at least
/// twice as dense as it was (or the run did not sample).
fn dense_sample_bytes(s: &Summary) -> Option<u64> {
    let sampling = s.site_sampling.as_ref()?;
    let now = sampling.sample_bytes as f64;
    let est = s.resource("heap")?.estimate?;
    let grown = est.per_hour.max(0.0) * (est.to_hours - est.from_hours);
    let floor = (sampling.samples as f64 * now / MAX_SITE_SAMPLES).max(64.0);
    let want = (grown / SITE_SAMPLES).clamp(floor, now);
    let pow2 = 2f64.powi(want.log2().floor() as i32);
    // The cap must hold after rounding down: take the power of two above it.
    let b = if pow2 < floor { pow2 * 2.0 } else { pow2 };
    (b * 2.0 <= now).then_some(b as u64)
}

/// The heap's and every budgeted resource's growth.
fn growth_of(s: &Summary) -> Vec<Growth> {
    s.resources
        .iter()
        .filter(|r| r.spec.name == "heap" || r.spec.budget_per_hour.is_some())
        .map(|r| Growth {
            resource: r.spec.name.clone(),
            unit: r.spec.unit.clone(),
            per_hour: r.per_hour(),
            stderr: r.estimate.map(|e| e.stderr).unwrap_or(0.0),
            verdict: r.verdict,
        })
        .collect()
}

/// Events per virtual hour of each kind over the heap's fitted window (the whole
/// run after the warm-up when there is no estimate).
fn kind_rates(o: &Outcome) -> BTreeMap<String, f64> {
    let s = &o.summary;
    let hours = o.samples.hours();
    let (from, to) = s
        .resource("heap")
        .and_then(|h| h.estimate)
        .map(|e| (e.from_hours, e.to_hours))
        .unwrap_or((s.warmup_hours, hours.last().copied().unwrap_or(0.0)));
    s.kinds
        .iter()
        .map(|k| {
            let column = crate::scenario::kind::column(&k.name);
            let events: f64 = o
                .samples
                .column(&column)
                .unwrap_or_default()
                .iter()
                .zip(&hours)
                .filter(|(_, h)| **h > from && **h <= to)
                .map(|(v, _)| v)
                .sum();
            let span = to - from;
            (k.name.clone(), if span > 0.0 { events / span } else { 0.0 })
        })
        .collect()
}

/// Where the run's growing allocation sites are (`path:line (function)`),
/// fastest first.
fn growing_places(s: &Summary) -> Vec<String> {
    s.growth_sites
        .iter()
        .filter(|g| g.growth_bytes_per_hour > 0.0)
        .map(crate::attribution::place)
        .collect()
}
