//! The interaction manager: pending interactions with a timeout, and an index of
//! interactions by session.
//!
//! Seed 004's `InteractionManager` kept `pendingInteractions` (cleaned by a 5-minute
//! task) and `interactionsBySession`, a `Map` of `Set`s that was never pruned: "If a
//! session creates 100 interactions, the Set remains in memory even after all
//! interactions are resolved." The fix removes an interaction from the index when it
//! is resolved or times out, drops a session's entry when it empties, and
//! [`Interactions::end_session`] times out what a session leaves pending when its
//! last client goes.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::{ClientId, SessionId};
use crate::hash::{HashMap, HashSet};

#[derive(Debug, Clone, Copy)]
struct Pending {
    client: ClientId,
    session: Option<SessionId>,
}

/// Pending interactions and the by-session index.
#[derive(Debug)]
pub struct Interactions {
    timeout: Duration,
    prune: bool,
    next_id: u64,
    pending: HashMap<u64, Pending>,
    // Creation order is deadline order (one timeout for all), so expiry pops the
    // front. Resolved ids stay here until their deadline and are skipped.
    deadlines: VecDeque<(Instant, u64)>,
    by_session: HashMap<SessionId, HashSet<u64>>,
    /// Interactions created.
    pub created: u64,
    /// Interactions resolved by their client.
    pub resolved: u64,
    /// Interactions timed out (by the timeout or because their session ended).
    pub timed_out: u64,
}

impl Interactions {
    /// A manager timing interactions out after `timeout`. `prune: false` is the
    /// leaky twin: the by-session index is never pruned.
    pub fn new(timeout: Duration, prune: bool) -> Self {
        Interactions {
            timeout,
            prune,
            next_id: 0,
            pending: HashMap::default(),
            deadlines: VecDeque::new(),
            by_session: HashMap::default(),
            created: 0,
            resolved: 0,
            timed_out: 0,
        }
    }

    /// Pending interactions.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Sessions present in the by-session index.
    pub fn indexed_sessions(&self) -> usize {
        self.by_session.len()
    }

    /// Interaction ids held by the by-session index.
    pub fn indexed_interactions(&self) -> usize {
        self.by_session.values().map(HashSet::len).sum()
    }

    /// Opens an interaction for `client` in `session`; returns its id.
    pub fn create(&mut self, client: ClientId, session: Option<SessionId>, now: Instant) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.pending.insert(id, Pending { client, session });
        self.deadlines.push_back((now + self.timeout, id));
        if let Some(s) = session {
            self.by_session.entry(s).or_default().insert(id);
        }
        self.created += 1;
        id
    }

    /// Resolves interaction `id` if it is pending and belongs to `client`.
    pub fn resolve(&mut self, id: u64, client: ClientId) -> bool {
        match self.pending.get(&id) {
            Some(p) if p.client == client => {
                let p = *p;
                self.pending.remove(&id);
                self.unindex(p.session, id);
                self.resolved += 1;
                true
            }
            _ => false,
        }
    }

    /// Times out every interaction past its deadline at `now`; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while self.deadlines.front().is_some_and(|(due, _)| *due <= now) {
            let Some((_, id)) = self.deadlines.pop_front() else {
                break;
            };
            if let Some(p) = self.pending.remove(&id) {
                self.unindex(p.session, id);
                n += 1;
            }
        }
        self.timed_out += n as u64;
        n
    }

    /// The session's last client left: time out what it left pending and drop its
    /// index entry. Returns how many interactions were timed out.
    pub fn end_session(&mut self, session: SessionId) -> usize {
        if !self.prune {
            // LEAK: "this.interactionsBySession = new Map(); // ⚠️ NEVER PRUNED" —
            // a session's Set outlives the session.
            return 0;
        }
        let Some(ids) = self.by_session.remove(&session) else {
            return 0;
        };
        let n = ids
            .into_iter()
            .filter(|id| self.pending.remove(id).is_some())
            .count();
        self.timed_out += n as u64;
        n
    }

    fn unindex(&mut self, session: Option<SessionId>, id: u64) {
        if !self.prune {
            // LEAK: "the Set remains in memory even after all interactions are
            // resolved" — ids are added to the index and never taken out.
            return;
        }
        if let Some(s) = session {
            if let Some(set) = self.by_session.get_mut(&s) {
                set.remove(&id);
                if set.is_empty() {
                    self.by_session.remove(&s);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn resolve_timeout_and_session_end_prune_the_index() {
        let t0 = Instant::now();
        let mut m = Interactions::new(Duration::from_secs(120), true);
        let a = m.create(1, Some(10), t0);
        let b = m.create(1, Some(10), t0);
        let c = m.create(2, Some(11), t0);
        assert!(!m.resolve(a, 2), "only the owner resolves");
        assert!(m.resolve(a, 1));
        assert_eq!(m.indexed_interactions(), 2);
        assert_eq!(m.end_session(10), 1); // b was still pending
        assert_eq!(m.indexed_sessions(), 1);
        assert_eq!(m.expire(t0 + Duration::from_secs(120)), 1); // c
        assert_eq!((m.pending(), m.indexed_sessions()), (0, 0));
        assert!(!m.resolve(b, 1) && !m.resolve(c, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn leaky_index_keeps_every_id() {
        let t0 = Instant::now();
        let mut m = Interactions::new(Duration::from_secs(120), false);
        let a = m.create(1, Some(10), t0);
        m.create(1, Some(10), t0);
        assert!(m.resolve(a, 1));
        assert_eq!(m.end_session(10), 0);
        m.expire(t0 + Duration::from_secs(600));
        assert_eq!(m.pending(), 0);
        assert_eq!((m.indexed_sessions(), m.indexed_interactions()), (1, 2));
    }
}
