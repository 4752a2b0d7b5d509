//! Stack capture by cached DWARF rules (x86_64 Linux).
//!
//! Unwinding with libgcc costs about 2,000 instructions a frame: every frame
//! searches `.eh_frame_hdr` for its FDE and interprets the CFI program anew. The
//! rule a return address needs is the same every time, though, and small: where
//! the canonical frame address (CFA) is (`rsp` or `rbp` plus an offset), where the
//! return address is saved relative to it, and where `rbp` is saved, if it is. So
//! the rule is computed once per code address (from `.eh_frame`, with gimli,
//! without allocating) and kept in a fixed table of [`CACHE`] entries in static
//! memory (64 KiB, never the counted heap); a walk then costs a hash, two loads
//! and a few adds per frame.
//!
//! What the cache cannot express (a CFA computed by a DWARF expression, as in
//! signal trampolines or realigned stacks; `rbp` restored from another register;
//! code without unwind tables) ends the walk at that frame, as does the outermost
//! frame (whose return address is undefined) or anything implausible (a CFA not
//! above the previous one, misaligned, or more than [`MAX_FRAME`] away): the walk
//! never reads memory that a correct rule would not.
//!
//! The table is shared by all threads without a lock: an entry is two words,
//! `pc ^ rule` and `rule` (the lockless hashing of Hyatt and Mann), so a reader
//! that sees halves of two different writes gets a key that does not match and
//! recomputes. Rules are a pure function of the address, so racing writers agree.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use gimli::{
    BaseAddresses, CfaRule, EhFrame, EhFrameHdr, NativeEndian, Pointer, Register, RegisterRule,
    UnwindContext, UnwindContextStorage, UnwindSection,
};

/// Entries in the rule cache (a power of two).
pub const CACHE: usize = 4096;
/// The largest frame the walk accepts (bytes between two CFAs).
const MAX_FRAME: usize = 1 << 20;

const RBP: Register = Register(6);
const RSP: Register = Register(7);
const RA: Register = Register(16);

static TABLE: [[AtomicU64; 2]; CACHE] = [const { [AtomicU64::new(0), AtomicU64::new(0)] }; CACHE];

/// A frame's rule, packed into a word that is never zero:
/// bits 0–1 kind (1: CFA = rsp + off, 2: CFA = rbp + off, 3: stop), bit 2 rbp
/// saved, bits 8–15 the return address's offset from the CFA, bits 16–31 rbp's,
/// bits 32–63 the CFA's offset from its register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rule(u64);

const STOP: Rule = Rule(3);

impl Rule {
    fn new(rbp_based: bool, cfa_off: i64, ra_off: i64, rbp_off: Option<i64>) -> Rule {
        let (Ok(cfa), Ok(ra)) = (i32::try_from(cfa_off), i8::try_from(ra_off)) else {
            return STOP;
        };
        let (saved, bp) = match rbp_off.map(i16::try_from) {
            None => (0, 0),
            Some(Ok(o)) => (4, o),
            Some(Err(_)) => return STOP,
        };
        let kind = if rbp_based { 2 } else { 1 };
        Rule(
            kind | saved
                | (u64::from(ra as u8) << 8)
                | (u64::from(bp as u16) << 16)
                | (u64::from(cfa as u32) << 32),
        )
    }
    fn kind(self) -> u64 {
        self.0 & 3
    }
    fn rbp_saved(self) -> bool {
        self.0 & 4 != 0
    }
    fn ra_off(self) -> isize {
        (self.0 >> 8) as u8 as i8 as isize
    }
    fn rbp_off(self) -> isize {
        (self.0 >> 16) as u16 as i16 as isize
    }
    fn cfa_off(self) -> isize {
        (self.0 >> 32) as u32 as i32 as isize
    }
}

#[inline(always)]
fn slot(pc: usize) -> &'static [AtomicU64; 2] {
    let h = (pc as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - CACHE.trailing_zeros());
    &TABLE[h as usize]
}

/// The rule for code address `pc`: from the cache, else computed and cached.
#[inline(always)]
fn rule(pc: usize) -> Rule {
    let s = slot(pc);
    let data = s[1].load(Relaxed);
    if s[0].load(Relaxed) ^ data == pc as u64 && data != 0 {
        return Rule(data);
    }
    let r = compute(pc);
    s[1].store(r.0, Relaxed);
    s[0].store(pc as u64 ^ r.0, Relaxed);
    r
}

/// Captures return addresses of the caller's callers into `out`, innermost first:
/// `out[0]` is where this function returns to, less `skip` frames more. Returns
/// how many were written.
#[inline(never)]
pub fn stack(out: &mut [usize], skip: usize) -> usize {
    let (pc, sp, bp): (usize, usize, usize);
    // SAFETY: reads three registers; touches no memory.
    unsafe {
        std::arch::asm!(
            "lea {0}, [rip]",
            "mov {1}, rsp",
            "mov {2}, rbp",
            out(reg) pc,
            out(reg) sp,
            out(reg) bp,
            options(nomem, nostack, preserves_flags),
        );
    }
    // SAFETY: the registers are this frame's own, read above.
    unsafe { walk(pc, sp, bp, out, skip) }
}

/// Walks from a frame whose code address, stack and frame pointers are given.
///
/// # Safety
/// `pc`, `sp` and `bp` are a live frame of this thread, further up the stack than
/// the caller's own frame.
#[inline(always)]
unsafe fn walk(
    mut pc: usize,
    mut sp: usize,
    mut bp: usize,
    out: &mut [usize],
    skip: usize,
) -> usize {
    let mut n = 0;
    let mut skipped = 0;
    while n < out.len() {
        let r = rule(pc);
        let base = match r.kind() {
            1 => sp,
            2 => bp,
            _ => break,
        };
        let cfa = base.wrapping_add_signed(r.cfa_off());
        if cfa <= sp || cfa - sp > MAX_FRAME || cfa % 8 != 0 {
            break;
        }
        let ra = *(cfa.wrapping_add_signed(r.ra_off()) as *const usize);
        if r.rbp_saved() {
            bp = *(cfa.wrapping_add_signed(r.rbp_off()) as *const usize);
        }
        sp = cfa;
        if ra == 0 {
            break;
        }
        if skipped < skip {
            skipped += 1;
        } else {
            out[n] = ra;
            n += 1;
        }
        // The call instruction, not what follows it (which may be another function).
        pc = ra - 1;
    }
    n
}

/// Rules storage small enough for the stack (x86_64 saves a few registers).
struct Small;

impl UnwindContextStorage<usize> for Small {
    type Rules = [(Register, RegisterRule<usize>); 32];
    type Stack = [gimli::UnwindTableRow<usize, Self>; 4];
}

struct Search {
    pc: usize,
    rule: Rule,
}

/// Computes the rule of `pc` from the unwind tables of the object holding it.
#[cold]
#[inline(never)]
fn compute(pc: usize) -> Rule {
    let mut search = Search { pc, rule: STOP };
    // SAFETY: the callback only reads the loader's program headers and the mapped
    // sections they describe; it neither allocates nor unwinds.
    unsafe {
        libc::dl_iterate_phdr(Some(visit), (&mut search as *mut Search).cast());
    }
    search.rule
}

unsafe extern "C" fn visit(
    info: *mut libc::dl_phdr_info,
    _: usize,
    data: *mut libc::c_void,
) -> i32 {
    let search = &mut *data.cast::<Search>();
    let info = &*info;
    let base = info.dlpi_addr as usize;
    let phdrs = std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize);
    let mut ours = false;
    let mut hdr = None;
    for ph in phdrs {
        let start = base.wrapping_add(ph.p_vaddr as usize);
        if ph.p_type == libc::PT_LOAD && (start..start + ph.p_memsz as usize).contains(&search.pc) {
            ours = true;
        }
        if ph.p_type == libc::PT_GNU_EH_FRAME {
            hdr = Some((start, ph.p_memsz as usize));
        }
    }
    if !ours {
        return 0;
    }
    if let Some((addr, len)) = hdr {
        // The section `.eh_frame_hdr` points into runs at most to the end of the
        // loaded segment holding it.
        let segment_end = |a: usize| {
            phdrs
                .iter()
                .filter(|ph| ph.p_type == libc::PT_LOAD)
                .map(|ph| {
                    let s = base.wrapping_add(ph.p_vaddr as usize);
                    (s, s + ph.p_memsz as usize)
                })
                .find(|&(s, e)| (s..e).contains(&a))
                .map(|(_, e)| e)
        };
        search.rule = from_tables(search.pc, addr, len, segment_end).unwrap_or(STOP);
    }
    1
}

/// # Safety
/// `hdr..hdr + len` is a mapped `.eh_frame_hdr`; `segment_end` gives the end of
/// the mapped segment holding an address.
unsafe fn from_tables(
    pc: usize,
    hdr: usize,
    len: usize,
    segment_end: impl Fn(usize) -> Option<usize>,
) -> Option<Rule> {
    let bytes = std::slice::from_raw_parts(hdr as *const u8, len);
    let bases = BaseAddresses::default().set_eh_frame_hdr(hdr as u64);
    let parsed = EhFrameHdr::new(bytes, NativeEndian).parse(&bases, 8).ok()?;
    let Pointer::Direct(eh) = parsed.eh_frame_ptr() else {
        return None;
    };
    let eh = eh as usize;
    let end = segment_end(eh)?;
    let mut frame = EhFrame::new(
        std::slice::from_raw_parts(eh as *const u8, end - eh),
        NativeEndian,
    );
    frame.set_address_size(8);
    let bases = bases.set_eh_frame(eh as u64);
    let table = parsed.table()?;
    let mut ctx = UnwindContext::<usize, Small>::new_in();
    let row = table
        .unwind_info_for_address(
            &frame,
            &bases,
            &mut ctx,
            pc as u64,
            EhFrame::cie_from_offset,
        )
        .ok()?;
    let (rbp_based, cfa_off) = match *row.cfa() {
        CfaRule::RegisterAndOffset { register, offset } if register == RSP => (false, offset),
        CfaRule::RegisterAndOffset { register, offset } if register == RBP => (true, offset),
        _ => return None,
    };
    let ra_off = match row.register(RA) {
        Some(RegisterRule::Offset(o)) => o,
        _ => return None,
    };
    let rbp_off = match row.register(RBP) {
        None | Some(RegisterRule::SameValue) => None,
        Some(RegisterRule::Offset(o)) => Some(o),
        _ => return None,
    };
    Some(Rule::new(rbp_based, cfa_off, ra_off, rbp_off))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_round_trip() {
        let r = Rule::new(true, 16, -8, Some(-16));
        assert_eq!((r.kind(), r.rbp_saved()), (2, true));
        assert_eq!((r.cfa_off(), r.ra_off(), r.rbp_off()), (16, -8, -16));
        let r = Rule::new(false, 4104, -8, None);
        assert_eq!((r.kind(), r.rbp_saved(), r.cfa_off()), (1, false, 4104));
        assert_eq!(Rule::new(false, 1 << 40, -8, None), STOP);
        assert_eq!(Rule::new(false, 8, -8, Some(1 << 20)), STOP);
    }

    #[test]
    fn unknown_code_stops_the_walk() {
        assert_eq!(compute(16), STOP);
    }

    /// The cached walk finds the same return addresses as libgcc's unwinder.
    #[test]
    fn agrees_with_libgcc() {
        #[inline(never)]
        fn ours(out: &mut [usize; 32]) -> usize {
            std::hint::black_box(stack(out, 0))
        }
        #[inline(never)]
        fn theirs(out: &mut [usize; 32]) -> usize {
            let mut n = 0;
            backtrace::trace(|f| {
                out[n] = f.ip() as usize;
                n += 1;
                n < out.len()
            });
            std::hint::black_box(n)
        }
        #[inline(never)]
        fn both(depth: u32) -> ([usize; 32], usize, [usize; 32], usize) {
            if depth > 0 {
                return std::hint::black_box(both(depth - 1));
            }
            let (mut a, mut b) = ([0; 32], [0; 32]);
            let n = ours(&mut a);
            let m = theirs(&mut b);
            (a, n, b, m)
        }
        for depth in [0, 3, 9] {
            let (a, n, b, m) = both(depth);
            // Ours: into `ours`, into `both`, into its caller, …; libgcc's the same
            // after its own frames, `theirs` and its call site in `both`.
            let at = b[..m].iter().position(|&ip| ip == a[2]);
            let at = at.unwrap_or_else(|| panic!("{:x?} not in {:x?}", &a[..n], &b[..m]));
            let m = b[..m].iter().position(|&ip| ip == 0).unwrap_or(m);
            assert_eq!(n - 2, m - at, "{:x?} vs {:x?}", &a[..n], &b[..m]);
            assert!(n >= depth as usize + 5, "{n}");
            assert_eq!(a[2..n], b[at..m], "depth {depth}");
        }
    }
}
