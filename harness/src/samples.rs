//! The sample table: what `samples.csv` holds, in memory.
//!
//! One row per sample, one column per measured resource: the fixed probe columns
//! ([`crate::probe::FIXED_COLUMNS`]) then the scenario's gauges. Analysis and charts
//! work from this table only, so a saved `samples.csv` reproduces both.

use std::fmt::Write as _;
use std::path::Path;

use crate::probe::FIXED_COLUMNS;
use crate::units::echo;
use crate::Error;

/// The time column of a live run's table (in place of `virtual_seconds`).
pub const WALL_SECONDS: &str = "wall_seconds";

/// A column-named table of numbers, stored row-major.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Samples {
    columns: Vec<String>,
    data: Vec<f64>,
}

impl Samples {
    /// An empty table with `columns`, room reserved for `rows` rows so that
    /// sampling never reallocates (the harness must not look like a leak itself).
    pub fn with_capacity(columns: Vec<String>, rows: usize) -> Self {
        let data = Vec::with_capacity(rows * columns.len());
        Samples { columns, data }
    }

    /// Heap bytes the table holds (its buffer and column names).
    pub fn heap_bytes(&self) -> u64 {
        let names: usize = self.columns.iter().map(|c| c.capacity()).sum();
        (self.data.capacity() * std::mem::size_of::<f64>()
            + self.columns.capacity() * std::mem::size_of::<String>()
            + names) as u64
    }

    /// Column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.data.len().checked_div(self.columns.len()).unwrap_or(0)
    }

    /// Appends a row; extra values are dropped, missing ones become NaN.
    pub fn push_row(&mut self, values: impl IntoIterator<Item = f64>) {
        let width = self.columns.len();
        let before = self.data.len();
        self.data.extend(values.into_iter().take(width));
        while self.data.len() < before + width {
            self.data.push(f64::NAN);
        }
    }

    /// One column by name.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let i = self.columns.iter().position(|c| c == name)?;
        let w = self.columns.len();
        Some(self.data.iter().skip(i).step_by(w).copied().collect())
    }

    /// The last value of a column.
    pub fn last(&self, name: &str) -> Option<f64> {
        self.column(name).and_then(|c| c.last().copied())
    }

    /// The last finite value of a column: a probe that reads it on some rows
    /// only (a Node target's live heap, after each collection) leaves NaN on the
    /// others.
    pub fn last_finite(&self, name: &str) -> Option<f64> {
        let i = self.columns.iter().position(|c| c == name)?;
        // `i` indexes `columns`, so the width is at least 1.
        let w = self.columns.len();
        self.data
            .chunks_exact(w)
            .rev()
            .map(|row| row[i])
            .find(|v| v.is_finite())
    }

    /// Time of each row in hours: the first column, `virtual_seconds` (a virtual
    /// replay) or `wall_seconds` (a live run).
    pub fn hours(&self) -> Vec<f64> {
        self.column("virtual_seconds")
            .or_else(|| self.column(WALL_SECONDS))
            .unwrap_or_default()
            .into_iter()
            .map(|s| s / 3600.0)
            .collect()
    }

    /// The table as CSV text (header line, then one line per row).
    pub fn to_csv(&self) -> String {
        let mut out = self.columns.join(",");
        out.push('\n');
        for row in self.data.chunks(self.columns.len().max(1)) {
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if v.is_finite() {
                    // Display prints integral floats without ".0": stable, compact.
                    let _ = write!(out, "{v}");
                }
            }
            out.push('\n');
        }
        out
    }

    /// A digest of the table (column names and every value's bits, NaN as one
    /// value): `summary.json` records it so a reader can tell whether a
    /// `samples.csv` belongs to the summary beside it. FNV-1a, 64 bits, as hex.
    pub fn digest(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for c in &self.columns {
            eat(c.as_bytes());
            eat(b",");
        }
        for v in &self.data {
            let bits = if v.is_finite() {
                v.to_bits()
            } else {
                f64::NAN.to_bits()
            };
            eat(&bits.to_le_bytes());
        }
        format!("{h:016x}")
    }

    /// Fails unless every name in `required` is a column.
    pub fn require_columns(&self, required: &[&str]) -> Result<(), String> {
        match required
            .iter()
            .find(|r| !self.columns.iter().any(|c| c == *r))
        {
            Some(missing) => Err(format!(
                "no {missing} column; the header must start with {}",
                required.join(",")
            )),
            None => Ok(()),
        }
    }

    /// Parses and validates CSV text written by [`Samples::to_csv`]; `path` names
    /// the file in errors, each with its line number. Accepted: a header starting
    /// with `virtual_seconds`, unique non-empty column names, rows as wide as the
    /// header, finite numbers (an empty cell is a gauge that could not be read; the
    /// time column is never empty), the probe columns ([`FIXED_COLUMNS`])
    /// non-negative, `virtual_seconds` non-decreasing, and at least one row.
    pub fn from_csv(text: &str, path: &Path) -> Result<Self, Error> {
        let bad = |line: usize, why: String| Error::Malformed {
            path: path.to_path_buf(),
            why: format!("line {line}: {why}"),
        };
        let mut lines = text.lines();
        let header = lines
            .next()
            .ok_or_else(|| bad(1, "empty file, expected a header row".into()))?;
        let columns: Vec<String> = header.split(',').map(|s| s.trim().to_string()).collect();
        if !matches!(
            columns.first().map(String::as_str),
            Some("virtual_seconds" | WALL_SECONDS)
        ) {
            return Err(bad(
                1,
                "first column must be virtual_seconds (or wall_seconds in a live run)".into(),
            ));
        }
        for (i, c) in columns.iter().enumerate() {
            if c.is_empty() || c.len() > 64 || !c.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(bad(
                    1,
                    format!("column {} has no usable name {}", i + 1, echo(c)),
                ));
            }
            if columns[..i].contains(c) {
                return Err(bad(1, format!("column {} appears twice", echo(c))));
            }
        }
        // The probe columns count bytes, blocks, tasks, descriptors, events and
        // seconds: never negative. Gauges may be anything finite.
        let counts: Vec<bool> = columns
            .iter()
            .map(|c| FIXED_COLUMNS.contains(&c.as_str()))
            .collect();
        let mut s = Samples::with_capacity(columns, 0);
        let mut last_time = 0.0;
        for (k, line) in lines.enumerate() {
            let n = k + 2;
            if line.trim().is_empty() {
                continue;
            }
            let cells = line.split(',');
            let width = s.columns.len();
            let mut row = Vec::with_capacity(width);
            for (i, c) in cells.enumerate() {
                if i >= width {
                    return Err(bad(n, format!("more cells than the header's {width}")));
                }
                let c = c.trim();
                let v = if c.is_empty() && i > 0 {
                    f64::NAN
                } else {
                    match c.parse::<f64>() {
                        Ok(v) if v.is_finite() && (v >= 0.0 || !counts[i]) => v,
                        Ok(v) if v.is_finite() => {
                            return Err(bad(
                                n,
                                format!("{} is negative: {c}; it counts something", s.columns[i]),
                            ))
                        }
                        _ => {
                            return Err(bad(
                                n,
                                format!(
                                    "{} in column {} is not a finite number",
                                    echo(c),
                                    s.columns[i]
                                ),
                            ))
                        }
                    }
                };
                row.push(v);
            }
            if row.len() != width {
                return Err(bad(n, format!("{} cells, header has {width}", row.len())));
            }
            let t = row[0];
            if t < last_time {
                return Err(bad(
                    n,
                    format!(
                        "virtual_seconds goes back from {last_time} to {t}; rows must be in time order"
                    ),
                ));
            }
            last_time = t;
            s.push_row(row);
        }
        if s.rows() == 0 {
            return Err(bad(2, "no samples after the header".into()));
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips() {
        let mut s = Samples::with_capacity(vec!["virtual_seconds".into(), "x".into()], 2);
        s.push_row([0.0, 1.5]);
        s.push_row([60.0, 2.0]);
        let text = s.to_csv();
        assert_eq!(text, "virtual_seconds,x\n0,1.5\n60,2\n");
        let back = Samples::from_csv(&text, Path::new("s.csv")).expect("parses");
        assert_eq!(back, s);
        assert_eq!(back.hours(), vec![0.0, 60.0 / 3600.0]);
    }

    #[test]
    fn the_last_finite_value_skips_rows_a_probe_left_empty() {
        let mut s = Samples::with_capacity(vec!["wall_seconds".into(), "js".into()], 3);
        s.push_row([0.0, 5.0]);
        s.push_row([1.0, 7.0]);
        s.push_row([2.0, f64::NAN]);
        assert_eq!(s.last_finite("js"), Some(7.0));
        assert!(s.last("js").is_some_and(f64::is_nan));
        assert_eq!(s.last_finite("absent"), None);
        let empty = Samples::with_capacity(vec!["wall_seconds".into(), "js".into()], 0);
        assert_eq!(empty.last_finite("js"), None);
    }

    #[test]
    fn a_live_table_starts_with_wall_seconds() {
        let back = Samples::from_csv("wall_seconds,x\n0,1\n1800,2\n", Path::new("s.csv"))
            .expect("a live run's table parses");
        assert_eq!(back.hours(), vec![0.0, 0.5]);
    }

    #[test]
    fn malformed_csv_says_where() {
        let err = Samples::from_csv("virtual_seconds,x\n0,zz\n", Path::new("s.csv"))
            .expect_err("bad cell");
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = Samples::from_csv("t,x\n", Path::new("s.csv")).expect_err("bad header");
        assert!(err.to_string().contains("virtual_seconds"), "{err}");
    }
}
