//! The module graphs of the harness and of live mode have no cycle: data flows
//! one way (config → scenario → run loop → verdict → summary; report writes, run
//! and cli call; live: target and load → probes → run → cli), and every module
//! imports only modules below it in its crate's layers ([`LAYERS`],
//! [`LIVE_LAYERS`]). Read from the source, so a new `use` that points upward
//! fails here with the module and the import named, and a circle of imports
//! fails with the circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first. A module may import any module listed before it.
const LAYERS: &[&str] = &[
    "units",
    "status",
    "timebase",
    "limits",
    "interrupt",
    "sites",
    "symbolize",
    "alloc",
    "error",
    "shard",
    "clock",
    "traffic",
    "inject",
    "probe",
    "samples",
    "growth",
    "frames",
    "config",
    "verdict",
    "attribution",
    "profile",
    "summary",
    "baseline",
    "history",
    "scenario",
    "progress",
    "report",
    "junit",
    "run",
    "shrink",
    "parallel",
    "cli",
];

/// Live mode's modules, lowest first (its binaries and `lib.rs` are not layers).
const LIVE_LAYERS: &[&str] = &[
    "addr",
    "rlimit",
    "procfs",
    "prom",
    "plan",
    "target",
    "inspector",
    "node_heap",
    "config",
    "load",
    "preload",
    "probe",
    "run",
    "cli",
    "server",
    "server_cli",
];

/// Root re-exports (`crate::Error`) and the module that defines them.
const REEXPORTS: &[(&str, &str)] = &[
    ("Error", "error"),
    ("BoxError", "error"),
    ("Counting", "alloc"),
    ("RunConfig", "config"),
    ("Variant", "config"),
    ("Gauge", "probe"),
    ("Outcome", "run"),
    ("Ctx", "scenario"),
    ("RunFuture", "scenario"),
    ("Scenario", "scenario"),
    ("Ticker", "scenario"),
    ("Kind", "scenario"),
    ("Summary", "summary"),
    ("Verdict", "verdict"),
];

/// The crate-level names a source file refers to, outside comments.
fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let word_start = rest[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            rest = &rest[i + "crate::".len()..];
            if !word_start {
                continue;
            }
            if let Some(inner) = rest.strip_prefix('{') {
                let end = inner.find('}').unwrap_or(inner.len());
                for item in inner[..end].split(',') {
                    let name = item.trim().split("::").next().unwrap_or("").trim();
                    if !name.is_empty() {
                        out.push(name.to_string());
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        }
    }
    out
}

/// A crate's sources, its layers and root re-exports.
struct Crate {
    src: PathBuf,
    layers: &'static [&'static str],
    reexports: &'static [(&'static str, &'static str)],
}

impl Crate {
    fn module_of(&self, name: &str) -> Option<&'static str> {
        if let Some((_, m)) = self.reexports.iter().find(|(n, _)| *n == name) {
            return Some(m);
        }
        self.layers.iter().find(|m| **m == name).copied()
    }

    /// Every `.rs` file under `src`.
    fn files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut stack = vec![self.src.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("readable src dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
        files
    }

    /// Which module imports which: top-level module → the crate's modules its
    /// files name. Panics on a module missing from the layers.
    fn graph(&self) -> BTreeMap<&'static str, BTreeSet<&'static str>> {
        let mut graph: BTreeMap<&'static str, BTreeSet<&'static str>> = BTreeMap::new();
        for file in self.files() {
            let rel = file.strip_prefix(&self.src).expect("under src");
            // `report/chart.rs` belongs to `report`.
            let top = rel
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .map(|s| s.trim_end_matches(".rs"))
                .expect("a file name");
            if top == "lib" || top == "bin" {
                continue;
            }
            let own = self.module_of(top).unwrap_or_else(|| {
                panic!("module {top} is not in the layers: place it in the order")
            });
            let text = std::fs::read_to_string(&file).expect("readable source");
            let deps = graph.entry(own).or_default();
            for name in references(&text) {
                let target = self.module_of(&name).unwrap_or_else(|| {
                    panic!(
                        "{}: crate::{name} is neither a module nor a known re-export",
                        rel.display()
                    )
                });
                if target != own {
                    deps.insert(target);
                }
            }
        }
        graph
    }

    /// Imports that point upward in the layers.
    fn upward(&self, graph: &BTreeMap<&'static str, BTreeSet<&'static str>>) -> Vec<String> {
        let rank: BTreeMap<&str, usize> = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, m)| (*m, i))
            .collect();
        let mut out = Vec::new();
        for (from, deps) in graph {
            for to in deps {
                if rank[to] > rank[from] {
                    out.push(format!("{from} imports {to} (above it)"));
                }
            }
        }
        out
    }
}

/// A circle of imports in `graph`, as the modules around it (the first repeated
/// at the end), if there is one.
fn circle<'a>(graph: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Option<Vec<&'a str>> {
    fn visit<'a>(
        m: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(i) = path.iter().position(|p| *p == m) {
            let mut c = path[i..].to_vec();
            c.push(m);
            return Some(c);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m);
        for d in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m);
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
}

fn check(krate: &Crate) {
    let graph = krate.graph();
    assert!(
        graph.len() + 2 >= krate.layers.len(),
        "read only {} modules of {}",
        graph.len(),
        krate.src.display()
    );
    if let Some(c) = circle(&graph) {
        panic!(
            "{}: modules import each other in a circle: {}",
            krate.src.display(),
            c.join(" → ")
        );
    }
    let up = krate.upward(&graph);
    assert!(up.is_empty(), "upward imports:\n{}", up.join("\n"));
}

#[test]
fn every_harness_module_imports_only_modules_below_it() {
    check(&Crate {
        src: Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        layers: LAYERS,
        reexports: REEXPORTS,
    });
}

#[test]
fn every_live_module_imports_only_modules_below_it() {
    check(&Crate {
        src: Path::new(env!("CARGO_MANIFEST_DIR")).join("../live/src"),
        layers: LIVE_LAYERS,
        reexports: &[],
    });
}

#[test]
fn a_circle_of_imports_is_found() {
    let graph: BTreeMap<&str, BTreeSet<&str>> = [
        ("run", BTreeSet::from(["summary", "table"])),
        ("summary", BTreeSet::from(["report"])),
        ("report", BTreeSet::from(["run"])),
        ("table", BTreeSet::new()),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        circle(&graph),
        Some(vec!["report", "run", "summary", "report"])
    );
    let mut fixed = graph.clone();
    fixed.insert("report", BTreeSet::new());
    assert_eq!(circle(&fixed), None);
}
