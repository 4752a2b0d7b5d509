//! The system allocator's own size of every live block, counted beside the
//! counting allocator's requested sizes when `SOAK_SERVER_USABLE_HEAP=1`.
//!
//! A malloc interposed with `LD_PRELOAD` (soak's preload) sees only what `free`
//! can know, the block's usable size (`malloc_usable_size`): glibc rounds a request
//! up to 16 bytes less its 8-byte header, so a heap of small blocks reads ~1–2%
//! above the requested bytes the counting allocator adds up (soak-server's blocks
//! average 350–425 bytes and carry 5–6 bytes of rounding each). With this counter
//! `/metrics` also reports the usable bytes (`soak_server_heap_usable_bytes`), the
//! same quantity the preload counts, measured here by a different route (the
//! server's own allocations, read back from glibc), so the two can be compared.
//!
//! glibc only (elsewhere it stays off). Off unless the variable is set when the
//! process makes its first allocation: a counter switched on later would subtract
//! blocks it never added. On, it costs a `malloc_usable_size` call and a shared
//! atomic per allocation and free; off, a relaxed load.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering::Relaxed};

/// The environment variable that turns the counter on (`1`).
pub const ENV: &std::ffi::CStr = c"SOAK_SERVER_USABLE_HEAP";

const UNKNOWN: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
static BYTES: AtomicI64 = AtomicI64::new(0);

/// The system allocator, with the usable size of its live blocks counted when
/// [`ENV`] is set. Wrap it in the counting allocator:
/// `soak_harness::Counting::new(UsableSystem)`.
#[derive(Debug, Default, Clone, Copy)]
pub struct UsableSystem;

#[inline]
fn on() -> bool {
    match STATE.load(Relaxed) {
        ON => true,
        OFF => false,
        _ => decide(),
    }
}

#[cold]
fn decide() -> bool {
    // glibc's malloc_usable_size is what the preload counts; elsewhere: off.
    if cfg!(not(all(target_os = "linux", target_env = "gnu"))) {
        STATE.store(OFF, Relaxed);
        return false;
    }
    // SAFETY: the name is a NUL-terminated literal; glibc's getenv reads the
    // environment without allocating, so calling it from inside the allocator
    // cannot recurse. Racing first calls on two threads read the same value.
    let v = unsafe { libc::getenv(ENV.as_ptr()) };
    // SAFETY: a non-null getenv result is a NUL-terminated string.
    let on = !v.is_null() && unsafe { std::ffi::CStr::from_ptr(v) }.to_bytes() == b"1";
    STATE.store(if on { ON } else { OFF }, Relaxed);
    on
}

/// The usable bytes of the live blocks, when counted.
pub fn live_bytes() -> Option<u64> {
    (STATE.load(Relaxed) == ON).then(|| BYTES.load(Relaxed).max(0) as u64)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[inline]
fn usable(p: *mut u8) -> i64 {
    // SAFETY: `p` is a live block of the system allocator (malloc or
    // posix_memalign on Linux), which malloc_usable_size accepts.
    unsafe { libc::malloc_usable_size(p.cast()) as i64 }
}

/// Elsewhere the counter stays off ([`decide`]); this is never reached.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
#[inline]
fn usable(_p: *mut u8) -> i64 {
    0
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged;
// the counter only reads the blocks' sizes back from the allocator.
unsafe impl GlobalAlloc for UsableSystem {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() && on() {
            BYTES.fetch_add(usable(p), Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() && on() {
            BYTES.fetch_add(usable(p), Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if on() {
            BYTES.fetch_sub(usable(ptr), Relaxed);
        }
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let counting = on();
        let old = if counting { usable(ptr) } else { 0 };
        let q = System.realloc(ptr, layout, new_size);
        if counting && !q.is_null() {
            BYTES.fetch_add(usable(q) - old, Relaxed);
        }
        q
    }
}
