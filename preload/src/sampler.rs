//! Sampled blocks: the harness's byte-interval sampling over its page arena and
//! site table (`soak_harness::sites`), with this library's per-thread countdown
//! (in `tls`) and the table in the published region.
//!
//! A sampled block is served from the arena instead of the C library, so a free
//! tells it apart with one shift and compare. It is counted as the C library's
//! usable size for the request would have been (`real::usable_for`), which is also
//! what `malloc_usable_size` answers for it: sampling leaves the counts as they
//! would be without it.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use soak_harness::sites::arena::{Arena, ARENA_BYTES, ARENA_SHIFT, PAGE, PAGES};
use soak_harness::sites::{self, capture, SpinLock, FRAME_DEPTH};

use crate::counts::REGION;
use crate::tls::Tls;
use crate::{real, Global};

/// Guards the arena, the sizes and the region's table and header counts.
pub static LOCK: SpinLock = SpinLock::new();
/// The arena's bookkeeping (4 MiB of zero pages until used). Under [`LOCK`].
static ARENA: Global<Arena> = unsafe { Global::zeroed() };
/// Each sampled block's counted size, by its first page. Written under [`LOCK`]
/// before the block is handed out; read by the thread that frees it.
static SIZES: Global<[u32; PAGES]> = unsafe { Global::zeroed() };
/// Mean sampling interval in bytes.
pub static MEAN: AtomicU64 = AtomicU64::new(0);
/// Whether sampling has started (after the constructor set it up).
pub static ON: AtomicBool = AtomicBool::new(false);
/// This library's own code: frames inside it are the allocator's, not the caller's.
pub static OWN: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
/// Seeds each thread's random stream.
static THREADS: AtomicU64 = AtomicU64::new(0);
/// The arena's address shifted by its size once reserved (as the harness's
/// `arena::owns` compares), in this library's own data: one load on every free.
static KEY: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Whether `p` is a sampled block.
#[inline(always)]
pub fn owns(p: *mut c_void) -> bool {
    (p as usize >> ARENA_SHIFT) == KEY.load(Ordering::Relaxed)
}

/// Reserves the arena; false when the kernel refuses (sampling stays off).
pub fn reserve() -> bool {
    // SAFETY: this thread's own state.
    unsafe { set_busy(crate::tls::tls(), true) };
    LOCK.lock();
    // SAFETY: under the lock.
    let arena = unsafe { &mut *ARENA.get() };
    let ok = arena.reserve();
    if ok {
        arena.publish();
        KEY.store(arena.base() >> ARENA_SHIFT, Ordering::Relaxed);
    }
    LOCK.unlock();
    // SAFETY: as above.
    unsafe { set_busy(crate::tls::tls(), false) };
    ok
}

unsafe fn draw(t: *mut Tls, mean: u64) -> i64 {
    if (*t).rng == 0 {
        let n = THREADS.fetch_add(1, Ordering::Relaxed);
        (*t).rng = capture::mix(n ^ (libc::getpid() as u64) << 32) | 1;
    }
    let (next, out) = capture::xorshift((*t).rng);
    (*t).rng = next;
    capture::interval(out, mean)
}

/// Marks the thread as inside the sampler (or out of it again). Volatile and
/// fenced: a signal handler on this thread must see it set before the lock is
/// taken, whatever the compiler would otherwise reorder.
pub unsafe fn set_busy(t: *mut Tls, busy: bool) {
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
    std::ptr::write_volatile(std::ptr::addr_of_mut!((*t).busy), busy);
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
}

unsafe fn busy(t: *mut Tls) -> bool {
    std::ptr::read_volatile(std::ptr::addr_of!((*t).busy))
}

/// The countdown ran out on an allocation of `size` bytes aligned to `align`:
/// a sampled block for it, or null when it is not a sample (or cannot be placed)
/// and the C library serves it.
#[cold]
#[inline(never)]
pub unsafe fn maybe(t: *mut Tls, size: usize, align: usize, zeroed: bool) -> *mut c_void {
    if busy(t) {
        return std::ptr::null_mut();
    }
    let mean = MEAN.load(Ordering::Relaxed);
    let on = ON.load(Ordering::Relaxed);
    if !on || mean == 0 {
        // Before the constructor, look again every 64 KiB; after it, off for good.
        (*t).until = if on { i64::MAX } else { 1 << 16 };
        return std::ptr::null_mut();
    }
    if !(*t).drawn {
        // The countdown starts at this block: sampled when its first point falls in it.
        (*t).drawn = true;
        let d = draw(t, mean);
        if d > size as i64 {
            (*t).until = d - size as i64;
            return std::ptr::null_mut();
        }
    }
    set_busy(t, true);
    let p = take(size, align, mean, zeroed);
    (*t).until = draw(t, mean);
    set_busy(t, false);
    p
}

#[inline(never)]
unsafe fn take(size: usize, align: usize, mean: u64, zeroed: bool) -> *mut c_void {
    let header = &(*REGION.get()).header;
    if align > PAGE || size == 0 {
        header.missed.fetch_add(1, Ordering::Relaxed);
        return std::ptr::null_mut();
    }
    let counted = real::usable_for(size);
    let mut frames = [0usize; FRAME_DEPTH];
    let depth = capture::stack(&mut frames, 0);
    let (lo, hi) = (
        OWN[0].load(Ordering::Relaxed),
        OWN[1].load(Ordering::Relaxed),
    );
    let own = frames[..depth]
        .iter()
        .take_while(|&&f| (lo..hi).contains(&f))
        .count();
    let weight = capture::weight(size, mean);
    LOCK.lock();
    let region = &mut *REGION.get();
    let placed = sites::record(
        &mut *ARENA.get(),
        &mut region.table,
        &frames[own..depth],
        counted,
        weight,
    );
    match placed {
        Some((p, _)) => {
            (*SIZES.get())[page(p)] = counted as u32;
            region.header.samples.fetch_add(1, Ordering::Relaxed);
            region
                .header
                .sites
                .store(region.table.len() as u64, Ordering::Release);
        }
        None => {
            region.header.missed.fetch_add(1, Ordering::Relaxed);
        }
    }
    LOCK.unlock();
    match placed {
        Some((p, fresh)) => {
            if zeroed && !fresh {
                p.write_bytes(0, counted);
            }
            p.cast()
        }
        None => std::ptr::null_mut(),
    }
}

/// The arena page a sampled block starts on (the arena is aligned to its size).
fn page(p: *mut u8) -> usize {
    (p as usize & (ARENA_BYTES - 1)) / PAGE
}

/// The counted (and usable) size of sampled block `p`.
///
/// # Safety
/// `p` is a live sampled block.
pub unsafe fn size_of(p: *mut c_void) -> usize {
    (*SIZES.get())[page(p.cast())] as usize
}

/// Frees sampled block `p`; returns its counted size.
///
/// # Safety
/// `p` is a live sampled block.
#[cold]
#[inline(never)]
pub unsafe fn free(t: *mut Tls, p: *mut c_void) -> usize {
    let size = size_of(p);
    if busy(t) {
        // A signal handler freeing while its thread holds the lock: taking it
        // again would never return. The pages stay taken; the bytes are freed.
        (*REGION.get())
            .header
            .orphaned
            .fetch_add(1, Ordering::Relaxed);
        return size;
    }
    set_busy(t, true);
    LOCK.lock();
    sites::release(&mut *ARENA.get(), &mut (*REGION.get()).table, p.cast());
    LOCK.unlock();
    set_busy(t, false);
    size
}
