//! Start-up, the shared file, threads' exits and `fork`.
//!
//! The constructor (the first in this library's `.init_array`; the C library's
//! ran before it, the program's run after it) checks the C library's block
//! headers, registers the exit and fork handlers, and — when [`DIR_ENV`] names a
//! directory — publishes: it creates `heap.PID` there (as `heap.PID.new`, renamed
//! once whole), copies the counts so far into it, and maps it over the static
//! region, so the counters keep their addresses and every later store lands in
//! the file. Allocations before the constructor (the loader's, other libraries'
//! constructors) are counted in the static region and carried over.
//!
//! A forked child gets a private copy-on-write view of the file instead: the
//! parent's counts are never written by a child (children are not published; a
//! child that executes a program publishes that program under its own PID).

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

use soak_harness::sites::shared::{
    Published, DIR_ENV, FLAG_FOREIGN, FLAG_SAMPLING, MAGIC, SAMPLE_BYTES_ENV, VERSION,
};
use soak_harness::sites::{DEFAULT_SAMPLE_BYTES, FRAME_DEPTH};

use crate::counts::{self, REGION};
use crate::sampler;
use crate::tls::tls;

/// The pthread key whose destructor frees an exiting thread's slot, plus one
/// (0: not created).
static KEY: AtomicU32 = AtomicU32::new(0);
/// The published file, open while the region is mapped from it (-1: none).
static FD: AtomicI32 = AtomicI32::new(-1);
static PUBLISHED: AtomicBool = AtomicBool::new(false);

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = init;

extern "C" fn init() {
    own_code();
    let header = unsafe { &mut (*REGION.get()).header };
    header.magic = MAGIC;
    header.version = VERSION;
    header.layout = std::mem::size_of::<Published>() as u64;
    // SAFETY: getpid has no preconditions.
    header.pid = unsafe { libc::getpid() } as u64;
    header.frame_depth = FRAME_DEPTH as u64;
    if !crate::real::check() {
        header.flags.fetch_or(FLAG_FOREIGN, Ordering::Relaxed);
    }
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: plain registrations with functions of the right signatures.
    unsafe {
        if libc::pthread_key_create(&mut key, Some(thread_exit)) == 0 {
            KEY.store(key + 1, Ordering::Release);
        }
        libc::pthread_atfork(
            Some(before_fork),
            Some(after_fork_parent),
            Some(after_fork_child),
        );
    }
    let mean = sample_bytes();
    let mean = if mean > 0 && sampler::reserve() {
        mean
    } else {
        0
    };
    header.sample_bytes = mean;
    sampler::MEAN.store(mean, Ordering::Relaxed);
    // SAFETY: a NUL-terminated name; the value, when set, is a C string.
    let dir = unsafe { libc::getenv(c"SOAK_HEAP_DIR".as_ptr()) };
    debug_assert_eq!(DIR_ENV, "SOAK_HEAP_DIR");
    if !dir.is_null() {
        // SAFETY: as above.
        unsafe { publish(dir, header.pid) };
    }
    if mean > 0 {
        header.flags.fetch_or(FLAG_SAMPLING, Ordering::Relaxed);
    }
    sampler::ON.store(true, Ordering::Release);
}

/// [`SAMPLE_BYTES_ENV`] as a number, else the harness's default.
fn sample_bytes() -> u64 {
    debug_assert_eq!(SAMPLE_BYTES_ENV, "SOAK_HEAP_SAMPLE_BYTES");
    // SAFETY: a NUL-terminated name; the value, when set, is a C string.
    let v = unsafe { libc::getenv(c"SOAK_HEAP_SAMPLE_BYTES".as_ptr()) };
    if v.is_null() {
        return DEFAULT_SAMPLE_BYTES;
    }
    // SAFETY: getenv returned a C string.
    let text = unsafe { std::ffi::CStr::from_ptr(v) }.to_bytes();
    let mut n = 0u64;
    for &b in text {
        if !b.is_ascii_digit() {
            return DEFAULT_SAMPLE_BYTES;
        }
        n = n.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    n
}

/// Records the address range of the loaded segment holding this library's code.
fn own_code() {
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _: usize, _: *mut c_void) -> i32 {
        let info = &*info;
        let here = init as *const () as usize;
        let phdrs = std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize);
        for ph in phdrs.iter().filter(|ph| ph.p_type == libc::PT_LOAD) {
            let start = (info.dlpi_addr as usize).wrapping_add(ph.p_vaddr as usize);
            let end = start + ph.p_memsz as usize;
            if (start..end).contains(&here) {
                sampler::OWN[0].store(start, Ordering::Relaxed);
                sampler::OWN[1].store(end, Ordering::Relaxed);
                return 1;
            }
        }
        0
    }
    // SAFETY: the callback only reads the loader's program headers.
    unsafe { libc::dl_iterate_phdr(Some(visit), std::ptr::null_mut()) };
}

/// A path built in a fixed buffer (no allocation), NUL-terminated.
struct PathBuf {
    buf: [u8; 4096],
    len: usize,
}

impl PathBuf {
    fn new() -> Self {
        PathBuf {
            buf: [0; 4096],
            len: 0,
        }
    }
    fn push(&mut self, bytes: &[u8]) -> bool {
        if self.len + bytes.len() >= self.buf.len() {
            return false;
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        self.buf[self.len] = 0;
        true
    }
    fn push_number(&mut self, mut n: u64) -> bool {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..])
    }
    fn ptr(&self) -> *const c_char {
        self.buf.as_ptr().cast()
    }
}

/// Creates `DIR/heap.PID`, copies the counts so far into it and maps it over the
/// region. On any failure the region stays private (soak then finds no file).
unsafe fn publish(dir: *const c_char, pid: u64) {
    let dir = std::ffi::CStr::from_ptr(dir).to_bytes();
    let mut path = PathBuf::new();
    if !(path.push(dir) && path.push(b"/heap.") && path.push_number(pid)) {
        return;
    }
    let mut tmp = PathBuf::new();
    if !(tmp.push(&path.buf[..path.len]) && tmp.push(b".new")) {
        return;
    }
    let len = std::mem::size_of::<Published>();
    let fd = libc::open(
        tmp.ptr(),
        libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
        0o600,
    );
    if fd < 0 {
        return;
    }
    let base = REGION.get().cast::<u8>();
    // The header and counters; the table is still empty (sampling starts after).
    let head = std::mem::offset_of!(Published, table);
    let ok = libc::ftruncate(fd, len as libc::off_t) == 0
        && libc::pwrite(fd, base.cast(), head, 0) == head as isize;
    let mapped = ok
        && libc::mmap(
            base.cast(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd,
            0,
        ) != libc::MAP_FAILED;
    if !mapped || libc::rename(tmp.ptr(), path.ptr()) != 0 {
        libc::unlink(tmp.ptr());
        if !mapped {
            libc::close(fd);
            return;
        }
    }
    FD.store(fd, Ordering::Relaxed);
    PUBLISHED.store(true, Ordering::Release);
}

/// Asks to be told when the calling thread exits (its slot is then freed).
pub fn watch_thread_exit() {
    let key = KEY.load(Ordering::Acquire);
    if key > 0 {
        // SAFETY: a key we created; any non-null value makes the destructor run.
        unsafe { libc::pthread_setspecific(key - 1, std::ptr::dangling::<c_void>()) };
    }
}

unsafe extern "C" fn thread_exit(_: *mut c_void) {
    counts::release(tls());
}

unsafe extern "C" fn before_fork() {
    // No sampled block or site changes hands across a fork half-done.
    sampler::set_busy(tls(), true);
    sampler::LOCK.lock();
}

unsafe extern "C" fn after_fork_parent() {
    sampler::LOCK.unlock();
    sampler::set_busy(tls(), false);
}

unsafe extern "C" fn after_fork_child() {
    sampler::LOCK.unlock();
    sampler::set_busy(tls(), false);
    counts::after_fork(&*tls());
    if PUBLISHED.swap(false, Ordering::AcqRel) {
        // The file's pages as they are, copied on the child's first write to each.
        let base = REGION.get().cast::<c_void>();
        let len = std::mem::size_of::<Published>();
        let fd = FD.swap(-1, Ordering::Relaxed);
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        let private = libc::mmap(base, len, prot, libc::MAP_PRIVATE | libc::MAP_FIXED, fd, 0);
        if private == libc::MAP_FAILED {
            // Fresh zero pages rather than the parent's file.
            let anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED;
            libc::mmap(base, len, prot, anon, -1, 0);
        }
        libc::close(fd);
    }
    (*REGION.get()).header.pid = libc::getpid() as u64;
}
