//! The heap a preloaded sampler publishes, and how soak reads it from outside.
//!
//! `soak-preload` (a `cdylib` set as `LD_PRELOAD` of a `soak live --heap` target)
//! counts every block the C library's allocator hands out and samples allocation
//! sites as the counting allocator does in-process. It keeps all of it in one
//! [`Published`] region, which it maps from a file `heap.PID` in the directory
//! named by [`DIR_ENV`]: soak maps the same file read-only and reads it at every
//! sample, without stopping or signalling the target.
//!
//! Readers see the writer's stores as they land: the per-thread counters are
//! aligned 8-byte words (each read whole), a site's stack is written before the
//! site is published (the [`Header::sites`] count, stored with release ordering),
//! and a site's live bytes are one aligned word. Sums over threads can be a moment
//! stale, as in-process ones are ([`crate::alloc::stats`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::table::{Site, Table, MAX_SITES};
use super::FRAME_DEPTH;

/// The environment variable naming the directory the target publishes in.
pub const DIR_ENV: &str = "SOAK_HEAP_DIR";
/// The environment variable with the mean sampling interval in bytes (0: count
/// only, no sites); unset means [`super::DEFAULT_SAMPLE_BYTES`].
pub const SAMPLE_BYTES_ENV: &str = "SOAK_HEAP_SAMPLE_BYTES";
/// First word of a published region: `soakheap`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"soakheap");
/// Layout version; a reader refuses any other.
pub const VERSION: u64 = 1;
/// Threads with a private counter slot at one time; more share the last slot
/// (with atomic adds). A thread's slot is freed for the next thread when it exits.
pub const SLOTS: usize = 128;

/// [`Header::flags`]: sampling is on (the table fills).
pub const FLAG_SAMPLING: u64 = 1;
/// [`Header::flags`]: the allocator underneath is not the C library's (its block
/// sizes cannot be read), so nothing is counted.
pub const FLAG_FOREIGN: u64 = 2;

/// What a published region says about itself.
#[repr(C)]
#[derive(Debug)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: u64,
    /// [`VERSION`].
    pub version: u64,
    /// `size_of::<Published>()` as the writer was built.
    pub layout: u64,
    /// The publishing process.
    pub pid: u64,
    /// Mean sampling interval in bytes (0: no sampling).
    pub sample_bytes: u64,
    /// Most frames kept per sampled stack.
    pub frame_depth: u64,
    /// [`FLAG_SAMPLING`], [`FLAG_FOREIGN`].
    pub flags: AtomicU64,
    /// Sites published in the table (site 0, "other sites", included).
    pub sites: AtomicU64,
    /// Samples taken.
    pub samples: AtomicU64,
    /// Samples that could not be placed (served unsampled).
    pub missed: AtomicU64,
    /// Sampled blocks freed where the sampler could not take them back (a signal
    /// handler freeing while its thread was inside the sampler): counted as
    /// freed, their pages kept.
    pub orphaned: AtomicU64,
}

/// One thread's counters (only that thread writes them).
#[repr(C, align(64))]
#[derive(Debug)]
pub struct Slot {
    /// Blocks allocated.
    pub allocs: AtomicU64,
    /// Blocks freed.
    pub frees: AtomicU64,
    /// Bytes allocated (the allocator's usable size of each block).
    pub bytes_in: AtomicU64,
    /// Bytes freed.
    pub bytes_out: AtomicU64,
}

/// The published region: header, counters, site table. All-zero is a valid,
/// empty region. Page-aligned so that it can be mapped over.
#[repr(C, align(4096))]
pub struct Published {
    /// What the region is.
    pub header: Header,
    /// Per-thread counters; the last is shared by threads beyond [`SLOTS`].
    pub slots: [Slot; SLOTS + 1],
    /// Sampled sites.
    pub table: Table,
}

/// A published site as read: its stack and what it holds live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteReading {
    /// Its index in the table (stable for the process's life).
    pub id: u32,
    /// Return addresses in the target, innermost first.
    pub frames: Vec<usize>,
    /// Estimated live bytes (sum of the live samples' weights).
    pub live: u64,
    /// Sampled blocks live.
    pub live_blocks: u32,
}

/// The file a process publishes in `dir`.
pub fn file(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("heap.{pid}"))
}

impl Published {
    /// Whether the region was written by a compatible writer.
    pub fn valid(&self) -> bool {
        let h = &self.header;
        // SAFETY: plain reads of words the writer set once, before publishing.
        let (magic, version, layout) = unsafe {
            (
                std::ptr::read_volatile(&h.magic),
                std::ptr::read_volatile(&h.version),
                std::ptr::read_volatile(&h.layout),
            )
        };
        magic == MAGIC && version == VERSION && layout == std::mem::size_of::<Published>() as u64
    }

    /// The heap as counted: every slot summed.
    pub fn heap(&self) -> HeapStats {
        let (mut a, mut f, mut bi, mut bo) = (0u64, 0u64, 0u64, 0u64);
        for s in &self.slots {
            a = a.wrapping_add(s.allocs.load(Ordering::Relaxed));
            f = f.wrapping_add(s.frees.load(Ordering::Relaxed));
            bi = bi.wrapping_add(s.bytes_in.load(Ordering::Relaxed));
            bo = bo.wrapping_add(s.bytes_out.load(Ordering::Relaxed));
        }
        HeapStats {
            live_bytes: bi.saturating_sub(bo),
            live_blocks: a.saturating_sub(f),
            total_allocs: a,
            total_bytes: bi,
        }
    }

    /// Sites published so far (site 0 included).
    pub fn site_count(&self) -> usize {
        (self.header.sites.load(Ordering::Acquire) as usize).min(MAX_SITES)
    }

    /// Site `id`'s live bytes and blocks.
    pub fn site_live(&self, id: u32) -> (u64, u32) {
        // SAFETY: an aligned read of a site inside the mapping; the writer only
        // ever stores whole words there.
        let s = unsafe { std::ptr::read_volatile(self.table.get(id) as *const Site) };
        (s.live, s.live_blocks)
    }

    /// Site `id` with its stack; `None` past the published count.
    pub fn site(&self, id: u32) -> Option<SiteReading> {
        if id as usize >= self.site_count() {
            return None;
        }
        // SAFETY: as in `site_live`; a published site's stack no longer changes.
        let s = unsafe { std::ptr::read_volatile(self.table.get(id) as *const Site) };
        let depth = (s.depth as usize).min(FRAME_DEPTH);
        Some(SiteReading {
            id,
            frames: s.frames[..depth].to_vec(),
            live: s.live,
            live_blocks: s.live_blocks,
        })
    }
}

/// A published region mapped read-only from its file.
#[derive(Debug)]
pub struct Mapped {
    ptr: *const Published,
    /// The file's inode: a process that executes another program publishes anew.
    inode: u64,
}

// SAFETY: the mapping is read-only here and lives as long as the value.
unsafe impl Send for Mapped {}

impl Mapped {
    /// Maps `path`; an error when it cannot be opened or is not a region this
    /// build can read.
    pub fn open(path: &Path) -> std::io::Result<Mapped> {
        use std::os::unix::fs::MetadataExt as _;
        let f = std::fs::File::open(path)?;
        let meta = f.metadata()?;
        let len = std::mem::size_of::<Published>();
        if meta.len() < len as u64 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: {} bytes, not a heap region",
                    path.display(),
                    meta.len()
                ),
            ));
        }
        let p = map_read_only(&f, len, libc::MAP_SHARED)?;
        let m = Mapped {
            ptr: p.cast(),
            inode: meta.ino(),
        };
        if !m.get().valid() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: not written by this build's soak-preload (layout differs)",
                    path.display()
                ),
            ));
        }
        Ok(m)
    }

    /// The region.
    pub fn get(&self) -> &Published {
        // SAFETY: mapped for the value's life; all-zero and any writer's state
        // are valid bit patterns of `Published` (integers only).
        unsafe { &*self.ptr }
    }

    /// The inode of the file mapped.
    pub fn inode(&self) -> u64 {
        self.inode
    }
}

/// Maps the first `len` bytes of `f` read-only (`libc::MAP_SHARED` to see a
/// writer's later stores, `MAP_PRIVATE` for a file that does not change); unmap
/// with `munmap(p, len)`.
pub fn map_read_only(f: &std::fs::File, len: usize, flags: i32) -> std::io::Result<*const u8> {
    use std::os::unix::io::AsRawFd as _;
    // SAFETY: a read-only mapping of a file the caller opened, with no address
    // hint; failure is reported as MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            flags,
            f.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    Ok(p.cast())
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours; nothing borrows it past this point.
        unsafe {
            libc::munmap(
                self.ptr as *mut libc::c_void,
                std::mem::size_of::<Published>(),
            )
        };
    }
}

/// A snapshot of the process's heap as the counting allocator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeapStats {
    /// Bytes in live blocks.
    pub live_bytes: u64,
    /// Live blocks.
    pub live_blocks: u64,
    /// Allocations since the process started (reallocs count once).
    pub total_allocs: u64,
    /// Bytes allocated since the process started.
    pub total_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_is_whole_pages() {
        let len = std::mem::size_of::<Published>();
        assert_eq!(len % 4096, 0);
        assert_eq!(std::mem::align_of::<Published>(), 4096);
        // Under a megabyte of file, mostly holes until sites fill it.
        assert!(len < 1 << 20, "{len}");
    }

    #[test]
    fn reads_a_region_written_to_a_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = file(dir.path(), 42);
        let len = std::mem::size_of::<Published>();
        let mem = super::super::arena::map(len).expect("maps");
        // SAFETY: fresh zeroed memory of the right size; all-zero is valid.
        let p = unsafe { &mut *mem.cast::<Published>() };
        p.header.magic = MAGIC;
        p.header.version = VERSION;
        p.header.layout = len as u64;
        p.slots[0].allocs.store(3, Ordering::Relaxed);
        p.slots[0].bytes_in.store(300, Ordering::Relaxed);
        p.slots[SLOTS].frees.store(1, Ordering::Relaxed);
        p.slots[SLOTS].bytes_out.store(100, Ordering::Relaxed);
        let id = p.table.intern(&[0x10, 0x20]);
        p.table.get_mut(id).live = 5000;
        p.header
            .sites
            .store(p.table.len() as u64, Ordering::Release);
        // SAFETY: `mem` holds `len` initialised bytes.
        let bytes = unsafe { std::slice::from_raw_parts(mem, len) };
        std::fs::write(&path, bytes).expect("writes");
        let m = Mapped::open(&path).expect("maps back");
        let r = m.get();
        assert_eq!(r.heap().live_bytes, 200);
        assert_eq!(r.heap().live_blocks, 2);
        assert_eq!(r.site_count(), 2);
        let s = r.site(id).expect("published");
        assert_eq!((s.frames.as_slice(), s.live), (&[0x10, 0x20][..], 5000));
        assert!(r.site(2).is_none());
        std::fs::write(&path, &bytes[..4096]).expect("writes");
        assert!(Mapped::open(&path).is_err(), "a short file is refused");
    }
}
