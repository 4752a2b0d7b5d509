//! Shape two, a `HashMap` keyed by request in the user's own code: sessions
//! opened per request under a key the code formats from the request's id.
//!
//! The fixed map drops a session when its request completes; the leaky one keeps
//! it (a `close` that only marks it done, as seed 004's `interactionsBySession`
//! never pruned). The map and its keys are the standard library's; the code that
//! owns them is [`Sessions::open`], which the "where" names.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

// A fixed-key hasher: the same seed lays the map out the same way every run.
type Hasher = BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

/// One request's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who made the request.
    pub user: u64,
    /// The request's body, kept to answer follow-ups.
    pub body: Vec<u8>,
    /// Whether the request completed.
    pub done: bool,
}

/// Sessions by request key, with or without dropping completed ones.
#[derive(Debug, Default)]
pub struct Sessions {
    map: HashMap<String, Session, Hasher>,
    leaky: bool,
}

/// The key a request's session is filed under.
pub fn key(request: u64) -> String {
    format!("session:request:{request:016x}")
}

impl Sessions {
    /// The fixed map (`leaky` false) or its leaky twin.
    pub fn new(leaky: bool) -> Self {
        Sessions {
            map: HashMap::default(),
            leaky,
        }
    }

    /// Opens the session of `request` from `user`, with a copy of its body.
    pub fn open(&mut self, request: u64, user: u64, body: &[u8]) {
        self.map.insert(
            key(request),
            Session {
                user,
                body: body.to_vec(),
                done: false,
            },
        );
    }

    /// The request completed.
    pub fn close(&mut self, request: u64) {
        let k = key(request);
        // LEAK (leaky): the session is marked done and kept, never removed.
        if self.leaky {
            if let Some(s) = self.map.get_mut(&k) {
                s.done = true;
            }
        } else {
            self.map.remove(&k);
        }
    }

    /// Sessions held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
