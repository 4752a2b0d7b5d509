//! Connected clients, ordered by last activity, with the seed's bound.
//!
//! Seed 004 replaced `connectedClients` (a `Map`) with an LRU of at most 10,000
//! clients, a 1 h TTL refreshed on activity, and a `dispose` that closes the
//! socket. Here the order is kept by an unbounded [`lru::LruCache`] used as an
//! ordered map (every inbound frame promotes its client), and the bound is
//! enforced by [`Registry::admit`] so that the policy is ours:
//!
//! - the least recently active client is evicted to make room only if it is a
//!   *suspect* (silent long enough to have missed a ping): a merely idle client
//!   that answers its pings is never closed to make room ("no active connections
//!   closed prematurely", seed 004's acceptance); the newcomer is refused instead;
//! - [`Registry::sweep`] walks from the least recently active end and stops at the
//!   first client younger than every threshold, so its cost is the number of
//!   clients it acts on, not the number connected.
//!
//! The registry owns no tasks and closes nothing itself: evicted entries are
//! handed back and the caller closes them through their `link`.

use std::time::Duration;

use lru::LruCache;
use tokio::time::Instant;

use super::{Cause, ClientId, Heartbeat, SessionId};
use crate::hash::FixedFold;

/// One connected client.
#[derive(Debug)]
pub struct Entry<L> {
    /// The session the client joined, if any.
    pub session: Option<SessionId>,
    /// Time of the last inbound frame (message, ping, pong).
    pub last_active: Instant,
    /// Time of the last ping sent while silent; cleared by activity.
    pub pinged_at: Option<Instant>,
    /// How to reach the connection's task (to ping it or close it).
    pub link: L,
}

/// What [`Registry::admit`] did.
#[derive(Debug)]
pub enum Admit<L> {
    /// The client was added.
    Admitted,
    /// The client was added after evicting this suspect to make room.
    Evicted(ClientId, Entry<L>),
    /// The registry is full of clients that may be alive: the newcomer is refused.
    Full,
}

/// Connected clients by id, least recently active first.
#[derive(Debug)]
pub struct Registry<L> {
    clients: LruCache<ClientId, Entry<L>, FixedFold>,
    max: Option<usize>,
}

impl<L> Registry<L> {
    /// An empty registry holding at most `max` clients (`None`: unbounded).
    pub fn new(max: Option<usize>) -> Self {
        Registry {
            clients: LruCache::unbounded_with_hasher(FixedFold::default()),
            max,
        }
    }

    /// Connected clients.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Whether `id` is connected.
    pub fn contains(&self, id: ClientId) -> bool {
        self.clients.contains(&id)
    }

    /// Adds client `id`. When full, evicts the least recently active client if it
    /// has been silent for at least `suspect_after`, else refuses the newcomer.
    pub fn admit(
        &mut self,
        id: ClientId,
        link: L,
        now: Instant,
        suspect_after: Duration,
    ) -> Admit<L> {
        let mut outcome = Admit::Admitted;
        if self.max.is_some_and(|max| self.clients.len() >= max) {
            let suspect = self.clients.peek_lru().is_some_and(|(_, e)| {
                now.saturating_duration_since(e.last_active) >= suspect_after
            });
            if !suspect {
                return Admit::Full;
            }
            if let Some((old, entry)) = self.clients.pop_lru() {
                outcome = Admit::Evicted(old, entry);
            }
        }
        self.clients.put(
            id,
            Entry {
                session: None,
                last_active: now,
                pinged_at: None,
                link,
            },
        );
        outcome
    }

    /// Records activity of `id` (refreshes its TTL); false if it is not connected.
    pub fn touch(&mut self, id: ClientId, now: Instant) -> bool {
        match self.clients.get_mut(&id) {
            Some(e) => {
                e.last_active = now;
                e.pinged_at = None;
                true
            }
            None => false,
        }
    }

    /// The entry of `id`, without counting as activity.
    pub fn peek_mut(&mut self, id: ClientId) -> Option<&mut Entry<L>> {
        self.clients.peek_mut(&id)
    }

    /// Removes `id`.
    pub fn remove(&mut self, id: ClientId) -> Option<Entry<L>> {
        self.clients.pop(&id)
    }

    /// Removes every client (shutdown).
    pub fn drain(&mut self) -> Vec<(ClientId, Entry<L>)> {
        let mut out = Vec::with_capacity(self.clients.len());
        while let Some(kv) = self.clients.pop_lru() {
            out.push(kv);
        }
        out
    }

    /// One pass of the sweep at `now`: clients silent for `idle_ttl` are evicted
    /// ([`Cause::Idle`]); with a heartbeat, clients silent for its timeout are
    /// evicted ([`Cause::Heartbeat`]) and clients silent for `ping_after` (and not
    /// pinged within it) are passed to `ping`. Returns the evicted entries.
    pub fn sweep(
        &mut self,
        now: Instant,
        idle_ttl: Option<Duration>,
        heartbeat: Option<Heartbeat>,
        mut ping: impl FnMut(&L),
    ) -> Vec<(ClientId, Entry<L>, Cause)> {
        let first = match (idle_ttl, heartbeat) {
            (None, None) => return Vec::new(),
            (Some(t), None) => t,
            (None, Some(h)) => h.ping_after,
            (Some(t), Some(h)) => t.min(h.ping_after),
        };
        let mut doomed = Vec::new();
        for (id, e) in self.clients.iter_mut().rev() {
            let silent = now.saturating_duration_since(e.last_active);
            if silent < first {
                break; // everyone after this one was active more recently
            }
            if idle_ttl.is_some_and(|t| silent >= t) {
                doomed.push((*id, Cause::Idle));
            } else if let Some(h) = heartbeat {
                if silent >= h.timeout {
                    doomed.push((*id, Cause::Heartbeat));
                } else if silent >= h.ping_after
                    && e.pinged_at
                        .is_none_or(|p| now.saturating_duration_since(p) >= h.ping_after)
                {
                    e.pinged_at = Some(now);
                    ping(&e.link);
                }
            }
        }
        doomed
            .into_iter()
            .filter_map(|(id, cause)| self.clients.pop(&id).map(|e| (id, e, cause)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[tokio::test(start_paused = true)]
    async fn full_registry_evicts_only_a_suspect() {
        let mut r = Registry::new(Some(2));
        let t0 = Instant::now();
        assert!(matches!(r.admit(1, (), t0, S(360)), Admit::Admitted));
        assert!(matches!(
            r.admit(2, (), t0 + S(10), S(360)),
            Admit::Admitted
        ));
        // Client 1 is the least recently active, but only 100 s silent: may be alive.
        assert!(matches!(r.admit(3, (), t0 + S(100), S(360)), Admit::Full));
        assert!(r.touch(1, t0 + S(200)));
        // Now 2 is the oldest; at t0 + 400 it has been silent 390 s: a suspect.
        match r.admit(3, (), t0 + S(400), S(360)) {
            Admit::Evicted(id, _) => assert_eq!(id, 2),
            other => panic!("expected eviction of 2, got {other:?}"),
        }
        assert_eq!(r.len(), 2);
        assert!(r.contains(1) && r.contains(3));
    }

    #[tokio::test(start_paused = true)]
    async fn sweep_pings_then_evicts_and_stops_at_the_first_active_client() {
        let hb = Heartbeat {
            ping_after: S(300),
            timeout: S(900),
        };
        let mut r = Registry::new(None);
        let t0 = Instant::now();
        r.admit(1, 1u8, t0, S(0));
        r.admit(2, 2u8, t0 + S(500), S(0));
        let mut pinged = Vec::new();
        let gone = r.sweep(t0 + S(400), Some(S(3600)), Some(hb), |l| pinged.push(*l));
        assert!(gone.is_empty());
        assert_eq!(pinged, vec![1]);
        pinged.clear();
        // Pinged 200 s ago: not again yet.
        r.sweep(t0 + S(600), Some(S(3600)), Some(hb), |l| pinged.push(*l));
        assert!(pinged.is_empty());
        let gone = r.sweep(t0 + S(900), Some(S(3600)), Some(hb), |l| pinged.push(*l));
        assert_eq!(gone.len(), 1);
        assert_eq!((gone[0].0, gone[0].2), (1, Cause::Heartbeat));
        assert!(r.contains(2));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_ttl_without_heartbeat() {
        let mut r = Registry::new(None);
        let t0 = Instant::now();
        r.admit(7, (), t0, S(0));
        assert!(r
            .sweep(t0 + S(3599), Some(S(3600)), None, |_| {})
            .is_empty());
        let gone = r.sweep(t0 + S(3600), Some(S(3600)), None, |_| {});
        assert_eq!((gone[0].0, gone[0].2), (7, Cause::Idle));
        assert!(r.is_empty());
    }
}
