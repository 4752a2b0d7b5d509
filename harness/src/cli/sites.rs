//! `soak sites DIR`: the allocation sites of saved runs, refitted from their files.

use std::path::{Path, PathBuf};

use clap::Args;

use super::EXIT_PASS;
use crate::report;
use crate::units::bytes_text;
use crate::Error;

/// `soak sites`'s arguments.
#[derive(Debug, Args)]
pub struct SitesCommand {
    /// A report root (e.g. reports/) or one run directory.
    dir: PathBuf,
}

impl SitesCommand {
    /// Prints every run's sites, fastest growing first.
    pub fn run(self) -> Result<u8, Error> {
        print_sites(&self.dir)?;
        Ok(EXIT_PASS)
    }
}

/// `soak sites DIR`: every run at or below `dir`, its sites refitted from the
/// saved files. Reads everything before printing anything.
fn print_sites(dir: &Path) -> Result<(), Error> {
    report::require_dir(dir)?;
    let runs = report::find_runs(dir);
    if runs.is_empty() {
        return Err(Error::Malformed {
            path: dir.to_path_buf(),
            why: format!("no {} found at or below it", report::SUMMARY_FILE),
        });
    }
    let mut text = String::new();
    for run in &runs {
        let (samples, summary) = report::load_run(run)?;
        let Some(series) = report::load_sites(run)? else {
            return Err(Error::Malformed {
                path: run.join(report::SITES_FILE),
                why: "missing: the run was made with --sample-bytes 0 or by an older soak".into(),
            });
        };
        let frames = summary
            .growth_sites
            .iter()
            .map(|g| (g.id.clone(), g.frames.clone()))
            .collect();
        let sampling = summary.site_sampling.as_ref();
        let resource = sampling.map_or("heap", |s| s.resource.as_str());
        let settings = crate::attribution::FitSettings::new(
            summary.warmup_hours,
            summary.time_base,
            summary.resource(resource),
            sampling.map(|s| s.sample_bytes).unwrap_or(0),
            &[],
        );
        let mut sites = crate::attribution::fit(&series, &samples, &frames, &settings);
        crate::attribution::restore(&mut sites, &summary.growth_sites);
        let how = sampling
            .map(|s| {
                format!(
                    "sampled every {} on average, {} frames, {} samples",
                    bytes_text(s.sample_bytes as f64),
                    s.frame_depth,
                    s.samples
                )
            })
            .unwrap_or_default();
        let unfitted = crate::attribution::unfitted_note(&sites)
            .map(|n| format!("{n}\n"))
            .unwrap_or_default();
        text.push_str(&format!(
            "{}: {resource} {}; {how}\n{}{unfitted}\n",
            summary.who(),
            summary
                .time_base
                .rate_text(summary.growth_bytes_per_hour, "bytes"),
            crate::attribution::table_text(&sites, summary.time_base.per_hour())
        ));
    }
    outln!("{}", text.trim_end());
    // What a share is, once: readers summed them and found more than 100%.
    outln!(
        "\nshare: a site's growth over its run's, each fitted with its own error, so shares \
         need not add to 100%; PAST: the site alone grew past the budget"
    );
    Ok(())
}
