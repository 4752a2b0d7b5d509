//! The harness's module graph has no cycle: data flows one way (config → scenario
//! → run loop → verdict → summary; report writes, run and cli call), and every module imports only
//! modules below it in [`LAYERS`]. Read from the source, so a new `use` that
//! points upward fails here, with the module and the import named.

use std::collections::BTreeMap;
use std::path::Path;

/// Lowest first. A module may import any module listed before it.
const LAYERS: &[&str] = &[
    "units",
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
    "cli",
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

fn module_of(name: &str) -> Option<&str> {
    if let Some((_, m)) = REEXPORTS.iter().find(|(n, _)| *n == name) {
        return Some(m);
    }
    LAYERS.iter().find(|m| **m == name).copied()
}

#[test]
fn every_module_imports_only_modules_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rank: BTreeMap<&str, usize> = LAYERS.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let mut files = Vec::new();
    let mut stack = vec![src.clone()];
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
    let mut violations = Vec::new();
    let mut seen = 0;
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        // `report/chart.rs` belongs to `report`.
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| s.trim_end_matches(".rs"))
            .expect("a file name");
        if top == "lib" {
            continue;
        }
        let own = *rank
            .get(top)
            .unwrap_or_else(|| panic!("module {top} is not in LAYERS: place it in the order"));
        seen += 1;
        let text = std::fs::read_to_string(file).expect("readable source");
        for name in references(&text) {
            let Some(target) = module_of(&name) else {
                panic!(
                    "{}: crate::{name} is neither a module nor a known re-export",
                    rel.display()
                );
            };
            if target != top && rank[target] > own {
                violations.push(format!("{} imports {target} (above it)", rel.display()));
            }
        }
    }
    assert!(seen >= LAYERS.len(), "read {seen} files");
    assert!(
        violations.is_empty(),
        "upward imports:\n{}",
        violations.join("\n")
    );
}
