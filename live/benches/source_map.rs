//! What naming a compiled Node script's frames through its source map costs
//! soak (`node_heap::source_map`): reading a map the size of a large minified
//! bundle, and looking a function up in it, first on its line and again.
//! A map of 700,000 segments — esbuild's map of TypeScript's own compiler
//! bundled and minified holds 695,694 on 433 lines — all on one line (a
//! minifier's worst case), and spread over 433 lines.
//!
//! `cargo bench -p soak-live --bench source_map`; figures in docs/performance.md.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use soak_live::node_heap::source_map::{encode_vlq, SourceMap};

const SEGMENTS: usize = 700_000;

/// A map of `lines` generated lines sharing [`SEGMENTS`] segments: each
/// segment 5 columns after the last, from one of two sources, with a name on
/// every 4th.
fn map_json(lines: usize) -> String {
    let per_line = SEGMENTS / lines;
    let mut mappings = String::with_capacity(SEGMENTS * 8);
    for l in 0..lines {
        if l > 0 {
            mappings.push(';');
        }
        for i in 0..per_line {
            if i > 0 {
                mappings.push(',');
            }
            let col = if i == 0 { 0 } else { 5 };
            // Every 97th segment moves to the next source, the 98th back.
            let src = match i % 97 {
                0 => 1,
                1 => -1,
                _ => 0,
            };
            if i % 4 == 0 {
                mappings.push_str(&encode_vlq(&[col, src, 1, 3, 1]));
            } else {
                mappings.push_str(&encode_vlq(&[col, src, 0, 2]));
            }
        }
    }
    let sources: Vec<String> = (0..2).map(|i| format!("\"../src/m{i}.ts\"")).collect();
    let names: Vec<String> = (0..SEGMENTS / 4 + 1).map(|i| format!("\"n{i}\"")).collect();
    format!(
        "{{\"version\":3,\"sources\":[{}],\"names\":[{}],\"mappings\":\"{mappings}\"}}",
        sources.join(","),
        names.join(",")
    )
}

fn bench(c: &mut Criterion) {
    let dir = Path::new("/app/dist");
    for lines in [1, 433] {
        let json = map_json(lines);
        let mid = (lines / 2) as u32;
        let col = (SEGMENTS / lines / 2 * 5) as u32;
        c.bench_function(&format!("parse a 700k-segment map, {lines} line(s)"), |b| {
            b.iter(|| SourceMap::parse(black_box(json.as_bytes()), dir, None))
        });
        let fresh = || SourceMap::parse(json.as_bytes(), dir, None).expect("a map");
        c.bench_function(&format!("first lookup on a line, {lines} line(s)"), |b| {
            b.iter_batched(
                fresh,
                |mut m| {
                    // The map is returned, so its drop is not timed.
                    let found = m.lookup(mid, black_box(col), "f");
                    (m, found)
                },
                BatchSize::LargeInput,
            )
        });
        let mut warm = fresh();
        assert!(warm.lookup(mid, col, "f").is_some());
        c.bench_function(&format!("lookup again on the line, {lines} line(s)"), |b| {
            b.iter(|| warm.lookup(mid, black_box(col), "f"))
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
