//! `soak report DIR`: redraw charts and the index from saved files, merge the
//! histories, draw the trends, compare with a baseline.

use std::path::PathBuf;

use clap::Args;

use super::ci::{self, ReportArgs};
use super::{errln, EXIT_ERROR};
use crate::report;
use crate::Error;

/// `soak report`'s arguments.
#[derive(Debug, Args)]
pub struct ReportCommand {
    /// A report root (e.g. reports/) or one run directory.
    dir: PathBuf,
    #[command(flatten)]
    args: ReportArgs,
}

impl ReportCommand {
    /// Redraws every valid run; rejected runs are listed and make the status 2.
    pub fn run(self) -> Result<u8, Error> {
        let done = report::redraw(&self.dir)?;
        for r in &done.redrawn {
            outln!("redrew {}", r.display());
        }
        for (p, why) in &done.skipped {
            outln!("skipped {}: {why}", p.display());
        }
        for (_, e) in &done.rejected {
            errln(&e.to_string());
        }
        if let Some(index) = &done.index {
            outln!("index: {}", index.display());
        }
        let rejected: Vec<PathBuf> = done.rejected.iter().map(|(p, _)| p.clone()).collect();
        // Histories, trends, comparisons: over the runs that passed.
        let code = if done.redrawn.is_empty() {
            EXIT_ERROR
        } else {
            ci::report(&self.dir, &self.args, &rejected)?
        };
        if done.rejected.is_empty() {
            Ok(code)
        } else {
            errln(&format!(
                "{} of {} runs rejected and left as they were; the other {} were redrawn",
                done.rejected.len(),
                done.rejected.len() + done.redrawn.len(),
                done.redrawn.len()
            ));
            Ok(code.max(EXIT_ERROR))
        }
    }
}
