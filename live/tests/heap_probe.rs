//! A heap probe in one file and one registration line: it declares the judged
//! memory (`heap`, [`Budget::Memory`]) and hands over allocation sites at the end,
//! which the run fits through the same attribution as a virtual run's sites.
//!
//! The probe's figures are made up (a site that leaks 1 MB per sample, one that
//! holds still): what is tested is the path from the probe to the verdict, the
//! summary's `growth_sites` and `sites.csv`, not a measurement. `--heap` makes the
//! run refuse to start without it.

use soak_live::probe::{
    Attached, Budget, Column, Probe, ProbeFuture, Resource, Row, Setup, Site, Sites, TargetView,
    WindDown,
};

use soak_harness::attribution::Whose;
use soak_harness::frames::{Frame, Kind};

use super::support::{self, names};

const MB: f64 = 1e6;

/// A classified frame (hashbrown's as a dependency with its version).
fn frame(function: &str, file: &str, line: u32, kind: Kind) -> Frame {
    let dep = kind == Kind::Dependency;
    Frame {
        function: function.to_string(),
        file: Some(file.to_string()),
        line: Some(line),
        kind,
        package: dep.then(|| "hashbrown".to_string()),
        version: dep.then(|| "0.15.2".to_string()),
        inlined: false,
    }
}

/// A made-up heap: one leaking site, one steady one.
struct ToyHeap {
    leak: Vec<f64>,
    steady: Vec<f64>,
}

fn register(_: &Setup<'_>) -> Option<Box<dyn Probe>> {
    Some(Box::new(ToyHeap {
        leak: Vec::new(),
        steady: Vec::new(),
    }))
}

impl Probe for ToyHeap {
    fn name(&self) -> &'static str {
        "toy-heap"
    }

    fn is_heap(&self) -> bool {
        true
    }

    fn attach<'a>(&'a mut self, _: &'a TargetView<'a>) -> ProbeFuture<'a, Attached> {
        let column = Column::resource(
            "toy_heap_bytes",
            Resource::new("heap", "bytes", Budget::Memory),
        );
        Box::pin(async move { Ok(vec![column]) })
    }

    fn sample<'a>(&'a mut self, row: &'a mut Row<'_>) -> ProbeFuture<'a, ()> {
        let n = self.leak.len() as f64;
        // A little deterministic wobble so the fit has residuals.
        let wobble = ((self.leak.len() * 7) % 5) as f64 * 1e4;
        self.leak.push(n * MB + wobble);
        self.steady.push(5e5 + wobble);
        row.set("toy_heap_bytes", 2e6 + n * MB + 2.0 * wobble);
        Box::pin(async {})
    }

    fn finish<'a>(&'a mut self, end: &'a mut WindDown) -> ProbeFuture<'a, ()> {
        end.sites(Sites {
            resource: "heap".to_string(),
            sample_bytes: 0,
            samples: self.leak.len() as u64,
            frame_depth: 1,
            sites: vec![
                Site {
                    frames: vec!["steady (src/toy.rs:2)".to_string()],
                    whose: None,
                    live_bytes: self.steady.clone(),
                },
                // Held in a dependency's map that the user's `leak` fills: the
                // owner is the dependency's frame, the caller the user's.
                Site {
                    frames: vec![
                        "insert (hashbrown-0.15.2/src/map.rs:1754)".to_string(),
                        "leak (src/toy.rs:1)".to_string(),
                    ],
                    whose: Some(Whose {
                        owner: Some(frame(
                            "hashbrown::map::HashMap<K,V>::insert",
                            "hashbrown-0.15.2/src/map.rs",
                            1754,
                            Kind::Dependency,
                        )),
                        caller: Some(frame("toy::leak", "src/toy.rs", 1, Kind::Own)),
                    }),
                    live_bytes: self.leak.clone(),
                },
            ],
        });
        Box::pin(async {})
    }
}

#[test]
fn a_heap_probe_is_judged_and_its_sites_are_fitted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let cfg = support::toy_config(&out, &["--heap"]);

    // Without a heap probe, --heap refuses the run. (The built-in heap probes are
    // left out: native-heap would preload into this native target.)
    use soak_live::probe::{load_stats, metrics, proc};
    let base: &[soak_live::probe::Register] =
        &[proc::register, load_stats::register, metrics::register];
    let refused = soak_live::run::run_with(&cfg, base);
    assert!(refused.is_err(), "--heap without a heap probe runs");

    // The one registration line.
    let registry = [base, &[register]].concat();
    let outcome = soak_live::run::run_with(&cfg, &registry).expect("runs");

    let s = support::summary(&out, "churn-test", "fixed");
    assert!(
        names(&s["failed_resources"]).contains(&"heap".to_string()),
        "the heap probe's resource is judged: {}",
        s["message"]
    );
    let top = &s["growth_sites"][0]["frames"];
    assert!(
        top.to_string().contains("leak"),
        "the leaking site ranks first: {}",
        s["growth_sites"]
    );
    // The owner, then the user's frame that called into it.
    assert!(
        s["message"]
            .to_string()
            .contains("at HashMap::insert (hashbrown 0.15.2) ← src/toy.rs:1 (toy::leak)"),
        "the failing message names the owner and the user's caller: {}",
        s["message"]
    );
    let sites = std::fs::read_to_string(outcome.dir.join("sites.csv")).expect("sites.csv");
    assert!(sites.lines().count() > 10, "{sites}");
}
