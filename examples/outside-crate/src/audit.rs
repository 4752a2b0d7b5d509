//! Shape three, a `String` cloned into a long-lived structure: an audit trail
//! that keeps the name of every user it records.
//!
//! The fixed trail keeps the last [`KEPT`] entries; the leaky one keeps them all
//! (a "recent activity" list whose trimming was dropped). The clone is the
//! standard library's `String::clone`; the code that keeps it is
//! [`Audit::record`], which the "where" names.

use std::collections::VecDeque;

/// Entries the fixed trail keeps.
pub const KEPT: usize = 1_000;

/// A user as a request carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Their id.
    pub id: u64,
    /// Their display name.
    pub name: String,
}

/// Recent activity: who did something, newest last.
#[derive(Debug, Default)]
pub struct Audit {
    trail: VecDeque<(u64, String)>,
    leaky: bool,
}

impl Audit {
    /// The fixed trail (`leaky` false) or its leaky twin.
    pub fn new(leaky: bool) -> Self {
        Audit {
            trail: VecDeque::new(),
            leaky,
        }
    }

    /// Records that `user` did something.
    pub fn record(&mut self, user: &User) {
        self.trail.push_back((user.id, user.name.clone()));
        // LEAK (leaky): never trimmed, "the activity list grows without bound".
        if !self.leaky && self.trail.len() > KEPT {
            self.trail.pop_front();
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.trail.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.trail.is_empty()
    }
}
