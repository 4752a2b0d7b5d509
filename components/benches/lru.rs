//! Our [`LruCache`] against the `lru` crate it is built on and `moka::sync::Cache`,
//! on the same workloads: what TTL, weights and eviction reasons cost.
//!
//! - `read_through`: the auth-cache pattern — look a key up, insert it on a miss.
//!   1,000 entries, keys Zipf-distributed (s = 1) over 4,000, ~10k ops per batch.
//! - `churn`: every op inserts a new key into a full cache (an eviction each time).
//! - `clock`: one read of tokio's clock against `std`'s.
//!
//! Run: `cargo bench -p soak-components --bench lru -- --measurement-time 2 --warm-up-time 1`.

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use soak_components::lru::LruCache;

const CAP: usize = 1_000;
const KEYS: u64 = 4_000;
const OPS: usize = 10_000;
const TTL: Duration = Duration::from_secs(300);

/// Zipf(s = 1) ranks over `KEYS` from a fixed xorshift stream: the same keys for
/// every cache.
fn zipf_keys() -> Vec<u64> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..OPS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            ((KEYS as f64).powf(u) - 1.0).floor() as u64
        })
        .collect()
}

fn ours(ttl: bool, refresh: bool) -> LruCache<u64, u64> {
    let mut b = LruCache::builder(CAP);
    if ttl {
        b = b.ttl(TTL).refresh_on_get(refresh);
    }
    b.build().expect("valid options")
}

fn moka() -> moka::sync::Cache<u64, u64> {
    moka::sync::Cache::builder()
        .max_capacity(CAP as u64)
        .time_to_live(TTL)
        .build()
}

fn read_through(c: &mut Criterion) {
    let keys = zipf_keys();
    let mut g = c.benchmark_group("read_through");
    g.throughput(Throughput::Elements(OPS as u64));
    for (name, ttl, refresh) in [
        ("ours_no_ttl", false, false),
        ("ours_ttl", true, false),
        ("ours_ttl_refresh", true, true),
    ] {
        let mut cache = ours(ttl, refresh);
        g.bench_function(name, |b| {
            b.iter(|| {
                for &k in &keys {
                    if cache.get(&k).is_none() {
                        cache.insert(k, k);
                    }
                }
            })
        });
    }
    let mut plain = lru::LruCache::new(NonZeroUsize::new(CAP).expect("non-zero"));
    g.bench_function("lru_crate", |b| {
        b.iter(|| {
            for &k in &keys {
                if plain.get(&k).is_none() {
                    plain.put(k, k);
                }
            }
        })
    });
    let m = moka();
    g.bench_function("moka_sync_ttl", |b| {
        b.iter(|| {
            for &k in &keys {
                if m.get(&k).is_none() {
                    m.insert(k, k);
                }
            }
        })
    });
    g.finish();
}

fn churn(c: &mut Criterion) {
    let mut g = c.benchmark_group("churn");
    g.throughput(Throughput::Elements(OPS as u64));
    for (name, ttl) in [("ours_no_ttl", false), ("ours_ttl", true)] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let mut c = ours(ttl, false);
                    (0..CAP as u64).for_each(|k| {
                        c.insert(k, k);
                    });
                    c
                },
                |mut c| {
                    for k in 0..OPS as u64 {
                        c.insert(CAP as u64 + k, k);
                    }
                    black_box(c.len())
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.bench_function("lru_crate", |b| {
        b.iter_batched(
            || {
                let mut c = lru::LruCache::new(NonZeroUsize::new(CAP).expect("non-zero"));
                (0..CAP as u64).for_each(|k| {
                    c.put(k, k);
                });
                c
            },
            |mut c| {
                for k in 0..OPS as u64 {
                    c.put(CAP as u64 + k, k);
                }
                black_box(c.len())
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("moka_sync_ttl", |b| {
        b.iter_batched(
            || {
                let c = moka();
                (0..CAP as u64).for_each(|k| c.insert(k, k));
                c
            },
            |c| {
                for k in 0..OPS as u64 {
                    c.insert(CAP as u64 + k, k);
                }
                c.run_pending_tasks();
                black_box(c.entry_count())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// What one clock read costs: our TTL reads tokio's clock (which, with tokio's
/// `test-util` feature, first asks the runtime whether time is paused).
fn clock(c: &mut Criterion) {
    let mut g = c.benchmark_group("clock");
    g.bench_function("tokio_instant_now", |b| {
        b.iter(|| black_box(tokio::time::Instant::now()))
    });
    g.bench_function("std_instant_now", |b| {
        b.iter(|| black_box(std::time::Instant::now()))
    });
    g.finish();
}

criterion_group!(benches, read_through, churn, clock);
criterion_main!(benches);
