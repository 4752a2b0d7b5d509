//! This thread's state, in the initial-exec TLS model.
//!
//! Rust's `thread_local!` in a shared object compiles to the general-dynamic
//! model: every access calls `__tls_get_addr`, which after a `dlopen` may update
//! the thread's TLS vector with `malloc` — re-entering this allocator on every
//! allocation path. A preloaded library is loaded at start-up, so its TLS block
//! sits in the static TLS area at a fixed offset from the thread pointer: one load
//! from the GOT and one add (the model jemalloc's shared builds use). The block is
//! declared in assembly because stable Rust cannot choose the TLS model.

/// This thread's allocator state. All-zero (a new thread) means: no counter slot
/// yet, countdown run out, sampling not drawn.
#[repr(C)]
pub struct Tls {
    /// The thread's counter slot: 0 none yet, 1 the shared overflow slot (also
    /// after the thread released its own at exit), else a `*const Slot`.
    pub slot: usize,
    /// Bytes left until the next sample point; below zero: take the slow path.
    pub until: i64,
    /// xorshift state (0: not seeded).
    pub rng: u64,
    /// Whether the countdown has been drawn since sampling started.
    pub drawn: bool,
    /// Set while the thread is inside the sampler (the re-entrancy guard).
    pub busy: bool,
}

const _: () = assert!(std::mem::size_of::<Tls>() <= 64);

core::arch::global_asm!(
    ".section .tbss,\"awT\",@nobits",
    ".p2align 6",
    // Global but hidden: every codegen unit of this library sees the one block,
    // and nothing outside it does.
    ".globl soak_preload_tls",
    ".hidden soak_preload_tls",
    ".type soak_preload_tls, @object",
    ".size soak_preload_tls, 64",
    "soak_preload_tls:",
    ".zero 64",
    ".previous",
);

/// This thread's state: its thread pointer plus the block's static offset.
#[inline(always)]
pub fn tls() -> *mut Tls {
    let p: usize;
    // SAFETY: reads the GOT entry the loader filled with the block's offset from
    // the thread pointer (R_X86_64_TPOFF64), and the thread pointer itself, which
    // x86_64 keeps at %fs:0.
    unsafe {
        core::arch::asm!(
            "mov {p}, qword ptr [rip + soak_preload_tls@GOTTPOFF]",
            "add {p}, qword ptr fs:[0]",
            p = out(reg) p,
            options(pure, readonly, nostack),
        );
    }
    p as *mut Tls
}
