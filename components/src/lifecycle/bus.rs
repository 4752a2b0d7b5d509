//! The event bus services subscribe to: seed 002's `window`, where the error
//! tracker attached five listeners and never removed them. A registry of
//! callbacks with a count, so a dashboard (and the soak gauge `listeners`) can see
//! duplicates pile up.

use std::sync::{Arc, Mutex};

use super::lock;

/// The global events of seed 002's error tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `window.addEventListener('error', ...)`.
    Error,
    /// `'unhandledrejection'`.
    UnhandledRejection,
    /// `'popstate'`: navigation.
    PopState,
    /// `'focus'`.
    Focus,
    /// `'blur'`.
    Blur,
}

impl Topic {
    /// All five, in the order the seed lists them.
    pub const ALL: [Topic; 5] = [
        Topic::Error,
        Topic::UnhandledRejection,
        Topic::PopState,
        Topic::Focus,
        Topic::Blur,
    ];
}

/// One event delivered to the listeners of its topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// Which listeners receive it.
    pub topic: Topic,
    /// A short static description (no allocation per event).
    pub detail: &'static str,
}

/// Identifies one subscription, for [`EventBus::unsubscribe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

type Callback = Arc<dyn Fn(&Event) + Send + Sync>;

#[derive(Default)]
struct Inner {
    next: u64,
    listeners: Vec<(ListenerId, Topic, Callback)>,
}

/// A registry of callbacks per topic.
#[derive(Default)]
pub struct EventBus {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("listeners", &self.listener_count())
            .finish()
    }
}

impl EventBus {
    /// An empty bus.
    pub fn new() -> Arc<Self> {
        Arc::new(EventBus::default())
    }

    /// Adds `callback` for `topic`; it stays until [`unsubscribe`](Self::unsubscribe).
    pub fn subscribe(
        &self,
        topic: Topic,
        callback: impl Fn(&Event) + Send + Sync + 'static,
    ) -> ListenerId {
        let mut g = lock(&self.inner);
        g.next += 1;
        let id = ListenerId(g.next);
        g.listeners.push((id, topic, Arc::new(callback)));
        id
    }

    /// Removes a subscription; returns whether it existed.
    pub fn unsubscribe(&self, id: ListenerId) -> bool {
        let mut g = lock(&self.inner);
        let before = g.listeners.len();
        g.listeners.retain(|(i, _, _)| *i != id);
        g.listeners.len() != before
    }

    /// Calls every listener of `event.topic` (outside the lock, so a callback may
    /// subscribe or unsubscribe); returns how many were called.
    pub fn emit(&self, event: Event) -> usize {
        let targets: Vec<Callback> = lock(&self.inner)
            .listeners
            .iter()
            .filter(|(_, t, _)| *t == event.topic)
            .map(|(_, _, cb)| cb.clone())
            .collect();
        for cb in &targets {
            cb(&event);
        }
        targets.len()
    }

    /// Listeners on every topic.
    pub fn listener_count(&self) -> usize {
        lock(&self.inner).listeners.len()
    }

    /// Listeners on `topic`.
    pub fn count(&self, topic: Topic) -> usize {
        lock(&self.inner)
            .listeners
            .iter()
            .filter(|(_, t, _)| *t == topic)
            .count()
    }
}
