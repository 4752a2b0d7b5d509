//! Integration tests of the components, one binary (ripgrep style): each module
//! tests one component. Run with `cargo nextest` so that process-wide counts
//! (descriptors, heap) belong to one test at a time.

mod lifecycle;
mod lru;
mod rate_limit;
mod ttl_map;
mod ws;
