//! Source locations and inlined frames of a few addresses from an object's DWARF,
//! reading only the compilation units that hold them.
//!
//! `.debug_aranges` maps address ranges to units; each unit holding an address is
//! parsed alone: its line program (one pass over its rows finds the row of every
//! address in it) and its tree of entries, descending only into the functions,
//! inlined calls and blocks whose ranges hold an address. The chain of inlined
//! calls gives the frames: the innermost is located by the line row, each outer
//! one by the call site its inner frame records (`DW_AT_call_file`/`call_line`).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;

use gimli::{
    AttributeValue, DebugInfoOffset, DebuggingInformationEntry, Dwarf, EndianSlice,
    EntriesTreeNode, LineProgramHeader, RunTimeEndian, SectionId, Unit,
};
use object::Endianness;

use super::{demangle, Frame};

type R<'a> = EndianSlice<'a, RunTimeEndian>;

/// The debug sections read (whose pages are released after each unit).
pub const SECTIONS: [&str; 10] = [
    ".debug_info",
    ".debug_abbrev",
    ".debug_aranges",
    ".debug_line",
    ".debug_line_str",
    ".debug_ranges",
    ".debug_rnglists",
    ".debug_str",
    ".debug_str_offsets",
    ".debug_addr",
];

/// Each address's frames, innermost first, for the `queries` (sorted) that lie in
/// a unit with debug information. `section` gives a section's bytes by name (empty
/// when absent); `release` is called after the unit lookup and after each unit.
pub fn frames<'a>(
    section: impl Fn(&str) -> &'a [u8],
    endian: Endianness,
    queries: &[u64],
    release: impl Fn(),
) -> HashMap<u64, Vec<Frame>> {
    let e = match endian {
        Endianness::Little => RunTimeEndian::Little,
        Endianness::Big => RunTimeEndian::Big,
    };
    let Ok(dwarf) = Dwarf::load(|id: SectionId| -> Result<R<'a>, ()> {
        Ok(EndianSlice::new(section(id.name()), e))
    }) else {
        return HashMap::new();
    };
    let (units, by_unit) = units_of(&dwarf, queries);
    release();
    let cx = Cx {
        dwarf: &dwarf,
        units,
        others: RefCell::new(HashMap::new()),
    };
    let mut out = HashMap::new();
    for (offset, qs) in by_unit {
        let Some(unit) = cx.unit_at(offset) else {
            continue;
        };
        for (q, frames) in qs.iter().zip(cx.resolve_in(&unit, &qs)) {
            if !frames.is_empty() {
                out.insert(*q, frames);
            }
        }
        release();
    }
    out
}

/// Every unit's offset (sorted) and the queries each unit holds, from
/// `.debug_aranges`; without it, from every unit's own ranges.
fn units_of(dwarf: &Dwarf<R<'_>>, queries: &[u64]) -> (Vec<usize>, BTreeMap<usize, Vec<u64>>) {
    let mut owner: Vec<Option<usize>> = vec![None; queries.len()];
    let assign = |owner: &mut Vec<Option<usize>>, begin: u64, end: u64, unit: usize| {
        let mut i = queries.partition_point(|&q| q < begin);
        while i < queries.len() && queries[i] < end {
            owner[i] = Some(unit);
            i += 1;
        }
    };
    let mut units = Vec::new();
    let mut headers = dwarf.debug_aranges.headers();
    while let Ok(Some(h)) = headers.next() {
        let unit = h.debug_info_offset().0;
        units.push(unit);
        let mut entries = h.entries();
        while let Ok(Some(entry)) = entries.next() {
            let r = entry.range();
            assign(&mut owner, r.begin, r.end, unit);
        }
    }
    if units.is_empty() {
        let mut headers = dwarf.units();
        while let Ok(Some(h)) = headers.next() {
            let Some(offset) = h.debug_info_offset() else {
                continue;
            };
            units.push(offset.0);
            let Ok(unit) = dwarf.unit(h) else {
                continue;
            };
            let Ok(mut ranges) = dwarf.unit_ranges(&unit) else {
                continue;
            };
            while let Ok(Some(r)) = ranges.next() {
                assign(&mut owner, r.begin, r.end, offset.0);
            }
        }
    }
    units.sort_unstable();
    units.dedup();
    let mut by_unit: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for (q, o) in queries.iter().zip(owner) {
        if let Some(u) = o {
            by_unit.entry(u).or_default().push(*q);
        }
    }
    (units, by_unit)
}

/// A function, inlined call or block holding an address, outermost first.
#[derive(Debug, Clone)]
struct Link {
    name: Option<String>,
    call_file: Option<u64>,
    call_line: Option<u32>,
    inlined: bool,
}

struct Cx<'d, 'a> {
    dwarf: &'d Dwarf<R<'a>>,
    /// Offsets of the units with code, sorted: where to start looking for the
    /// unit of a cross-unit reference.
    units: Vec<usize>,
    /// Units parsed for cross-unit references, by offset.
    others: RefCell<HashMap<usize, Rc<Unit<R<'a>>>>>,
}

impl<'a> Cx<'_, 'a> {
    fn unit_at(&self, offset: usize) -> Option<Unit<R<'a>>> {
        let header = self
            .dwarf
            .debug_info
            .header_from_offset(DebugInfoOffset(offset))
            .ok()?;
        self.dwarf.unit(header).ok()
    }

    /// The unit holding `.debug_info` offset `off`: from the last unit with code
    /// that starts at or before it, unit headers are followed forward (units
    /// holding only abstract functions have no address ranges).
    fn unit_containing(&self, off: usize) -> Option<Rc<Unit<R<'a>>>> {
        let i = self.units.partition_point(|&u| u <= off);
        let mut start = i.checked_sub(1).map_or(0, |i| self.units[i]);
        for _ in 0..100_000 {
            let header = self
                .dwarf
                .debug_info
                .header_from_offset(DebugInfoOffset(start))
                .ok()?;
            let end = start + header.length_including_self();
            if off < end {
                if let Some(u) = self.others.borrow().get(&start) {
                    return Some(Rc::clone(u));
                }
                let unit = Rc::new(self.dwarf.unit(header).ok()?);
                self.others.borrow_mut().insert(start, Rc::clone(&unit));
                return Some(unit);
            }
            start = end;
        }
        None
    }

    /// The frames of each of `qs` (sorted, all in `unit`).
    fn resolve_in(&self, unit: &Unit<R<'a>>, qs: &[u64]) -> Vec<Vec<Frame>> {
        let (rows, header) = self.rows(unit, qs);
        let mut chains: Vec<Vec<Link>> = vec![Vec::new(); qs.len()];
        if let Ok(mut tree) = unit.entries_tree(None) {
            if let Ok(root) = tree.root() {
                let all: Vec<(u64, usize)> = qs.iter().copied().zip(0..).collect();
                let _ = self.visit(unit, root, &all, &mut Vec::new(), &mut chains);
            }
        }
        let path = |index: u64| header.as_ref().and_then(|h| self.file_path(unit, h, index));
        qs.iter()
            .enumerate()
            .map(|(i, _)| {
                let chain = &chains[i];
                let here = rows[i].map(|(f, l)| (path(f), (l > 0).then_some(l)));
                let mut frames = Vec::with_capacity(chain.len().max(1));
                for k in (0..chain.len()).rev() {
                    let (file, line) = if k + 1 == chain.len() {
                        here.clone().unwrap_or((None, None))
                    } else {
                        let inner = &chain[k + 1];
                        (inner.call_file.and_then(path), inner.call_line)
                    };
                    frames.push(Frame {
                        function: chain[k].name.clone().unwrap_or_else(|| "?".into()),
                        file,
                        line,
                        inlined: chain[k].inlined,
                    });
                }
                if frames.is_empty() {
                    if let Some((file, line)) = here {
                        frames.push(Frame {
                            function: "?".into(),
                            file,
                            line,
                            inlined: false,
                        });
                    }
                }
                frames
            })
            .collect()
    }

    /// The line row (file index, line) of each of `qs`, and the program's header
    /// (for file names).
    #[allow(clippy::type_complexity)]
    fn rows(
        &self,
        unit: &Unit<R<'a>>,
        qs: &[u64],
    ) -> (Vec<Option<(u64, u32)>>, Option<LineProgramHeader<R<'a>>>) {
        let mut found = vec![None; qs.len()];
        let Some(program) = unit.line_program.clone() else {
            return (found, None);
        };
        let mut rows = program.rows();
        let mut prev: Option<(u64, u64, u32)> = None;
        while let Ok(Some((_, row))) = rows.next_row() {
            let addr = row.address();
            if let Some((pa, file, line)) = prev {
                if addr > pa {
                    let mut i = qs.partition_point(|&q| q < pa);
                    while i < qs.len() && qs[i] < addr {
                        found[i] = Some((file, line));
                        i += 1;
                    }
                }
            }
            prev = (!row.end_sequence()).then(|| {
                let line = row
                    .line()
                    .map_or(0, |l| u32::try_from(l.get()).unwrap_or(0));
                (addr, row.file_index(), line)
            });
        }
        let header = rows.header().clone();
        (found, Some(header))
    }

    fn file_path(
        &self,
        unit: &Unit<R<'a>>,
        header: &LineProgramHeader<R<'a>>,
        index: u64,
    ) -> Option<String> {
        let file = header.file(index)?;
        let mut path = PathBuf::new();
        if let Some(dir) = &unit.comp_dir {
            path.push(&*dir.to_string_lossy());
        }
        if let Some(dir) = file.directory(header) {
            if let Ok(d) = self.dwarf.attr_string(unit, dir) {
                path.push(&*d.to_string_lossy());
            }
        }
        let name = self.dwarf.attr_string(unit, file.path_name()).ok()?;
        path.push(&*name.to_string_lossy());
        Some(path.display().to_string())
    }

    /// Walks the entries under `node`, descending only where an address of `qs`
    /// lies, and records for each address the chain of links holding it.
    fn visit(
        &self,
        unit: &Unit<R<'a>>,
        node: EntriesTreeNode<'_, '_, R<'a>>,
        qs: &[(u64, usize)],
        stack: &mut Vec<Link>,
        out: &mut [Vec<Link>],
    ) -> gimli::Result<()> {
        let entry = node.entry();
        let tag = entry.tag();
        let (inside, link) = match tag {
            gimli::DW_TAG_compile_unit
            | gimli::DW_TAG_partial_unit
            | gimli::DW_TAG_namespace
            | gimli::DW_TAG_module => (qs.to_vec(), None),
            gimli::DW_TAG_subprogram
            | gimli::DW_TAG_inlined_subroutine
            | gimli::DW_TAG_lexical_block => {
                let mut ranges = Vec::new();
                let mut iter = self.dwarf.die_ranges(unit, entry)?;
                while let Some(r) = iter.next()? {
                    ranges.push(r);
                }
                let inside: Vec<(u64, usize)> = qs
                    .iter()
                    .copied()
                    .filter(|(q, _)| ranges.iter().any(|r| r.begin <= *q && *q < r.end))
                    .collect();
                if inside.is_empty() {
                    return Ok(());
                }
                let link = (tag != gimli::DW_TAG_lexical_block).then(|| Link {
                    name: self.name(unit, entry, 4),
                    call_file: match entry.attr_value(gimli::DW_AT_call_file) {
                        Some(AttributeValue::FileIndex(i)) | Some(AttributeValue::Udata(i)) => {
                            Some(i)
                        }
                        _ => None,
                    },
                    call_line: entry
                        .attr_value(gimli::DW_AT_call_line)
                        .and_then(|v| v.udata_value())
                        .and_then(|l| u32::try_from(l).ok()),
                    inlined: tag == gimli::DW_TAG_inlined_subroutine,
                });
                (inside, link)
            }
            _ => return Ok(()),
        };
        let pushed = link.is_some();
        if let Some(l) = link {
            stack.push(l);
            for &(_, slot) in &inside {
                out[slot] = stack.clone();
            }
        }
        let mut children = node.children();
        while let Some(child) = children.next()? {
            self.visit(unit, child, &inside, stack, out)?;
        }
        if pushed {
            stack.pop();
        }
        Ok(())
    }

    /// A function entry's name: its linkage name demangled (the full path), else
    /// its `DW_AT_name`, else that of its abstract origin or specification.
    fn name(
        &self,
        unit: &Unit<R<'a>>,
        entry: &DebuggingInformationEntry<R<'a>>,
        hops: u8,
    ) -> Option<String> {
        for at in [gimli::DW_AT_linkage_name, gimli::DW_AT_MIPS_linkage_name] {
            if let Some(v) = entry.attr_value(at) {
                if let Ok(s) = self.dwarf.attr_string(unit, v) {
                    return Some(demangle(&s.to_string_lossy()));
                }
            }
        }
        if let Some(v) = entry.attr_value(gimli::DW_AT_name) {
            if let Ok(s) = self.dwarf.attr_string(unit, v) {
                return Some(s.to_string_lossy().into_owned());
            }
        }
        if hops == 0 {
            return None;
        }
        for at in [gimli::DW_AT_abstract_origin, gimli::DW_AT_specification] {
            match entry.attr_value(at) {
                Some(AttributeValue::UnitRef(off)) => {
                    let e = unit.entry(off).ok()?;
                    return self.name(unit, &e, hops - 1);
                }
                Some(AttributeValue::DebugInfoRef(off)) => {
                    let other = self.unit_containing(off.0)?;
                    let local = off.to_unit_offset(&other.header)?;
                    let e = other.entry(local).ok()?;
                    return self.name(&other, &e, hops - 1);
                }
                _ => {}
            }
        }
        None
    }
}
