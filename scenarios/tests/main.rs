//! The scenarios' integration tests, one binary (`mod` per scenario). Runs are
//! serialised by the harness (the counting allocator is process-wide).

mod moderator_flood;
mod raid_burst;
