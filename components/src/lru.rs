//! `lru`: a bounded LRU cache with a time-to-live, an optional weight budget and an
//! eviction callback told why (seeds 003 and 004) — and, built with
//! [`Builder::leaky`], the unbounded map those seeds replaced.
//!
//! Seed 003 replaced an artifact store and an auth cache (plain `Map`s) with
//! `lru-cache` instances (max 1,000 items; 24 h and 5 min TTL; a dispose hook that
//! logs). Seed 004 did the same for a WebSocket client registry (10k clients, 1 h
//! TTL refreshed on activity, dispose closes the socket) and a session index (1,000
//! sessions, 15 min TTL, dispose times out the session's pending interactions).
//! [`LruCache`] is that cache, general enough for all four uses.
//!
//! # What comes from the `lru` crate and what is ours
//!
//! Recency order (a hash map threaded by a doubly linked list, O(1) get, promote and
//! pop-least-recent) is what the `lru` crate does well; it is small, widely used and
//! has no `unsafe` we would write better. It has no TTL, no weights and no eviction
//! callback, and its own capacity check drops evicted values silently. So we keep it
//! *unbounded in practice* (we always make room before inserting) and add:
//!
//! - **Expiry on tokio's clock.** Deadlines are [`tokio::time::Instant`]s, so a paused
//!   runtime (the soak harness, `#[tokio::test(start_paused = true)]`) expires
//!   entries in virtual time. `moka` reads its own clock and would not.
//! - **Weights**: a weigher `Fn(&K, &V) -> u64` and a `max_weight`; an entry heavier
//!   than the whole budget is refused (handed back to the callback as `Capacity`).
//! - **An eviction callback** `FnMut(K, V, Reason)` and counters per [`Reason`].
//!
//! # Expiry: lazy, amortised, and an optional sweep task
//!
//! Every `&mut` operation (insert, get, update, remove, …) first purges whatever has
//! expired, so after any of them no expired entry is left. That costs O(1) when
//! nothing is due, because we always know the soonest deadline:
//!
//! - with `refresh_on_get`, every touch of recency (insert, get, update) also resets
//!   the deadline with the same TTL, so the least recent entry *is* the soonest to
//!   expire: purge pops from the LRU end while expired;
//! - without it, deadlines follow write order: a FIFO queue of `(deadline, key,
//!   generation)` records. Records made stale by a rewrite, removal or eviction are
//!   skipped by generation and compacted away when they outnumber live entries, so
//!   the queue stays below `2·len + 64` records.
//!
//! Each entry expires once, so purging is amortised O(1) per write. Entries can
//! therefore never pile up while the cache is used; when it sits idle, an expired
//! entry waits for the next operation. When the callback must run on time (a socket
//! closed an hour after its last message even if nothing else happens),
//! [`spawn_sweeper`] runs [`LruCache::purge_expired`] every interval as a tokio task
//! owned by a [`Sweeper`] guard that stops it on drop.
//!
//! The callback runs while the cache is borrowed: it must not reach back into the
//! same cache (through an `Arc<Mutex<_>>` that would deadlock). Send work elsewhere
//! (a channel, another map) instead.

mod sweep;

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::fmt;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::time::Duration;

use tokio::time::Instant;

use crate::hash::FixedFold;

pub use sweep::{spawn_sweeper, Shared, Sweeper};

/// Why an entry left the cache, as told to the eviction callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Its time-to-live ran out.
    Expired,
    /// It was the least recently used when the entry or weight limit was reached
    /// (or, for a value heavier than the whole budget, it was refused).
    Capacity,
    /// Its key was inserted again; the old value is handed over.
    Replaced,
    /// [`LruCache::remove`] or [`LruCache::clear`] removed it.
    Removed,
}

impl Reason {
    /// Every reason, in counter order.
    pub const ALL: [Reason; 4] = [
        Reason::Expired,
        Reason::Capacity,
        Reason::Replaced,
        Reason::Removed,
    ];

    /// `expired`, `capacity`, `replaced` or `removed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Expired => "expired",
            Reason::Capacity => "capacity",
            Reason::Replaced => "replaced",
            Reason::Removed => "removed",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Cumulative evictions per [`Reason`] since the cache was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evictions {
    /// Entries whose TTL ran out.
    pub expired: u64,
    /// Entries evicted (or refused) to respect the entry or weight limit.
    pub capacity: u64,
    /// Values replaced by a new insert under the same key.
    pub replaced: u64,
    /// Entries removed by `remove` or `clear`.
    pub removed: u64,
}

impl Evictions {
    /// The counter for `reason`.
    pub fn get(&self, reason: Reason) -> u64 {
        match reason {
            Reason::Expired => self.expired,
            Reason::Capacity => self.capacity,
            Reason::Replaced => self.replaced,
            Reason::Removed => self.removed,
        }
    }

    /// All evictions.
    pub fn total(&self) -> u64 {
        self.expired + self.capacity + self.replaced + self.removed
    }

    fn bump(&mut self, reason: Reason) {
        match reason {
            Reason::Expired => self.expired += 1,
            Reason::Capacity => self.capacity += 1,
            Reason::Replaced => self.replaced += 1,
            Reason::Removed => self.removed += 1,
        }
    }
}

/// A configuration the cache cannot honour, or a sweeper started outside tokio.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LruError {
    /// `max_entries` was 0.
    #[error("max_entries must be at least 1 (use Builder::leaky for an unbounded map)")]
    ZeroEntries,
    /// `max_weight` was 0.
    #[error("max_weight must be at least 1; leave it unset for no weight limit")]
    ZeroWeight,
    /// The TTL was zero.
    #[error("ttl must be longer than zero; leave it unset for no expiry")]
    ZeroTtl,
    /// The sweep interval was zero.
    #[error("the sweep interval must be longer than zero")]
    ZeroInterval,
    /// [`spawn_sweeper`] was called outside a tokio runtime.
    #[error("spawn_sweeper must be called from within a tokio runtime")]
    NoRuntime,
}

type Weigher<K, V> = Box<dyn Fn(&K, &V) -> u64 + Send + Sync>;
type OnEvict<K, V> = Box<dyn FnMut(K, V, Reason) + Send>;

/// Options for an [`LruCache`]; start from [`LruCache::builder`].
pub struct Builder<K, V> {
    max_entries: usize,
    max_weight: Option<u64>,
    weigher: Option<Weigher<K, V>>,
    ttl: Option<Duration>,
    refresh_on_get: bool,
    on_evict: Option<OnEvict<K, V>>,
    leaky: bool,
}

impl<K: Hash + Eq + Clone, V> Builder<K, V> {
    /// Limits the total weight to `max` (as measured by `weigher`, e.g. bytes).
    /// Without this, every entry weighs 1 and only `max_entries` bounds the cache.
    pub fn max_weight(
        mut self,
        max: u64,
        weigher: impl Fn(&K, &V) -> u64 + Send + Sync + 'static,
    ) -> Self {
        self.max_weight = Some(max);
        self.weigher = Some(Box::new(weigher));
        self
    }

    /// Measures entries with `weigher` for [`LruCache::weight`] without limiting it.
    pub fn weigher(mut self, weigher: impl Fn(&K, &V) -> u64 + Send + Sync + 'static) -> Self {
        self.weigher = Some(Box::new(weigher));
        self
    }

    /// Entries expire `ttl` after they were written (default: never).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Whether reads (`get`, `update`) also restart an entry's TTL, like
    /// `updateAgeOnGet` in seed 004 (default: false; `peek` never does).
    pub fn refresh_on_get(mut self, refresh: bool) -> Self {
        self.refresh_on_get = refresh;
        self
    }

    /// Called with every entry that leaves the cache other than by
    /// [`LruCache::take`], and why. It must not touch the same cache.
    pub fn on_evict(mut self, f: impl FnMut(K, V, Reason) + Send + 'static) -> Self {
        self.on_evict = Some(Box::new(f));
        self
    }

    /// With `true`, builds the leaky twin: the unbounded, never-expiring map the
    /// seeds replaced. The callback still sees replacements and removals.
    pub fn leaky(mut self, leaky: bool) -> Self {
        self.leaky = leaky;
        self
    }

    /// Validates the options and builds the cache.
    pub fn build(self) -> Result<LruCache<K, V>, LruError> {
        let (max_entries, max_weight, ttl) = if self.leaky {
            // LEAK: seed 003 "Artifact storage and authentication cache growing
            // indefinitely" / seed 004 "const connectedClients = new Map(); // NEVER
            // CLEARED": the plain map the LRU replaced — no bound, no expiry.
            (None, None, None)
        } else {
            let n = NonZeroUsize::new(self.max_entries).ok_or(LruError::ZeroEntries)?;
            if self.max_weight == Some(0) {
                return Err(LruError::ZeroWeight);
            }
            if self.ttl.is_some_and(|t| t.is_zero()) {
                return Err(LruError::ZeroTtl);
            }
            (Some(n), self.max_weight, self.ttl)
        };
        let order = match max_entries {
            // Sized once: the table never regrows, so a full cache holds still.
            Some(n) => lru::LruCache::with_hasher(n, FixedFold::default()),
            None => lru::LruCache::unbounded_with_hasher(FixedFold::default()),
        };
        Ok(LruCache {
            order,
            max_entries: max_entries.map(NonZeroUsize::get),
            max_weight,
            weigher: self.weigher,
            ttl,
            refresh_on_get: self.refresh_on_get && ttl.is_some(),
            queue: VecDeque::new(),
            on_evict: self.on_evict,
            weight: 0,
            next_gen: 0,
            evictions: Evictions::default(),
        })
    }
}

struct Slot<V> {
    value: V,
    expires: Option<Instant>,
    weight: u64,
    gen: u64,
}

impl<V> Slot<V> {
    fn expired(&self, now: Option<Instant>) -> bool {
        matches!((self.expires, now), (Some(d), Some(n)) if d <= n)
    }
}

/// A bounded LRU cache with a TTL on tokio's clock, optional weights, and an
/// eviction callback. See the [module docs](self) for how expiry works.
pub struct LruCache<K, V> {
    /// Recency order; the `lru` crate's own capacity is never what evicts.
    order: lru::LruCache<K, Slot<V>, FixedFold>,
    max_entries: Option<usize>,
    max_weight: Option<u64>,
    weigher: Option<Weigher<K, V>>,
    ttl: Option<Duration>,
    refresh_on_get: bool,
    /// Write-order deadlines, used when there is a TTL without refresh-on-get.
    queue: VecDeque<(Instant, K, u64)>,
    on_evict: Option<OnEvict<K, V>>,
    weight: u64,
    next_gen: u64,
    evictions: Evictions,
}

impl<K: Hash + Eq, V> fmt::Debug for LruCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LruCache")
            .field("len", &self.order.len())
            .field("weight", &self.weight)
            .field("max_entries", &self.max_entries)
            .field("max_weight", &self.max_weight)
            .field("ttl", &self.ttl)
            .field("refresh_on_get", &self.refresh_on_get)
            .field("evictions", &self.evictions)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone, V> LruCache<K, V> {
    /// Options for a cache of at most `max_entries` entries; nothing else is set.
    pub fn builder(max_entries: usize) -> Builder<K, V> {
        Builder {
            max_entries,
            max_weight: None,
            weigher: None,
            ttl: None,
            refresh_on_get: false,
            on_evict: None,
            leaky: false,
        }
    }

    /// Stores `value` under `key` as the most recently used entry, restarting its
    /// TTL. An old value under the key goes to the callback as `Replaced`; entries
    /// evicted to make room go as `Capacity`. Returns false (and hands `value` to
    /// the callback as `Capacity`) when the value alone outweighs `max_weight`.
    pub fn insert(&mut self, key: K, value: V) -> bool {
        let now = self.purge_now();
        let w = self.weigh(&key, &value);
        if self.max_weight.is_some_and(|m| w > m) {
            if let Some((k, old)) = self.order.pop_entry(&key) {
                self.weight -= old.weight;
                self.evict(k, old.value, Reason::Replaced);
            }
            self.evict(key, value, Reason::Capacity);
            return false;
        }
        let expires = match (now, self.ttl) {
            (Some(n), Some(t)) => Some(n + t),
            _ => None,
        };
        let gen = self.next_gen;
        self.next_gen += 1;
        match self.order.get_mut(&key) {
            Some(slot) => {
                let old_w = std::mem::replace(&mut slot.weight, w);
                slot.expires = expires;
                slot.gen = gen;
                let old = std::mem::replace(&mut slot.value, value);
                self.weight = self.weight - old_w + w;
                self.schedule(&key, expires, gen);
                self.evict(key, old, Reason::Replaced);
            }
            None => {
                if let Some(max) = self.max_entries {
                    while self.order.len() >= max && self.evict_lru() {}
                }
                self.schedule(&key, expires, gen);
                self.weight += w;
                let slot = Slot {
                    value,
                    expires,
                    weight: w,
                    gen,
                };
                // Room was made above, so the `lru` crate evicts nothing itself; if it
                // ever did, the entry would still be counted and handed over.
                if let Some((k, s)) = self.order.push(key, slot) {
                    self.weight -= s.weight;
                    self.evict(k, s.value, Reason::Capacity);
                }
            }
        }
        self.enforce_weight();
        true
    }

    /// The value under `key`, marking it most recently used (and, with
    /// `refresh_on_get`, restarting its TTL). `None` if absent or expired.
    pub fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let refresh = self.purge_now().and_then(|n| self.refreshed(n));
        // After the purge nothing expired is left, so one lookup suffices.
        let slot = self.order.get_mut(key)?;
        if refresh.is_some() {
            slot.expires = refresh;
        }
        Some(&slot.value)
    }

    /// Like [`get`](Self::get), then applies `f` to the value and re-weighs it
    /// (evicting others, or at last this one, if the weight limit is now exceeded).
    pub fn update<Q, R>(&mut self, key: &Q, f: impl FnOnce(&mut V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let refresh = self.purge_now().and_then(|n| self.refreshed(n));
        let (k, slot) = self.order.get_key_value_mut(key)?;
        if refresh.is_some() {
            slot.expires = refresh;
        }
        let r = f(&mut slot.value);
        if let Some(weigher) = &self.weigher {
            let w = weigher(k, &slot.value);
            self.weight = self.weight - slot.weight + w;
            slot.weight = w;
            self.enforce_weight();
        }
        Some(r)
    }

    /// The value under `key` without touching its recency or age. `None` if
    /// absent or expired (an expired entry is left for the next purge).
    pub fn peek<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.order.peek(key)?;
        let now = slot.expires.map(|_| Instant::now());
        (!slot.expired(now)).then_some(&slot.value)
    }

    /// Whether a live entry is stored under `key` (no recency or age change).
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.peek(key).is_some()
    }

    /// Removes `key`, handing its entry to the callback as `Removed`. Returns
    /// whether it was there.
    pub fn remove<Q>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.purge_now();
        match self.order.pop_entry(key) {
            Some((k, s)) => {
                self.weight -= s.weight;
                self.evict(k, s.value, Reason::Removed);
                true
            }
            None => false,
        }
    }

    /// Removes `key` and returns its value to the caller: the callback is not
    /// told and no counter moves.
    pub fn take<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.purge_now();
        let (_, s) = self.order.pop_entry(key)?;
        self.weight -= s.weight;
        Some(s.value)
    }

    /// Removes every entry, handing each to the callback as `Removed`.
    /// (Dropping the cache does not call the callback.)
    pub fn clear(&mut self) {
        while let Some((k, s)) = self.order.pop_lru() {
            self.weight -= s.weight;
            self.evict(k, s.value, Reason::Removed);
        }
        self.queue.clear();
    }

    /// Evicts every entry expired by tokio's clock now; returns how many.
    pub fn purge_expired(&mut self) -> usize {
        if self.ttl.is_none() {
            return 0;
        }
        self.purge_expired_at(Instant::now())
    }

    /// Evicts every entry whose deadline is at or before `now`; returns how many.
    pub fn purge_expired_at(&mut self, now: Instant) -> usize {
        let mut n = 0;
        if self.ttl.is_none() {
            return 0;
        }
        if self.refresh_on_get {
            // Every touch resets the deadline: least recent = soonest to expire.
            while self
                .order
                .peek_lru()
                .is_some_and(|(_, s)| s.expired(Some(now)))
            {
                if let Some((k, s)) = self.order.pop_lru() {
                    self.weight -= s.weight;
                    self.evict(k, s.value, Reason::Expired);
                    n += 1;
                }
            }
            return n;
        }
        while self.queue.front().is_some_and(|(d, _, _)| *d <= now) {
            let Some((_, key, gen)) = self.queue.pop_front() else {
                break;
            };
            // A record is live only if the entry still carries its generation.
            if self.order.peek(&key).is_some_and(|s| s.gen == gen) {
                if let Some((k, s)) = self.order.pop_entry(&key) {
                    self.weight -= s.weight;
                    self.evict(k, s.value, Reason::Expired);
                    n += 1;
                }
            }
        }
        n
    }

    /// Live entries, most recently used first (expired ones not yet purged are
    /// skipped). Does not change recency.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        let now = self.ttl.map(|_| Instant::now());
        self.order
            .iter()
            .filter(move |(_, s)| !s.expired(now))
            .map(|(k, s)| (k, &s.value))
    }

    /// Entries stored, including expired ones not yet purged (none are left after
    /// any `&mut` call or a sweep).
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the cache holds no entries.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Total weight of the stored entries (their count when there is no weigher).
    pub fn weight(&self) -> u64 {
        self.weight
    }

    /// Cumulative evictions per reason.
    pub fn evictions(&self) -> Evictions {
        self.evictions
    }

    /// The entry limit; `None` for the leaky twin.
    pub fn max_entries(&self) -> Option<usize> {
        self.max_entries
    }

    /// The weight limit, if any.
    pub fn max_weight(&self) -> Option<u64> {
        self.max_weight
    }

    /// The time-to-live, if any.
    pub fn ttl(&self) -> Option<Duration> {
        self.ttl
    }

    /// Whether `get` and `update` restart an entry's TTL.
    pub fn refreshes_on_get(&self) -> bool {
        self.refresh_on_get
    }

    /// Purges what has expired and returns the time read, or `None` (without
    /// reading the clock) when there is no TTL.
    fn purge_now(&mut self) -> Option<Instant> {
        self.ttl?;
        let now = Instant::now();
        self.purge_expired_at(now);
        Some(now)
    }

    fn refreshed(&self, now: Instant) -> Option<Instant> {
        if self.refresh_on_get {
            self.ttl.map(|t| now + t)
        } else {
            None
        }
    }

    fn weigh(&self, k: &K, v: &V) -> u64 {
        self.weigher.as_ref().map_or(1, |w| w(k, v))
    }

    /// Records a write-order deadline (only needed without refresh-on-get).
    fn schedule(&mut self, key: &K, expires: Option<Instant>, gen: u64) {
        let Some(d) = expires else { return };
        if self.refresh_on_get {
            return;
        }
        if self.queue.len() >= 2 * self.order.len() + 64 {
            let order = &self.order;
            self.queue
                .retain(|(_, k, g)| order.peek(k).is_some_and(|s| s.gen == *g));
        }
        self.queue.push_back((d, key.clone(), gen));
    }

    /// Evicts the least recently used entry for capacity; false if empty.
    fn evict_lru(&mut self) -> bool {
        match self.order.pop_lru() {
            Some((k, s)) => {
                self.weight -= s.weight;
                self.evict(k, s.value, Reason::Capacity);
                true
            }
            None => false,
        }
    }

    fn enforce_weight(&mut self) {
        if let Some(max) = self.max_weight {
            while self.weight > max && self.evict_lru() {}
        }
    }

    fn evict(&mut self, k: K, v: V, reason: Reason) {
        self.evictions.bump(reason);
        if let Some(f) = self.on_evict.as_mut() {
            f(k, v, reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rewrites leave stale deadline records behind; compaction keeps them below
    /// `2·len + 64` however many writes there are.
    #[tokio::test(start_paused = true)]
    async fn stale_deadline_records_are_compacted() {
        let mut c = LruCache::builder(100)
            .ttl(Duration::from_secs(3_600))
            .build()
            .expect("valid options");
        let mut most = 0;
        for i in 0..100_000u32 {
            c.insert(i % 10, i);
            most = most.max(c.queue.len());
        }
        assert_eq!(c.len(), 10);
        assert!(most <= 2 * 10 + 64, "queue peaked at {most}");
        // Live records are exactly the live entries after a compaction.
        c.queue
            .retain(|(_, k, g)| c.order.peek(k).is_some_and(|s| s.gen == *g));
        assert_eq!(c.queue.len(), 10);
    }
}
