//! `TtlMap` against `moka::sync::Cache` (time to live) and a plain `HashMap`
//! holding deadlines, on the same workload: 39-character `guild:user` keys and
//! `u64` values. Measures insert, get (hits) and sweep; the sweep group reports
//! the cost of removing expired entries per 1,000 (seed 001 wants under 10 ms).
//!
//! `TtlMap` and the `HashMap` read tokio's clock, paused here so entries expire
//! instantly by `advance`; moka reads its own clock, so its entries get a 500 ms
//! TTL and a batch of caches waits that long in real time before the timed
//! `run_pending_tasks` calls sweep them.
//!
//! Run: `cargo bench -p soak-components --bench ttl_map -- --measurement-time 2 --warm-up-time 1`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use soak_components::ttl_map::{Cleanup, TtlMap};
use tokio::runtime::Runtime;
use tokio::time::Instant;

const TTL: Duration = Duration::from_secs(300);
/// moka reads real time: long enough to insert 100,000 entries before any expires.
const MOKA_TTL: Duration = Duration::from_millis(500);

fn keys(n: usize) -> Vec<String> {
    (0..n as u64)
        .map(|i| {
            let g = 1_000_000_000_000_000_000 + i.wrapping_mul(0x9E37_79B9) % 1_000_000_000;
            let u = 1_100_000_000_000_000_000 + i.wrapping_mul(0xBF58_476D) % 1_000_000_000_000;
            format!("{g}:{u}")
        })
        .collect()
}

/// A paused current-thread runtime: `TtlMap` spawns its sweep task on it (never
/// polled here) and reads its clock.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

fn ttl_map() -> TtlMap<String, u64> {
    TtlMap::new(TTL, Duration::from_secs(60), Cleanup::Sweep).expect("inside the runtime")
}

fn moka_cache(ttl: Duration) -> moka::sync::Cache<String, u64> {
    moka::sync::Cache::builder().time_to_live(ttl).build()
}

type Plain = HashMap<String, (u64, Instant)>;

fn insert(c: &mut Criterion) {
    let rt = runtime();
    let _enter = rt.enter();
    let n = 1_000;
    let ks = keys(n);
    let mut g = c.benchmark_group("insert_1000");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("ttl_map", |b| {
        b.iter_batched(
            ttl_map,
            |m| {
                for (i, k) in ks.iter().enumerate() {
                    m.insert(k.clone(), i as u64);
                }
                m
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("moka", |b| {
        b.iter_batched(
            || moka_cache(TTL),
            |m| {
                for (i, k) in ks.iter().enumerate() {
                    m.insert(k.clone(), i as u64);
                }
                m
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("hashmap", |b| {
        b.iter_batched(
            Plain::new,
            |mut m| {
                let now = Instant::now();
                for (i, k) in ks.iter().enumerate() {
                    m.insert(k.clone(), (i as u64, now + TTL));
                }
                m
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn get(c: &mut Criterion) {
    let rt = runtime();
    let _enter = rt.enter();
    let n = 10_000;
    let ks = keys(n);
    let t = ttl_map();
    let m = moka_cache(TTL);
    let mut h = Plain::new();
    let now = Instant::now();
    for (i, k) in ks.iter().enumerate() {
        t.insert(k.clone(), i as u64);
        m.insert(k.clone(), i as u64);
        h.insert(k.clone(), (i as u64, now + TTL));
    }
    let mut g = c.benchmark_group("get_hit_of_10000");
    g.throughput(Throughput::Elements(1_000));
    let probe = &ks[..1_000];
    g.bench_function("ttl_map", |b| {
        b.iter(|| {
            probe
                .iter()
                .map(|k| t.get(k.as_str()).unwrap_or(0))
                .sum::<u64>()
        })
    });
    g.bench_function("moka", |b| {
        b.iter(|| {
            probe
                .iter()
                .map(|k| m.get(k.as_str()).unwrap_or(0))
                .sum::<u64>()
        })
    });
    g.bench_function("hashmap", |b| {
        b.iter(|| {
            let now = Instant::now();
            probe
                .iter()
                .map(|k| match h.get(k.as_str()) {
                    Some(&(v, due)) if now < due => v,
                    _ => 0,
                })
                .sum::<u64>()
        })
    });
    g.finish();
}

fn sweep(c: &mut Criterion) {
    let rt = runtime();
    let _enter = rt.enter();
    let mut g = c.benchmark_group("sweep");
    g.sample_size(10);
    for &n in &[1_000usize, 100_000] {
        let ks = keys(n);
        g.throughput(Throughput::Elements(n as u64));
        // Half the entries expired (the sweep must look at all and keep half),
        // and all expired (the shape moka is measured on).
        for (label, every) in [("half_expired", 2usize), ("all_expired", 1)] {
            let short = |i: usize| {
                if i % every == 0 {
                    Duration::from_secs(1)
                } else {
                    TTL
                }
            };
            g.bench_with_input(
                BenchmarkId::new(format!("ttl_map_{label}"), n),
                &n,
                |b, _| {
                    b.iter_batched(
                        || {
                            let m = ttl_map();
                            for (i, k) in ks.iter().enumerate() {
                                m.insert_with_ttl(k.clone(), i as u64, short(i));
                            }
                            rt.block_on(tokio::time::advance(Duration::from_secs(2)));
                            m
                        },
                        |m| {
                            black_box(m.sweep());
                            m
                        },
                        BatchSize::LargeInput,
                    )
                },
            );
            g.bench_with_input(
                BenchmarkId::new(format!("hashmap_retain_{label}"), n),
                &n,
                |b, _| {
                    b.iter_batched(
                        || {
                            let now = Instant::now();
                            let m: Plain = ks
                                .iter()
                                .enumerate()
                                .map(|(i, k)| (k.clone(), (i as u64, now + short(i))))
                                .collect();
                            rt.block_on(tokio::time::advance(Duration::from_secs(2)));
                            m
                        },
                        |mut m| {
                            let now = Instant::now();
                            m.retain(|_, (_, due)| now < *due);
                            m
                        },
                        BatchSize::LargeInput,
                    )
                },
            );
        }
        // moka: entries get a TTL long enough to outlive the inserts, then one
        // real-time wait expires a whole batch of caches; only the
        // `run_pending_tasks` calls that remove them are timed.
        let fill = || {
            let m = moka_cache(MOKA_TTL);
            for (i, k) in ks.iter().enumerate() {
                m.insert(k.clone(), i as u64);
            }
            m.run_pending_tasks();
            m
        };
        {
            let m = fill();
            let before = m.entry_count();
            std::thread::sleep(MOKA_TTL + Duration::from_millis(10));
            m.run_pending_tasks();
            eprintln!(
                "moka: {before} entries, {} left after one run_pending_tasks",
                m.entry_count()
            );
        }
        g.bench_with_input(BenchmarkId::new("moka_all_expired", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let caches: Vec<_> = (0..iters).map(|_| fill()).collect();
                std::thread::sleep(MOKA_TTL + Duration::from_millis(10));
                let start = std::time::Instant::now();
                for m in &caches {
                    m.run_pending_tasks();
                }
                start.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, insert, get, sweep);
criterion_main!(benches);
