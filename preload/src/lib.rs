//! `libsoak_preload.so`: the harness's counting allocator and allocation-site
//! sampler for a process that does not link the harness. Set as `LD_PRELOAD` (as
//! `soak live --heap` does), it interposes the C allocator's entry points, counts
//! every block the C library hands out by its usable size (read from the block's
//! own header, so a free needs no lookup), samples allocation sites by bytes
//! allocated as the in-process sampler does, and publishes both in a shared file
//! soak reads at every sample (`soak_harness::sites::shared`).
//!
//! What it can see: allocations through `malloc` and friends of a dynamically
//! linked process (C, C++ `new`, Rust's `System` allocator). What it cannot: a
//! statically linked binary (the loader never loads it) or an allocator compiled
//! into the program (jemalloc, mimalloc as a Rust `#[global_allocator]`), whose
//! blocks never reach `malloc` — soak notices that nothing arrives and judges RSS.
//!
//! # Layout
//!
//! - `tls`: this thread's state in the initial-exec TLS model (no call, no
//!   allocation on access).
//! - `real`: the C library's allocator underneath and its blocks' usable sizes.
//! - `counts`: per-thread counter slots in the published region.
//! - `sampler`: sampled blocks in the harness's page arena and site table.
//! - `publish`: the constructor, the shared file, and `fork`.
//! - `interpose`: the exported `malloc`, `free`, `calloc`, `realloc`,
//!   `posix_memalign`, `aligned_alloc`, `memalign`, `valloc`, `pvalloc`,
//!   `reallocarray`, `malloc_usable_size`.
//!
//! # Rules every path keeps
//!
//! Nothing here allocates through the heap it measures, holds a lock across a call
//! into the C library's allocator, or panics; all state is static, thread-local,
//! or mapped directly. A thread inside the sampler (flagged in its TLS) that
//! re-enters — from a signal handler, or through the loader — is counted but not
//! sampled, so the sampler's lock is never taken twice by one thread.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]
#![allow(clippy::missing_safety_doc)]

mod counts;
mod interpose;
mod publish;
mod real;
mod sampler;
mod tls;

use std::cell::UnsafeCell;

/// A static the library's own code synchronises (under the sampler's lock, or
/// owned by one thread).
pub(crate) struct Global<T>(UnsafeCell<T>);

// SAFETY: every access goes through `get` and is guarded as documented where
// the static is declared.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    /// A static whose all-zero bit pattern is a valid `T`.
    ///
    /// # Safety
    /// All-zero must be a valid `T`.
    pub(crate) const unsafe fn zeroed() -> Self {
        Global(UnsafeCell::new(
            std::mem::MaybeUninit::zeroed().assume_init(),
        ))
    }

    pub(crate) const fn get(&self) -> *mut T {
        self.0.get()
    }
}
