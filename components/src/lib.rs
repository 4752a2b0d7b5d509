//! Subjects under test: long-lived server components from the seed leak reports,
//! each with a fixed variant (the cure the report proposed) and a leaky twin (the
//! bug it found), differing by the smallest possible change marked `// LEAK:`.
//!
//! # Layout
//!
//! Modules are added per issue: `ttl_map`, `rate_limit`, `lru`, `ws`, `lifecycle`.
#![warn(missing_docs)]

pub mod ws;
