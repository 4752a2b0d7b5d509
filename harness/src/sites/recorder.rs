//! Per-run series of the sites' estimated live bytes, one row per sample tick.
//!
//! Bounded: at most [`MAX_ROWS`] rows (longer runs keep every k-th tick) and
//! [`MAX_COLUMNS`] sites, each a column from the tick it is first seen live; sites
//! past that share column 0 ("other sites"). Values are `f32`. The buffer is
//! mapped directly, so recording is never counted in the measured heap and never
//! allocates during the run.
//!
//! A site's values are what it holds beyond what it held when the run started:
//! a process that runs one day after another (`soak all`, a test binary) keeps
//! the earlier days' sampled blocks — its own reports among them — and those are
//! no site of this run (a run in a fresh process records the same series).

use super::arena::{map, unmap};
use super::table::MAX_SITES;
use super::{with_state, FRAME_DEPTH};

/// Rows kept per run.
pub const MAX_ROWS: usize = 2048;
/// Sites with their own column per run.
pub const MAX_COLUMNS: usize = 256;
const COLS: usize = MAX_COLUMNS + 1;
/// The mapping starts with each site's live bytes at the run's start (`u64`s).
const BASE: usize = MAX_SITES * 8;

/// What a run recorded, in ordinary (counted) memory, built after the run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SiteSeries {
    /// Virtual seconds of each recorded tick.
    pub times: Vec<f64>,
    /// One column per site seen live, in order of first appearance.
    pub columns: Vec<SiteColumn>,
    /// Sites without a column of their own, summed.
    pub other: Vec<f64>,
    /// Mean sampling interval, bytes.
    pub sample_bytes: u64,
    /// Most frames captured per sample.
    pub frame_depth: usize,
    /// Samples taken during the run.
    pub samples: u64,
    /// Samples that could not be placed (arena full or alignment over a page).
    pub missed: u64,
}

/// One site's recorded series.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SiteColumn {
    /// Return addresses, innermost first (symbolised at report time by `crate::symbolize`).
    pub frames: Vec<usize>,
    /// Estimated live bytes at each recorded tick.
    pub values: Vec<f64>,
}

/// Records the sites' live estimates at each tick of one run.
pub struct Recorder {
    mem: *mut u8,
    len: usize,
    rows_cap: usize,
    stride: usize,
    ticks: usize,
    rows: usize,
    site_of: [u32; COLS],
    cols: usize,
    sample_bytes: u64,
    samples_at_start: u64,
    missed_at_start: u64,
}

impl Recorder {
    /// A recorder for a run of `ticks` sample ticks, or `None` when sampling is
    /// off or memory for the series cannot be mapped.
    pub fn start(ticks: usize) -> Option<Recorder> {
        let sample_bytes = super::sample_bytes();
        if sample_bytes == 0 {
            return None;
        }
        let stride = ticks.div_ceil(MAX_ROWS).max(1);
        let rows_cap = ticks.div_ceil(stride).max(1);
        let len = BASE + rows_cap * 8 + rows_cap * COLS * 4 + MAX_SITES * 2;
        let mem = map(len)?;
        with_state(|st| {
            // SAFETY: the mapping starts with MAX_SITES u64s (page-aligned, zeroed);
            // nothing else refers to it yet.
            let base = unsafe { std::slice::from_raw_parts_mut(mem.cast::<u64>(), MAX_SITES) };
            let n = st.table.len().min(MAX_SITES);
            for (id, b) in base.iter_mut().enumerate().take(n) {
                *b = st.table.get(id as u32).live;
            }
        });
        let (samples, missed) = super::counts();
        Some(Recorder {
            mem,
            len,
            rows_cap,
            stride,
            ticks: 0,
            rows: 0,
            site_of: [0; COLS],
            cols: 1,
            sample_bytes,
            samples_at_start: samples,
            missed_at_start: missed,
        })
    }

    fn times(&mut self) -> &mut [f64] {
        // SAFETY: after the base come rows_cap f64s (8-byte aligned, zeroed).
        unsafe { std::slice::from_raw_parts_mut(self.mem.add(BASE).cast::<f64>(), self.rows_cap) }
    }

    fn values(&mut self) -> &mut [f32] {
        // SAFETY: after the times come rows_cap × COLS f32s, 8-byte aligned.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.mem.add(BASE + self.rows_cap * 8).cast::<f32>(),
                self.rows_cap * COLS,
            )
        }
    }

    fn col_of(&mut self) -> &mut [u16] {
        // SAFETY: the mapping ends with MAX_SITES u16s, 4-byte aligned.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.mem
                    .add(BASE + self.rows_cap * 8 + self.rows_cap * COLS * 4)
                    .cast::<u16>(),
                MAX_SITES,
            )
        }
    }

    /// Records every site's estimated live bytes at `virtual_seconds`.
    pub fn record(&mut self, virtual_seconds: f64) {
        let tick = self.ticks;
        self.ticks += 1;
        if tick % self.stride != 0 || self.rows >= self.rows_cap {
            return;
        }
        let row = self.rows;
        self.rows += 1;
        self.times()[row] = virtual_seconds;
        // Copy out under the lock into the mapped row; nothing here allocates.
        let mem = self.mem;
        let rows_cap = self.rows_cap;
        let mut cols = self.cols;
        let mut site_of = self.site_of;
        with_state(|st| {
            // SAFETY: as in values() and col_of(); `self` is not otherwise used here.
            let base = unsafe { std::slice::from_raw_parts(mem.cast::<u64>(), MAX_SITES) };
            let values = unsafe {
                std::slice::from_raw_parts_mut(
                    mem.add(BASE + rows_cap * 8).cast::<f32>(),
                    rows_cap * COLS,
                )
            };
            let col_of = unsafe {
                std::slice::from_raw_parts_mut(
                    mem.add(BASE + rows_cap * 8 + rows_cap * COLS * 4)
                        .cast::<u16>(),
                    MAX_SITES,
                )
            };
            let out = &mut values[row * COLS..(row + 1) * COLS];
            let mut other = 0.0f64;
            let n = st.table.len().min(col_of.len());
            for (id, slot) in col_of.iter_mut().enumerate().take(n) {
                let live = st.table.get(id as u32).live.saturating_sub(base[id]);
                let mut col = *slot as usize;
                if col == 0 && live > 0 && id != 0 && cols < COLS {
                    col = cols;
                    cols += 1;
                    *slot = col as u16;
                    site_of[col] = id as u32;
                }
                if col == 0 {
                    other += live as f64;
                } else {
                    out[col] = live as f32;
                }
            }
            out[0] = other as f32;
        });
        self.cols = cols;
        self.site_of = site_of;
    }

    /// The recorded series, with each column's stack, in ordinary memory.
    pub fn finish(mut self) -> SiteSeries {
        let rows = self.rows;
        let cols = self.cols;
        let times = self.times()[..rows].to_vec();
        let values = self.values()[..rows * COLS].to_vec();
        let column =
            |c: usize| -> Vec<f64> { (0..rows).map(|r| values[r * COLS + c] as f64).collect() };
        let mut frames: Vec<Vec<usize>> = Vec::with_capacity(cols);
        for c in 1..cols {
            let id = self.site_of[c];
            let mut f = [0usize; FRAME_DEPTH];
            let mut n = 0;
            with_state(|st| {
                let s = st.table.get(id);
                n = s.depth as usize;
                f[..n].copy_from_slice(&s.frames[..n]);
            });
            frames.push(f[..n].to_vec());
        }
        let (samples, missed) = super::counts();
        let _ = self.col_of();
        SiteSeries {
            times,
            columns: (1..cols)
                .zip(frames)
                .map(|(c, frames)| SiteColumn {
                    frames,
                    values: column(c),
                })
                .collect(),
            other: column(0),
            sample_bytes: self.sample_bytes,
            frame_depth: FRAME_DEPTH,
            samples: samples - self.samples_at_start,
            missed: missed - self.missed_at_start,
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and nothing borrows it past this point.
        unsafe { unmap(self.mem, self.len) };
    }
}
