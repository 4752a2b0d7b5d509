//! The counting global allocator: exact live bytes and blocks, nearly free.
//!
//! Every allocation is counted into a per-thread slot with a plain load and store
//! (no atomic read-modify-write, no lock prefix): a thread only ever writes its own
//! slot, and a reader sums all slots. That keeps the cost within a few percent of
//! the system allocator (see `benches/alloc.rs` and `docs/performance.md`), where
//! four `fetch_add`s per allocation cost far more than that. Threads beyond
//! [`SLOTS`] share one overflow slot updated with atomic adds, so counts stay exact.
//!
//! The same allocator routes to [`dhat::Alloc`] while a dhat profile is running
//! ([`set_dhat`]): one relaxed load decides, so the default path pays nothing for
//! dhat being available (a runtime switch, chosen by measurement over a feature).
//!
//! The harness library installs it as the `#[global_allocator]`, so every binary,
//! test and bench that links the harness is measured.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// How many threads get a private slot before sharing the overflow slot.
pub const SLOTS: usize = 128;

#[repr(align(64))]
struct Slot {
    allocs: AtomicU64,
    frees: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl Slot {
    const fn new() -> Self {
        Slot {
            allocs: AtomicU64::new(0),
            frees: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
        }
    }
}

static SLOT_TABLE: [Slot; SLOTS + 1] = [const { Slot::new() }; SLOTS + 1];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
static DHAT_ON: AtomicBool = AtomicBool::new(false);
const UNCLAIMED: usize = usize::MAX;
const OVERFLOW: usize = SLOTS;

thread_local! {
    // const-initialised and without Drop: no lazy registration, safe inside an allocator.
    static MY_SLOT: Cell<usize> = const { Cell::new(UNCLAIMED) };
    // Set while dhat runs its own code on this thread: what it allocates then is
    // the profiler's bookkeeping, not the subject's heap, and is not counted.
    static IN_PROFILER: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` as profiler code: allocations and frees inside it go straight to the
/// system and are not counted. Wrap dhat's profiler construction and drop in it.
pub fn as_profiler<T>(f: impl FnOnce() -> T) -> T {
    let was = IN_PROFILER.try_with(|c| c.replace(true)).unwrap_or(false);
    let out = f();
    let _ = IN_PROFILER.try_with(|c| c.set(was));
    out
}

/// Calls dhat for a counted operation; a nested call (dhat allocating for itself)
/// goes to the system uncounted. Returns whether the call was the outer one.
#[inline]
fn through_dhat(op: impl FnOnce(bool)) -> bool {
    let nested = IN_PROFILER.try_with(|c| c.replace(true)).unwrap_or(true);
    op(nested);
    if !nested {
        let _ = IN_PROFILER.try_with(|c| c.set(false));
    }
    !nested
}

#[inline]
fn my_slot() -> usize {
    MY_SLOT
        .try_with(|c| {
            let s = c.get();
            if s != UNCLAIMED {
                return s;
            }
            let claimed = NEXT_SLOT.fetch_add(1, Relaxed);
            let s = if claimed < SLOTS { claimed } else { OVERFLOW };
            c.set(s);
            s
        })
        .unwrap_or(OVERFLOW)
}

#[inline]
fn bump(cell: &AtomicU64, by: u64, shared: bool) {
    if shared {
        cell.fetch_add(by, Relaxed);
    } else {
        // Only this thread writes this slot: a load and a store cannot lose updates.
        cell.store(cell.load(Relaxed).wrapping_add(by), Relaxed);
    }
}

#[inline]
fn count_alloc(size: usize) {
    let s = my_slot();
    let slot = &SLOT_TABLE[s];
    let shared = s == OVERFLOW;
    bump(&slot.allocs, 1, shared);
    bump(&slot.bytes_in, size as u64, shared);
}

#[inline]
fn count_free(size: usize) {
    let s = my_slot();
    let slot = &SLOT_TABLE[s];
    let shared = s == OVERFLOW;
    bump(&slot.frees, 1, shared);
    bump(&slot.bytes_out, size as u64, shared);
}

/// The counting allocator. Zero-sized; all counters are process-wide statics.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counting;

/// The process's global allocator.
#[global_allocator]
pub static GLOBAL: Counting = Counting;

// SAFETY: every method forwards to a real allocator (System or dhat::Alloc, which
// itself forwards to System) with the caller's arguments unchanged; counting only
// touches our own statics. Blocks move freely between the two because dhat::Alloc
// allocates from System and ignores frees of blocks it never saw. A call made
// while dhat is already on this thread's stack is dhat's own bookkeeping: it goes
// to System (as dhat itself would send it) and is not counted.
unsafe impl GlobalAlloc for Counting {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if DHAT_ON.load(Relaxed) {
            let mut p = std::ptr::null_mut();
            let outer = through_dhat(|nested| {
                p = if nested {
                    System.alloc(layout)
                } else {
                    dhat::Alloc.alloc(layout)
                }
            });
            if outer && !p.is_null() {
                count_alloc(layout.size());
            }
            return p;
        }
        let p = System.alloc(layout);
        if !p.is_null() {
            count_alloc(layout.size());
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if DHAT_ON.load(Relaxed) {
            let mut p = std::ptr::null_mut();
            let outer = through_dhat(|nested| {
                p = if nested {
                    System.alloc_zeroed(layout)
                } else {
                    dhat::Alloc.alloc_zeroed(layout)
                }
            });
            if outer && !p.is_null() {
                count_alloc(layout.size());
            }
            return p;
        }
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            count_alloc(layout.size());
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if DHAT_ON.load(Relaxed) {
            let outer = through_dhat(|nested| {
                if nested {
                    System.dealloc(ptr, layout)
                } else {
                    dhat::Alloc.dealloc(ptr, layout)
                }
            });
            if outer {
                count_free(layout.size());
            }
            return;
        }
        System.dealloc(ptr, layout);
        count_free(layout.size());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let mut p = std::ptr::null_mut();
        let outer = if DHAT_ON.load(Relaxed) {
            through_dhat(|nested| {
                p = if nested {
                    System.realloc(ptr, layout, new_size)
                } else {
                    dhat::Alloc.realloc(ptr, layout, new_size)
                }
            })
        } else {
            p = System.realloc(ptr, layout, new_size);
            true
        };
        if outer && !p.is_null() {
            // A realloc is a free of the old block and an allocation of the new one.
            count_free(layout.size());
            count_alloc(new_size);
        }
        p
    }
}

/// Routes allocations through dhat (true) or straight to the system (false).
/// Turn it on just before starting a `dhat::Profiler` and off after dropping it.
pub fn set_dhat(on: bool) {
    DHAT_ON.store(on, Relaxed);
}

/// Whether allocations currently go through dhat.
pub fn dhat_on() -> bool {
    DHAT_ON.load(Relaxed)
}

/// A snapshot of the process's heap as the counting allocator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeapStats {
    /// Bytes in live blocks.
    pub live_bytes: u64,
    /// Live blocks.
    pub live_blocks: u64,
    /// Allocations since the process started (reallocs count once).
    pub total_allocs: u64,
    /// Bytes allocated since the process started.
    pub total_bytes: u64,
}

/// Sums every thread's slot. Cheap (a few hundred loads); call it once per sample.
pub fn stats() -> HeapStats {
    let (mut a, mut f, mut bi, mut bo) = (0u64, 0u64, 0u64, 0u64);
    for slot in &SLOT_TABLE {
        a = a.wrapping_add(slot.allocs.load(Relaxed));
        f = f.wrapping_add(slot.frees.load(Relaxed));
        bi = bi.wrapping_add(slot.bytes_in.load(Relaxed));
        bo = bo.wrapping_add(slot.bytes_out.load(Relaxed));
    }
    HeapStats {
        // Another thread's counts may be read a moment stale: clamp, never wrap.
        live_bytes: bi.saturating_sub(bo),
        live_blocks: a.saturating_sub(f),
        total_allocs: a,
        total_bytes: bi,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_a_vector_exactly() {
        let before = stats();
        let v: Vec<u8> = Vec::with_capacity(10_000);
        let during = stats();
        drop(v);
        let after = stats();
        // Other test threads may allocate concurrently; our block is 10,000 bytes.
        assert!(during.total_bytes - before.total_bytes >= 10_000);
        assert!(during.total_allocs > before.total_allocs);
        assert!(after.total_allocs >= during.total_allocs);
    }

    #[test]
    fn threads_beyond_one_are_counted() {
        let before = stats().total_bytes;
        std::thread::spawn(|| {
            let v = vec![0u8; 50_000];
            std::hint::black_box(&v);
        })
        .join()
        .expect("thread ran");
        assert!(stats().total_bytes - before >= 50_000);
    }
}
