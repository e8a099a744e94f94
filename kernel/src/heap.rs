//! The block allocator.
//!
//! A block is a 16-byte header followed by its data; handles are data
//! offsets (8-byte aligned, never 0):
//!
//! ```text
//!   p - 16: u64 word = capacity << 32 | length   (length 0 = free block)
//!   p -  8: u64 seal = seal(p, word, generation)
//!   p     : data, `capacity` bytes (a multiple of 8, >= 8);
//!           a free block keeps the next free block's offset in its first 8 bytes
//! ```
//!
//! Blocks are carved from the top of the heap (bump allocation) and recycled
//! through LIFO free lists, one per size class. A header is trusted only if
//! its seal matches: the seal mixes the block's own offset and the current
//! generation, so `length`/`free` of a freed block, an interior pointer or a
//! handle from before the last `reset` is recognised in O(1), and `reset` only
//! bumps the generation (O(1)). Every use of a header re-checks that the block
//! lies inside the used heap, so even a header forged by a guest through
//! `store_*` can never make the kernel trap or touch memory outside the heap.
//!
//! The used heap `[heap_start, heap_start + top)` always lies inside linear
//! memory: `top` only grows after `grow_to` made memory reach the new top,
//! memory never shrinks, and `reset` sets `top` back to 0. The unchecked
//! `read_u64` / `write_u64` calls below rely on it.

use crate::mem::{self, grow_to, heap_start, read_u64, write_u64};
use crate::root::{CLASSES, Root};

/// Bytes of header before each block's data.
pub(crate) const HEADER: u64 = 16;
/// A free block is split if at least this many data bytes would remain.
const MIN_SPLIT: u64 = 16;
/// Requests must be smaller than this.
const MAX_REQUEST: u64 = 1 << 32;

/// Size class of a block of capacity `cap` (a multiple of 8, `8..=2^32`):
/// 8-byte steps below 128 (classes 0..=14), then four classes per power of
/// two (class 15 = 128, 16 = 160, 17 = 192, 18 = 224, 19 = 256, ...,
/// 115 = 2^32). Every block in list `k` has a capacity of at least the
/// smallest capacity of class `k`, so any block in a list above
/// `class_of(s)` can hold `s` bytes.
#[inline(always)]
fn class_of(cap: u64) -> usize {
    if cap < 128 {
        ((cap >> 3) as usize).wrapping_sub(1) & (CLASSES - 1)
    } else {
        let k = 63 - cap.leading_zeros() as u64; // 7..=32
        let sub = (cap >> (k - 2)) & 3;
        ((15 + (k - 7) * 4 + sub) as usize) & (CLASSES - 1)
    }
}

/// Seal of a header: a bijective 64-bit mix of the header word, the block's
/// own offset and the generation. For a fixed offset and word, two different
/// generations never give the same seal.
#[inline(always)]
fn seal(p: u64, word: u64, generation: u64) -> u64 {
    let mut x = word
        ^ p.rotate_left(29)
        ^ generation.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ 0x6B72_6E6C_2D65_7874;
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    x = x.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    x ^ (x >> 33)
}

#[inline(always)]
fn cap_of(word: u64) -> u64 {
    word >> 32
}

#[inline(always)]
fn len_of(word: u64) -> u64 {
    word & 0xFFFF_FFFF
}

impl Root {
    /// Absolute end of the used heap.
    #[inline(always)]
    fn top_abs(&self) -> u64 {
        heap_start() + self.top
    }

    /// True if `[h, h + len)` lies inside the used heap `[heap_start, top)`.
    #[inline(always)]
    pub(crate) fn in_heap(&self, h: u64, len: u64) -> bool {
        let top = self.top_abs();
        h >= heap_start() && h <= top && len <= top - h
    }

    /// Writes the sealed header of a block with data offset `p`, requested
    /// length `len` and capacity `cap`.
    ///
    /// # Safety
    ///
    /// The header, `[p - HEADER, p)`, must lie inside the heap:
    /// `p >= heap_start() + HEADER` and `p <= memory_end()`.
    #[inline(always)]
    unsafe fn write_header(&self, p: u64, len: u64, cap: u64) {
        let word = cap << 32 | len;
        // SAFETY: the caller guarantees that `[p - 16, p)` is heap memory,
        // and these two writes cover exactly that range.
        unsafe {
            write_u64(p - HEADER, word);
            write_u64(p - 8, seal(p, word, self.generation));
        }
    }

    /// The header word of the block (live or free) whose data offset is `p`,
    /// or 0 if `p` is not the data offset of a block of the current
    /// generation. A non-zero result guarantees `len <= cap`, `cap >= 8`,
    /// `cap % 8 == 0` and `[p, p + cap)` inside the used heap.
    #[inline(always)]
    fn block(&self, p: u64) -> u64 {
        let top = self.top_abs();
        if p & 7 != 0 || p < heap_start() + HEADER || p > top {
            return 0;
        }
        // SAFETY: `heap_start + 16 <= p <= top`, and the used heap lies
        // inside memory (module docs), so `[p - 16, p)` is heap memory.
        let (word, stored) = unsafe { (read_u64(p - HEADER), read_u64(p - 8)) };
        if stored != seal(p, word, self.generation) {
            return 0;
        }
        let (len, cap) = (len_of(word), cap_of(word));
        if cap < 8 || cap & 7 != 0 || len > cap || cap > top - p {
            return 0;
        }
        word
    }

    /// Requested length of the live block at `p`; 0 for anything else.
    #[inline(always)]
    pub(crate) fn length(&self, p: u64) -> u64 {
        len_of(self.block(p))
    }

    #[inline(always)]
    fn list_bit(k: usize) -> (usize, u64) {
        ((k >> 6) & 1, 1u64 << (k & 63))
    }

    /// Pushes the free block `p` onto free list `k`, linking it to the old
    /// head through its first 8 data bytes.
    ///
    /// # Safety
    ///
    /// `[p, p + 8)` must lie inside the used heap (`p` is the data offset of
    /// a block of capacity at least 8 in it).
    #[inline(always)]
    unsafe fn push(&mut self, k: usize, p: u64) {
        let (w, bit) = Self::list_bit(k);
        let next = if self.nonempty[w] & bit != 0 {
            self.heads[k]
        } else {
            0
        };
        // SAFETY: the caller guarantees that `[p, p + 8)` is inside the used
        // heap, which lies inside memory (module docs).
        unsafe { write_u64(p, next) };
        self.heads[k] = p;
        self.nonempty[w] |= bit;
    }

    #[inline(always)]
    fn clear_list(&mut self, k: usize) {
        let (w, bit) = Self::list_bit(k);
        self.nonempty[w] &= !bit;
    }

    /// Head of free list `k` (whose bit must be set) if it is a genuine free
    /// block of class `k`; returns its header word, or 0 after dropping the
    /// list if the head is not genuine (its links were overwritten).
    #[inline(always)]
    fn head(&mut self, k: usize) -> u64 {
        let word = self.block(self.heads[k]);
        if word == 0 || len_of(word) != 0 || class_of(cap_of(word)) != k {
            self.clear_list(k);
            return 0;
        }
        word
    }

    /// Removes the head `p` from free list `k`, following its link.
    ///
    /// # Safety
    ///
    /// `p` must be a block that `block` accepts (as `head` checks), so that
    /// `[p, p + 8)` lies inside the used heap.
    #[inline(always)]
    unsafe fn unlink(&mut self, k: usize, p: u64) {
        // SAFETY: the caller guarantees that `p` is a block `block` accepted:
        // its capacity is at least 8 and `[p, p + capacity)` lies inside the
        // used heap, which lies inside memory (module docs).
        let next = unsafe { read_u64(p) };
        self.heads[k] = next;
        if next == 0 {
            self.clear_list(k);
        }
    }

    /// Lowest non-empty free list at or above `from`, or `CLASSES`.
    #[inline(always)]
    fn first_nonempty(&self, from: usize) -> usize {
        if from < 64 {
            let m = self.nonempty[0] & (!0u64 << from);
            if m != 0 {
                return m.trailing_zeros() as usize;
            }
        }
        if from < CLASSES {
            let m = self.nonempty[1] & (!0u64 << (from.saturating_sub(64) & 63));
            if m != 0 {
                return 64 + m.trailing_zeros() as usize;
            }
        }
        CLASSES
    }

    /// Hands out the free block `p` (capacity `cap >= size`) for a request
    /// of `n` bytes (`size` = `n` rounded up to 8), splitting off the tail.
    ///
    /// # Safety
    ///
    /// `p` must be a block that `block` accepts, `cap` its capacity, and
    /// `size <= cap`: then `[p - HEADER, p + cap)` lies inside the used heap.
    #[inline(always)]
    unsafe fn take(&mut self, p: u64, mut cap: u64, n: u64, size: u64) -> u64 {
        if cap - size >= HEADER + MIN_SPLIT {
            let q = p + size + HEADER;
            let rest = cap - size - HEADER;
            // SAFETY: `[q - 16, q + rest)` is `[p + size, p + cap)`, the tail
            // of the caller's block, which lies inside the used heap; `rest`
            // is at least MIN_SPLIT (16), so `q`'s link fits in it.
            unsafe {
                self.write_header(q, 0, rest);
                self.push(class_of(rest), q);
            }
            cap = size;
        }
        // SAFETY: `p` is a block `block` accepted (the caller's guarantee),
        // so its header `[p - 16, p)` lies inside the used heap.
        unsafe { self.write_header(p, n, cap) };
        p
    }

    /// Allocates a block for `n` bytes; returns its data offset, or 0 if
    /// `n == 0`, `n >= 2^32` or memory cannot grow.
    pub(crate) fn alloc(&mut self, n: u64) -> u64 {
        if n == 0 || n >= MAX_REQUEST {
            return 0;
        }
        let size = (n + 7) & !7;
        let k = class_of(size);

        // 1. The most recently freed block of the request's own class, if it
        //    is big enough (same-size reuse gives the same offset back).
        let (w, bit) = Self::list_bit(k);
        if self.nonempty[w] & bit != 0 {
            let word = self.head(k);
            let p = self.heads[k];
            if word != 0 && cap_of(word) >= size {
                // SAFETY: `head` accepted `p` through `block`, and its
                // capacity was just checked to be at least `size`.
                unsafe {
                    self.unlink(k, p);
                    return self.take(p, cap_of(word), n, size);
                }
            }
        }

        // 2. Any block of a larger class (all of them are big enough).
        //    Each round either returns or empties one list: at most CLASSES rounds.
        let mut from = k + 1;
        loop {
            let j = self.first_nonempty(from);
            if j >= CLASSES {
                break;
            }
            let word = self.head(j);
            if word != 0 {
                let p = self.heads[j];
                // SAFETY: `head` accepted `p` through `block` and checked
                // that its class is `j`, above `class_of(size)`: every block
                // of a higher class holds at least `size` bytes (`class_of`).
                unsafe {
                    self.unlink(j, p);
                    return self.take(p, cap_of(word), n, size);
                }
            }
            from = j + 1;
        }

        // 3. A new block at the top of the heap.
        let p = self.top_abs() + HEADER;
        let end = p + size; // < 2^34: no overflow
        if !grow_to(end) {
            return 0;
        }
        // SAFETY: `p - 16` is the old top, at or above the heap start, and
        // memory now reaches `end > p`.
        unsafe { self.write_header(p, n, size) };
        self.top = end - heap_start();
        p
    }

    /// Frees the live block at `p`; anything else is a no-op.
    pub(crate) fn free(&mut self, p: u64) {
        let word = self.block(p);
        if len_of(word) == 0 {
            return; // not a live block (or not a block at all)
        }
        // The block goes back with the capacity its length needed (its
        // length rounded up to 8): it is then at the head of the very list
        // `alloc` of the same length looks at first. A block is only ever
        // handed out with fewer than HEADER + MIN_SPLIT spare bytes, so at
        // most 24 bytes are set aside this way (until the next reset).
        let cap = (len_of(word) + 7) & !7;
        // SAFETY: `block` accepted `p`, so its header and its old capacity
        // lie inside the used heap; the new capacity is at least 8 (the
        // length is not 0) and at most the old one (`len <= cap`).
        unsafe {
            self.write_header(p, 0, cap);
            self.push(class_of(cap), p);
        }
        if p == self.input_offset {
            self.input_length = 0;
        }
    }

    /// Invalidates every handle in O(1): bumping the generation changes every
    /// header's expected seal, and `top` going back to 0 makes every old
    /// offset above the new top fail the range check.
    pub(crate) fn reset(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.top = 0;
        self.nonempty = [0; 2];
        self.input_offset = 0;
        self.input_length = 0;
        self.output_offset = 0;
        self.output_length = 0;
        self.error = 0;
    }

    /// Bytes the allocator manages: from the heap start to the end of memory.
    pub(crate) fn capacity(&self) -> u64 {
        mem::memory_end() - heap_start()
    }
}
