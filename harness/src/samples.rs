//! The sample table: what `samples.csv` holds, in memory.
//!
//! One row per sample, one column per measured resource: the fixed probe columns
//! ([`crate::probe::FIXED_COLUMNS`]) then the scenario's gauges. Analysis and charts
//! work from this table only, so a saved `samples.csv` reproduces both.

use std::fmt::Write as _;
use std::path::Path;

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

    /// Parses CSV text written by [`Samples::to_csv`]. `path` names the file in errors.
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
        let mut s = Samples::with_capacity(columns, 0);
        for (k, line) in lines.enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let cells: Vec<&str> = line.split(',').collect();
            if cells.len() != s.columns.len() {
                return Err(bad(
                    k + 2,
                    format!("{} cells, header has {}", cells.len(), s.columns.len()),
                ));
            }
            let mut row = Vec::with_capacity(cells.len());
            for c in cells {
                let c = c.trim();
                row.push(if c.is_empty() {
                    f64::NAN
                } else {
                    c.parse::<f64>()
                        .map_err(|_| bad(k + 2, format!("'{c}' is not a number")))?
                });
            }
            s.push_row(row);
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
