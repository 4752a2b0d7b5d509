//! `soak compare BASE CURRENT`: two report trees, a regression exits 1.

use std::path::PathBuf;

use clap::Args;

use super::ci::{self, RuleArgs};
use crate::Error;

/// `soak compare`'s arguments.
#[derive(Debug, Args)]
pub struct CompareCommand {
    /// The baseline: a report tree (an earlier --out, or a --save-baseline DIR).
    base: PathBuf,
    /// The report tree to judge.
    current: PathBuf,
    /// Append the comparison as a Markdown table to FILE.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Prefix for chart links in the Markdown.
    #[arg(long, value_name = "URL")]
    link_prefix: Option<String>,
    #[command(flatten)]
    rule: RuleArgs,
}

impl CompareCommand {
    /// Compares and prints; 1 on a regression.
    pub fn run(self) -> Result<u8, Error> {
        ci::compare(
            &self.base,
            &self.current,
            &self.rule,
            self.markdown.as_deref(),
            self.link_prefix.as_deref(),
        )
    }
}
