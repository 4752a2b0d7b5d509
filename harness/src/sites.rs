//! Sampled allocation sites, on in every run: which call stacks hold the live
//! heap, estimated from a byte-interval sample of allocations cheap enough to
//! leave on (see `docs/performance.md`).
//!
//! The counting allocator calls three hooks: [`due`] on every allocation (one
//! subtract and branch: has this thread's byte countdown run out?), [`owns`] on
//! every free (one shift and compare: is this block in the sampler's arena?), and,
//! off the fast path, [`sample`] and [`free`]. A sampled block is placed in the
//! arena and recorded with its stack (up to [`FRAME_DEPTH`] return addresses,
//! symbolised only at report time, by [`crate::symbolize`]) and its weight, the bytes it stands for
//! (`size / (1 − exp(−size/mean))`, unbiased). Each site's estimated live bytes
//! is the sum of its live samples' weights.
//!
//! # Bounds
//!
//! All bookkeeping lives in memory mapped directly from the kernel, never in the
//! counted heap, and never calls back into the allocator: the site table
//! ([`MAX_SITES`] stacks, 0.9 MiB), the arena's bitmap and block records (4.1 MiB for
//! its 262,144 pages), and per run the series recorder (at most 2,048 rows × 257
//! columns of `f32`, 2.1 MiB) — under 7.1 MiB of address space in all, touched only
//! as used; on x86_64 Linux the unwinder's rule cache adds 64 KiB of static memory
//! (`unwind.rs`). Sampled blocks themselves occupy whole pages of the arena (1 GiB of
//! address space reserved, not committed): at most 4 KiB of extra resident memory
//! per live sampled block, and a block that cannot be placed is served unsampled.
//!
//! # Threads and dhat
//!
//! Every thread samples its own allocations. While dhat profiles a thread, the
//! thread's allocations take the allocator's slow path, which does not sample:
//! dhat sees every block, and sampled blocks freed meanwhile still go back to the
//! arena.

// `arena`, `capture`, `table` and `shared` are public for `soak-preload`, the
// same sampler preloaded into a process that does not link the harness.
pub mod arena;
pub mod capture;
mod recorder;
pub mod shared;
pub mod table;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod unwind;

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

pub use recorder::{Recorder, SiteColumn, SiteSeries, MAX_COLUMNS, MAX_ROWS};
pub use table::MAX_SITES;

/// Default mean sampling interval: one sample per 512 KiB allocated, on average.
pub const DEFAULT_SAMPLE_BYTES: u64 = 512 * 1024;

/// Most return addresses kept per sample (after the sampler's own frames).
pub const FRAME_DEPTH: usize = 24;

static MEAN: AtomicU64 = AtomicU64::new(DEFAULT_SAMPLE_BYTES);
static STATE: AtomicPtr<State> = AtomicPtr::new(std::ptr::null_mut());
static LOCK: SpinLock = SpinLock::new();
/// Set when the state or the arena could not be mapped: sampling stays off.
static BROKEN: AtomicBool = AtomicBool::new(false);

#[repr(C)]
struct State {
    arena: arena::Arena,
    table: table::Table,
    samples: u64,
    missed: u64,
}

/// Runs `f` on the sampler's state under its spin lock (which never allocates);
/// does nothing when the state does not exist yet.
fn with_state(f: impl FnOnce(&mut State)) {
    let p = STATE.load(Ordering::Acquire);
    if p.is_null() {
        return;
    }
    LOCK.lock();
    // SAFETY: the state is mapped once and never unmapped; the lock gives this
    // thread the only access.
    f(unsafe { &mut *p });
    LOCK.unlock();
}

/// The sampler's lock: a spin lock that never allocates (a mutex may, and the
/// allocator holds this one). Held only for a table update or an arena search.
#[derive(Debug, Default)]
pub struct SpinLock(AtomicBool);

impl SpinLock {
    /// An unlocked lock.
    pub const fn new() -> Self {
        SpinLock(AtomicBool::new(false))
    }

    /// Takes the lock, spinning and then yielding while another thread has it.
    pub fn lock(&self) {
        let mut spins = 0u32;
        while self
            .0
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Releases the lock.
    pub fn unlock(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Maps the state and the arena on first use (under the lock).
fn state() -> Option<*mut State> {
    let p = STATE.load(Ordering::Acquire);
    if !p.is_null() {
        return Some(p);
    }
    if BROKEN.load(Ordering::Relaxed) {
        return None;
    }
    LOCK.lock();
    let mut p = STATE.load(Ordering::Acquire);
    if p.is_null() {
        match arena::map(std::mem::size_of::<State>()) {
            Some(mem) => {
                let st = mem.cast::<State>();
                // SAFETY: fresh zeroed memory of the right size; all-zero is a
                // valid State.
                if unsafe { (*st).arena.reserve() } {
                    unsafe { (*st).arena.publish() };
                    STATE.store(st, Ordering::Release);
                    p = st;
                } else {
                    BROKEN.store(true, Ordering::Relaxed);
                }
            }
            None => BROKEN.store(true, Ordering::Relaxed),
        }
    }
    LOCK.unlock();
    (!p.is_null()).then_some(p)
}

/// Sets the mean sampling interval in bytes (0 turns sampling off) and restarts
/// this thread's sampling from `seed`, so that a run on this thread samples the
/// same blocks every time. Other threads follow at their next sample point.
pub fn configure(sample_bytes: u64, seed: u64) {
    MEAN.store(sample_bytes, Ordering::Relaxed);
    capture::reset_thread(seed);
}

/// The mean sampling interval in bytes (0: off).
pub fn sample_bytes() -> u64 {
    MEAN.load(Ordering::Relaxed)
}

/// Samples taken and samples that could not be placed, since the process started.
pub fn counts() -> (u64, u64) {
    let mut out = (0, 0);
    with_state(|st| out = (st.samples, st.missed));
    out
}

/// Allocation hook: counts `size` bytes down; true when this allocation must go
/// to [`sample`].
#[inline(always)]
pub fn due(size: usize) -> bool {
    capture::due(size)
}

/// Free hook: whether `ptr` is a sampled block (to be released with [`free`]).
#[inline(always)]
pub fn owns(ptr: *mut u8) -> bool {
    arena::owns(ptr)
}

/// The allocation [`due`] sent here: a sampled block from the arena, or when this
/// block is not a sample (or cannot be placed) one from `inner`.
///
/// # Safety
/// As [`GlobalAlloc::alloc`]: `layout` has a non-zero size.
#[cold]
#[inline(never)]
pub unsafe fn sample<A: GlobalAlloc>(inner: &A, layout: Layout, zeroed: bool) -> *mut u8 {
    let mean = MEAN.load(Ordering::Relaxed);
    let size = layout.size();
    if !capture::decide(size, mean) {
        return plain(inner, layout, zeroed);
    }
    let mut frames = [0usize; FRAME_DEPTH];
    // Skip this function's own frame; the counting allocator's stays (trimmed later).
    let depth = capture::stack(&mut frames, 1);
    let weight = capture::weight(size, mean);
    let mut placed = None;
    if layout.align() <= arena::PAGE {
        if let Some(p) = state() {
            LOCK.lock();
            // SAFETY: the lock gives this thread the only access to the state.
            let st = unsafe { &mut *p };
            placed = record(&mut st.arena, &mut st.table, &frames[..depth], size, weight);
            if placed.is_some() {
                st.samples += 1;
            } else {
                st.missed += 1;
            }
            LOCK.unlock();
        }
    }
    capture::rearm(mean);
    match placed {
        Some((ptr, fresh)) => {
            if zeroed && !fresh {
                ptr.write_bytes(0, size);
            }
            ptr
        }
        None => plain(inner, layout, zeroed),
    }
}

unsafe fn plain<A: GlobalAlloc>(inner: &A, layout: Layout, zeroed: bool) -> *mut u8 {
    if zeroed {
        inner.alloc_zeroed(layout)
    } else {
        inner.alloc(layout)
    }
}

/// Releases a sampled block ([`owns`] said yes).
///
/// # Safety
/// `ptr` is a live block returned by [`sample`].
#[cold]
#[inline(never)]
pub unsafe fn free(ptr: *mut u8) {
    with_state(|st| release(&mut st.arena, &mut st.table, ptr));
}

/// Places a sampled block of `size` bytes standing for `weight` bytes in `arena`
/// and adds it to its stack's site in `table`: the block and whether its pages
/// are known to be zero, or `None` when the arena has no room (nothing recorded).
/// The caller holds the lock that guards both.
pub fn record(
    arena: &mut arena::Arena,
    table: &mut table::Table,
    frames: &[usize],
    size: usize,
    weight: u64,
) -> Option<(*mut u8, bool)> {
    let site = table.intern(frames);
    let placed = arena.take(size, site, weight)?;
    let s = table.get_mut(site);
    s.live += weight;
    s.live_blocks += 1;
    Some(placed)
}

/// Releases a sampled block placed by [`record`] and takes it off its site.
/// The caller holds the lock that guards both.
pub fn release(arena: &mut arena::Arena, table: &mut table::Table, ptr: *mut u8) {
    let rec = arena.give_back(ptr);
    if rec.pages > 0 {
        let s = table.get_mut(rec.site);
        s.live = s.live.saturating_sub(rec.weight);
        s.live_blocks = s.live_blocks.saturating_sub(1);
    }
}
