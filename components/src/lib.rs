//! Subjects under test: long-lived server components from the seed leak reports,
//! each with a fixed variant (the cure the report proposed) and a leaky twin (the
//! bug it found), differing by the smallest possible change marked `// LEAK:`.
//!
//! # Layout
//!
//! Modules are added per issue: `ttl_map`, `rate_limit`, `lru`, `ws`, `lifecycle`.
//!
//! - [`ttl_map`]: map with per-entry expiry and a sweep task (seed 000).
//! - [`rate_limit`]: cooldown limiters (seed 001), anti-spam, anti-raid recovery
//!   caches and ticket selects (seed 000), all on [`ttl_map::TtlMap`].
#![warn(missing_docs)]

pub mod rate_limit;
pub mod ttl_map;
