//! Shape one, a `Vec` growing inside a dependency: listeners registered per
//! connection in a [`slab::Slab`], whose entries are a `Vec` in the slab crate.
//!
//! The fixed registry removes a connection's listener when it closes, and the
//! slab reuses the slot; the leaky one forgets to, as an event bus whose
//! `unsubscribe` is never called does: every listener ever registered stays, and
//! the slab's `Vec` keeps doubling. The allocation happens in slab's code, called
//! from [`Listeners::register`]: the "where" names slab's frame and this one.

use slab::Slab;

/// What a connection listens to: plain data, so the slab's `Vec` is all that grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    /// The connection it belongs to.
    pub conn: u64,
    /// Topics it subscribed to.
    pub topics: [u32; 6],
}

/// A registry of listeners, with or without removing a closed connection's.
#[derive(Debug, Default)]
pub struct Listeners {
    slab: Slab<Listener>,
    leaky: bool,
}

impl Listeners {
    /// The fixed registry (`leaky` false) or its leaky twin.
    pub fn new(leaky: bool) -> Self {
        Listeners {
            slab: Slab::new(),
            leaky,
        }
    }

    /// Registers `conn`'s listener; the key to unregister it with.
    pub fn register(&mut self, conn: u64, topics: [u32; 6]) -> usize {
        self.slab.insert(Listener { conn, topics })
    }

    /// The connection closed: its listener goes (fixed).
    pub fn unregister(&mut self, key: usize) {
        // LEAK (leaky): the listener is never removed, as an `unsubscribe` that is
        // never called: "handlers accumulate for every connection ever made".
        if !self.leaky {
            self.slab.try_remove(key);
        }
    }

    /// Listeners held.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }
}
