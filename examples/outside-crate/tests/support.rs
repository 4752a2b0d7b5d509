//! What the tests check of a failing run's "where", with or without line tables.

use soak_harness::attribution::{OwnerGrowth, SiteGrowth};
use soak_harness::frames::{Frame, Kind};
use soak_harness::{Outcome, Verdict};

/// Whether this binary was built with line tables, told without soak's own
/// symboliser: its ELF section headers list a non-empty `.debug_line`. Reads a
/// few KiB (not the debug information: other tests' runs measure this
/// process's heap meanwhile), once.
pub fn line_tables() -> bool {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ONCE.get_or_init(|| {
        let exe = std::env::current_exe().expect("this test binary");
        has_section(&exe, ".debug_line").expect("an ELF file")
    })
}

/// Whether the 64-bit little-endian ELF file at `path` has a non-empty section
/// named `name`.
fn has_section(path: &std::path::Path, name: &str) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let mut read_at = |at: u64, len: usize| -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        f.seek(SeekFrom::Start(at))?;
        f.read_exact(&mut buf)?;
        Ok(buf)
    };
    let word = |b: &[u8], at: usize, n: usize| -> u64 {
        b[at..at + n]
            .iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
    };
    let h = read_at(0, 64)?;
    assert_eq!(&h[..6], b"\x7fELF\x02\x01", "64-bit little-endian ELF");
    let (shoff, shentsize, shnum, shstrndx) = (
        word(&h, 0x28, 8),
        word(&h, 0x3a, 2) as usize,
        word(&h, 0x3c, 2) as usize,
        word(&h, 0x3e, 2) as usize,
    );
    let table = read_at(shoff, shentsize * shnum)?;
    let section = |i: usize| &table[i * shentsize..(i + 1) * shentsize];
    let strs = section(shstrndx);
    let names = read_at(word(strs, 0x18, 8), word(strs, 0x20, 8) as usize)?;
    Ok((0..shnum).any(|i| {
        let sh = section(i);
        let at = word(sh, 0, 4) as usize;
        let end = names[at..]
            .iter()
            .position(|&c| c == 0)
            .map_or(names.len(), |e| at + e);
        &names[at..end] == name.as_bytes() && word(sh, 0x20, 8) > 0
    }))
}

/// The run failed on its heap, and its message ends with where the top owner is;
/// that owner and its fastest growing site.
pub fn failing_owner(o: &Outcome) -> (&OwnerGrowth, &SiteGrowth, &Frame) {
    let s = &o.summary;
    assert_eq!(s.verdict, Verdict::Fail, "{}", s.message);
    assert_eq!(s.failed_resources, ["heap"], "{}", s.message);
    let owner = s.growth_owners.first().expect("the sites group by owner");
    let id = owner.sites.first().expect("an owner has sites");
    let site = s
        .growth_sites
        .iter()
        .find(|g| &g.id == id)
        .expect("the owner's site is saved");
    let frame = site.owner.as_ref().expect("the site has an owner");
    assert!(
        s.message.contains(&format!("at {}", owner.place)),
        "the message names the owner: {}",
        s.message
    );
    // Never the harness, never the standard library: the code of substance.
    assert!(
        matches!(frame.kind, Kind::Own | Kind::Dependency),
        "{frame:?}"
    );
    for prefix in [
        "soak_harness",
        "std::",
        "core::",
        "alloc::",
        "hashbrown::",
        "<",
    ] {
        assert!(
            !frame.function.starts_with(prefix) || frame.function.starts_with("<outside_crate"),
            "{frame:?}\n{}",
            s.message
        );
    }
    (owner, site, frame)
}

/// Whether `frame` is this crate's function `path` (`limiter::Cooldowns::check`):
/// by its full symbol without line tables, by its short name and file with them.
pub fn is_ours(frame: &Frame, path: &str, file: &str) -> bool {
    let short: Vec<&str> = path.rsplit("::").take(2).collect();
    let name = frame.function.as_str();
    frame.kind == Kind::Own
        && (name.contains(&format!("outside_crate::{path}"))
            || (frame.file.as_deref().is_some_and(|f| f.ends_with(file))
                && name.contains(short[0])))
}
