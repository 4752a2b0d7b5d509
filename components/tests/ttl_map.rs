//! `TtlMap` in virtual time: every method, the sweep task's life, and the leaky
//! twin's "hidden on read but never removed".

use std::time::Duration;

use soak_components::ttl_map::{
    Cleanup, TtlMap, TtlMapError, COOLDOWN_TTL, SESSION_SWEEP, SESSION_TTL,
};
use tokio::time::{sleep, Instant};

const TTL: Duration = Duration::from_secs(60);
const SWEEP: Duration = Duration::from_secs(10);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn map(cleanup: Cleanup) -> TtlMap<String, u32> {
    TtlMap::new(TTL, SWEEP, cleanup).expect("inside a runtime")
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Lets aborted tasks be reaped.
async fn settle() {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn insert_and_get_until_the_default_ttl() {
    let m = map(Cleanup::Sweep);
    assert_eq!(m.insert("a".into(), 1), None);
    assert_eq!(
        m.insert("a".into(), 2),
        Some(1),
        "replacing returns the live value"
    );
    assert_eq!(m.get("a"), Some(2));
    sleep(TTL - Duration::from_millis(1)).await;
    assert_eq!(m.get("a"), Some(2), "live until the last millisecond");
    sleep(Duration::from_millis(1)).await;
    assert_eq!(m.get("a"), None, "expired exactly at its TTL");
}

#[tokio::test(start_paused = true)]
async fn per_entry_ttl_overrides_the_default() {
    let m = map(Cleanup::Sweep);
    m.insert_with_ttl("short".into(), 1, secs(5));
    m.insert_with_ttl("long".into(), 2, secs(500));
    sleep(secs(5)).await;
    assert_eq!(m.get("short"), None);
    sleep(secs(400)).await;
    assert_eq!(m.get("long"), Some(2));
    sleep(secs(95)).await;
    assert_eq!(m.get("long"), None);
}

#[tokio::test(start_paused = true)]
async fn fixed_reads_remove_what_expired_leaky_reads_only_hide_it() {
    let fixed = map(Cleanup::Sweep);
    let leaky = map(Cleanup::None);
    for m in [&fixed, &leaky] {
        m.insert("a".into(), 1);
        m.insert("b".into(), 2);
    }
    sleep(TTL + secs(1)).await; // the fixed map has swept at 60 s
                                // Both hide expired entries from every read.
    for m in [&fixed, &leaky] {
        assert_eq!(m.get("a"), None);
        assert!(!m.contains("b"));
        assert_eq!(m.live_len(), 0);
    }
    assert_eq!(fixed.len(), 0, "fixed: swept and removed on read");
    assert_eq!(leaky.len(), 2, "leaky: still held");
    sleep(secs(86_400)).await;
    assert_eq!(leaky.len(), 2, "leaky: held a day later");
    assert_eq!(leaky.sweep_stats().runs, 0);
}

#[tokio::test(start_paused = true)]
async fn fixed_lazy_expiry_removes_on_read_between_sweeps() {
    // A sweep period far longer than the TTL isolates the read path.
    let m: TtlMap<String, u32> = TtlMap::new(secs(1), secs(3600), Cleanup::Sweep).expect("rt");
    m.insert("a".into(), 1);
    sleep(secs(2)).await;
    assert_eq!(m.len(), 1, "no sweep yet");
    assert_eq!(m.get("a"), None);
    assert_eq!(m.len(), 0, "the read removed it");
}

#[tokio::test(start_paused = true)]
async fn contains_and_remove() {
    let m = map(Cleanup::Sweep);
    m.insert("a".into(), 1);
    m.insert("b".into(), 2);
    assert!(m.contains("a"));
    assert!(!m.contains("zzz"));
    assert_eq!(m.remove("a"), Some(1));
    assert!(!m.contains("a"));
    assert_eq!(m.remove("a"), None);
    sleep(TTL).await;
    assert_eq!(m.remove("b"), None, "an expired entry is not returned");
}

#[tokio::test(start_paused = true)]
async fn remaining_counts_down_in_virtual_time() {
    let m = map(Cleanup::Sweep);
    m.insert("a".into(), 1);
    assert_eq!(m.remaining("a"), Some(TTL));
    sleep(secs(15)).await;
    assert_eq!(m.remaining("a"), Some(TTL - secs(15)));
    assert_eq!(m.remaining("missing"), None);
    sleep(TTL).await;
    assert_eq!(m.remaining("a"), None);
}

#[tokio::test(start_paused = true)]
async fn touch_restarts_the_default_ttl() {
    let m = map(Cleanup::Sweep);
    m.insert_with_ttl("a".into(), 1, secs(10));
    sleep(secs(8)).await;
    assert!(m.touch("a"));
    assert_eq!(
        m.remaining("a"),
        Some(TTL),
        "touch gives the default TTL from now"
    );
    sleep(TTL - secs(1)).await;
    assert_eq!(m.get("a"), Some(1));
    sleep(secs(1)).await;
    assert!(
        !m.touch("a"),
        "an expired entry cannot be touched back to life"
    );
    assert!(!m.touch("missing"));
}

#[tokio::test(start_paused = true)]
async fn increment_counts_in_a_fixed_window_then_restarts() {
    let m: TtlMap<String, u64> = TtlMap::new(TTL, SWEEP, Cleanup::Sweep).expect("rt");
    assert_eq!(m.increment("u", 1), 1);
    sleep(secs(30)).await;
    assert_eq!(m.increment("u", 2), 3);
    assert_eq!(
        m.remaining("u"),
        Some(TTL - secs(30)),
        "deadline kept from the first event"
    );
    sleep(secs(30)).await;
    assert_eq!(m.get("u"), None);
    assert_eq!(m.increment("u", 1), 1, "a new window");

    // The leaky twin restarts an expired counter in place, too.
    let l: TtlMap<String, u64> = TtlMap::new(TTL, SWEEP, Cleanup::None).expect("rt");
    l.increment("u", 5);
    sleep(TTL).await;
    assert_eq!(l.increment("u", 1), 1);
    assert_eq!(l.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn update_keeps_the_deadline_upsert_slides_it() {
    let m = map(Cleanup::Sweep);
    assert_eq!(
        m.update("a", |v| *v += 1),
        None,
        "update needs a live entry"
    );
    m.insert("a".into(), 1);
    sleep(secs(40)).await;
    assert_eq!(
        m.update("a", |v| {
            *v += 1;
            *v
        }),
        Some(2)
    );
    assert_eq!(m.remaining("a"), Some(TTL - secs(40)));

    assert_eq!(
        m.upsert(
            "b",
            || 10,
            |v| {
                *v += 1;
                *v
            }
        ),
        11,
        "inserted from init"
    );
    sleep(secs(40)).await;
    assert_eq!(
        m.upsert(
            "b",
            || 10,
            |v| {
                *v += 1;
                *v
            }
        ),
        12
    );
    assert_eq!(m.remaining("b"), Some(TTL), "upsert restarts the TTL");
    sleep(TTL).await;
    assert_eq!(
        m.upsert(
            "b",
            || 10,
            |v| {
                *v += 1;
                *v
            }
        ),
        11,
        "expired: init again"
    );
}

#[tokio::test(start_paused = true)]
async fn len_counts_held_entries_live_len_only_live_ones() {
    let m = map(Cleanup::None);
    assert!(m.is_empty());
    m.insert_with_ttl("old".into(), 1, secs(1));
    m.insert("new".into(), 2);
    sleep(secs(2)).await;
    assert_eq!(m.len(), 2);
    assert_eq!(m.live_len(), 1);
    assert!(!m.is_empty());
}

#[tokio::test(start_paused = true)]
async fn iteration_skips_expired_entries() {
    let m = map(Cleanup::None);
    m.insert_with_ttl("gone".into(), 1, secs(1));
    m.insert("a".into(), 2);
    m.insert("b".into(), 3);
    sleep(secs(2)).await;
    let mut keys = m.keys();
    keys.sort();
    assert_eq!(keys, vec!["a".to_string(), "b".to_string()]);
    let mut values = m.values();
    values.sort();
    assert_eq!(values, vec![2, 3]);
    let mut entries = m.entries();
    entries.sort();
    assert_eq!(entries, vec![("a".to_string(), 2), ("b".to_string(), 3)]);
    assert_eq!(m.len(), 3, "iteration removes nothing");
}

#[tokio::test(start_paused = true)]
async fn explicit_sweep_on_empty_all_expired_all_active_and_mixed() {
    // Cleanup::None: only the explicit sweep removes anything here.
    let m = map(Cleanup::None);
    assert_eq!(m.sweep(), 0, "empty map");

    for i in 0..100 {
        m.insert(format!("k{i}"), i);
    }
    assert_eq!(m.sweep(), 0, "all active: nothing removed");
    assert_eq!(m.len(), 100);

    sleep(TTL).await;
    assert_eq!(m.sweep(), 100, "all expired: all removed");
    assert!(m.is_empty());

    for i in 0..10 {
        m.insert_with_ttl(format!("short{i}"), i, secs(5));
        m.insert(format!("long{i}"), i);
    }
    sleep(secs(5)).await;
    assert_eq!(m.sweep(), 10, "mixed: the expired ten");
    assert_eq!(m.len(), 10);
    assert!(m.keys().iter().all(|k| k.starts_with("long")));
    let stats = m.sweep_stats();
    assert_eq!((stats.runs, stats.removed), (4, 110));
}

#[tokio::test(start_paused = true)]
async fn the_sweep_task_removes_expired_entries_every_period() {
    let m = map(Cleanup::Sweep);
    assert!(m.sweeping());
    m.insert_with_ttl("a".into(), 1, secs(15));
    m.insert("b".into(), 2);
    let t0 = Instant::now();
    sleep(secs(25)).await; // sweeps at 10 s and 20 s
    assert_eq!(m.sweep_stats().runs, 2);
    assert_eq!(m.len(), 1, "swept at 20 s without any read");
    assert_eq!(m.get("b"), Some(2), "the active one kept");
    sleep(secs(3600)).await;
    assert_eq!(m.len(), 0);
    assert_eq!(m.sweep_stats().runs, t0.elapsed().as_secs() / 10);
}

#[tokio::test(start_paused = true)]
async fn the_sweep_task_stops_when_the_last_handle_drops() {
    settle().await;
    let before = alive_tasks();
    let m = map(Cleanup::Sweep);
    let clone = m.clone();
    assert_eq!(
        alive_tasks(),
        before + 1,
        "one sweep task per map, not per handle"
    );
    drop(m);
    sleep(secs(30)).await;
    assert!(clone.sweeping(), "a remaining handle keeps it");
    drop(clone);
    settle().await;
    assert_eq!(
        alive_tasks(),
        before,
        "the last handle took the task with it"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_the_task_and_drops_every_entry() {
    settle().await;
    let before = alive_tasks();
    let m = map(Cleanup::Sweep);
    m.insert("a".into(), 1);
    sleep(secs(15)).await;
    let runs = m.sweep_stats().runs;
    m.shutdown();
    settle().await;
    assert!(!m.sweeping());
    assert_eq!(alive_tasks(), before);
    assert!(m.is_empty());
    // Still usable, no longer swept.
    m.insert_with_ttl("b".into(), 2, secs(1));
    sleep(secs(3600)).await;
    assert_eq!(m.sweep_stats().runs, runs);
    assert_eq!(m.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_leaky_twin_has_no_task() {
    settle().await;
    let before = alive_tasks();
    let m = map(Cleanup::None);
    assert!(!m.sweeping());
    assert_eq!(alive_tasks(), before);
    assert_eq!(m.cleanup(), Cleanup::None);
    assert_eq!(Cleanup::default().leaky(true), Cleanup::None);
    assert_eq!(Cleanup::default().leaky(false), Cleanup::Sweep);
}

#[tokio::test(start_paused = true)]
async fn presets_are_seed_000s_cooldown_and_session_maps() {
    let c: TtlMap<String, u32> = TtlMap::cooldowns(Cleanup::Sweep).expect("rt");
    assert_eq!(c.ttl(), COOLDOWN_TTL);
    assert_eq!(COOLDOWN_TTL, secs(5 * 60));
    let s: TtlMap<String, u32> = TtlMap::sessions(Cleanup::Sweep).expect("rt");
    assert_eq!((s.ttl(), s.sweep_every()), (SESSION_TTL, SESSION_SWEEP));
    assert_eq!(SESSION_TTL, secs(30 * 60));
    s.insert("session".into(), 1);
    sleep(secs(29 * 60)).await;
    assert!(s.contains("session"));
    sleep(secs(60 + 5 * 60)).await;
    assert_eq!(s.len(), 0, "expired at 30 min, swept by 35 min");
}

#[test]
fn a_sweeping_map_needs_a_runtime_the_leaky_one_does_not() {
    let err = TtlMap::<String, u32>::new(TTL, SWEEP, Cleanup::Sweep).err();
    assert_eq!(err, Some(TtlMapError::NoRuntime));
    let zero = TtlMap::<String, u32>::new(TTL, Duration::ZERO, Cleanup::None).err();
    assert_eq!(zero, Some(TtlMapError::ZeroSweep(Duration::ZERO)));
    assert!(TtlMap::<String, u32>::new(TTL, SWEEP, Cleanup::None).is_ok());
}
