//! The sampler's page arena: every sampled block lives here, so a free can tell a
//! sampled block from any other with one shift and one compare ([`owns`]), and the
//! sampler never needs a lookup on the common path.
//!
//! One region of [`ARENA_BYTES`] is reserved from the kernel (`mmap`, no swap
//! reservation) and aligned to its own size; a sampled block takes a run of whole
//! pages, found first-fit in a bitmap. Untouched pages cost nothing; a freed run of
//! [`RELEASE_PAGES`] or more is handed back with `MADV_DONTNEED`, smaller ones stay
//! resident for reuse. Only the first page of a run has a record (its site and
//! weight). All of it sits in memory mapped directly, never in the counted heap.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Page size the arena works in.
pub const PAGE: usize = 4096;
/// log2 of the arena's size.
pub const ARENA_SHIFT: u32 = 30;
/// Bytes of address space reserved for sampled blocks (1 GiB).
pub const ARENA_BYTES: usize = 1 << ARENA_SHIFT;
/// Pages in the arena.
pub const PAGES: usize = ARENA_BYTES / PAGE;
const WORDS: usize = PAGES / 64;
/// Freed runs at least this long (256 KiB) are returned to the kernel.
pub const RELEASE_PAGES: usize = 64;

/// `base >> ARENA_SHIFT` once the arena is mapped; until then `usize::MAX`, which
/// no pointer shifted right by 30 can equal.
static KEY: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Whether `ptr` is a sampled block.
#[inline(always)]
pub fn owns(ptr: *mut u8) -> bool {
    (ptr as usize >> ARENA_SHIFT) == KEY.load(Relaxed)
}

/// What the first page of a run records about its block.
#[derive(Clone, Copy, Default)]
#[repr(C)]
pub struct Rec {
    /// Site index in the table.
    pub site: u32,
    /// Pages in the run (0: no block starts here).
    pub pages: u32,
    /// Estimated bytes this sampled block stands for.
    pub weight: u64,
}

/// Bitmap and records; all-zero is the valid empty state (it lives in fresh
/// anonymous memory).
#[repr(C)]
pub struct Arena {
    base: usize,
    used: [u64; WORDS],
    recs: [Rec; PAGES],
    /// Lowest page that may be free.
    hint: usize,
    /// Pages at or above this index were never handed out (still zero).
    high: usize,
    /// Pages currently in use.
    pub in_use: usize,
}

/// Maps `len` bytes of zeroed, private, unreserved memory; `None` on failure.
pub fn map(len: usize) -> Option<*mut u8> {
    // SAFETY: an anonymous private mapping with no address hint has no
    // preconditions; failure is reported as MAP_FAILED and handled.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    (p != libc::MAP_FAILED).then_some(p.cast())
}

/// Unmaps memory returned by [`map`].
///
/// # Safety
/// `p` and `len` must describe (part of) a mapping made by [`map`] that nothing
/// refers to any more.
pub unsafe fn unmap(p: *mut u8, len: usize) {
    if len > 0 {
        libc::munmap(p.cast(), len);
    }
}

impl Arena {
    /// Reserves the region, aligned to its size. Returns false when the kernel
    /// refuses: sampling then stays off.
    pub fn reserve(&mut self) -> bool {
        if self.base != 0 {
            return true;
        }
        let Some(p) = map(2 * ARENA_BYTES) else {
            return false;
        };
        let start = p as usize;
        let aligned = (start + ARENA_BYTES - 1) & !(ARENA_BYTES - 1);
        // SAFETY: both pieces lie inside the fresh mapping and are not the part kept.
        unsafe {
            unmap(p, aligned - start);
            unmap(
                (aligned + ARENA_BYTES) as *mut u8,
                start + 2 * ARENA_BYTES - (aligned + ARENA_BYTES),
            );
        }
        self.base = aligned;
        true
    }

    /// Makes [`owns`] recognise this arena's blocks (the process's one sampler
    /// arena only).
    pub fn publish(&self) {
        if self.base != 0 {
            KEY.store(self.base >> ARENA_SHIFT, Relaxed);
        }
    }

    /// The region's first address (0 before [`Arena::reserve`]).
    pub fn base(&self) -> usize {
        self.base
    }

    /// Whether `ptr` lies in this arena (what [`owns`] answers for the published one).
    #[cfg(test)]
    pub fn contains(&self, ptr: *mut u8) -> bool {
        self.base != 0 && (ptr as usize).wrapping_sub(self.base) < ARENA_BYTES
    }

    fn bit(&self, i: usize) -> bool {
        self.used[i / 64] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, from: usize, n: usize, on: bool) {
        for i in from..from + n {
            if on {
                self.used[i / 64] |= 1 << (i % 64);
            } else {
                self.used[i / 64] &= !(1 << (i % 64));
            }
        }
    }

    /// First-fit run of `n` free pages at or after the hint.
    fn find(&self, n: usize) -> Option<usize> {
        let mut i = self.hint;
        while i + n <= PAGES {
            if i % 64 == 0 && self.used[i / 64] == u64::MAX {
                i += 64;
                continue;
            }
            if self.bit(i) {
                i += 1;
                continue;
            }
            let mut j = i;
            while j < i + n && !self.bit(j) {
                j += 1;
            }
            if j == i + n {
                return Some(i);
            }
            i = j + 1;
        }
        None
    }

    /// Takes a run for `size` bytes; returns the block and whether its pages are
    /// known to be zero. `None` when the arena is unmapped or full, or `size` is 0.
    pub fn take(&mut self, size: usize, site: u32, weight: u64) -> Option<(*mut u8, bool)> {
        if self.base == 0 || size == 0 {
            return None;
        }
        let n = size.div_ceil(PAGE);
        let at = self.find(n)?;
        self.set(at, n, true);
        if at == self.hint {
            self.hint = at + n;
        }
        let fresh = at >= self.high;
        self.high = self.high.max(at + n);
        self.in_use += n;
        self.recs[at] = Rec {
            site,
            pages: n as u32,
            weight,
        };
        Some(((self.base + at * PAGE) as *mut u8, fresh))
    }

    /// Releases the run starting at `ptr`; returns its record (pages 0 when no
    /// block starts there, which a correct caller never sees).
    pub fn give_back(&mut self, ptr: *mut u8) -> Rec {
        let at = (ptr as usize).wrapping_sub(self.base) / PAGE;
        let Some(rec) = self.recs.get(at).copied() else {
            return Rec::default();
        };
        let n = rec.pages as usize;
        if n == 0 {
            return rec;
        }
        if n >= RELEASE_PAGES {
            // SAFETY: the run is ours and no longer holds a live block.
            unsafe { libc::madvise(ptr.cast(), n * PAGE, libc::MADV_DONTNEED) };
        }
        self.set(at, n, false);
        self.recs[at] = Rec::default();
        self.hint = self.hint.min(at);
        self.in_use -= n;
        rec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arena() -> &'static mut Arena {
        let p = map(std::mem::size_of::<Arena>()).expect("maps");
        // SAFETY: fresh zeroed memory of the right size; all-zero is a valid Arena.
        unsafe { &mut *p.cast::<Arena>() }
    }

    #[test]
    fn runs_are_first_fit_and_reused() {
        let a = arena();
        assert!(a.reserve());
        let (p1, fresh1) = a.take(100, 1, 10).expect("room");
        let (p2, _) = a.take(PAGE * 3, 2, 20).expect("room");
        let (p3, _) = a.take(1, 3, 30).expect("room");
        assert!(a.contains(p1) && a.contains(p2) && a.contains(p3) && fresh1);
        assert_eq!(p2 as usize - p1 as usize, PAGE);
        assert_eq!(p3 as usize - p2 as usize, 3 * PAGE);
        assert_eq!(a.in_use, 5);
        let r = a.give_back(p2);
        assert_eq!((r.site, r.pages, r.weight), (2, 3, 20));
        // A 2-page block fits in the hole; a second 2-page one does not.
        let (p4, fresh4) = a.take(PAGE + 1, 4, 40).expect("room");
        assert_eq!(p4, p2);
        assert!(!fresh4, "reused pages may be dirty");
        let (p5, _) = a.take(PAGE * 2, 5, 50).expect("room");
        assert_eq!(p5 as usize - p3 as usize, PAGE);
        assert!(!a.contains(std::ptr::null_mut()));
        let local = 0u8;
        assert!(!a.contains(&local as *const u8 as *mut u8));
        assert_eq!(a.give_back(p4).site, 4);
        assert_eq!(a.give_back(p4).pages, 0, "a double free finds no record");
    }

    #[test]
    fn full_arena_says_no() {
        let a = arena();
        assert!(a.reserve());
        assert!(a.take(ARENA_BYTES + 1, 1, 1).is_none());
        assert!(a.take(0, 1, 1).is_none());
        let (p, _) = a.take(ARENA_BYTES, 1, 1).expect("exactly fits");
        assert!(a.take(1, 1, 1).is_none());
        a.give_back(p);
        assert!(a.take(1, 1, 1).is_some());
    }
}
