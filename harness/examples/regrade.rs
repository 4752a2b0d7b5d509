//! Re-judges saved runs over shorter windows — the first H hours of each — and
//! prints every budgeted resource's estimate and window facts as TSV. The tool
//! behind the tables of `docs/verdict.md`.
//!
//! `cargo run --release -p soak-harness --example regrade -- 1,2,4 reports/calibration/fixed`
//!
//! Set `RET=H` to the subject's retention in hours for the default warm-up.

use soak_harness::growth;
use soak_harness::report::load_run;
use soak_harness::timebase::TimeBase;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(list) = args.next() else {
        eprintln!("usage: regrade HOURS[,HOURS...] RUN_DIR...");
        std::process::exit(2);
    };
    let hours: Vec<f64> = list.split(',').filter_map(|h| h.parse().ok()).collect();
    let retention: Option<f64> = std::env::var("RET").ok().and_then(|r| r.parse().ok());
    println!(
        "dir\thours\tresource\tbudget\tb\tse\tlate\tlate_se\tearly\tbend\tbend_se\tvif\tnoise\trise\tfall\tload_noise\twindow\trho\tevents\tpoints"
    );
    for dir in args {
        let (samples, summary) = match load_run(std::path::Path::new(&dir)) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{dir}: {e}");
                continue;
            }
        };
        let t_all = samples.hours();
        let Some(load_all) = samples.column("load_events") else {
            continue;
        };
        for &h in &hours {
            let n = t_all.iter().take_while(|&&t| t <= h + 1e-9).count();
            let (t, load) = (&t_all[..n], &load_all[..n]);
            let warm = soak_harness::config::default_warmup(h, retention);
            for r in &summary.resources {
                let (Some(budget), Some(y)) =
                    (r.spec.budget_per_hour, samples.column(&r.spec.column))
                else {
                    continue;
                };
                let y = &y[..n];
                let (Some(e), Some(f)) = (
                    growth::estimate(t, y, load, warm, TimeBase::VIRTUAL),
                    growth::facts(t, y, load, warm, TimeBase::VIRTUAL),
                ) else {
                    continue;
                };
                println!(
                    "{dir}\t{h}\t{}\t{budget}\t{:.0}\t{:.0}\t{:.0}\t{:.0}\t{:.0}\t{:.0}\t{:.0}\t{:.2}\t{:.0}\t{:.2}\t{:.2}\t{:.4}\t{:.3}\t{:.3}\t{:.0}\t{}",
                    r.spec.name, e.per_hour, e.stderr, e.late_per_hour, e.late_stderr,
                    f.early_per_hour, f.bend_per_hour, f.bend_stderr, f.trend_vif, f.noise,
                    f.load_rise, f.load_fall, f.load_noise, e.to_hours - e.from_hours, f.rho, f.window_events, e.points
                );
            }
        }
    }
}
