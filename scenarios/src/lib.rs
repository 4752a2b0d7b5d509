//! Scenarios: one file per simulated day, each a few lines over the harness.
//!
//! [`all`] is the registry the `soak` binary serves; each scenario also has a thin
//! binary of its own in `src/bin/`.
#![warn(missing_docs)]

pub mod artifact_cache;
pub mod calibration;
mod common;
pub mod connection_churn;
pub mod moderator_flood;
pub mod raid_burst;
pub mod timer_lifecycle;

use soak_harness::Scenario;

/// Every scenario, in the order `soak list` and `soak all` use.
pub fn all() -> Vec<Box<dyn Scenario>> {
    vec![
        Box::new(calibration::Calibration),
        Box::new(moderator_flood::ModeratorFlood),
        Box::new(raid_burst::RaidBurst),
        Box::new(artifact_cache::ArtifactCache),
        Box::new(connection_churn::ConnectionChurn),
        Box::new(timer_lifecycle::TimerLifecycle),
    ]
}
