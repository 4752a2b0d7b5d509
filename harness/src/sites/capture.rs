//! Per-thread sampling state and stack capture.
//!
//! Each thread counts its allocated bytes down from an exponentially distributed
//! interval (mean: the configured sample size); the allocation that takes the
//! count below zero is sampled and a fresh interval drawn — the "bytes until next
//! sample" counter of tcmalloc and jemalloc. Every byte is thus a sample point
//! with probability 1/mean independently, and a block of `s` bytes is sampled
//! with probability `1 − exp(−s/mean)`. The fast path is one subtract, one store
//! and one branch.
//!
//! While a sample is being taken the counter is parked at `i64::MAX`: nothing the
//! sampler does on this thread can be sampled in turn (the re-entrancy guard).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::FRAME_DEPTH;

thread_local! {
    // const-initialised and without Drop: safe inside the allocator.
    static UNTIL: Cell<i64> = const { Cell::new(-1) };
    static RNG: Cell<u64> = const { Cell::new(0) };
    // Set when the countdown has not been drawn yet (a new thread, a new run).
    static FRESH: Cell<bool> = const { Cell::new(true) };
}

/// Seeds threads that were not seeded by the run (their own stream each).
static THREADS: AtomicU64 = AtomicU64::new(0);

/// Counts `size` bytes down; true when this allocation reaches a sample point
/// (or the thread's state needs drawing first).
#[inline(always)]
pub fn due(size: usize) -> bool {
    UNTIL
        .try_with(|c| {
            let left = c.get().wrapping_sub(size as i64);
            c.set(left);
            left < 0
        })
        .unwrap_or(false)
}

/// splitmix64: a well-spread seed from any number.
pub fn mix(mut x: u64) -> u64 {
    // splitmix64
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn next_random() -> u64 {
    RNG.try_with(|r| {
        let mut x = r.get();
        if x == 0 {
            x = mix(THREADS.fetch_add(1, Relaxed) ^ 0x5eed);
        }
        let (next, out) = xorshift(x);
        r.set(next);
        out
    })
    .unwrap_or(1)
}

/// One step of xorshift64* from a non-zero state: the next state and the output.
pub fn xorshift(mut x: u64) -> (u64, u64) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    (x, x.wrapping_mul(0x2545_F491_4F6C_DD1D))
}

/// An exponentially distributed interval with the given mean, in bytes (≥ 1).
fn draw(mean: u64) -> i64 {
    interval(next_random(), mean)
}

/// The exponentially distributed interval (mean `mean` bytes, at least 1) that
/// the 64 random bits `random` stand for.
pub fn interval(random: u64, mean: u64) -> i64 {
    let u = (random >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
    let d = -(mean as f64) * (1.0 - u).ln();
    d.clamp(1.0, (i64::MAX / 2) as f64) as i64
}

/// Restarts this thread's sampling: the next allocation draws a fresh interval
/// from a stream seeded by `seed` (so a run's samples are reproducible).
pub fn reset_thread(seed: u64) {
    let _ = RNG.try_with(|r| r.set(mix(seed) | 1));
    let _ = FRESH.try_with(|f| f.set(true));
    let _ = UNTIL.try_with(|c| c.set(-1));
}

/// Called when [`due`] fired for a block of `size` bytes: whether the block is a
/// sample. Parks the counter (the re-entrancy guard) when it is; [`rearm`] must
/// follow. With sampling off (`mean` 0) the counter is parked for good.
pub fn decide(size: usize, mean: u64) -> bool {
    if mean == 0 {
        let _ = UNTIL.try_with(|c| c.set(i64::MAX));
        return false;
    }
    let fresh = FRESH.try_with(|f| f.replace(false)).unwrap_or(false);
    if fresh {
        // The countdown starts at this block: sampled when the first point falls in it.
        let d = draw(mean);
        if d > size as i64 {
            let _ = UNTIL.try_with(|c| c.set(d - size as i64));
            return false;
        }
    }
    let _ = UNTIL.try_with(|c| c.set(i64::MAX));
    true
}

/// Draws the next interval after a sample.
pub fn rearm(mean: u64) {
    let d = if mean == 0 { i64::MAX } else { draw(mean) };
    let _ = UNTIL.try_with(|c| c.set(d));
}

/// The bytes a sampled block of `size` stands for: `size / p` with
/// `p = 1 − exp(−size/mean)` its chance of being sampled (unbiased).
pub fn weight(size: usize, mean: u64) -> u64 {
    if mean == 0 {
        return size as u64;
    }
    let x = size as f64 / mean as f64;
    let p = -(-x).exp_m1();
    if p > 0.0 {
        (size as f64 / p).round() as u64
    } else {
        mean
    }
}

/// Captures the caller's stack (return addresses, innermost first) into `out`
/// without allocating; returns how many frames were written. `out[0]` is where
/// the caller returns to, unless `skip` frames are left out first.
///
/// On x86_64 Linux by DWARF rules cached per address (`unwind.rs`, about 50
/// instructions a frame), elsewhere by libgcc's unwinder (about 2,000).
#[inline(always)]
pub fn stack(out: &mut [usize; FRAME_DEPTH], skip: usize) -> usize {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    return super::unwind::stack(out, skip);
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    return stack_libgcc(out, skip);
}

/// [`stack`] by libgcc's unwinder: frames of the unwinder and of this function
/// are left out, as is `skip` more.
#[inline(never)]
#[cfg_attr(all(target_arch = "x86_64", target_os = "linux"), allow(dead_code))]
pub fn stack_libgcc(out: &mut [usize; FRAME_DEPTH], skip: usize) -> usize {
    // Frames whose canonical frame address is at or below this local belong to
    // this call (the unwinder's and ours): the stack grows down.
    let marker = 0u8;
    let here = std::hint::black_box(&marker) as *const u8 as usize;
    let mut n = 0;
    let mut skipped = 0;
    // SAFETY: no other thread unwinds this thread's stack; the closure neither
    // allocates nor panics.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            if (frame.sp() as usize) <= here {
                return true;
            }
            if skipped < skip {
                skipped += 1;
                return true;
            }
            let ip = frame.ip() as usize;
            if ip == 0 {
                return false;
            }
            if let Some(slot) = out.get_mut(n) {
                *slot = ip;
                n += 1;
            }
            n < FRAME_DEPTH
        });
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_size_over_probability() {
        let m = 512 * 1024;
        // Tiny blocks stand for about one interval; huge ones for themselves.
        assert!((weight(16, m) as f64 - m as f64).abs() < 16.0);
        assert_eq!(weight(64 << 20, m), 64 << 20);
        let w = weight(m as usize, m) as f64;
        assert!((w - m as f64 / (1.0 - (-1.0f64).exp())).abs() < 1.0);
        assert_eq!(weight(100, 0), 100);
    }

    #[test]
    fn intervals_average_the_mean() {
        reset_thread(7);
        let n = 20_000;
        let mean = 1000u64;
        let sum: f64 = (0..n).map(|_| draw(mean) as f64).sum();
        let avg = sum / n as f64;
        assert!((avg - 1000.0).abs() < 30.0, "{avg}");
    }

    #[test]
    fn stack_capture_sees_its_callers() {
        #[inline(never)]
        fn inner(out: &mut [usize; FRAME_DEPTH]) -> usize {
            std::hint::black_box(stack(out, 0))
        }
        let mut out = [0; FRAME_DEPTH];
        let n = inner(&mut out);
        assert!(n >= 2, "{n}");
        assert!(out[..n].iter().all(|&ip| ip != 0));
    }
}
