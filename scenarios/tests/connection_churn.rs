//! `connection-churn` over 24 virtual hours: the fixed server passes with a clean
//! teardown and never evicts a heartbeating client; seed 004's leaky server fails
//! on heap or tasks. One test per (variant, seed) so nextest runs them in parallel.

use soak_harness::{Variant, Verdict};
use soak_scenarios::connection_churn::ConnectionChurn;

use crate::support;

fn fixed_passes(seed: u64) {
    let s = support::day(&ConnectionChurn, Variant::Fixed, seed).summary;
    support::no_site_past_budget(&s);
    assert_eq!(s.verdict, Verdict::Pass, "seed {seed}: {}", s.message);
    assert!(
        support::extra(&s, "peak_connections") >= 10_000.0,
        "seed {seed}"
    );
    assert_eq!(
        support::extra(&s, "heartbeating_clients_evicted"),
        0.0,
        "seed {seed}"
    );
    let t = &s.teardown;
    assert!(t.tasks_back && t.heap_back, "seed {seed}: {t:?}");
    // The heartbeat, not the shutdown, closed the half-open connections.
    let evictions = &s.extras["evictions"];
    assert!(
        evictions["heartbeat"].as_u64().unwrap_or(0) > 1_000,
        "{evictions}"
    );
}

fn leaky_fails(seed: u64) {
    let s = support::day(&ConnectionChurn, Variant::Leaky, seed).summary;
    assert_eq!(s.verdict, Verdict::Fail, "seed {seed}: {}", s.message);
    // The connections the server accepts and never lets go.
    support::top_site_on(&s, &["components/src/ws/"]);
    assert!(
        s.failed_resources
            .iter()
            .any(|r| r == "heap" || r == "tasks"),
        "seed {seed}: {:?}",
        s.failed_resources
    );
    // Without a heartbeat the half-open connections pile up past the fixed bound.
    assert!(
        support::extra(&s, "peak_connections") > 10_000.0,
        "seed {seed}"
    );
}

#[test]
fn fixed_passes_seed_1() {
    fixed_passes(1);
}

#[test]
fn fixed_passes_seed_2() {
    fixed_passes(2);
}

#[test]
fn fixed_passes_seed_3() {
    fixed_passes(3);
}

#[test]
fn leaky_fails_seed_1() {
    leaky_fails(1);
}

#[test]
fn leaky_fails_seed_2() {
    leaky_fails(2);
}

#[test]
fn leaky_fails_seed_3() {
    leaky_fails(3);
}
