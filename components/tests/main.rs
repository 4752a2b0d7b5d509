//! The components' integration tests, one binary (`mod` per subject).

mod rate_limit;
mod ttl_map;
