//! Which object file a code address of a process lies in: its `/proc/PID/maps`.
//!
//! Every executable mapping names the file it maps and the file offset it starts at,
//! so an address becomes (file, offset in the file); the object's program headers
//! turn that offset into the address the object itself uses ([`super::Object::svma`]).
//! This works the same for this process (`/proc/self/maps`) and for another one
//! read by its PID, whose binary and libraries are then resolved from their files.

use std::path::{Path, PathBuf};

/// One executable mapping of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mapping {
    start: u64,
    end: u64,
    offset: u64,
    path: PathBuf,
}

/// The file-backed executable mappings of one process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mappings {
    maps: Vec<Mapping>,
}

impl Mappings {
    /// This process's mappings (empty when `/proc/self/maps` cannot be read).
    pub fn of_self() -> Mappings {
        std::fs::read_to_string("/proc/self/maps")
            .map(|t| Mappings::parse(&t, "self"))
            .unwrap_or_default()
    }

    /// Another process's mappings, read from `/proc/PID/maps`.
    pub fn of_pid(pid: u32) -> std::io::Result<Mappings> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
        Ok(Mappings::parse(&text, &pid.to_string()))
    }

    /// Parses the text of a `maps` file; `pid` (`self` or a number) names the
    /// process, for files deleted since they were mapped (read through
    /// `/proc/PID/map_files/`).
    pub fn parse(text: &str, pid: &str) -> Mappings {
        let mut maps: Vec<Mapping> = text
            .lines()
            .filter_map(|line| {
                let mut f = line.split_ascii_whitespace();
                let range = f.next()?;
                let perms = f.next()?;
                let offset = u64::from_str_radix(f.next()?, 16).ok()?;
                let _dev = f.next()?;
                let _inode = f.next()?;
                // The path is the rest of the line (it may hold spaces).
                let rest = line.splitn(6, char::is_whitespace).nth(5)?.trim_start();
                if !perms.contains('x') || !rest.starts_with('/') {
                    return None;
                }
                let (s, e) = range.split_once('-')?;
                let (start, end) = (
                    u64::from_str_radix(s, 16).ok()?,
                    u64::from_str_radix(e, 16).ok()?,
                );
                let path = match rest.strip_suffix(" (deleted)") {
                    Some(_) => PathBuf::from(format!("/proc/{pid}/map_files/{s}-{e}")),
                    None => PathBuf::from(rest),
                };
                Some(Mapping {
                    start,
                    end,
                    offset,
                    path,
                })
            })
            .collect();
        maps.sort_by_key(|m| m.start);
        Mappings { maps }
    }

    /// The file mapped at `addr` and the offset in that file `addr` corresponds to.
    pub fn locate(&self, addr: u64) -> Option<(&Path, u64)> {
        let i = self.maps.partition_point(|m| m.start <= addr);
        let m = self.maps.get(i.checked_sub(1)?)?;
        (addr < m.end).then(|| (m.path.as_path(), addr - m.start + m.offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0a0000000-55d0a0100000 r--p 00000000 08:01 100 /usr/bin/prog
55d0a0100000-55d0a0400000 r-xp 00100000 08:01 100 /usr/bin/prog
7f0000000000-7f0000200000 r-xp 00028000 08:01 200 /lib/x86_64-linux-gnu/libc.so.6
7f0000300000-7f0000301000 r-xp 00000000 08:01 300 /tmp/my lib.so (deleted)
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]
7ffd00010000-7ffd00020000 rw-p 00000000 00:00 0 [stack]
";

    #[test]
    fn addresses_land_in_their_file_at_their_offset() {
        let m = Mappings::parse(MAPS, "42");
        assert_eq!(
            m.locate(0x55d0a0100010),
            Some((Path::new("/usr/bin/prog"), 0x100010))
        );
        assert_eq!(
            m.locate(0x7f0000000100),
            Some((Path::new("/lib/x86_64-linux-gnu/libc.so.6"), 0x28100))
        );
        // Not executable, past the end, anonymous.
        assert_eq!(m.locate(0x55d0a0000010), None);
        assert_eq!(m.locate(0x7f0000200000), None);
        assert_eq!(m.locate(0x7ffd00000010), None);
        assert_eq!(m.locate(0x10), None);
        // A deleted file is read through its map_files link.
        assert_eq!(
            m.locate(0x7f0000300010).map(|(p, _)| p.to_path_buf()),
            Some(PathBuf::from(
                "/proc/42/map_files/7f0000300000-7f0000301000"
            ))
        );
    }

    #[test]
    fn this_process_maps_its_own_code() {
        let here = this_process_maps_its_own_code as fn() as usize as u64;
        let m = Mappings::of_self();
        let (path, _) = m.locate(here).expect("our code is mapped");
        let exe = std::fs::canonicalize("/proc/self/exe").expect("exe");
        assert_eq!(std::fs::canonicalize(path).ok(), Some(exe));
    }
}
