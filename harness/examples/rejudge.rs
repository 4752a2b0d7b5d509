//! Re-judges saved runs with this build's verdict, on the same samples: every
//! resource's estimate and verdict as saved and as judged now, then both
//! messages' verdict parts. How issue 19 compared a live run judged on the
//! day clock (and converted back) with the same run judged on the wall-clock
//! time base.
//!
//! `cargo run --release -p soak-harness --example rejudge -- reports/live-ws-churn/fixed`

use soak_harness::growth::SIGNIFICANCE_Z;
use soak_harness::report::load_run;
use soak_harness::verdict::{self, Judging, ResourceSpec};

fn main() {
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    if dirs.is_empty() {
        eprintln!("usage: rejudge RUN_DIR...");
        std::process::exit(2);
    }
    for dir in dirs {
        let (samples, summary) = match load_run(std::path::Path::new(&dir)) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{dir}: {e}");
                continue;
            }
        };
        let tb = summary.time_base;
        let judging = Judging {
            run_hours: samples.hours().last().copied().unwrap_or(0.0),
            warmup_hours: summary.warmup_hours,
            retention_hours: summary.retention_hours.map(|r| tb.from_day(r)),
            z: summary
                .auto
                .map(|a| a.significance_z)
                .unwrap_or(SIGNIFICANCE_Z),
            time_base: tb,
            load_expected: false,
        };
        let specs: Vec<ResourceSpec> = summary.resources.iter().map(|r| r.spec.clone()).collect();
        let now = verdict::analyse(&samples, &specs, &judging);
        println!("{dir} ({:?} clock, day ×{})", tb.clock, tb.compression);
        println!(
            "resource\tsaved verdict\tnow\tsaved per hour ± se\tnow per hour ± se\tdetectable"
        );
        for (old, new) in summary.resources.iter().zip(&now) {
            let est = |e: Option<soak_harness::growth::Estimate>| {
                e.map_or("-".into(), |e| {
                    format!("{:.6e} ± {:.6e}", e.per_hour, e.stderr)
                })
            };
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                old.spec.name,
                old.verdict,
                new.verdict,
                est(old.estimate),
                est(new.estimate),
                new.detectable_per_hour
                    .map_or("-".into(), |d| tb.rate_text(d, &new.spec.unit))
            );
        }
        let headline = summary.chart.as_ref().and_then(|c| c.fit.clone());
        let headline = headline.or_else(|| summary.resources.first().map(|r| r.spec.name.clone()));
        println!("saved: {}", summary.message);
        println!(
            "now:   {}",
            verdict::message(&now, headline.as_deref(), &tb)
        );
    }
}
