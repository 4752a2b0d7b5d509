//! Per-thread counter slots, in the published region.
//!
//! As in the harness's counting allocator, a thread only ever writes its own
//! slot, so it needs no atomic read-modify-write: each count is one `add` to
//! memory, a single instruction, which also keeps a signal handler's allocation
//! on the same thread from losing an update. Unlike there, threads come and go
//! in a service (a thread per connection), so a thread's slot goes back to a free
//! set when the thread exits and the next new thread continues its sums (they
//! are totals; any thread may add to them). Threads past [`SLOTS`] at one time,
//! and a thread after its exit handler ran, share the last slot atomically.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use soak_harness::sites::shared::{Published, Slot, SLOTS};

use crate::tls::Tls;
use crate::Global;

/// The published region: counters, site table, header. Written by every thread
/// (each its own slot; the table and header under the sampler's lock); mapped
/// over with the shared file by `publish`.
pub static REGION: Global<Published> = unsafe { Global::zeroed() };

/// Taken slots, one bit each.
static TAKEN: [AtomicU64; SLOTS / 64] = [const { AtomicU64::new(0) }; SLOTS / 64];

/// The thread has the shared slot (see [`Tls::slot`]).
pub const SHARED: usize = 1;

fn slot(i: usize) -> *const Slot {
    // SAFETY: in bounds (i ≤ SLOTS); the region is a static.
    unsafe { std::ptr::addr_of!((*REGION.get()).slots[i]) }
}

/// Claims a free slot for the calling thread, or the shared one when none is free.
///
/// # Safety
/// `t` is the calling thread's state.
pub unsafe fn claim(t: *mut Tls) {
    for (w, word) in TAKEN.iter().enumerate() {
        let mut cur = word.load(Relaxed);
        while cur != u64::MAX {
            let bit = (!cur).trailing_zeros() as usize;
            match word.compare_exchange_weak(cur, cur | 1 << bit, Relaxed, Relaxed) {
                Ok(_) => {
                    (*t).slot = slot(w * 64 + bit) as usize;
                    crate::publish::watch_thread_exit();
                    return;
                }
                Err(now) => cur = now,
            }
        }
    }
    (*t).slot = SHARED;
}

/// Gives the calling thread's slot back (at its exit); it counts in the shared
/// slot from then on.
///
/// # Safety
/// `t` is the calling thread's state.
pub unsafe fn release(t: *mut Tls) {
    if (*t).slot > SHARED {
        let i = ((*t).slot - slot(0) as usize) / std::mem::size_of::<Slot>();
        if i < SLOTS {
            TAKEN[i / 64].fetch_and(!(1 << (i % 64)), Relaxed);
        }
    }
    (*t).slot = SHARED;
}

/// In a forked child only the forking thread lives: every other slot is free.
pub fn after_fork(t: &Tls) {
    for w in &TAKEN {
        w.store(0, Relaxed);
    }
    if t.slot > SHARED {
        let i = (t.slot - slot(0) as usize) / std::mem::size_of::<Slot>();
        if i < SLOTS {
            TAKEN[i / 64].fetch_or(1 << (i % 64), Relaxed);
        }
    }
}

/// Adds one to the count at `slot + COUNT` and `bytes` to the sum at `slot + SUM`
/// (words only this thread writes): one `add` to memory each.
#[inline(always)]
unsafe fn add<const COUNT: usize, const SUM: usize>(slot: usize, bytes: usize) {
    core::arch::asm!(
        "add qword ptr [{s} + {c}], 1",
        "add qword ptr [{s} + {b}], {v}",
        s = in(reg) slot,
        v = in(reg) bytes,
        c = const COUNT,
        b = const SUM,
        options(nostack),
    );
}

/// Counts a block of `bytes` allocated into the thread's own slot `slot` (> 1).
///
/// # Safety
/// `slot` is the calling thread's own slot pointer.
#[inline(always)]
pub unsafe fn alloc_own(slot: usize, bytes: usize) {
    add::<{ std::mem::offset_of!(Slot, allocs) }, { std::mem::offset_of!(Slot, bytes_in) }>(
        slot, bytes,
    );
}

/// Counts a block of `bytes` freed into the thread's own slot `slot` (> 1).
///
/// # Safety
/// As [`alloc_own`].
#[inline(always)]
pub unsafe fn free_own(slot: usize, bytes: usize) {
    add::<{ std::mem::offset_of!(Slot, frees) }, { std::mem::offset_of!(Slot, bytes_out) }>(
        slot, bytes,
    );
}

/// Counts into whatever slot the thread has (claiming one first if it has
/// none): off the fast path.
///
/// # Safety
/// `t` is the calling thread's state.
pub unsafe fn count(t: *mut Tls, bytes: usize, freed: bool) {
    if (*t).slot == 0 {
        claim(t);
    }
    let own = (*t).slot;
    if own > SHARED {
        if freed {
            free_own(own, bytes)
        } else {
            alloc_own(own, bytes)
        }
        return;
    }
    let s = &*slot(SLOTS);
    let (n, b) = if freed {
        (&s.frees, &s.bytes_out)
    } else {
        (&s.allocs, &s.bytes_in)
    };
    n.fetch_add(1, Relaxed);
    b.fetch_add(bytes as u64, Relaxed);
}
