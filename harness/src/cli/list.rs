//! `soak list`: the scenarios, one line each.

use clap::Args;

use super::{parse_shard, EXIT_PASS};
use crate::scenario::Scenario;
use crate::Error;

/// `soak list`'s options.
#[derive(Debug, Args)]
pub struct ListCommand {
    /// Only the scenarios shard K of N runs (see `soak all --shard`).
    #[arg(long, value_name = "K/N")]
    shard: Option<String>,
}

impl ListCommand {
    /// Prints every scenario of the shard with its description.
    pub fn run(self, scenarios: &[Box<dyn Scenario>]) -> Result<u8, Error> {
        let shard = parse_shard(self.shard.as_deref())?;
        let width = scenarios.iter().map(|s| s.name().len()).max().unwrap_or(0);
        for s in shard.select(scenarios) {
            outln!(
                "{:width$}  {}  [variants: fixed, leaky]",
                s.name(),
                s.about()
            );
        }
        Ok(EXIT_PASS)
    }
}
