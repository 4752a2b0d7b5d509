//! The LRU cache's contract: recency order, TTL on tokio's clock with and without
//! refresh-on-read, the callback's reasons, weight limits, the sweeper's lifetime,
//! the leaky twin — and how `moka` (which reads its own clock) behaves in virtual time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use soak_components::lru::{spawn_sweeper, Evictions, LruCache, LruError, Reason};
use tokio::time::advance;

type Log<K, V> = Arc<Mutex<Vec<(K, V, Reason)>>>;

fn logged<K: Send + 'static, V: Send + 'static>() -> (Log<K, V>, impl FnMut(K, V, Reason) + Send) {
    let log: Log<K, V> = Arc::default();
    let l = log.clone();
    (log, move |k, v, r| {
        l.lock().expect("log lock not poisoned").push((k, v, r))
    })
}

fn keys<V: Clone>(c: &LruCache<&'static str, V>) -> Vec<&'static str> {
    c.iter().map(|(k, _)| *k).collect()
}

const S: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn least_recently_used_goes_first_and_peek_does_not_promote() {
    let (log, cb) = logged();
    let mut c = LruCache::builder(3).on_evict(cb).build().unwrap();
    c.insert("a", 1);
    c.insert("b", 2);
    c.insert("c", 3);
    assert_eq!(keys(&c), ["c", "b", "a"]);
    assert_eq!(c.get("a"), Some(&1)); // a is now most recent
    c.insert("d", 4); // evicts b
    assert_eq!(keys(&c), ["d", "a", "c"]);
    assert_eq!(c.peek("c"), Some(&3)); // no promotion
    c.insert("e", 5); // evicts c, not a
    assert_eq!(keys(&c), ["e", "d", "a"]);
    assert_eq!(
        *log.lock().unwrap(),
        [("b", 2, Reason::Capacity), ("c", 3, Reason::Capacity)]
    );
    assert_eq!(c.len(), 3);
    assert_eq!(c.evictions().capacity, 2);
    // Rewriting a key makes it most recent too.
    c.insert("a", 10);
    assert_eq!(keys(&c), ["a", "e", "d"]);
}

#[tokio::test(start_paused = true)]
async fn ttl_without_refresh_counts_from_the_last_write() {
    let (log, cb) = logged();
    let mut c = LruCache::builder(10)
        .ttl(S(10))
        .on_evict(cb)
        .build()
        .unwrap();
    c.insert("a", 1);
    c.insert("b", 2);
    advance(S(6)).await;
    assert_eq!(c.get("a"), Some(&1)); // read: does not restart the TTL
    c.insert("b", 20); // write: does
    advance(S(4)).await; // a is 10 s old: due exactly now
    assert_eq!(c.get("a"), None);
    assert_eq!(c.get("b"), Some(&20));
    assert_eq!(c.len(), 1);
    advance(S(6)).await; // b's rewrite is 10 s old
    assert!(!c.contains("b"));
    assert_eq!(c.purge_expired(), 1);
    assert!(c.is_empty());
    assert_eq!(
        *log.lock().unwrap(),
        [
            ("b", 2, Reason::Replaced),
            ("a", 1, Reason::Expired),
            ("b", 20, Reason::Expired)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn ttl_with_refresh_on_get_keeps_active_entries_alive() {
    let (log, cb) = logged();
    let mut c = LruCache::builder(10)
        .ttl(S(10))
        .refresh_on_get(true)
        .on_evict(cb)
        .build()
        .unwrap();
    assert!(c.refreshes_on_get());
    c.insert("active", 1);
    c.insert("idle", 2);
    c.insert("peeked", 3);
    for _ in 0..10 {
        advance(S(6)).await;
        assert_eq!(c.get("active"), Some(&1), "a read every 6 s keeps it");
        let _ = c.peek("peeked");
    }
    // `peek` never refreshed `peeked`, and `idle` was never read: both expired
    // 10 s after their insert; `active` lives 10 s past its last read.
    let log_now: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .map(|(k, _, r)| (*k, *r))
        .collect();
    assert_eq!(
        log_now,
        [("idle", Reason::Expired), ("peeked", Reason::Expired)]
    );
    advance(S(9)).await;
    assert_eq!(c.peek("active"), Some(&1));
    advance(S(1)).await;
    assert_eq!(c.peek("active"), None);
    assert_eq!(c.purge_expired(), 1);
    assert_eq!(c.evictions().expired, 3);
}

#[tokio::test(start_paused = true)]
async fn update_refreshes_age_like_get() {
    let mut c = LruCache::builder(10)
        .ttl(S(10))
        .refresh_on_get(true)
        .build()
        .unwrap();
    c.insert("s", vec![1u64]);
    for i in 0..5 {
        advance(S(8)).await;
        assert_eq!(c.update("s", |v| v.push(i)), Some(()));
    }
    assert_eq!(c.peek("s").map(Vec::len), Some(6));
    advance(S(10)).await;
    assert_eq!(c.update("s", |v| v.push(9)), None);
}

#[tokio::test(start_paused = true)]
async fn expired_entries_do_not_pile_up_when_never_read() {
    // One new key a second, none ever read again, TTL 60 s, room for 10,000:
    // writes purge what is due, so at most 61 entries are ever held.
    let mut c = LruCache::builder(10_000).ttl(S(60)).build().unwrap();
    let mut most = 0;
    for i in 0..3_600u32 {
        c.insert(i, [0u8; 64]);
        most = most.max(c.len());
        advance(S(1)).await;
    }
    assert_eq!(most, 60);
    assert_eq!(c.evictions().expired, 3_600 - 60);
    assert_eq!(c.evictions().capacity, 0);
}

#[test]
fn callback_is_told_every_reason_and_take_is_silent() {
    let (log, cb) = logged();
    let mut c = LruCache::builder(2).on_evict(cb).build().unwrap();
    c.insert("a", 1);
    c.insert("a", 2); // Replaced(1)
    c.insert("b", 3);
    c.insert("c", 4); // Capacity(a=2)
    assert!(c.remove("b")); // Removed(3)
    assert!(!c.remove("b"));
    c.insert("d", 5);
    assert_eq!(c.take("d"), Some(5)); // no callback
    c.insert("e", 6);
    c.clear(); // Removed(c=4), Removed(e=6): least recent first
    assert!(c.is_empty());
    assert_eq!(
        *log.lock().unwrap(),
        [
            ("a", 1, Reason::Replaced),
            ("a", 2, Reason::Capacity),
            ("b", 3, Reason::Removed),
            ("c", 4, Reason::Removed),
            ("e", 6, Reason::Removed),
        ]
    );
    assert_eq!(
        c.evictions(),
        Evictions {
            expired: 0,
            capacity: 1,
            replaced: 1,
            removed: 3
        }
    );
    assert_eq!(c.evictions().total(), 5);
    assert_eq!(Reason::ALL.map(|r| c.evictions().get(r)), [0, 1, 1, 3]);
}

#[test]
fn weight_limit_evicts_least_recent_until_it_fits() {
    let (log, cb) = logged();
    let mut c = LruCache::builder(100)
        .max_weight(100, |_: &&str, v: &Vec<u8>| v.len() as u64)
        .on_evict(cb)
        .build()
        .unwrap();
    c.insert("a", vec![0; 40]);
    c.insert("b", vec![0; 40]);
    assert_eq!(c.weight(), 80);
    c.get("a");
    c.insert("c", vec![0; 50]); // 130 > 100: b (least recent) goes
    assert_eq!(c.weight(), 90);
    assert_eq!(keys(&c), ["c", "a"]);
    c.insert("c", vec![0; 10]); // replacing re-weighs: 50
    assert_eq!(c.weight(), 50);
    // Too heavy for the whole budget: refused, handed back, old value replaced.
    assert!(!c.insert("a", vec![0; 101]));
    assert_eq!(keys(&c), ["c"]);
    assert_eq!(c.weight(), 10);
    // Growing a value in place re-weighs and evicts others to fit.
    c.insert("d", vec![0; 30]);
    assert_eq!(c.update("c", |v| v.resize(80, 0)), Some(()));
    assert_eq!(keys(&c), ["c"]);
    assert_eq!(c.weight(), 80);
    let got: Vec<(&str, usize, Reason)> = log
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v, r)| (*k, v.len(), *r))
        .collect();
    assert_eq!(
        got,
        [
            ("b", 40, Reason::Capacity),
            ("c", 50, Reason::Replaced),
            ("a", 40, Reason::Replaced),
            ("a", 101, Reason::Capacity),
            ("d", 30, Reason::Capacity),
        ]
    );
}

#[test]
fn weight_without_a_weigher_is_the_entry_count() {
    let mut c = LruCache::builder(5).build().unwrap();
    for i in 0..8 {
        c.insert(i, ());
    }
    assert_eq!((c.len(), c.weight()), (5, 5));
}

#[tokio::test(start_paused = true)]
async fn leaky_twin_is_an_unbounded_map_that_never_expires() {
    let (log, cb) = logged();
    let mut c = LruCache::builder(10)
        .max_weight(10, |_: &u32, _: &u32| 1)
        .ttl(S(1))
        .on_evict(cb)
        .leaky(true)
        .build()
        .unwrap();
    assert_eq!(c.max_entries(), None);
    assert_eq!((c.max_weight(), c.ttl()), (None, None));
    for i in 0..10_000 {
        c.insert(i, i);
    }
    advance(S(3_600)).await;
    assert_eq!(c.purge_expired(), 0);
    assert_eq!(c.len(), 10_000);
    assert_eq!(c.get(&0), Some(&0));
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn sweeper_expires_idle_entries_on_time_and_stops_with_its_guard() {
    let (log, cb) = logged();
    let cache = Arc::new(Mutex::new(
        LruCache::builder(10)
            .ttl(S(60))
            .on_evict(cb)
            .build()
            .unwrap(),
    ));
    cache.lock().unwrap().insert("socket", 7);
    let sweeper = spawn_sweeper(&cache, S(10)).unwrap();
    advance(S(65)).await; // deadline at 60 s; sweeps at 10, 20, … 60
    tokio::task::yield_now().await;
    assert_eq!(*log.lock().unwrap(), [("socket", 7, Reason::Expired)]);
    assert!(cache.lock().unwrap().is_empty());
    assert!(!sweeper.is_finished());
    drop(sweeper);
    tokio::task::yield_now().await;
    assert_eq!(
        Arc::weak_count(&cache),
        0,
        "the aborted task released its Weak"
    );
}

#[tokio::test(start_paused = true)]
async fn sweeper_ends_by_itself_when_the_cache_is_dropped() {
    let cache = Arc::new(Mutex::new(
        LruCache::<u8, u8>::builder(1).ttl(S(1)).build().unwrap(),
    ));
    let sweeper = spawn_sweeper(&cache, S(1)).unwrap();
    drop(cache);
    advance(S(2)).await;
    tokio::task::yield_now().await;
    assert!(sweeper.is_finished());
}

#[test]
fn bad_options_are_errors_not_panics() {
    let e = |b: soak_components::lru::Builder<u8, u8>| b.build().unwrap_err();
    assert_eq!(e(LruCache::builder(0)), LruError::ZeroEntries);
    assert_eq!(
        e(LruCache::builder(1).max_weight(0, |_, _| 1)),
        LruError::ZeroWeight
    );
    assert_eq!(
        e(LruCache::builder(1).ttl(Duration::ZERO)),
        LruError::ZeroTtl
    );
    let c = Arc::new(Mutex::new(LruCache::<u8, u8>::builder(1).build().unwrap()));
    assert_eq!(spawn_sweeper(&c, S(1)).unwrap_err(), LruError::NoRuntime);
    assert!(LruCache::<u8, u8>::builder(0).leaky(true).build().is_ok());
}

/// `moka` keeps time with its own clock (`std::time::Instant` via quanta), not
/// tokio's: on a paused runtime, virtual hours pass and its TTL never fires. A
/// moka-backed subject in a soak replay is bounded by capacity only.
#[tokio::test(start_paused = true)]
async fn moka_ttl_does_not_follow_tokio_virtual_time() {
    let moka = moka::sync::Cache::builder()
        .max_capacity(10)
        .time_to_live(Duration::from_secs(3_600))
        .build();
    let mut ours = LruCache::builder(10).ttl(S(3_600)).build().unwrap();
    moka.insert(1u32, 1u32);
    ours.insert(1u32, 1u32);
    advance(S(2 * 3_600)).await;
    moka.run_pending_tasks();
    assert_eq!(
        moka.get(&1),
        Some(1),
        "two virtual hours mean nothing to moka"
    );
    assert_eq!(ours.get(&1), None, "ours expired on tokio's clock");
}
