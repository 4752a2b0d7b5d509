//! Property tests: the unit parsers, `RunConfig` validation and the report readers
//! never panic on any input, say what is wrong in one line, and round-trip what
//! soak writes.

use std::time::Duration;

use proptest::prelude::*;
use soak_harness::units::{parse_bytes, parse_duration, parse_rate, ECHO_MAX};

/// Strings that look like what a user types: a number, maybe a unit, maybe a
/// rate's time unit, with stray spaces and signs; plus arbitrary text.
pub(crate) fn typed() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        "[0-9]{1,400}".prop_map(String::from),
        Just("-1".to_string()),
        Just("1e20".to_string()),
        Just("1e-300".to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
    ];
    let unit = prop_oneof![
        Just(""),
        Just("B"),
        Just("kb"),
        Just("MB"),
        Just("GiB"),
        Just("mib"),
        Just("XB"),
        Just("ms"),
        Just("s"),
        Just("m"),
        Just("min"),
        Just("h"),
        Just("d"),
        Just("e"),
        Just(" "),
        Just("é"),
        Just("\n"),
    ];
    let per = prop_oneof![
        Just(""),
        Just("/h"),
        Just("/hour"),
        Just("/min"),
        Just("/s"),
        Just("/day"),
        Just("/m"),
        Just("/"),
        Just("//h"),
        Just("/fortnight"),
    ];
    prop_oneof![
        (number, unit, per).prop_map(|(n, u, p)| format!("{n}{u}{p}")),
        any::<String>(),
        proptest::collection::vec(any::<char>(), 0..600).prop_map(|v| v.into_iter().collect()),
    ]
}

/// One line, not too long, and the input echoed at most [`ECHO_MAX`] characters.
fn one_line(msg: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        !msg.contains('\n') && !msg.contains('\r'),
        "multi-line: {msg:?}"
    );
    prop_assert!(msg.chars().count() <= 250 + 4 * ECHO_MAX, "too long: {msg}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsers_never_panic_and_errors_are_one_line(text in typed()) {
        match parse_bytes(&text) {
            Ok(b) => prop_assert!(b.is_finite() && (0.0..=1e18).contains(&b)),
            Err(e) => one_line(&e)?,
        }
        match parse_rate(&text) {
            Ok(r) => prop_assert!(r.is_finite() && (0.0..=1e18).contains(&r)),
            Err(e) => one_line(&e)?,
        }
        match parse_duration(&text) {
            Ok(d) => prop_assert!(!d.is_zero() && d <= Duration::from_secs(365 * 24 * 3600)),
            Err(e) => one_line(&e)?,
        }
    }

    #[test]
    fn sizes_round_trip(n in 0u64..1_000_000_000_000_000, unit in 0usize..7) {
        let (name, mult) = [
            ("", 1.0), ("B", 1.0), ("KB", 1e3), ("MB", 1e6), ("KiB", 1024.0),
            ("MiB", 1_048_576.0), ("GB", 1e9),
        ][unit];
        let want = n as f64 * mult;
        let got = parse_bytes(&format!("{n}{name}"));
        if want <= 1e18 {
            let got = got.map_err(TestCaseError::fail)?;
            prop_assert!((got - want).abs() <= want * 1e-15, "{n}{name}: {got} vs {want}");
        } else {
            prop_assert!(got.is_err());
        }
    }

    #[test]
    fn rates_round_trip(bytes in 0u64..1_000_000_000_000, per in 0usize..4) {
        let (name, per_hour) = [("/h", 1.0), ("/min", 60.0), ("/s", 3600.0), ("/day", 1.0 / 24.0)][per];
        let want = bytes as f64 * per_hour;
        let got = parse_rate(&format!("{bytes}B{name}")).map_err(TestCaseError::fail)?;
        prop_assert!((got - want).abs() <= want * 1e-12, "{got} vs {want}");
        // A bare number is bytes per hour, and survives Display.
        prop_assert_eq!(parse_rate(&want.to_string()), Ok(want));
    }

    #[test]
    fn negative_rates_are_called_negative(bytes in 1u64..1_000_000_000, unit in prop_oneof![Just("MB/h"), Just("KiB/min"), Just("")]) {
        let e = parse_rate(&format!("-{bytes}{unit}")).expect_err("negative");
        prop_assert!(e.contains("is negative"), "{}", e);
    }

    #[test]
    fn durations_round_trip(ms in 1u64..365 * 24 * 3600 * 1000) {
        prop_assert_eq!(parse_duration(&format!("{ms}ms")), Ok(Duration::from_millis(ms)));
        let secs = ms as f64 / 1000.0;
        let d = parse_duration(&format!("{secs}s")).map_err(TestCaseError::fail)?;
        prop_assert!((d.as_secs_f64() - secs).abs() < 1e-6);
    }
}

mod readers {
    use std::path::Path;

    use proptest::prelude::*;
    use soak_harness::probe::FIXED_COLUMNS;
    use soak_harness::samples::Samples;
    use soak_harness::summary::{Summary, SummaryInput};
    use soak_harness::verdict::{self, Teardown};
    use soak_harness::RunConfig;

    /// A sample table as a run writes it: the probe columns (non-negative, time
    /// non-decreasing) then gauges (any finite value, or unreadable: NaN).
    fn table() -> impl Strategy<Value = Samples> {
        let gauge = prop_oneof![
            8 => -1e12f64..1e12,
            1 => Just(f64::NAN),
            1 => (0u64..1_000_000).prop_map(|v| v as f64),
        ];
        (0usize..4, 1usize..40).prop_flat_map(move |(gauges, rows)| {
            let fixed = proptest::collection::vec(0u64..(1 << 40), FIXED_COLUMNS.len() - 1);
            let row = (
                0u64..3600,
                fixed,
                proptest::collection::vec(gauge.clone(), gauges),
            );
            proptest::collection::vec(row, rows).prop_map(move |rows| {
                let mut columns: Vec<String> =
                    FIXED_COLUMNS.iter().map(|c| c.to_string()).collect();
                columns.extend((0..gauges).map(|g| format!("gauge_{g}")));
                let mut s = Samples::with_capacity(columns, rows.len());
                let mut t = 0u64;
                for (dt, fixed, g) in rows {
                    t += dt;
                    s.push_row(
                        std::iter::once(t as f64)
                            .chain(fixed.into_iter().map(|v| v as f64))
                            .chain(g),
                    );
                }
                s
            })
        })
    }

    fn summary_of(s: &Samples, hours: f64) -> Summary {
        let cfg = RunConfig::new().hours(hours);
        let judging = verdict::Judging::fixed(&cfg);
        let verdicts = verdict::analyse(s, &verdict::resource_specs(&cfg, &[]), &judging);
        Summary::new(SummaryInput {
            wall_seconds: 0.5,
            teardown: Teardown::default(),
            events: 7,
            ..SummaryInput::replay("prop-test", &cfg, judging, s, verdicts)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn samples_round_trip(s in table()) {
            let csv = s.to_csv();
            let back = Samples::from_csv(&csv, Path::new("samples.csv"))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back.to_csv(), csv);
            prop_assert_eq!(back.digest(), s.digest());
        }

        #[test]
        fn samples_reader_never_panics(text in any::<String>(), head in any::<bool>()) {
            let text = if head { format!("{}\n{text}", FIXED_COLUMNS.join(",")) } else { text };
            if let Err(e) = Samples::from_csv(&text, Path::new("samples.csv")) {
                let msg = e.to_string();
                prop_assert!(!msg.contains('\n'), "{}", msg);
                prop_assert!(msg.contains("samples.csv"), "{}", msg);
            }
        }

        #[test]
        fn a_bad_cell_is_rejected_with_its_line(
            s in table(),
            pick in any::<prop::sample::Index>(),
            col in 0usize..FIXED_COLUMNS.len(),
            bad in prop_oneof![Just("NaN"), Just("inf"), Just("-inf"), Just("-1"), Just("1e999"), Just("x"), Just("")],
        ) {
            // "" in the time column, "-1" in any probe column: both invalid.
            prop_assume!(!(bad.is_empty() && col != 0));
            let csv = s.to_csv();
            let mut lines: Vec<String> = csv.lines().map(String::from).collect();
            let row = 1 + pick.index(lines.len() - 1);
            let mut cells: Vec<String> = lines[row].split(',').map(String::from).collect();
            cells[col] = bad.to_string();
            lines[row] = cells.join(",");
            let e = Samples::from_csv(&lines.join("\n"), Path::new("samples.csv"))
                .expect_err("rejected");
            let line_no = format!("line {}", row + 1);
            prop_assert!(e.to_string().contains(&line_no), "{}", e);
        }

        #[test]
        fn time_going_back_is_rejected(s in table(), pick in any::<prop::sample::Index>()) {
            let csv = s.to_csv();
            let mut lines: Vec<String> = csv.lines().map(String::from).collect();
            prop_assume!(lines.len() >= 3);
            let row = 2 + pick.index(lines.len() - 2);
            let prev: f64 = lines[row - 1].split(',').next().and_then(|c| c.parse().ok()).unwrap_or(0.0);
            prop_assume!(prev > 0.0);
            let mut cells: Vec<String> = lines[row].split(',').map(String::from).collect();
            cells[0] = (prev - 1.0).max(0.0).to_string();
            prop_assume!((prev - 1.0).max(0.0) < prev);
            lines[row] = cells.join(",");
            let e = Samples::from_csv(&lines.join("\n"), Path::new("samples.csv"))
                .expect_err("rejected");
            prop_assert!(e.to_string().contains("goes back"), "{}", e);
        }

        #[test]
        fn summaries_round_trip_and_check_their_verdict(
            s in table(),
            hours in 0.1f64..48.0,
            verdict in prop_oneof![
                "[a-z]{0,6}".boxed(),
                prop_oneof![Just("pass"), Just("fail"), Just("inconclusive"), Just("info"), Just("Pass")]
                    .prop_map(String::from)
                    .boxed(),
            ],
        ) {
            let sum = summary_of(&s, hours);
            let json = sum.to_json();
            let back = Summary::from_json(&json, Path::new("summary.json"))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back.to_json(), json.clone());
            prop_assert_eq!(back.samples_digest, Some(s.digest()));
            let with = json.replacen(
                &format!("\"verdict\": \"{}\"", sum.verdict.as_str()),
                &format!("\"verdict\": \"{verdict}\""),
                1,
            );
            let read = Summary::from_json(&with, Path::new("summary.json"));
            prop_assert_eq!(read.is_ok(), ["pass", "fail", "inconclusive", "info"].contains(&verdict.as_str()));
        }

        #[test]
        fn summary_reader_never_panics(text in any::<String>(), cut in any::<prop::sample::Index>()) {
            // Arbitrary text, and a real summary cut anywhere.
            let s = summary_of(&table_one(), 1.0).to_json();
            let cut = &s[..s.char_indices().map(|(i, _)| i).nth(cut.index(s.chars().count())).unwrap_or(0)];
            for t in [text.as_str(), cut] {
                if let Err(e) = Summary::from_json(t, Path::new("summary.json")) {
                    prop_assert!(!e.to_string().contains('\n'), "{}", e);
                }
            }
        }
    }

    fn table_one() -> Samples {
        let mut columns: Vec<String> = FIXED_COLUMNS.iter().map(|c| c.to_string()).collect();
        columns.push("g".into());
        let mut s = Samples::with_capacity(columns, 3);
        for t in 0..3 {
            s.push_row([t as f64 * 60.0, 1e6, 10.0, 2e6, 1.0, 8.0, 5.0, 3.0]);
        }
        s
    }
}

mod config {
    use std::time::Duration;

    use clap::Parser;
    use proptest::prelude::*;
    use soak_harness::cli::RunArgs;
    use soak_harness::limits::{MAX_INJECTED_BYTES, MAX_SAMPLES};
    use soak_harness::RunConfig;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        run: RunArgs,
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            super::typed(),
            (-1e4f64..1e5).prop_map(|v| v.to_string()),
            (0u32..100).prop_map(|v| v.to_string()),
        ]
    }

    fn bounded(cfg: &RunConfig) -> Result<(), TestCaseError> {
        prop_assert!(cfg.hours > 0.0 && cfg.hours <= 8760.0);
        prop_assert!(cfg.sample_count() <= MAX_SAMPLES);
        prop_assert!(cfg.leak_rate * cfg.hours <= MAX_INJECTED_BYTES);
        prop_assert!(cfg.warmup() >= 0.0 && cfg.warmup() < cfg.hours);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn validate_never_panics_and_bounds_what_it_accepts(
            hours in prop_oneof![any::<f64>(), 0.0f64..10_000.0],
            every_ns in prop_oneof![any::<u64>(), 0u64..100_000_000_000],
            warmup in proptest::option::of(prop_oneof![any::<f64>(), 0.0f64..100.0]),
            leak in prop_oneof![any::<f64>(), 0.0f64..1e12],
            growth in any::<f64>(),
            dhat_from in prop_oneof![Just(0.0), any::<f64>()],
        ) {
            let cfg = RunConfig {
                hours,
                sample_every: Duration::from_nanos(every_ns),
                warmup_hours: warmup,
                leak_rate: leak,
                max_growth: growth,
                dhat_from,
                ..RunConfig::default()
            };
            if cfg.validate().is_ok() {
                bounded(&cfg)?;
            }
        }

        #[test]
        fn command_line_values_never_panic(
            hours in value(), every in value(), rate in value(), leak in value(),
            tasks in value(), warmup in proptest::option::of(value()),
        ) {
            let mut argv = vec![
                "t".to_string(), format!("--hours={hours}"), format!("--sample-every={every}"),
                format!("--max-growth={rate}"), format!("--leak-rate={leak}"),
                format!("--max-task-growth={tasks}"),
            ];
            argv.extend(warmup.map(|w| format!("--warmup={w}")));
            if let Ok(a) = Args::try_parse_from(argv) {
                match a.run.to_config() {
                    Ok(cfg) => bounded(&cfg)?,
                    Err(e) => {
                        let msg = e.to_string();
                        prop_assert!(!msg.contains('\n'), "{}", msg);
                        prop_assert!(msg.chars().count() < 400, "{}", msg);
                    }
                }
            }
        }
    }
}
