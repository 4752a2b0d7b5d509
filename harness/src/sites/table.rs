//! The site table: each distinct captured stack gets an index, and each index the
//! estimated bytes its sampled blocks still hold.
//!
//! Fixed capacity ([`MAX_SITES`] stacks, open addressing over twice as many
//! slots), living in memory mapped directly: interning a stack never allocates.
//! Stacks beyond capacity share site 0, "other sites".

use super::FRAME_DEPTH;

/// Distinct stacks the table holds (site 0 is the shared overflow site).
pub const MAX_SITES: usize = 4096;
const SLOTS: usize = 2 * MAX_SITES;

/// One captured stack and what is live from it.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Site {
    hash: u64,
    /// Frames captured (at most [`FRAME_DEPTH`]).
    pub depth: u32,
    /// Sampled blocks from this site still live.
    pub live_blocks: u32,
    /// Estimated live bytes: the sum of the live sampled blocks' weights.
    pub live: u64,
    /// Return addresses, innermost first.
    pub frames: [usize; FRAME_DEPTH],
}

/// The table; all-zero is the valid empty state.
#[repr(C)]
pub struct Table {
    slots: [u32; SLOTS],
    sites: [Site; MAX_SITES],
    len: u32,
}

fn hash(frames: &[usize]) -> u64 {
    // FNV-style mix of the addresses; never zero (zero marks an empty site).
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &f in frames {
        h = (h ^ f as u64)
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(17);
    }
    h | 1
}

impl Table {
    /// The index of `frames`, added when new; 0 when the table is full.
    pub fn intern(&mut self, frames: &[usize]) -> u32 {
        let frames = &frames[..frames.len().min(FRAME_DEPTH)];
        if self.len == 0 {
            self.len = 1; // site 0: other sites
        }
        let h = hash(frames);
        let mut slot = h as usize % SLOTS;
        for _ in 0..SLOTS {
            let idx = self.slots[slot];
            if idx == 0 {
                if self.len as usize >= MAX_SITES {
                    return 0;
                }
                let id = self.len;
                let mut site = Site {
                    hash: h,
                    depth: frames.len() as u32,
                    live_blocks: 0,
                    live: 0,
                    frames: [0; FRAME_DEPTH],
                };
                site.frames[..frames.len()].copy_from_slice(frames);
                self.sites[id as usize] = site;
                self.slots[slot] = id;
                self.len += 1;
                return id;
            }
            let s = &self.sites[idx as usize];
            if s.hash == h && &s.frames[..s.depth as usize] == frames {
                return idx;
            }
            slot = (slot + 1) % SLOTS;
        }
        0
    }

    /// Sites in use, including site 0.
    pub fn len(&self) -> usize {
        (self.len as usize).max(1)
    }

    /// Whether no stack has been interned (only site 0 exists).
    pub fn is_empty(&self) -> bool {
        self.len <= 1
    }

    /// A site by index (site 0 for an index out of range).
    pub fn get(&self, id: u32) -> &Site {
        let i = if (id as usize) < MAX_SITES {
            id as usize
        } else {
            0
        };
        &self.sites[i]
    }

    /// A site by index, to update.
    pub fn get_mut(&mut self, id: u32) -> &mut Site {
        let i = if (id as usize) < MAX_SITES {
            id as usize
        } else {
            0
        };
        &mut self.sites[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> &'static mut Table {
        let p = super::super::arena::map(std::mem::size_of::<Table>()).expect("maps");
        // SAFETY: fresh zeroed memory of the right size; all-zero is a valid Table.
        unsafe { &mut *p.cast::<Table>() }
    }

    #[test]
    fn interns_each_stack_once() {
        let t = table();
        let a = t.intern(&[1, 2, 3]);
        let b = t.intern(&[1, 2, 4]);
        assert_ne!(a, 0);
        assert_ne!(a, b);
        assert_eq!(t.intern(&[1, 2, 3]), a);
        assert_eq!(t.get(a).frames[..3], [1, 2, 3]);
        assert_eq!(t.len(), 3);
        t.get_mut(a).live += 5;
        assert_eq!(t.get(a).live, 5);
        assert_eq!(t.get(u32::MAX).live, 0, "out of range reads site 0");
    }

    #[test]
    fn a_full_table_sends_new_stacks_to_site_0() {
        let t = table();
        for i in 1..MAX_SITES {
            assert_ne!(t.intern(&[i, 7]), 0);
        }
        assert_eq!(t.intern(&[0, 0, 9]), 0);
        assert_eq!(t.intern(&[5, 7]), 5, "known stacks still resolve");
    }
}
