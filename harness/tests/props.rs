//! Property tests: the unit parsers, `RunConfig` validation and the report readers
//! never panic on any input, say what is wrong in one line, and round-trip what
//! soak writes.

use std::time::Duration;

use proptest::prelude::*;
use soak_harness::units::{parse_bytes, parse_duration, parse_rate, ECHO_MAX};

/// Strings that look like what a user types: a number, maybe a unit, maybe a
/// rate's time unit, with stray spaces and signs; plus arbitrary text.
fn typed() -> impl Strategy<Value = String> {
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
