//! The C allocator's entry points. Each fast path is: count the size down
//! towards the next sample point, call the C library, add the block's usable size
//! to this thread's slot. Everything else (a thread's first allocation, a sample
//! point, a sampled block, the shared slot) takes a cold path.

use std::ffi::{c_int, c_void};

use crate::counts::{self, SHARED};
use crate::real::{
    self, __libc_calloc, __libc_free, __libc_malloc, __libc_memalign, __libc_realloc,
};
use crate::sampler;
use crate::tls::{tls, Tls};

/// How a block is to be made.
#[derive(Clone, Copy)]
enum Make {
    Plain,
    Zeroed,
    Aligned(usize),
}

unsafe fn make(how: Make, size: usize) -> *mut c_void {
    match how {
        Make::Plain => __libc_malloc(size),
        Make::Zeroed => __libc_calloc(1, size),
        Make::Aligned(a) => __libc_memalign(a, size),
    }
}

/// Counts `size` down; true when the fast path applies (the thread has its own
/// slot and no sample point was reached).
#[inline(always)]
unsafe fn fast(t: *mut Tls, size: usize) -> bool {
    let until = (*t).until.wrapping_sub(size as i64);
    (*t).until = until;
    until >= 0 && (*t).slot > SHARED
}

/// Allocation off the fast path: sample, or serve and count.
#[cold]
#[inline(never)]
unsafe fn alloc_slow(t: *mut Tls, size: usize, how: Make) -> *mut c_void {
    if (*t).until < 0 {
        let align = match how {
            Make::Aligned(a) => a,
            _ => 16,
        };
        let p = sampler::maybe(t, size, align, matches!(how, Make::Zeroed));
        if !p.is_null() {
            counts::count(t, sampler::size_of(p), false);
            return p;
        }
    }
    let p = make(how, size);
    if !p.is_null() {
        counts::count(t, real::usable(p), false);
    }
    p
}

#[inline(always)]
unsafe fn alloc(size: usize, how: Make) -> *mut c_void {
    let t = tls();
    if !fast(t, size) {
        return alloc_slow(t, size, how);
    }
    let p = make(how, size);
    if !p.is_null() {
        counts::alloc_own((*t).slot, real::usable(p));
    }
    p
}

#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    alloc(size, Make::Plain)
}

#[no_mangle]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        *libc::__errno_location() = libc::ENOMEM;
        return std::ptr::null_mut();
    };
    alloc(total, Make::Zeroed)
}

#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    if sampler::owns(p) {
        return free_sampled(p);
    }
    let size = real::usable(p);
    let t = tls();
    let own = (*t).slot;
    if own <= SHARED {
        return free_slow(t, p, size);
    }
    counts::free_own(own, size);
    __libc_free(p)
}

/// A free on the shared slot (or the thread's first): counted, then released.
#[cold]
#[inline(never)]
unsafe fn free_slow(t: *mut Tls, p: *mut c_void, size: usize) {
    counts::count(t, size, true);
    __libc_free(p)
}

/// A sampled block back to the arena.
#[cold]
#[inline(never)]
unsafe fn free_sampled(p: *mut c_void) {
    let t = tls();
    let size = sampler::free(t, p);
    counts::count(t, size, true);
}

#[no_mangle]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return malloc(size);
    }
    if size == 0 {
        // glibc frees and returns null.
        free(p);
        return std::ptr::null_mut();
    }
    let t = tls();
    if sampler::owns(p) || !fast(t, size) {
        return realloc_slow(t, p, size);
    }
    let old = real::usable(p);
    let q = __libc_realloc(p, size);
    if !q.is_null() {
        counts::free_own((*t).slot, old);
        counts::alloc_own((*t).slot, real::usable(q));
    }
    q
}

/// A realloc out of the arena, into it (a sample point), or on the shared slot.
#[cold]
#[inline(never)]
unsafe fn realloc_slow(t: *mut Tls, p: *mut c_void, size: usize) -> *mut c_void {
    let sampled = sampler::owns(p);
    let mut q = std::ptr::null_mut();
    if (*t).until < 0 {
        q = sampler::maybe(t, size, 16, false);
        if !q.is_null() {
            counts::count(t, sampler::size_of(q), false);
        }
    }
    if q.is_null() && !sampled {
        // Stays with the C library.
        let old = real::usable(p);
        let q = __libc_realloc(p, size);
        if !q.is_null() {
            counts::count(t, old, true);
            counts::count(t, real::usable(q), false);
        }
        return q;
    }
    if q.is_null() {
        q = malloc(size);
        if q.is_null() {
            return q;
        }
    }
    // Allocate, copy, free: one side of the move is a sampled block.
    let old = if sampled {
        sampler::size_of(p)
    } else {
        real::usable(p)
    };
    std::ptr::copy_nonoverlapping(p.cast::<u8>(), q.cast::<u8>(), old.min(size));
    free(p);
    q
}

#[no_mangle]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        *libc::__errno_location() = libc::ENOMEM;
        return std::ptr::null_mut();
    };
    realloc(p, total)
}

#[no_mangle]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    alloc(size, Make::Aligned(align))
}

#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    memalign(align, size)
}

#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_power_of_two() || align % std::mem::size_of::<usize>() != 0 {
        return libc::EINVAL;
    }
    let p = memalign(align, size);
    if p.is_null() {
        return libc::ENOMEM;
    }
    *out = p;
    0
}

/// The page size (x86_64 Linux's base pages, the arena's unit too).
fn page() -> usize {
    soak_harness::sites::arena::PAGE
}

#[no_mangle]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    memalign(page(), size)
}

#[no_mangle]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    let pg = page();
    let Some(rounded) = size.max(1).checked_next_multiple_of(pg) else {
        *libc::__errno_location() = libc::ENOMEM;
        return std::ptr::null_mut();
    };
    memalign(pg, rounded)
}

#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    if p.is_null() {
        0
    } else if sampler::owns(p) {
        sampler::size_of(p)
    } else {
        real::usable(p)
    }
}
