//! The optional sweep task: purges a shared [`LruCache`] on a fixed interval so
//! eviction callbacks run on time even when nothing touches the cache.
//!
//! The task is a `tokio::spawn`ed future (so the harness's task probe sees it)
//! owned by a [`Sweeper`] guard whose `Drop` aborts it (mini-redis `DbDropGuard`
//! style). It holds only a `Weak` reference, so it also ends by itself once the
//! cache is gone: it can neither keep the cache alive nor outlive it.

use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::{LruCache, LruError};

/// A cache shared between its users and a [`Sweeper`].
pub type Shared<K, V> = Arc<Mutex<LruCache<K, V>>>;

/// Owns a sweep task; dropping it stops the task.
#[derive(Debug)]
pub struct Sweeper {
    task: JoinHandle<()>,
}

impl Sweeper {
    /// Whether the task has ended (cache dropped or guard aborted it).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Spawns a task that calls [`LruCache::purge_expired`] on `cache` every `every`
/// (first after one interval), on tokio's clock. Must be called inside a tokio
/// runtime; the lock is held only for the purge itself.
pub fn spawn_sweeper<K, V>(cache: &Shared<K, V>, every: Duration) -> Result<Sweeper, LruError>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Send + 'static,
{
    if every.is_zero() {
        return Err(LruError::ZeroInterval);
    }
    let rt = tokio::runtime::Handle::try_current().map_err(|_| LruError::NoRuntime)?;
    let weak = Arc::downgrade(cache);
    // The schedule starts now, not when the task is first polled.
    let first = Instant::now() + every;
    let task = rt.spawn(async move {
        let mut iv = tokio::time::interval_at(first, every);
        iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            iv.tick().await;
            let Some(cache) = weak.upgrade() else { break };
            // A poisoned lock means a user panicked mid-call; the cache's own
            // invariants hold between calls, so purging is still safe.
            cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .purge_expired();
        }
    });
    Ok(Sweeper { task })
}
