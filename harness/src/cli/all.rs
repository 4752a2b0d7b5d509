//! `soak all`: every scenario (of a shard) under the same options, the nightly job.

use clap::Args;

use super::args::RunArgs;
use super::{parse_shard, run, EXIT_PASS};
use crate::scenario::Scenario;
use crate::Error;

/// `soak all`'s options.
#[derive(Debug, Args)]
pub struct AllCommand {
    /// Run only shard K of N: the scenarios at positions i (0-based, `soak list`
    /// order) with i % N == K-1. The N shards together run every scenario once.
    #[arg(long, value_name = "K/N")]
    shard: Option<String>,
    #[command(flatten)]
    args: RunArgs,
}

impl AllCommand {
    /// Runs the shard's scenarios (× variants × seeds; in parallel with
    /// `--jobs`, see `jobs`).
    pub fn run(self, scenarios: &[Box<dyn Scenario>]) -> Result<u8, Error> {
        if !self.args.mute.is_empty() {
            return Err(Error::Usage(
                "--mute names traffic kinds of one scenario; use soak run SCENARIO --mute KIND"
                    .to_string(),
            ));
        }
        let shard = parse_shard(self.shard.as_deref())?;
        let list: Vec<&dyn Scenario> = shard.select(scenarios).map(|s| s.as_ref()).collect();
        if list.is_empty() {
            self.args.to_config()?;
            outln!(
                "shard {shard}: no scenario falls to this shard ({} scenarios)",
                scenarios.len()
            );
            return Ok(EXIT_PASS);
        }
        run::run_many(&list, &self.args)
    }
}
