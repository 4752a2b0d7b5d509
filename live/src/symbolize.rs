//! Return addresses of another process to frames: `/proc/PID/maps` says which
//! file each address was loaded from and where, the file's program headers turn
//! it into the file's own address, and its DWARF line tables (or, failing those,
//! its symbol table) name the function and line — in the form the harness's
//! in-process symboliser writes (`name (path:line:col)`, inlined frames innermost
//! first, paths inside the workspace relative to it), so the same trimming and
//! attribution apply.
//!
//! Files are mapped, not read, and each is parsed once per [`Symbolizer`]; DWARF
//! units are parsed only when an address falls in them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use object::{Object as _, ObjectSection as _, ObjectSegment as _, ObjectSymbol as _};
use soak_harness::frames::{relative, short_name};
use soak_harness::sites::shared;

/// One executable mapping of `/proc/PID/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// First address.
    pub start: usize,
    /// One past the last address.
    pub end: usize,
    /// Offset in the file of `start`.
    pub offset: u64,
    /// The file.
    pub path: PathBuf,
}

/// The file-backed executable mappings of process `pid` (empty when it is gone).
pub fn maps(pid: u32) -> Vec<Mapping> {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .map(|text| parse_maps(&text))
        .unwrap_or_default()
}

/// Parses the text of a `/proc/PID/maps`, keeping executable file mappings.
pub fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (range, perms, offset) = (f.next()?, f.next()?, f.next()?);
            let path = f.nth(2)?;
            if !perms.contains('x') || !path.starts_with('/') {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            Some(Mapping {
                start: usize::from_str_radix(a, 16).ok()?,
                end: usize::from_str_radix(b, 16).ok()?,
                offset: u64::from_str_radix(offset, 16).ok()?,
                path: PathBuf::from(path),
            })
        })
        .collect()
}

/// A file mapped read-only (its bytes stay in the page cache, not the heap).
struct MappedFile {
    ptr: *const u8,
    len: usize,
}

impl MappedFile {
    fn open(path: &Path) -> Option<MappedFile> {
        let f = std::fs::File::open(path).ok()?;
        let len = usize::try_from(f.metadata().ok()?.len()).ok()?;
        if len == 0 {
            return None;
        }
        let ptr = shared::map_read_only(&f, len, libc::MAP_PRIVATE).ok()?;
        Some(MappedFile { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: mapped for the value's life. A file rewritten under us reads
        // as other bytes, which the parsers treat as malformed data.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        // SAFETY: our mapping; nothing borrows it past this point.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
    }
}

type Dwarf = addr2line::Context<gimli::EndianSlice<'static, gimli::RunTimeEndian>>;

/// One object file's symbol sources.
struct ObjectInfo {
    /// Its loadable segments: (file offset, file size, address).
    segments: Vec<(u64, u64, u64)>,
    /// Its functions by address, for names without debug info.
    symbols: Vec<(u64, u64, String)>,
    dwarf: Option<Dwarf>,
    // Borrowed by `dwarf` (declared after it, so dropped after it).
    _files: Vec<MappedFile>,
}

impl ObjectInfo {
    fn load(path: &Path) -> Option<ObjectInfo> {
        let file = MappedFile::open(path)?;
        // SAFETY: the mapping lives as long as the ObjectInfo, which owns it and
        // drops it after the DWARF context that borrows it.
        let bytes: &'static [u8] = unsafe { std::mem::transmute::<&[u8], &[u8]>(file.bytes()) };
        let obj = object::File::parse(bytes).ok()?;
        let segments = obj
            .segments()
            .map(|s| {
                let (off, size) = s.file_range();
                (off, size, s.address())
            })
            .collect();
        let mut symbols: Vec<(u64, u64, String)> = obj
            .symbols()
            .chain(obj.dynamic_symbols())
            .filter(|s| s.kind() == object::SymbolKind::Text && s.address() != 0)
            .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
            .collect();
        symbols.sort();
        symbols.dedup_by_key(|s| s.0);
        let mut files = vec![];
        let debug = separate_debug_file(&obj);
        let dwarf = match debug.as_ref().and_then(|p| MappedFile::open(p)) {
            Some(d) => {
                // SAFETY: as above; `d` is kept in `files`.
                let b: &'static [u8] = unsafe { std::mem::transmute::<&[u8], &[u8]>(d.bytes()) };
                let ctx = object::File::parse(b).ok().and_then(|o| dwarf_of(&o));
                files.push(d);
                ctx
            }
            None => dwarf_of(&obj),
        };
        files.push(file);
        Some(ObjectInfo {
            segments,
            symbols,
            dwarf,
            _files: files,
        })
    }

    /// The object's own address for a file offset.
    fn address(&self, file_offset: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|&&(off, size, _)| (off..off + size).contains(&file_offset))
            .map(|&(off, _, addr)| file_offset - off + addr)
    }

    fn symbol(&self, addr: u64) -> Option<&str> {
        let i = self
            .symbols
            .partition_point(|s| s.0 <= addr)
            .checked_sub(1)?;
        let (start, size, name) = &self.symbols[i];
        (size == &0 || addr < start + size).then_some(name.as_str())
    }
}

/// Debug info installed apart from the object (`/usr/lib/debug/.build-id/…`).
fn separate_debug_file(obj: &object::File<'_>) -> Option<PathBuf> {
    if obj.section_by_name(".debug_info").is_some() {
        return None;
    }
    let id = obj.build_id().ok()??;
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    if hex.len() < 3 {
        return None;
    }
    let p = PathBuf::from(format!(
        "/usr/lib/debug/.build-id/{}/{}.debug",
        &hex[..2],
        &hex[2..]
    ));
    p.is_file().then_some(p)
}

fn dwarf_of(obj: &object::File<'static>) -> Option<Dwarf> {
    obj.section_by_name(".debug_info")?;
    let endian = if obj.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load =
        |id: gimli::SectionId| -> Result<gimli::EndianSlice<'static, gimli::RunTimeEndian>, ()> {
            let data: &'static [u8] = match obj.section_by_name(id.name()).map(|s| s.data()) {
                Some(Ok(d)) => d,
                _ => &[],
            };
            Ok(gimli::EndianSlice::new(data, endian))
        };
    let dwarf = gimli::Dwarf::load(load).ok()?;
    addr2line::Context::from_dwarf(dwarf).ok()
}

/// Symbolises addresses of one process, caching each object and each address.
#[derive(Default)]
pub struct Symbolizer {
    maps: Vec<Mapping>,
    objects: HashMap<PathBuf, Option<ObjectInfo>>,
    cache: HashMap<usize, Vec<String>>,
}

impl std::fmt::Debug for Symbolizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Symbolizer")
            .field("mappings", &self.maps.len())
            .field("objects", &self.objects.len())
            .finish()
    }
}

impl Symbolizer {
    /// A symboliser over a process's mappings (see [`maps`]).
    pub fn new(maps: Vec<Mapping>) -> Self {
        Symbolizer {
            maps,
            ..Default::default()
        }
    }

    /// Replaces the mappings (the process loaded a library since); cached
    /// addresses stay.
    pub fn set_maps(&mut self, maps: Vec<Mapping>) {
        self.maps = maps;
    }

    /// The file an address was loaded from.
    pub fn object_of(&self, addr: usize) -> Option<&Path> {
        self.mapping(addr).map(|m| m.path.as_path())
    }

    fn mapping(&self, addr: usize) -> Option<&Mapping> {
        self.maps.iter().find(|m| (m.start..m.end).contains(&addr))
    }

    /// The frames of a stack of return addresses, innermost first.
    pub fn stack(&mut self, ips: &[usize]) -> Vec<String> {
        ips.iter().flat_map(|&ip| self.resolve(ip)).collect()
    }

    /// The frames of one return address: its call site and the calls inlined
    /// there, innermost first; `0x…` when nothing names it.
    pub fn resolve(&mut self, ip: usize) -> Vec<String> {
        if let Some(f) = self.cache.get(&ip) {
            return f.clone();
        }
        let frames = self.lookup(ip).unwrap_or_default();
        let frames = if frames.is_empty() {
            vec![format!("{ip:#x}")]
        } else {
            frames
        };
        self.cache.insert(ip, frames.clone());
        frames
    }

    fn lookup(&mut self, ip: usize) -> Option<Vec<String>> {
        let m = self.mapping(ip)?.clone();
        let info = self
            .objects
            .entry(m.path.clone())
            .or_insert_with(|| ObjectInfo::load(&m.path))
            .as_ref()?;
        // The call instruction, not what follows it (as in-process resolving does).
        let offset = (ip - 1 - m.start) as u64 + m.offset;
        let addr = info.address(offset)?;
        let mut out = Vec::new();
        if let Some(ctx) = &info.dwarf {
            if let Ok(mut frames) = ctx.find_frames(addr).skip_all_loads() {
                while let Ok(Some(f)) = frames.next() {
                    let name = f
                        .function
                        .as_ref()
                        .and_then(|n| n.raw_name().ok())
                        .map(|n| display_name(&n))
                        .or_else(|| info.symbol(addr).map(display_name))
                        .unwrap_or_else(|| "?".to_string());
                    out.push(match f.location {
                        Some(addr2line::Location {
                            file: Some(file),
                            line: Some(line),
                            column,
                        }) => {
                            let col = column.map(|c| format!(":{c}")).unwrap_or_default();
                            format!("{name} ({}:{line}{col})", relative(Path::new(file)))
                        }
                        _ => name,
                    });
                }
            }
        }
        if out.is_empty() {
            out.extend(info.symbol(addr).map(display_name));
        }
        Some(out)
    }
}

/// A symbol as the in-process symboliser shows it: demangled (Rust) and
/// shortened to its type and function.
fn display_name(raw: &(impl AsRef<str> + ?Sized)) -> String {
    let raw = raw.as_ref();
    match rustc_demangle::try_demangle(raw) {
        Ok(d) => short_name(&format!("{d:#}")),
        Err(_) => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_executable_file_mappings() {
        let text = "\
55d0c0a00000-55d0c0a20000 r--p 00000000 08:01 123 /usr/bin/x
55d0c0a20000-55d0c0a80000 r-xp 00020000 08:01 123 /usr/bin/x
7f00000000-7f00001000 r-xp 00000000 00:00 0 [vdso]
7f00002000-7f00003000 rw-p 00000000 00:00 0
";
        let m = parse_maps(text);
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].start, m[0].offset), (0x55d0c0a20000, 0x20000));
        assert_eq!(m[0].path, PathBuf::from("/usr/bin/x"));
    }

    #[test]
    #[inline(never)]
    fn names_a_function_of_this_process_with_its_line() {
        let mut s = Symbolizer::new(maps(std::process::id()));
        // A return address inside this function: its own start plus a little.
        let here = names_a_function_of_this_process_with_its_line as *const () as usize + 8;
        let frames = s.resolve(here);
        assert!(
            frames.iter().any(
                |f| f.contains("names_a_function_of_this_process_with_its_line")
                    && f.contains("live/src/symbolize.rs:")
            ),
            "{frames:?}"
        );
        assert_eq!(s.resolve(1), vec!["0x1".to_string()]);
    }
}
