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
//! The allocator is the user's to declare: the library installs none, so a crate that
//! uses jemalloc or mimalloc wraps its own (`Counting<Jemalloc>`). A run checks that
//! it is installed ([`installed`]) and refuses to start otherwise, rather than
//! measuring a flat heap:
//!
//! ```
//! #[global_allocator]
//! static ALLOC: soak_harness::Counting = soak_harness::Counting::system();
//! # fn main() { assert!(soak_harness::alloc::installed()); }
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};

use crate::sites;

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
/// 0: no `Counting` allocator has run in this process; 1: one has, over an inner
/// allocator dhat cannot share blocks with; 2: one has, over [`System`].
static INSTALLED: AtomicU8 = AtomicU8::new(0);

fn overflow_slot() -> &'static Slot {
    &SLOT_TABLE[SLOTS]
}

thread_local! {
    // const-initialised and without Drop: no lazy registration, safe inside an
    // allocator. Null until the thread's first allocation claims a slot.
    static MY_SLOT: Cell<*const Slot> = const { Cell::new(std::ptr::null()) };
    // Set while dhat runs its own code on this thread: what it allocates then is
    // the profiler's bookkeeping, not the subject's heap, and is not counted.
    static IN_PROFILER: Cell<bool> = const { Cell::new(false) };
    // While this thread is profiled, its slot is parked here and MY_SLOT is null,
    // so its allocations take the out-of-line path that routes through dhat. The
    // fast path thus never checks for dhat (a global flag check measured ~4% of an
    // allocation-heavy loop; the counting itself ~0%).
    static PARKED_SLOT: Cell<*const Slot> = const { Cell::new(std::ptr::null()) };
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

/// This thread's private slot, or null when it has none yet or never will
/// (threads beyond [`SLOTS`]): null always takes the out-of-line path.
#[inline(always)]
fn my_slot() -> *const Slot {
    MY_SLOT.try_with(Cell::get).unwrap_or(std::ptr::null())
}

/// Claims a private slot for this thread if one is left; returns it, or null when
/// the thread must share the overflow slot.
fn claim_slot() -> *const Slot {
    let claimed = NEXT_SLOT.fetch_add(1, Relaxed);
    if claimed >= SLOTS {
        return std::ptr::null();
    }
    let slot: *const Slot = &SLOT_TABLE[claimed];
    let _ = MY_SLOT.try_with(|c| c.set(slot));
    slot
}

/// Counts into a private slot: only this thread writes it, so a load and a store
/// cannot lose updates (and cost no lock prefix).
#[inline(always)]
fn bump_private(count: &AtomicU64, bytes: &AtomicU64, size: usize) {
    count.store(count.load(Relaxed).wrapping_add(1), Relaxed);
    bytes.store(bytes.load(Relaxed).wrapping_add(size as u64), Relaxed);
}

/// Counts into whatever slot this thread has: its parked slot while profiled,
/// else claims a private one while any is left, else counts atomically into the
/// shared overflow slot.
fn count_any(size: usize, free: bool) {
    let mut slot = PARKED_SLOT.try_with(Cell::get).unwrap_or(std::ptr::null());
    if slot.is_null() {
        slot = my_slot();
    }
    if slot.is_null() && NEXT_SLOT.load(Relaxed) < SLOTS && !DHAT_ON.load(Relaxed) {
        slot = claim_slot();
    }
    // SAFETY: non-null slot pointers point into the static SLOT_TABLE.
    match unsafe { slot.as_ref() } {
        Some(s) if free => bump_private(&s.frees, &s.bytes_out, size),
        Some(s) => bump_private(&s.allocs, &s.bytes_in, size),
        None => {
            let s = overflow_slot();
            let (count, bytes) = if free {
                (&s.frees, &s.bytes_out)
            } else {
                (&s.allocs, &s.bytes_in)
            };
            count.fetch_add(1, Relaxed);
            bytes.fetch_add(size as u64, Relaxed);
        }
    }
}

/// This thread's private slot, when the fast path applies.
#[inline(always)]
fn fast_slot() -> Option<&'static Slot> {
    // SAFETY: non-null slot pointers point into the static SLOT_TABLE.
    unsafe { my_slot().as_ref() }
}

/// The counting allocator: wraps an inner allocator (the system's by default) and
/// counts every block it hands out. Declare it as the process's global allocator;
/// the counters are process-wide statics, so any number of handles count together.
///
/// ```
/// // The default: the system allocator underneath; `--dhat` works.
/// #[global_allocator]
/// static ALLOC: soak_harness::Counting = soak_harness::Counting::system();
/// # fn main() {}
/// ```
///
/// Over jemalloc or mimalloc: `static ALLOC: Counting<mimalloc::MiMalloc> =
/// Counting::new(mimalloc::MiMalloc);`. dhat allocates from the system allocator, so
/// `--dhat` needs [`Counting::system`]; over another allocator a run with `--dhat`
/// returns an error instead of mixing blocks between two allocators.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counting<A = System> {
    inner: A,
    // Whether blocks may move between `inner` and dhat (which uses `System`).
    dhat_ok: bool,
}

impl Counting<System> {
    /// Counting over the system allocator (dhat mode available).
    pub const fn system() -> Self {
        Counting {
            inner: System,
            dhat_ok: true,
        }
    }
}

impl<A: GlobalAlloc> Counting<A> {
    /// Counting over `inner` (jemalloc, mimalloc, …). dhat mode is not available
    /// over an inner allocator other than the system's; use [`Counting::system`]
    /// for that.
    pub const fn new(inner: A) -> Self {
        Counting {
            inner,
            dhat_ok: false,
        }
    }

    #[inline(always)]
    fn dhat_routing(&self) -> bool {
        self.dhat_ok && DHAT_ON.load(Relaxed)
    }

    /// Records that this allocator is the one in use (cold: once per thread).
    #[cold]
    fn mark_installed(&self) {
        let mark = if self.dhat_ok { 2 } else { 1 };
        if INSTALLED.load(Relaxed) != mark {
            INSTALLED.store(mark, Relaxed);
        }
    }
}

/// Whether a [`Counting`] allocator is the process's global allocator (it has
/// counted at least one allocation). Without it every heap reading is zero.
pub fn installed() -> bool {
    if INSTALLED.load(Relaxed) != 0 {
        return true;
    }
    // A fresh thread's first allocation always takes the slow path that marks the
    // allocator; a thread that allocated before the check already marked it. Try
    // one allocation here in case this thread has not allocated yet.
    std::hint::black_box(Box::new(0u64));
    INSTALLED.load(Relaxed) != 0
}

/// Whether the installed [`Counting`] allocator wraps the system allocator, which
/// dhat mode needs.
pub fn dhat_capable() -> bool {
    installed() && INSTALLED.load(Relaxed) == 2
}

/// The line a user adds to declare the allocator, for error messages.
pub const DECLARE_LINE: &str =
    "#[global_allocator] static ALLOC: soak_harness::Counting = soak_harness::Counting::system();";

// SAFETY: every method forwards to a real allocator (`inner`, or dhat::Alloc, which
// itself forwards to System, only when `inner` is System) with the caller's
// arguments unchanged; counting only touches our own statics. Blocks move freely
// between the two because dhat::Alloc allocates from System and ignores frees of
// blocks it never saw. A call made while dhat is already on this thread's stack is
// dhat's own bookkeeping: it goes to System (as dhat itself would send it) and is
// not counted.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    // The fast path counts first and then tail-calls the inner allocator, so it
    // adds no stack frame of its own. A failed allocation (null, after which Rust
    // normally aborts) is therefore counted as live: a deliberate trade.
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match fast_slot() {
            Some(s) => {
                bump_private(&s.allocs, &s.bytes_in, layout.size());
                if sites::due(layout.size()) {
                    return sites::sample(&self.inner, layout, false);
                }
                self.inner.alloc(layout)
            }
            None => self.alloc_slow(layout, false),
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match fast_slot() {
            Some(s) => {
                bump_private(&s.allocs, &s.bytes_in, layout.size());
                if sites::due(layout.size()) {
                    return sites::sample(&self.inner, layout, true);
                }
                self.inner.alloc_zeroed(layout)
            }
            None => self.alloc_slow(layout, true),
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match fast_slot() {
            Some(s) => {
                bump_private(&s.frees, &s.bytes_out, layout.size());
                if sites::owns(ptr) {
                    return sites::free(ptr);
                }
                self.inner.dealloc(ptr, layout)
            }
            None => self.dealloc_slow(ptr, layout),
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A sampled block moves out of the sampler's arena, and a realloc that
        // reaches a sample point moves into it: an allocation, a copy and a free.
        if sites::owns(ptr) || (!self.dhat_routing() && sites::due(new_size)) {
            return self.realloc_moving(ptr, layout, new_size);
        }
        let mut p = std::ptr::null_mut();
        let outer = if self.dhat_routing() {
            through_dhat(|nested| {
                p = if nested {
                    System.realloc(ptr, layout, new_size)
                } else {
                    dhat::Alloc.realloc(ptr, layout, new_size)
                }
            })
        } else {
            p = self.inner.realloc(ptr, layout, new_size);
            true
        };
        if outer && !p.is_null() {
            // A realloc is a free of the old block and an allocation of the new one.
            count_any(layout.size(), true);
            count_any(new_size, false);
        }
        p
    }
}

impl<A: GlobalAlloc> Counting<A> {
    /// A realloc into or out of the sampler's arena: allocate, copy, free.
    #[cold]
    #[inline(never)]
    unsafe fn realloc_moving(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        let q = if sites::owns(ptr) {
            self.alloc(new_layout)
        } else {
            // The countdown already reached its sample point on this block.
            let q = sites::sample(&self.inner, new_layout, false);
            if !q.is_null() {
                count_any(new_size, false);
            }
            q
        };
        if !q.is_null() {
            std::ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        q
    }

    /// Allocation off the fast path: first allocation of a thread, overflow
    /// threads, or dhat profiling.
    #[cold]
    #[inline(never)]
    unsafe fn alloc_slow(&self, layout: Layout, zeroed: bool) -> *mut u8 {
        self.mark_installed();
        let mut p = std::ptr::null_mut();
        let outer = if self.dhat_routing() {
            through_dhat(|nested| {
                p = match (nested, zeroed) {
                    (true, false) => System.alloc(layout),
                    (true, true) => System.alloc_zeroed(layout),
                    (false, false) => dhat::Alloc.alloc(layout),
                    (false, true) => dhat::Alloc.alloc_zeroed(layout),
                }
            })
        } else {
            p = if sites::due(layout.size()) {
                sites::sample(&self.inner, layout, zeroed)
            } else if zeroed {
                self.inner.alloc_zeroed(layout)
            } else {
                self.inner.alloc(layout)
            };
            true
        };
        if outer && !p.is_null() {
            count_any(layout.size(), false);
        }
        p
    }

    /// Free off the fast path (see [`Counting::alloc_slow`]).
    #[cold]
    #[inline(never)]
    unsafe fn dealloc_slow(&self, ptr: *mut u8, layout: Layout) {
        if sites::owns(ptr) {
            sites::free(ptr);
            count_any(layout.size(), true);
            return;
        }
        let outer = if self.dhat_routing() {
            through_dhat(|nested| {
                if nested {
                    System.dealloc(ptr, layout)
                } else {
                    dhat::Alloc.dealloc(ptr, layout)
                }
            })
        } else {
            self.inner.dealloc(ptr, layout);
            true
        };
        if outer {
            count_any(layout.size(), true);
        }
    }
}

/// Routes this thread's allocations through dhat (true) or back to the fast path
/// (false). Turn it on, on the thread that runs the replay, just before starting
/// a `dhat::Profiler`, and off after dropping it. Other threads keep the fast
/// path and are not profiled: the replay's current-thread runtime does all the
/// work on one thread.
pub fn set_dhat(on: bool) {
    DHAT_ON.store(on, Relaxed);
    let _ = MY_SLOT.try_with(|mine| {
        let _ = PARKED_SLOT.try_with(|parked| {
            if on {
                if parked.get().is_null() {
                    parked.set(mine.replace(std::ptr::null()));
                }
            } else if !parked.get().is_null() {
                mine.set(parked.replace(std::ptr::null()));
            }
        });
    });
}

/// A snapshot of the process's heap (defined with the published layout, which
/// carries one for a preloaded target).
pub use crate::sites::shared::HeapStats;

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
    fn the_test_binary_has_it_installed() {
        assert!(installed());
        assert!(dhat_capable());
    }

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
