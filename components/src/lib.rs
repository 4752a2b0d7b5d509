//! Subjects under test: long-lived server components from the seed leak reports,
//! each with a fixed variant (the cure the report proposed) and a leaky twin (the
//! bug it found), differing by the smallest possible change marked `// LEAK:`.
//! Nothing here knows about the harness: scenarios read the subjects' sizes
//! through gauges.
//!
//! Every subject switches twins the same way: the value that configures it
//! (`ttl_map::Cleanup`, `lru::Builder`, `ws::Config`, `lifecycle::services::Host`)
//! is the fixed variant by default and takes `.leaky(bool)`, so a scenario writes
//! `….leaky(ctx.leaky())` whatever the subject.
//!
//! # Layout
//!
//! - [`hash`]: the fixed-key hashers every map uses (reproducible heap).
//! - [`ttl_map`]: map with per-entry expiry and a sweep task (seed 000).
//! - [`rate_limit`]: cooldown limiters (seed 001), anti-spam, anti-raid recovery
//!   caches and ticket selects (seed 000), all on [`ttl_map::TtlMap`].
//! - [`lru`]: bounded LRU cache with TTL, weights and an eviction callback (seeds 003, 004).
//! - [`ws`]: WebSocket server with a bounded client registry, interaction manager
//!   and heartbeat (seed 004).
//! - [`lifecycle`]: resource manager owning intervals, tasks, listeners and files,
//!   and the seed 002 services built on it (seeds 002, 003).
#![warn(missing_docs)]

pub mod hash;
pub mod lifecycle;
pub mod lru;
pub mod rate_limit;
pub mod ttl_map;
pub mod ws;
