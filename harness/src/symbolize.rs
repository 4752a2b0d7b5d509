//! Report-time symbolisation: code addresses to frames (function, source file,
//! line), inlined frames expanded innermost first, at a memory cost in proportion
//! to what is resolved rather than to the size of the binary's debug information.
//!
//! # Shape
//!
//! Addresses are resolved per object file. [`Mappings`] turns an address of a
//! process — this one, or another read by its PID — into the object file mapped
//! there and the offset in that file; [`Object::svma`] turns the offset into the
//! address the object itself uses (the one `addr2line -e FILE` takes), and
//! [`Object::resolve`] resolves a batch of those. Nothing here needs the addresses
//! to belong to this process: a native target's return addresses, symbolised
//! against its own binary and libraries through its `/proc/PID/maps`, go the same
//! way. [`resolve_return_addresses`] is that pipeline for a set of return
//! addresses, which it looks up one byte back (at the call, not after it).
//!
//! # Memory
//!
//! An object is mapped read-only for the call and unmapped after it, so the pages
//! read count toward the process's resident memory only while it runs; nothing is
//! cached between calls. What is read: the ELF and section headers; one pass over
//! the symbol table (names of the functions that hold the addresses); and when the
//! object has DWARF, `.debug_aranges` to find the compilation unit of each address,
//! then of `.debug_info`, `.debug_abbrev`, `.debug_line`, `.debug_ranges`/
//! `.debug_rnglists` and `.debug_str` only the parts belonging to those units.
//! Without `.debug_aranges` every unit's header is read instead. The pages read
//! are dropped again after each unit and after the symbol table (`madvise`), so
//! the resident cost peaks at one unit's share, not the sum. A binary's DWARF
//! is 50–100 MiB; resolving the few hundred addresses of a run's shown sites
//! touches a few MiB of it (see `docs/performance.md`).
//!
//! Not read: compressed debug sections, split DWARF (`.dwo`, `.dwp`) and debug
//! information in a separate file (`.gnu_debuglink`, build-id directories): such an
//! object's frames carry function names from its symbol table, without file and
//! line.

mod dwarf;
mod maps;

use std::collections::HashMap;
use std::path::Path;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader, Sym};
use object::Endianness;

pub use maps::Mappings;

/// One frame of a resolved address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The function: demangled, without its hash, as full as the object records
    /// it (a symbol's full path; an inlined function's DWARF name, often short).
    pub function: String,
    /// The source file, as compiled (absolute, or as the compiler was given it).
    pub file: Option<String>,
    /// The line in `file`.
    pub line: Option<u32>,
    /// Whether the frame was inlined into its caller (no call of its own).
    pub inlined: bool,
}

/// What resolving a set of addresses found.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// Each address's frames, innermost first (absent when nothing resolved).
    pub frames: HashMap<u64, Vec<Frame>>,
    /// Objects read, and whether each has line tables.
    pub objects: Vec<(String, bool)>,
}

impl Resolved {
    /// Whether the object holding most of the resolved addresses — the program
    /// itself, for a program's stacks — has line tables; `None` when nothing was
    /// read.
    pub fn line_tables(&self) -> Option<bool> {
        self.objects.first().map(|(_, lines)| *lines)
    }
}

/// Resolves return addresses of the process whose mappings are `maps`: each is
/// looked up at the byte before it (the call instruction). Objects are read in
/// order of how many addresses they hold, most first, each once.
pub fn resolve_return_addresses(maps: &Mappings, addrs: &[u64]) -> Resolved {
    let mut by_object: HashMap<&Path, Vec<(u64, u64)>> = HashMap::new();
    for &a in addrs {
        if a == 0 {
            continue;
        }
        if let Some((path, offset)) = maps.locate(a - 1) {
            by_object.entry(path).or_default().push((a, offset));
        }
    }
    let mut objects: Vec<(&Path, Vec<(u64, u64)>)> = by_object.into_iter().collect();
    objects.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    let mut out = Resolved::default();
    for (path, list) in objects {
        let Ok(obj) = Object::open(path) else {
            continue;
        };
        let svmas: Vec<u64> = list.iter().filter_map(|&(_, o)| obj.svma(o)).collect();
        let resolved = obj.resolve(&svmas);
        out.objects
            .push((path.display().to_string(), obj.has_line_tables()));
        for &(addr, offset) in &list {
            if let Some(frames) = obj.svma(offset).and_then(|s| resolved.get(&s)) {
                if !frames.is_empty() {
                    out.frames.insert(addr, frames.clone());
                }
            }
        }
    }
    out
}

/// A read-only mapping of a whole file, unmapped on drop.
struct Mmap {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mmap {
    fn open(path: &Path) -> std::io::Result<Mmap> {
        use std::os::fd::AsRawFd as _;
        let file = std::fs::File::open(path)?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| std::io::Error::other("file too large"))?;
        if len == 0 {
            return Err(std::io::Error::other("empty file"));
        }
        // SAFETY: a fresh private read-only mapping of a file we opened; the
        // descriptor may be closed once it is mapped.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mmap { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: mapped readable for `len` bytes until drop.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }

    /// Drops the resident pages under `part` (a slice of this mapping) from the
    /// process: the mapping is a private, never written view of the file, so a
    /// later read faults the same bytes back in from it.
    fn release(&self, part: &[u8]) {
        const PAGE: usize = 4096;
        let base = self.ptr as usize;
        let start = part.as_ptr() as usize;
        let Some(offset) = start
            .checked_sub(base)
            .filter(|o| o + part.len() <= self.len)
        else {
            return;
        };
        let from = offset / PAGE * PAGE;
        let to = (offset + part.len()).div_ceil(PAGE) * PAGE;
        let to = to.min(self.len.div_ceil(PAGE) * PAGE);
        if to > from {
            // SAFETY: a page-aligned range inside our own mapping; advice only.
            unsafe {
                libc::madvise(
                    (base + from) as *mut libc::c_void,
                    to - from,
                    libc::MADV_DONTNEED,
                )
            };
        }
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: our own mapping; nothing borrows it past this point.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

type Elf = elf::FileHeader64<Endianness>;

/// An ELF object file, mapped for as long as the value lives.
pub struct Object {
    map: Mmap,
}

impl Object {
    /// Maps `path` (a 64-bit ELF file) read-only.
    pub fn open(path: &Path) -> std::io::Result<Object> {
        let map = Mmap::open(path)?;
        let obj = Object { map };
        if obj.header().is_none() {
            return Err(std::io::Error::other("not a 64-bit ELF file"));
        }
        Ok(obj)
    }

    fn header(&self) -> Option<(&Elf, Endianness)> {
        let h = Elf::parse(self.map.bytes()).ok()?;
        Some((h, h.endian().ok()?))
    }

    fn section(&self, name: &str) -> Option<&[u8]> {
        let data = self.map.bytes();
        let (h, e) = self.header()?;
        let sections = h.sections(e, data).ok()?;
        let (_, sh) = sections.section_by_name(e, name.as_bytes())?;
        if sh.sh_flags(e).0 & elf::SHF_COMPRESSED.0 != 0 {
            return None;
        }
        sh.data(e, data).ok()
    }

    /// Whether the object has line tables (a non-empty `.debug_line`).
    pub fn has_line_tables(&self) -> bool {
        self.section(".debug_line").is_some_and(|s| !s.is_empty())
    }

    /// The address the object itself uses for `offset` in its file (through the
    /// loadable segment holding that offset).
    pub fn svma(&self, offset: u64) -> Option<u64> {
        let data = self.map.bytes();
        let (h, e) = self.header()?;
        h.program_headers(e, data).ok()?.iter().find_map(|ph| {
            let (off, size) = (ph.p_offset(e), ph.p_filesz(e));
            (ph.p_type(e) == elf::PT_LOAD && offset >= off && offset - off < size)
                .then(|| offset - off + ph.p_vaddr(e))
        })
    }

    /// Resolves object addresses: each one's frames, innermost first. An address
    /// no symbol or debug entry covers is absent.
    pub fn resolve(&self, svmas: &[u64]) -> HashMap<u64, Vec<Frame>> {
        let mut queries = svmas.to_vec();
        queries.sort_unstable();
        queries.dedup();
        let names = self.symbol_names(&queries);
        let chains = self.dwarf_chains(&queries);
        let mut out = HashMap::new();
        for (i, &q) in queries.iter().enumerate() {
            let symbol = names[i].clone();
            let mut frames = chains.get(&q).cloned().unwrap_or_default();
            match (frames.last_mut(), symbol) {
                // The outermost DWARF frame is the real function: its symbol
                // carries the full path the DWARF name may lack.
                (Some(outer), Some(name)) => outer.function = name,
                (None, Some(name)) => frames.push(Frame {
                    function: name,
                    file: None,
                    line: None,
                    inlined: false,
                }),
                _ => {}
            }
            if !frames.is_empty() {
                out.insert(q, frames);
            }
        }
        out
    }

    /// The demangled name of the function symbol holding each of `queries`
    /// (sorted), from `.symtab`, else `.dynsym`: one pass over each table.
    fn symbol_names(&self, queries: &[u64]) -> Vec<Option<String>> {
        let mut best: Vec<Option<(u64, u64, usize, bool)>> = vec![None; queries.len()];
        let data = self.map.bytes();
        let Some((h, e)) = self.header() else {
            return vec![None; queries.len()];
        };
        let Ok(sections) = h.sections(e, data) else {
            return vec![None; queries.len()];
        };
        let mut names = vec![None; queries.len()];
        for (dynamic, kind) in [(false, elf::SHT_SYMTAB), (true, elf::SHT_DYNSYM)] {
            if best.iter().all(Option::is_some) {
                break;
            }
            let Ok(table) = sections.symbols(e, data, kind) else {
                continue;
            };
            for (index, sym) in table.symbols().iter().enumerate() {
                let size = sym.st_size(e);
                if sym.st_type() != elf::STT_FUNC || size == 0 || sym.st_shndx(e) == elf::SHN_UNDEF
                {
                    continue;
                }
                let start = sym.st_value(e);
                let mut i = queries.partition_point(|&q| q < start);
                while i < queries.len() && queries[i] - start < size {
                    // The smallest symbol holding the address is the function.
                    if best[i].is_none_or(|(_, s, _, _)| size < s) {
                        best[i] = Some((start, size, index, dynamic));
                    }
                    i += 1;
                }
            }
            // The table was read once, in full: its pages go (names are few).
            let symbol_bytes = table.symbols();
            // SAFETY: plain-old-data symbols viewed as the bytes they occupy.
            self.map.release(unsafe {
                std::slice::from_raw_parts(
                    symbol_bytes.as_ptr().cast::<u8>(),
                    std::mem::size_of_val(symbol_bytes),
                )
            });
            let strings = table.strings();
            for (i, b) in best.iter().enumerate() {
                if let Some((_, _, index, d)) = *b {
                    if d == dynamic && names[i].is_none() {
                        names[i] = table
                            .symbol(object::SymbolIndex(index))
                            .ok()
                            .and_then(|s| s.name(e, strings).ok())
                            .map(|n| demangle(&String::from_utf8_lossy(n)));
                    }
                }
            }
        }
        names
    }

    /// Inlined chains and source locations from the object's DWARF, when it has any.
    fn dwarf_chains(&self, queries: &[u64]) -> HashMap<u64, Vec<Frame>> {
        let (Some((h, e)), true) = (self.header(), self.has_line_tables()) else {
            return HashMap::new();
        };
        let _ = h;
        // After each unit, every debug section's pages go: the peak is one unit's
        // share of them, not the sum over the units read.
        let release = || {
            for name in dwarf::SECTIONS {
                if let Some(s) = self.section(name) {
                    self.map.release(s);
                }
            }
        };
        dwarf::frames(
            |name| self.section(name).unwrap_or(&[]),
            e,
            queries,
            release,
        )
    }
}

/// A symbol demangled without its hash (`{:#}`), or as it is when not Rust's.
pub fn demangle(name: &str) -> String {
    match rustc_demangle::try_demangle(name) {
        Ok(d) => format!("{d:#}"),
        Err(_) => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Return addresses of the caller's stack, innermost first.
    #[inline(never)]
    fn stack() -> Vec<u64> {
        let mut ips = Vec::new();
        backtrace::trace(|f| {
            ips.push(f.ip() as u64);
            ips.len() < 6
        });
        std::hint::black_box(ips)
    }

    #[test]
    fn resolves_this_test_with_its_file_and_line() {
        let ips = stack();
        let r = resolve_return_addresses(&Mappings::of_self(), &ips);
        let frames: Vec<&Frame> = ips
            .iter()
            .filter_map(|a| r.frames.get(a))
            .flatten()
            .collect();
        let f = frames
            .iter()
            .find(|f| {
                f.function
                    .contains("resolves_this_test_with_its_file_and_line")
            })
            .unwrap_or_else(|| panic!("{frames:#?}"));
        // The workspace builds with line tables.
        assert!(
            f.file
                .as_deref()
                .is_some_and(|p| p.ends_with("harness/src/symbolize.rs")),
            "{f:?}"
        );
        assert!(f.line.is_some_and(|l| l > 300), "{f:?}");
        assert_eq!(r.line_tables(), Some(true));
        // Physical frames carry the symbol's full path, demangled without its hash.
        assert!(
            frames
                .iter()
                .any(|f| !f.inlined && f.function == "soak_harness::symbolize::tests::stack"),
            "{frames:#?}"
        );
    }

    #[test]
    fn unknown_addresses_resolve_to_nothing() {
        let r = resolve_return_addresses(&Mappings::of_self(), &[0, 1, 0x10]);
        assert!(r.frames.is_empty());
    }

    #[test]
    fn demangles_without_the_hash() {
        assert_eq!(
            demangle("_ZN4core3ptr13drop_in_place17h0123456789abcdefE"),
            "core::ptr::drop_in_place"
        );
        assert_eq!(demangle("malloc"), "malloc");
    }
}
