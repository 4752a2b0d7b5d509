//! Human units in and out: byte sizes, per-hour rates, durations.
//!
//! Input accepts decimal (`KB`, `MB`, `GB`: powers of 1000) and binary (`KiB`, `MiB`,
//! `GiB`: powers of 1024) units, case-insensitive, with an optional `/h`
//! (`/hr`, `/hour`) suffix: `1MB/h`, `512 KiB/h`, `2000000`.

use std::time::Duration;

const UNITS: [(&str, f64); 9] = [
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

/// Parses a byte size (`64KiB`, `1.5 MB`, `4096`) into bytes.
pub fn parse_bytes(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e'))
        .unwrap_or(t.len());
    // "1e6" is a number, but a trailing unit starting with 'e' does not exist: fine.
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a byte size"))?;
    let unit = unit.trim().to_ascii_lowercase();
    let mult = if unit.is_empty() {
        1.0
    } else {
        UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, m)| *m)
            .ok_or_else(|| format!("'{text}' has an unknown unit '{unit}'"))?
    };
    let bytes = value * mult;
    if !bytes.is_finite() || bytes < 0.0 {
        return Err(format!("'{text}' must be a non-negative size"));
    }
    Ok(bytes)
}

/// Parses a growth rate in bytes per hour: `1MB/h`, `512KiB/h`, `4MiB/hour`, `2000000`.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let body = ["/hour", "/hr", "/h"]
        .iter()
        .find_map(|s| lower.strip_suffix(s))
        .unwrap_or(&lower);
    parse_bytes(body).map_err(|_| {
        format!(
            "'{text}' is not a rate; write it like 1MB/h, 512KiB/h or 2000000 \
             (bytes per hour; units B, KB, MB, GB, KiB, MiB, GiB)"
        )
    })
}

/// Parses a duration: `60`, `60s`, `5m`, `1h`, `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t.as_str(), 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a duration; write it like 30s, 1m or 2h"))?;
    let secs = v * mult;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("'{text}' must be a positive duration"));
    }
    Ok(Duration::from_secs_f64(secs))
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
    }

    #[test]
    fn bad_rates_say_how_to_write_one() {
        for bad in ["banana", "-1MB/h", "1XB/h", "", "MB/h"] {
            let e = parse_rate(bad).expect_err(bad);
            assert!(e.contains("1MB/h"), "{bad}: {e}");
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn bytes_format() {
        assert_eq!(bytes_text(4_194_304.0), "4.00 MiB");
        assert_eq!(bytes_text(1536.0), "1.5 KiB");
        assert_eq!(bytes_text(12.0), "12 B");
    }
}
