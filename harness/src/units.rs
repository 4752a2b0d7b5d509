//! Human units in and out: byte sizes, rates, durations.
//!
//! Input accepts decimal (`KB`, `MB`, `GB`: powers of 1000) and binary (`KiB`, `MiB`,
//! `GiB`: powers of 1024) units, case-insensitive. A rate is a size per time unit
//! (`/s`, `/min`, `/h`, `/day` and their long forms) and is returned per hour; a bare
//! size is already per hour: `1MB/h`, `512 KiB/hour`, `20KB/min`, `2000000`.
//!
//! Every parser returns a one-line message on bad input, never panics, and echoes at
//! most [`ECHO_MAX`] characters of what it was given (a 309-digit number is not
//! repeated back in full).

use std::time::Duration;

/// Longest piece of user input repeated in an error message, in characters.
pub const ECHO_MAX: usize = 24;

/// Largest byte size or hourly rate accepted (1 EB): far beyond any real budget,
/// small enough that every later computation on it stays finite and exact enough.
pub const MAX_BYTES: f64 = 1e18;

/// Longest duration accepted (a year, the longest run).
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

const SIZE_UNITS: [(&str, f64); 9] = [
    ("b", 1.0),
    ("kb", 1e3),
    ("mb", 1e6),
    ("gb", 1e9),
    ("kib", 1024.0),
    ("mib", 1_048_576.0),
    ("gib", 1_073_741_824.0),
    ("k", 1e3),
    ("m", 1e6),
];

/// Time units of a rate and how many of them make an hour.
const PER: [(&str, f64); 10] = [
    ("s", 3600.0),
    ("sec", 3600.0),
    ("second", 3600.0),
    ("min", 60.0),
    ("minute", 60.0),
    ("h", 1.0),
    ("hr", 1.0),
    ("hour", 1.0),
    ("d", 1.0 / 24.0),
    ("day", 1.0 / 24.0),
];

const DURATION_UNITS: [(&str, f64); 10] = [
    ("ms", 0.001),
    ("s", 1.0),
    ("sec", 1.0),
    ("m", 60.0),
    ("min", 60.0),
    ("h", 3600.0),
    ("hr", 3600.0),
    ("hour", 3600.0),
    ("d", 86_400.0),
    ("day", 86_400.0),
];

const SIZE_EXAMPLE: &str =
    "write it like 64KiB, 1.5MB or 4096 (units B, KB, MB, GB, KiB, MiB, GiB)";
const RATE_EXAMPLE: &str =
    "write it like 1MB/h, 512KiB/h or 20KB/min (units B, KB, MB, GB, KiB, MiB, GiB; per s, min, h or day)";
const DURATION_EXAMPLE: &str = "write it like 30s, 5m, 2h or 500ms (a bare number is seconds)";

/// `text` quoted for a message, cut to [`ECHO_MAX`] characters with its length
/// noted when longer (`'1000000000000000000000…' (309 characters)`), control
/// characters escaped so the message stays on one line.
pub fn echo(text: &str) -> String {
    let n = text.chars().count();
    let shown: String = text
        .chars()
        .take(if n <= ECHO_MAX { n } else { ECHO_MAX - 2 })
        .flat_map(|c| {
            let esc = c.is_control().then(|| c.escape_default());
            esc.into_iter()
                .flatten()
                .chain((!c.is_control()).then_some(c))
        })
        .collect();
    if n <= ECHO_MAX {
        format!("'{shown}'")
    } else {
        format!("'{shown}…' ({n} characters)")
    }
}

/// Splits `t` into a leading number and the rest: digits, `.`, a sign, and an
/// exponent (`e` followed by a digit or sign: no unit starts like that).
fn split_number(t: &str) -> (&str, &str) {
    let b = t.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let exponent = (c == b'e' || c == b'E')
            && b.get(i + 1)
                .is_some_and(|n| n.is_ascii_digit() || *n == b'-' || *n == b'+');
        let sign_after_exp = (c == b'-' || c == b'+') && i > 0 && matches!(b[i - 1], b'e' | b'E');
        if c.is_ascii_digit()
            || c == b'.'
            || exponent
            || sign_after_exp
            || (i == 0 && (c == b'-' || c == b'+'))
        {
            i += 1;
        } else {
            break;
        }
    }
    // Every byte counted is ASCII, so `i` is a char boundary.
    t.split_at(i)
}

/// A number with an optional unit from `units` (case-insensitive); `what` and
/// `example` phrase the errors. Rejects NaN, infinities and negative values.
fn number_with_unit(
    text: &str,
    units: &[(&str, f64)],
    what: &str,
    example: &str,
) -> Result<f64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("no value given; {example}"));
    }
    let (num, unit) = split_number(t);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{} is not {what}; {example}", echo(text)))?;
    let unit = unit.trim().to_ascii_lowercase();
    let mult = if unit.is_empty() {
        1.0
    } else {
        units
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                format!(
                    "{} has an unknown unit {}; {example}",
                    echo(text),
                    echo(&unit)
                )
            })?
    };
    if value < 0.0 {
        return Err(format!(
            "{} is negative; {what} must be 0 or more",
            echo(text)
        ));
    }
    let v = value * mult;
    if !v.is_finite() {
        return Err(format!("{} is too large; {example}", echo(text)));
    }
    Ok(v)
}

/// Parses a byte size (`64KiB`, `1.5 MB`, `4096`) into bytes: finite, 0 to
/// [`MAX_BYTES`].
pub fn parse_bytes(text: &str) -> Result<f64, String> {
    let bytes = number_with_unit(text, &SIZE_UNITS, "a byte size", SIZE_EXAMPLE)?;
    if bytes > MAX_BYTES {
        return Err(format!(
            "{} is too large; at most 1000000TB (1e18 bytes)",
            echo(text)
        ));
    }
    Ok(bytes)
}

/// Parses a growth rate and returns bytes per hour: `1MB/h`, `512KiB/hour`,
/// `20KB/min`, `2000000` (a bare size is per hour). Finite, 0 to [`MAX_BYTES`] per hour.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("no value given; {RATE_EXAMPLE}"));
    }
    let (body, per_hour) = match t.split_once('/') {
        None => (t, 1.0),
        Some((body, per)) => {
            let per = per.trim().to_ascii_lowercase();
            let m = PER
                .iter()
                .find(|(u, _)| *u == per)
                .map(|(_, m)| *m)
                .ok_or_else(|| {
                    format!(
                        "{} has an unknown time unit {}; {RATE_EXAMPLE}",
                        echo(text),
                        echo(&format!("/{per}"))
                    )
                })?;
            (body, m)
        }
    };
    if body.trim().is_empty() {
        return Err(format!("{} has no amount; {RATE_EXAMPLE}", echo(text)));
    }
    let bytes = number_with_unit(body, &SIZE_UNITS, "a rate", RATE_EXAMPLE).map_err(|e| {
        // Re-phrase about the whole text, not just its amount.
        e.replacen(&echo(body), &echo(text), 1)
    })?;
    let rate = bytes * per_hour;
    if !rate.is_finite() || rate > MAX_BYTES {
        return Err(format!(
            "{} is too large; at most 1e18 bytes per hour",
            echo(text)
        ));
    }
    Ok(rate)
}

/// Parses a duration: `60` (seconds), `60s`, `5m`, `1h`, `500ms`, `1d`. Positive,
/// at least a nanosecond, at most [`MAX_DURATION`]. Plain decimals are converted
/// exactly (`12437435776ms` is that many milliseconds, not the nearest double).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    // Zero is refused below: a negative one is told the same rule.
    if text.trim_start().starts_with('-') {
        return Err(format!(
            "{} is negative; a duration must be positive: {DURATION_EXAMPLE}",
            echo(text)
        ));
    }
    let secs = number_with_unit(text, &DURATION_UNITS, "a duration", DURATION_EXAMPLE)?;
    if secs > MAX_DURATION.as_secs_f64() {
        return Err(format!(
            "{} is too long; at most a year (8760h)",
            echo(text)
        ));
    }
    if let Some(d) = exact_duration(text) {
        if !d.is_zero() {
            return Ok(d);
        }
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(format!(
            "{} is not a positive duration; {DURATION_EXAMPLE}",
            echo(text)
        )),
    }
}

/// `digits[.digits][unit]` as an exact duration (nanoseconds, truncated), or `None`
/// for anything else (exponents, signs), which then goes through `f64`.
fn exact_duration(text: &str) -> Option<Duration> {
    let (num, unit) = split_number(text.trim());
    let unit = unit.trim().to_ascii_lowercase();
    let mult = DURATION_UNITS
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, m)| *m)
        .or(unit.is_empty().then_some(1.0))?;
    // Every unit is a whole number of milliseconds: 1e6 ns and up.
    let unit_nanos = (mult * 1e9).round() as u128;
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        || int.len() > 20
    {
        return None;
    }
    let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    // Digits past the 18th cannot change a count of nanoseconds (a day is 8.64e13 ns).
    let frac = &frac[..frac.len().min(18)];
    let scale = 10u128.checked_pow(frac.len() as u32)?;
    let frac: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    let nanos = int
        .checked_mul(unit_nanos)?
        .checked_add(frac.checked_mul(unit_nanos)? / scale)?;
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    Some(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// A number for a message: plain when short (`24`, `0.5`), in scientific notation
/// when it would print dozens of digits (`1.1e308`).
pub fn number_text(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-4..1e9).contains(&a) {
        format!("{v:.3e}")
    } else {
        format!("{v}")
    }
}

/// How [`duration_text`] writes a length of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationStyle {
    /// In words, for prose, in the largest unit that reaches 1, whole or to a
    /// tenth: `24 h`, `2.5 h`, `20 min`, `45 s`.
    Words,
    /// As a duration option takes it, in the largest unit that divides it:
    /// `2h`, `12m`, `90s`, `1.5s`, `19ms`.
    Flag,
}

/// `secs` seconds as text, in `style`: the one duration formatter of messages,
/// reasons and suggested settings.
pub fn duration_text(secs: f64, style: DurationStyle) -> String {
    match style {
        DurationStyle::Words => {
            let whole = |v: f64, unit: &str| {
                if (v - v.round()).abs() < 0.05 {
                    format!("{:.0} {unit}", v.round())
                } else {
                    format!("{v:.1} {unit}")
                }
            };
            let h = secs / 3600.0;
            if h >= 1.0 || h <= 0.0 {
                whole(h, "h")
            } else if h * 60.0 >= 1.0 {
                whole(h * 60.0, "min")
            } else {
                whole(secs, "s")
            }
        }
        DurationStyle::Flag => {
            if secs >= 3600.0 && secs % 3600.0 == 0.0 {
                format!("{}h", number_text(secs / 3600.0))
            } else if secs >= 60.0 && secs % 60.0 == 0.0 {
                format!("{}m", number_text(secs / 60.0))
            } else if secs >= 1.0 {
                format!("{}s", number_text(secs))
            } else {
                format!("{}ms", number_text(secs * 1000.0))
            }
        }
    }
}

/// `value` per `per` (`h`, `wall h`) in `unit`'s form: bytes in binary units
/// (`3.20 MiB/h`), `count` bare (`3.0/h`), any other unit named (`41.0 tasks/h`).
pub fn rate_text(value: f64, unit: &str, per: &str) -> String {
    match unit {
        "bytes" => format!("{}/{per}", bytes_text(value)),
        "count" => format!("{value:.1}/{per}"),
        _ => format!("{value:.1} {unit}/{per}"),
    }
}

/// An amount in `unit`'s form: `3.20 MiB`, `3.0`, `41.0 tasks`.
pub fn amount_text(value: f64, unit: &str) -> String {
    match unit {
        "bytes" => bytes_text(value),
        "count" => format!("{value:.1}"),
        _ => format!("{value:.1} {unit}"),
    }
}

/// Formats bytes with a binary unit: `512 B`, `3.2 KiB`, `4.00 MiB`.
pub fn bytes_text(bytes: f64) -> String {
    let a = bytes.abs();
    if a >= 1_073_741_824.0 {
        format!("{:.2} GiB", bytes / 1_073_741_824.0)
    } else if a >= 1_048_576.0 {
        format!("{:.2} MiB", bytes / 1_048_576.0)
    } else if a >= 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else if a < 0.5 {
        // Rounded to no bytes, with no sign: `-0 B` reads as a shrinking site.
        "0 B".to_string()
    } else {
        format!("{bytes:.0} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("1MB/h"), Ok(1e6));
        assert_eq!(parse_rate("4MiB/h"), Ok(4_194_304.0));
        assert_eq!(parse_rate("512 KiB/hour"), Ok(524_288.0));
        assert_eq!(parse_rate("2000000"), Ok(2e6));
        assert_eq!(parse_rate("0"), Ok(0.0));
        assert_eq!(parse_rate("1.5kb/hr"), Ok(1500.0));
        assert_eq!(parse_rate("1e6"), Ok(1e6));
        assert_eq!(parse_rate("1MB/min"), Ok(60e6));
        assert_eq!(parse_rate("10KB/s"), Ok(36e6));
        assert_eq!(parse_rate("24MB/day"), Ok(1e6));
    }

    #[test]
    fn bad_rates_say_what_is_wrong_and_how_to_write_one() {
        for (bad, says) in [
            ("banana", "is not a rate"),
            ("-1MB/h", "is negative"),
            ("1XB/h", "unknown unit 'xb'"),
            ("", "no value given"),
            ("MB/h", "is not a rate"),
            ("/h", "has no amount"),
            ("1MB/fortnight", "unknown time unit '/fortnight'"),
            ("1e400", "too large"),
            ("999999999999GB/h", "too large"),
            ("nan", "is not a rate"),
            ("inf", "is not a rate"),
        ] {
            let e = parse_rate(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
            assert!(
                e.contains("1MB/h") || e.contains("0 or more") || e.contains("at most"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn huge_input_is_not_echoed_whole() {
        let digits = "1".repeat(309);
        let e = parse_rate(&digits).expect_err("too large");
        assert!(e.contains("(309 characters)"), "{e}");
        assert!(e.len() < 200, "{e}");
        let e = parse_duration(&format!("{digits}s")).expect_err("too long");
        assert!(e.contains("(310 characters)"), "{e}");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5 min"), Ok(Duration::from_secs(300)));
        for bad in ["0s", "soon", "-1s", "1e20s", "1e-300s", "NaNs", "", "1x"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("1e20s")
            .expect_err("huge")
            .contains("at most a year"));
    }

    #[test]
    fn durations_format_in_words_or_as_flags() {
        let words = |s| duration_text(s, DurationStyle::Words);
        assert_eq!(words(24.0 * 3600.0), "24 h");
        assert_eq!(words(2.5 * 3600.0), "2.5 h");
        assert_eq!(words(1200.0), "20 min");
        assert_eq!(words(45.0), "45 s");
        let flag = |s| duration_text(s, DurationStyle::Flag);
        assert_eq!(flag(7200.0), "2h");
        assert_eq!(flag(720.0), "12m");
        assert_eq!(flag(90.0), "90s");
        assert_eq!(flag(1.5), "1.5s");
        assert_eq!(flag(0.019), "19ms");
        for s in [7200.0, 720.0, 90.0, 1.5, 0.019] {
            let back = parse_duration(&flag(s)).expect("a flag reads back");
            assert!((back.as_secs_f64() - s).abs() < 1e-9, "{s}");
        }
    }

    #[test]
    fn rates_and_amounts_name_their_unit() {
        assert_eq!(rate_text(3.0 * 1_048_576.0, "bytes", "h"), "3.00 MiB/h");
        assert_eq!(bytes_text(-0.0), "0 B");
        assert_eq!(bytes_text(-0.3), "0 B");
        assert_eq!(bytes_text(-3.0), "-3 B");
        assert_eq!(rate_text(3.0, "count", "wall h"), "3.0/wall h");
        assert_eq!(rate_text(41.0, "tasks", "h"), "41.0 tasks/h");
        assert_eq!(amount_text(41.0, "tasks"), "41.0 tasks");
    }

    #[test]
    fn bytes_format() {
        assert_eq!(bytes_text(4_194_304.0), "4.00 MiB");
        assert_eq!(bytes_text(1536.0), "1.5 KiB");
        assert_eq!(bytes_text(12.0), "12 B");
    }
}
