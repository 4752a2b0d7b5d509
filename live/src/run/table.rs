//! The sample table of a live run, laid out from the probes' declarations:
//! `wall_seconds`, the probe columns every `samples.csv` has (in their fixed
//! places, empty unless a probe fills them), then every other declared column in
//! probe order. Each probe fills a row of its own columns by name; the run puts
//! them in place.

use soak_harness::probe::FIXED_COLUMNS;
use soak_harness::samples::{Samples, WALL_SECONDS};

use crate::probe::{Column, Row};

/// Where every probe's columns go.
#[derive(Debug)]
pub(crate) struct Layout {
    columns: Vec<String>,
    probes: Vec<Slots>,
    declared: Vec<Declared>,
}

/// One probe's declared names and where each goes in a table row (`None`: its
/// name was taken first, or is not a valid column name).
#[derive(Debug)]
struct Slots {
    names: Vec<String>,
    at: Vec<Option<usize>>,
}

/// A column kept in the table, with whether a heap probe declared it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Declared {
    pub column: Column,
    pub heap: bool,
}

/// `[a-z0-9_]+`, as gauges are named.
fn valid(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Layout {
    /// Lays out `declared` (each probe's columns, its name and whether it is a heap
    /// probe, in probe order). Returns notes for columns left out.
    pub(crate) fn new(declared: Vec<(&str, bool, Vec<Column>)>) -> (Layout, Vec<String>) {
        let mut columns: Vec<String> = FIXED_COLUMNS.iter().map(|c| c.to_string()).collect();
        columns[0] = WALL_SECONDS.to_string();
        let mut claimed = vec![false; columns.len()];
        claimed[0] = true;
        let mut notes = Vec::new();
        let mut layout = Layout {
            columns: Vec::new(),
            probes: Vec::new(),
            declared: Vec::new(),
        };
        for (probe, heap, cols) in declared {
            let mut slots = Slots {
                names: Vec::new(),
                at: Vec::new(),
            };
            for c in cols {
                let at = if !valid(&c.name) {
                    notes.push(format!(
                        "probe {probe}: column {} left out (names are [a-z0-9_])",
                        soak_harness::units::echo(&c.name)
                    ));
                    None
                } else {
                    match columns.iter().position(|n| *n == c.name) {
                        Some(i) if claimed[i] => None, // taken by an earlier probe
                        Some(i) => {
                            claimed[i] = true;
                            Some(i)
                        }
                        None => {
                            columns.push(c.name.clone());
                            claimed.push(true);
                            Some(columns.len() - 1)
                        }
                    }
                };
                slots.names.push(c.name.clone());
                slots.at.push(at);
                if at.is_some() {
                    layout.declared.push(Declared { column: c, heap });
                }
            }
            layout.probes.push(slots);
        }
        layout.columns = columns;
        (layout, notes)
    }

    /// The declared columns kept, in probe order.
    pub(crate) fn declared(&self) -> &[Declared] {
        &self.declared
    }

    /// An empty table with room for `rows` rows.
    pub(crate) fn table(&self, rows: usize) -> Samples {
        Samples::with_capacity(self.columns.clone(), rows)
    }

    /// One buffer per probe, for its rows.
    pub(crate) fn buffers(&self) -> Vec<Vec<f64>> {
        self.probes
            .iter()
            .map(|p| vec![f64::NAN; p.names.len()])
            .collect()
    }

    /// A row for each probe over its buffer, taken `at_seconds` into the load.
    pub(crate) fn rows<'a>(&'a self, at_seconds: f64, buffers: &'a mut [Vec<f64>]) -> Vec<Row<'a>> {
        self.probes
            .iter()
            .zip(buffers.iter_mut())
            .map(|(p, b)| Row::new(at_seconds, &p.names, b))
            .collect()
    }

    /// The table row from the probes' filled buffers.
    pub(crate) fn assemble(&self, at_seconds: f64, buffers: &[Vec<f64>]) -> Vec<f64> {
        let mut row = vec![f64::NAN; self.columns.len()];
        row[0] = at_seconds;
        for (p, b) in self.probes.iter().zip(buffers) {
            for (at, v) in p.at.iter().zip(b) {
                if let Some(i) = at {
                    row[*i] = *v;
                }
            }
        }
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_go_where_their_names_say_whatever_the_order() {
        let (layout, notes) = Layout::new(vec![
            (
                "a",
                false,
                vec![Column::gauge("extra"), Column::counter("rss_bytes")],
            ),
            (
                "b",
                true,
                vec![
                    Column::gauge("extra"),
                    Column::gauge("Bad-Name"),
                    Column::gauge("more"),
                ],
            ),
        ]);
        assert_eq!(notes.len(), 1, "{notes:?}");
        let t = layout.table(1);
        assert_eq!(t.columns()[0], WALL_SECONDS);
        assert_eq!(&t.columns()[1..7], &FIXED_COLUMNS[1..]);
        assert_eq!(
            &t.columns()[7..],
            &["extra".to_string(), "more".to_string()]
        );
        assert_eq!(layout.declared().len(), 3);
        assert!(layout.declared()[2].heap);

        let mut buffers = layout.buffers();
        {
            let mut rows = layout.rows(2.0, &mut buffers);
            // Set in any order, by name; "b"'s "extra" was taken by "a".
            rows[0].set("rss_bytes", 5.0);
            rows[0].set("extra", 1.0);
            rows[1].set("more", 3.0);
            rows[1].set("extra", 9.0);
        }
        let row = layout.assemble(2.0, &buffers);
        assert_eq!(row[0], 2.0);
        assert_eq!(row[3], 5.0, "rss_bytes in its fixed place");
        assert_eq!((row[7], row[8]), (1.0, 3.0));
        assert!(row[1].is_nan() && row[6].is_nan());
    }
}
