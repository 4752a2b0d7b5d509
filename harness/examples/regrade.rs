//! Exploration: re-judges saved runs over shorter windows (the first H hours of a
//! saved run), printing estimate and window facts per budgeted resource as TSV.
//!
//! `cargo run --release -p soak-harness --example regrade -- HOURS,.. DIR...`

use soak_harness::growth;
use soak_harness::report::load_run;

fn main() {
    let mut args = std::env::args().skip(1);
    let hours: Vec<f64> = args
        .next()
        .expect("hours list")
        .split(',')
        .map(|h| h.parse().expect("number"))
        .collect();
    println!("dir\thours\tresource\tbudget\tb\tse\tlate\tlate_se\tearly\tearly_se\tbend\tbend_se\tvif\trho\trise\tfall");
    for dir in args {
        let (samples, summary) = load_run(std::path::Path::new(&dir)).expect("run");
        let t_all = samples.hours();
        let load_all = samples.column("load_events").expect("load");
        for &h in &hours {
            let n = t_all.iter().take_while(|&&t| t <= h + 1e-9).count();
            let t = &t_all[..n];
            let load = &load_all[..n];
            let ret: f64 = std::env::var("RET").ok().and_then(|r| r.parse().ok()).unwrap_or(0.0);
            let warm = if ret <= h / 2.0 { (h * 0.1).max(ret) } else { h * 0.1 };
            for r in &summary.resources {
                let Some(budget) = r.spec.budget_per_hour else { continue };
                let y = samples.column(&r.spec.column).expect("column");
                let y = &y[..n];
                let (Some(e), Some(f)) = (
                    growth::estimate(t, y, load, warm),
                    growth::facts(t, y, load, warm),
                ) else {
                    continue;
                };
                println!(
                    "{dir}\t{h}\t{}\t{budget}\t{:.0}\t{:.0}\t{:.0}\t{:.0}\t{:.0}\t{:.0}\t{:.0}\t{:.0}\t{:.2}\t{:.3}\t{:.2}\t{:.2}",
                    r.spec.name, e.per_hour, e.stderr, e.late_per_hour, e.late_stderr,
                    f.early_per_hour, f.early_stderr, f.bend_per_hour, f.bend_stderr, f.trend_vif, f.rho, f.load_rise, f.load_fall
                );
            }
        }
    }
}
