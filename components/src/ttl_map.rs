//! A map whose entries expire: the `TTLMap` of seed 000 (`set get has delete getTtl
//! touch increment size cleanup destroy`, iteration with expiry checks) that
//! replaced the unbounded maps of a Discord bot's anti-spam, anti-raid, ticket and
//! rate-limiter code, and its leaky twin — the unbounded map it replaced.
//!
//! Every entry carries its own deadline on tokio's clock, so on a paused runtime
//! entries expire at virtual times. Expired entries are invisible to every read.
//! What differs between the twins is whether they are ever *removed*:
//!
//! - [`Cleanup::Sweep`] (fixed): a `tokio::spawn`ed task sweeps expired entries every
//!   `sweep_every` and reads remove the expired entry they find (seed 001's option
//!   A, periodic sweep, plus option B, lazy expiry). The task holds only a weak
//!   reference and is aborted when the last handle is dropped or
//!   [`TtlMap::shutdown`] is called (mini-redis `DbDropGuard` style).
//! - [`Cleanup::None`] (leaky): no task, and reads hide expired entries without
//!   removing them, so a map keyed by a churning population grows forever.
//!
//! Handles are cheap clones sharing one map (`Arc<Mutex<..>>`); the lock is never
//! held across an `.await`.

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::hash::HashMap;

/// Entry lifetime of the [`TtlMap::cooldowns`] preset (seed 000's `cooldownMap`).
pub const COOLDOWN_TTL: Duration = Duration::from_secs(5 * 60);
/// Sweep period of the cooldown preset (the seed gives none; one fifth of the TTL).
pub const COOLDOWN_SWEEP: Duration = Duration::from_secs(60);
/// Entry lifetime of the [`TtlMap::sessions`] preset (seed 000's `sessionMap`).
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 60);
/// Sweep period of the session preset (one sixth of the TTL).
pub const SESSION_SWEEP: Duration = Duration::from_secs(5 * 60);

/// Whether expired entries are ever removed: the fixed map or its leaky twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Cleanup {
    /// Periodic sweep task plus removal of expired entries found by reads.
    #[default]
    Sweep,
    /// Expired entries are hidden on read but never removed (the leaky twin).
    None,
}

impl Cleanup {
    /// With `true`, the leaky twin ([`Cleanup::None`]); with `false`, `self`:
    /// `Cleanup::default().leaky(ctx.leaky())` is the fixed sweep or no cleanup.
    pub fn leaky(self, leaky: bool) -> Self {
        if leaky {
            Cleanup::None
        } else {
            self
        }
    }
}

/// Why a map could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TtlMapError {
    /// The sweep task needs a tokio runtime to be spawned on.
    #[error(
        "a sweeping TtlMap must be created inside a tokio runtime (its sweep is a tokio task)"
    )]
    NoRuntime,
    /// A zero sweep period would spin.
    #[error("the sweep period must be longer than zero, got {0:?}")]
    ZeroSweep(Duration),
}

/// How much sweeping has happened (the seed's cleanup log, as numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepStats {
    /// Sweeps run (periodic and explicit).
    pub runs: u64,
    /// Entries they removed in total.
    pub removed: u64,
}

struct Entry<V> {
    value: V,
    expires: Instant,
}

impl<V> Entry<V> {
    fn live(&self, now: Instant) -> bool {
        now < self.expires
    }
}

struct State<K, V> {
    entries: HashMap<K, Entry<V>>,
    stats: SweepStats,
}

struct Inner<K, V> {
    state: Mutex<State<K, V>>,
    ttl: Duration,
    sweep_every: Duration,
    cleanup: Cleanup,
    sweeper: Mutex<Option<AbortHandle>>,
}

impl<K, V> Inner<K, V> {
    fn lock(&self) -> MutexGuard<'_, State<K, V>> {
        // A poisoned lock means a caller's `update`/`upsert` closure panicked: the
        // HashMap is still consistent, at worst that one value is half-changed.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stop_sweeper(&self) {
        let mut s = self.sweeper.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(task) = s.take() {
            task.abort();
        }
    }
}

impl<K: Hash + Eq, V> Inner<K, V> {
    fn sweep(&self) -> usize {
        let now = Instant::now();
        let mut st = self.lock();
        let before = st.entries.len();
        st.entries.retain(|_, e| e.live(now));
        let removed = before - st.entries.len();
        // HashMap never shrinks by itself: after a flood the table would keep its
        // peak size forever. Give memory back once the table is mostly empty.
        let (len, cap) = (st.entries.len(), st.entries.capacity());
        if cap > 64 && len * 4 < cap {
            st.entries.shrink_to(len * 2);
        }
        st.stats.runs += 1;
        st.stats.removed += removed as u64;
        removed
    }
}

impl<K, V> Drop for Inner<K, V> {
    fn drop(&mut self) {
        // The guard role: the last handle going away stops the sweep task.
        self.stop_sweeper();
    }
}

/// A shared map whose entries expire after a default or per-entry time to live.
pub struct TtlMap<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for TtlMap<K, V> {
    fn clone(&self) -> Self {
        TtlMap {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V> fmt::Debug for TtlMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtlMap")
            .field("ttl", &self.inner.ttl)
            .field("sweep_every", &self.inner.sweep_every)
            .field("cleanup", &self.inner.cleanup)
            .field("len", &self.inner.lock().entries.len())
            .finish()
    }
}

impl<K, V> TtlMap<K, V>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
{
    /// A map whose entries live `ttl` unless given their own. With
    /// [`Cleanup::Sweep`] a task removes expired entries every `sweep_every`; it
    /// must then be called inside a tokio runtime.
    pub fn new(
        ttl: Duration,
        sweep_every: Duration,
        cleanup: Cleanup,
    ) -> Result<Self, TtlMapError> {
        if sweep_every.is_zero() {
            return Err(TtlMapError::ZeroSweep(sweep_every));
        }
        let map = TtlMap {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    entries: HashMap::default(),
                    stats: SweepStats::default(),
                }),
                ttl,
                sweep_every,
                cleanup,
                sweeper: Mutex::new(None),
            }),
        };
        // LEAK: seed 000 started from maps that were never cleaned ("Unbounded Maps
        // ... replaced with TTLMap"), seed 001's `flagCooldowns` likewise ("No
        // cleanup mechanism: Entries are added but never removed"): no sweep task.
        if cleanup == Cleanup::Sweep {
            let rt = tokio::runtime::Handle::try_current().map_err(|_| TtlMapError::NoRuntime)?;
            let weak = Arc::downgrade(&map.inner);
            let task = rt.spawn(sweep_task(weak, sweep_every));
            *map.inner.sweeper.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(task.abort_handle());
        }
        Ok(map)
    }

    /// Seed 000's `cooldownMap`: 5 min TTL, swept every minute.
    pub fn cooldowns(cleanup: Cleanup) -> Result<Self, TtlMapError> {
        Self::new(COOLDOWN_TTL, COOLDOWN_SWEEP, cleanup)
    }

    /// Seed 000's `sessionMap`: 30 min TTL, swept every 5 minutes.
    pub fn sessions(cleanup: Cleanup) -> Result<Self, TtlMapError> {
        Self::new(SESSION_TTL, SESSION_SWEEP, cleanup)
    }
}

async fn sweep_task<K: Hash + Eq, V>(map: Weak<Inner<K, V>>, every: Duration) {
    let mut iv = tokio::time::interval_at(Instant::now() + every, every);
    iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        iv.tick().await;
        match map.upgrade() {
            Some(inner) => {
                inner.sweep();
            }
            None => break,
        }
    }
}

impl<K: Hash + Eq, V> TtlMap<K, V> {
    /// The default time to live.
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// The sweep period.
    pub fn sweep_every(&self) -> Duration {
        self.inner.sweep_every
    }

    /// Which twin this is.
    pub fn cleanup(&self) -> Cleanup {
        self.inner.cleanup
    }

    /// Stores `value` for the default TTL; returns the previous live value.
    pub fn insert(&self, key: K, value: V) -> Option<V> {
        self.insert_with_ttl(key, value, self.inner.ttl)
    }

    /// Stores `value` for `ttl`; returns the previous live value.
    pub fn insert_with_ttl(&self, key: K, value: V, ttl: Duration) -> Option<V> {
        let now = Instant::now();
        let entry = Entry {
            value,
            expires: now + ttl,
        };
        let old = self.inner.lock().entries.insert(key, entry);
        old.filter(|e| e.live(now)).map(|e| e.value)
    }

    /// Runs `f` on the live entry for `key`; the fixed map removes an expired one.
    fn with_live<Q, R>(&self, key: &Q, f: impl FnOnce(&mut Entry<V>, Instant) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = Instant::now();
        let mut st = self.inner.lock();
        match st.entries.get_mut(key) {
            Some(e) if e.live(now) => Some(f(e, now)),
            Some(_) => {
                // LEAK: the leaky twin only hides what expired ("expired entries
                // are hidden on read but never removed").
                if self.inner.cleanup == Cleanup::Sweep {
                    st.entries.remove(key);
                }
                None
            }
            None => None,
        }
    }

    /// A copy of the live value for `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        self.with_live(key, |e, _| e.value.clone())
    }

    /// Whether `key` has a live entry.
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.with_live(key, |_, _| ()).is_some()
    }

    /// Changes the live value for `key` in place (its deadline unchanged) and
    /// returns what `f` returns; `None` when there is no live entry. `f` runs
    /// under the map's lock: it must not use the map.
    pub fn update<Q, R>(&self, key: &Q, f: impl FnOnce(&mut V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.with_live(key, |e, _| f(&mut e.value))
    }

    /// Changes the live value for `key` with `f` and restarts its default TTL
    /// (a sliding deadline); a missing or expired entry is first replaced by
    /// `init()`. Returns what `f` returns. The key is copied only when new. `f`
    /// runs under the map's lock: it must not use the map.
    pub fn upsert<Q, R>(&self, key: &Q, init: impl FnOnce() -> V, f: impl FnOnce(&mut V) -> R) -> R
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let now = Instant::now();
        let expires = now + self.inner.ttl;
        let mut st = self.inner.lock();
        if let Some(e) = st.entries.get_mut(key) {
            if !e.live(now) {
                // Reusing an expired slot is not a removal: both twins do it.
                e.value = init();
            }
            e.expires = expires;
            return f(&mut e.value);
        }
        let mut value = init();
        let r = f(&mut value);
        st.entries.insert(key.to_owned(), Entry { value, expires });
        r
    }

    /// Removes `key`; returns its value if it was live.
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = Instant::now();
        let old = self.inner.lock().entries.remove(key);
        old.filter(|e| e.live(now)).map(|e| e.value)
    }

    /// Time left before `key` expires (seed 000's `getTtl`); `None` if not live.
    pub fn remaining<Q>(&self, key: &Q) -> Option<Duration>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.with_live(key, |e, now| e.expires - now)
    }

    /// Restarts `key`'s default TTL from now; `false` if it was not live.
    pub fn touch<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let ttl = self.inner.ttl;
        self.with_live(key, |e, now| e.expires = now + ttl)
            .is_some()
    }

    /// Entries held in memory, expired-but-not-yet-removed ones included: what
    /// the map costs, and what its gauge reports (seed 000's `size`).
    pub fn len(&self) -> usize {
        self.inner.lock().entries.len()
    }

    /// Whether the map holds no entries at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries that have not expired.
    pub fn live_len(&self) -> usize {
        let now = Instant::now();
        let st = self.inner.lock();
        st.entries.values().filter(|e| e.live(now)).count()
    }

    /// Removes every expired entry now (seed 000's `cleanup`); returns how many.
    pub fn sweep(&self) -> usize {
        self.inner.sweep()
    }

    /// Sweeps run and entries removed so far.
    pub fn sweep_stats(&self) -> SweepStats {
        self.inner.lock().stats
    }

    /// Whether the periodic sweep task is running.
    pub fn sweeping(&self) -> bool {
        let s = self.inner.sweeper.lock().unwrap_or_else(|p| p.into_inner());
        s.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the sweep task and drops every entry (seed 000's `destroy`). The map
    /// stays usable but no longer sweeps.
    pub fn shutdown(&self) {
        self.inner.stop_sweeper();
        let mut st = self.inner.lock();
        st.entries.clear();
        st.entries.shrink_to_fit();
    }

    /// Live keys, in no particular order (expired entries skipped).
    pub fn keys(&self) -> Vec<K>
    where
        K: Clone,
    {
        self.collect(|k, _| k.clone())
    }

    /// Live values, in no particular order.
    pub fn values(&self) -> Vec<V>
    where
        V: Clone,
    {
        self.collect(|_, v| v.clone())
    }

    /// Live `(key, value)` pairs, in no particular order.
    pub fn entries(&self) -> Vec<(K, V)>
    where
        K: Clone,
        V: Clone,
    {
        self.collect(|k, v| (k.clone(), v.clone()))
    }

    fn collect<T>(&self, f: impl Fn(&K, &V) -> T) -> Vec<T> {
        let now = Instant::now();
        let st = self.inner.lock();
        st.entries
            .iter()
            .filter(|(_, e)| e.live(now))
            .map(|(k, e)| f(k, &e.value))
            .collect()
    }
}

impl<K: Hash + Eq> TtlMap<K, u64> {
    /// Adds `by` to the live counter for `key` and returns the new count. A new
    /// (or expired) counter starts at `by` with the default TTL; a live one keeps
    /// its deadline, so the count covers a fixed window from the first event.
    /// The key is copied only when the counter is new.
    pub fn increment<Q>(&self, key: &Q, by: u64) -> u64
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let now = Instant::now();
        let fresh = Entry {
            value: by,
            expires: now + self.inner.ttl,
        };
        let mut st = self.inner.lock();
        if let Some(e) = st.entries.get_mut(key) {
            if e.live(now) {
                e.value = e.value.saturating_add(by);
            } else {
                // Reusing the slot of an expired counter is not a removal: the
                // leaky twin restarts it in place just like the fixed map.
                *e = fresh;
            }
            return e.value;
        }
        st.entries.insert(key.to_owned(), fresh);
        by
    }
}
