//! The allocator underneath: the C library's own entry points (glibc exports
//! them as `__libc_malloc` & co., so no `dlsym` is needed to find them, and no
//! bootstrap allocation), and the usable size of its blocks.

use std::ffi::c_void;

extern "C" {
    pub fn __libc_malloc(size: usize) -> *mut c_void;
    pub fn __libc_free(p: *mut c_void);
    pub fn __libc_calloc(n: usize, size: usize) -> *mut c_void;
    pub fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void;
    pub fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
}

/// glibc's usable size of a live block `p` it returned: the chunk size in the
/// word before the block, less the chunk's own overhead (8 bytes, 16 for a chunk
/// of its own mapping) — what `malloc_usable_size` computes, without the call.
/// [`check`] compares it with the C library's own at start-up.
///
/// # Safety
/// `p` is a live block from the C library's allocator.
#[inline(always)]
pub unsafe fn usable(p: *mut c_void) -> usize {
    let head = *(p as *const usize).sub(1);
    // Bit 1 (IS_MMAPPED) adds 8 to the overhead: branch-free.
    (head & !7).wrapping_sub(8 + ((head & 2) << 2))
}

/// What glibc's usable size would be for a request of `size` bytes served from
/// its heap: what a sampled block (which the arena serves instead) is counted as,
/// so that sampling does not change the count.
pub fn usable_for(size: usize) -> usize {
    (size.saturating_add(8 + 15) & !15).max(32) - 8
}

/// Whether [`usable`] agrees with the C library's `malloc_usable_size` on blocks
/// of several sizes, aligned, and of their own mapping. Run once, at start-up.
pub fn check() -> bool {
    // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name; the symbol, when
    // found, has malloc_usable_size's signature.
    let theirs = unsafe { libc::dlsym(libc::RTLD_NEXT, c"malloc_usable_size".as_ptr()) };
    if theirs.is_null() {
        return false;
    }
    // SAFETY: see above.
    let theirs: unsafe extern "C" fn(*mut c_void) -> usize = unsafe { std::mem::transmute(theirs) };
    let mut ok = true;
    for (align, size) in [
        (0, 1),
        (0, 24),
        (0, 100),
        (0, 5000),
        (0, 1 << 20),
        (64, 100),
        (4096, 10),
    ] {
        // SAFETY: fresh blocks from the C library, freed right after.
        unsafe {
            let p = if align == 0 {
                __libc_malloc(size)
            } else {
                __libc_memalign(align, size)
            };
            if p.is_null() {
                return false;
            }
            ok &= usable(p) == theirs(p) && usable(p) >= size;
            if align == 0 && size < 1 << 16 {
                ok &= usable(p) == usable_for(size);
            }
            __libc_free(p);
        }
    }
    ok
}
