//! The allocation-heavy loop shared by `benches/alloc.rs` and
//! `examples/alloc_overhead.rs`: 1,000 blocks of mixed sizes (16 B–4 KiB, the mix of
//! a chat bot's maps and buffers) allocated, touched and freed through one
//! allocator called directly, so only the allocator differs between runs.

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;

/// The block layouts, the same every run (xorshift from a fixed seed).
pub fn layouts() -> Vec<Layout> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..1_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Layout::from_size_align(16usize << (x % 9), 8).expect("valid layout")
        })
        .collect()
}

/// Allocates every layout through `a`, touches each block, frees them all.
pub fn churn<A: GlobalAlloc>(a: &A, layouts: &[Layout], ptrs: &mut Vec<*mut u8>) {
    ptrs.clear();
    for l in layouts {
        // SAFETY: non-zero sizes, valid alignment; every block is freed below with
        // the layout it was allocated with.
        let p = unsafe { a.alloc(*l) };
        assert!(!p.is_null());
        // SAFETY: p is a fresh block of at least 16 bytes.
        unsafe { p.write(1) };
        ptrs.push(p);
    }
    for (p, l) in ptrs.iter().zip(layouts) {
        // SAFETY: allocated above by the same allocator with this layout.
        unsafe { a.dealloc(black_box(*p), *l) };
    }
}
