//! Subjects under test: long-lived server components from the seed leak reports,
//! each with a fixed variant (the cure the report proposed) and a leaky twin (the
//! bug it found), differing by the smallest possible change marked `// LEAK:`.
//!
//! # Layout
//!
//! - [`lru`]: bounded LRU cache with TTL, weights and an eviction callback (seeds 003, 004).
#![warn(missing_docs)]

pub mod lifecycle;
pub mod lru;
pub mod ws;
