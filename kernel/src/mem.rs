//! Raw access to the kernel's linear memory.
//!
//! The heap is everything from [`heap_start`] to the end of memory; below it
//! lie the (unused) shadow stack and the allocator's root. The `load_*` /
//! `store_*` helpers here refuse anything outside `[heap_start, memory end)`,
//! so nothing a guest passes can reach the root or trap.

use core::arch::wasm32;

/// Size of a WebAssembly page.
pub(crate) const PAGE: u64 = 65536;

/// Largest possible linear memory of a 32-bit module (65536 pages).
pub(crate) const MAX_MEMORY: u64 = 1 << 32;

unsafe extern "C" {
    /// Synthesised by the linker (wasm-ld): the first address after the
    /// shadow stack and all static data, i.e. after the root.
    static __heap_base: u8;
}

/// First byte of the heap: `__heap_base` rounded up to 16.
#[inline(always)]
pub(crate) fn heap_start() -> u64 {
    let base = (&raw const __heap_base) as usize as u64;
    (base + 15) & !15
}

/// One past the last byte of linear memory.
#[inline(always)]
pub(crate) fn memory_end() -> u64 {
    wasm32::memory_size::<0>() as u64 * PAGE
}

/// Grows memory so that it ends at or after `end` (impossible past 2^32).
/// Returns false if `memory.grow` failed.
#[inline(always)]
pub(crate) fn grow_to(end: u64) -> bool {
    let cur = memory_end();
    if end <= cur {
        return true;
    }
    if end > MAX_MEMORY {
        return false;
    }
    let pages = (end - cur).div_ceil(PAGE);
    wasm32::memory_grow::<0>(pages as usize) != usize::MAX
}

/// True if `[p, p + size)` lies inside `[heap_start, memory end)`.
#[inline(always)]
pub(crate) fn in_bounds(p: u64, size: u64) -> bool {
    // memory_end() >= 1 page > size, so no underflow.
    p >= heap_start() && p <= memory_end() - size
}

// Unchecked accessors, for the allocator's own bookkeeping (block headers
// and free-list links) at offsets it has already checked. Wasm loads and
// stores are little-endian and alignment-agnostic.
//
// Each requires the bytes it touches to lie inside the heap,
// `[heap_start(), memory_end())`: inside linear memory, so the access cannot
// trap, and above `__heap_base`, so it cannot overlap the root or any other
// static that Rust code holds a reference to.

/// The byte at `p`.
///
/// # Safety
///
/// `[p, p + 1)` must lie inside `[heap_start(), memory_end())`.
#[inline(always)]
pub(crate) unsafe fn read_u8(p: u64) -> u8 {
    // SAFETY: the caller guarantees that `p` is a heap address: inside linear
    // memory and not part of any Rust object.
    unsafe { core::ptr::read(p as usize as *const u8) }
}

/// The little-endian `u64` at `p` (any alignment).
///
/// # Safety
///
/// `[p, p + 8)` must lie inside `[heap_start(), memory_end())`.
#[inline(always)]
pub(crate) unsafe fn read_u64(p: u64) -> u64 {
    // SAFETY: the caller guarantees that the eight bytes at `p` are heap
    // bytes: inside linear memory and not part of any Rust object.
    // `read_unaligned` needs no alignment.
    unsafe { core::ptr::read_unaligned(p as usize as *const u64) }
}

/// Writes the byte `v` at `p`.
///
/// # Safety
///
/// `[p, p + 1)` must lie inside `[heap_start(), memory_end())`.
#[inline(always)]
pub(crate) unsafe fn write_u8(p: u64, v: u8) {
    // SAFETY: the caller guarantees that `p` is a heap address: inside linear
    // memory and not part of any Rust object, so the write invalidates no
    // reference.
    unsafe { core::ptr::write(p as usize as *mut u8, v) }
}

/// Writes `v` as a little-endian `u64` at `p` (any alignment).
///
/// # Safety
///
/// `[p, p + 8)` must lie inside `[heap_start(), memory_end())`.
#[inline(always)]
pub(crate) unsafe fn write_u64(p: u64, v: u64) {
    // SAFETY: the caller guarantees that the eight bytes at `p` are heap
    // bytes: inside linear memory and not part of any Rust object, so the
    // write invalidates no reference. `write_unaligned` needs no alignment.
    unsafe { core::ptr::write_unaligned(p as usize as *mut u64, v) }
}

// Checked accessors, for offsets that come from a guest: anything outside the
// heap reads as 0 / is ignored.

/// The byte at `p`, or 0 unless it is inside the heap.
#[inline(always)]
pub(crate) fn load_u8(p: u64) -> u8 {
    if in_bounds(p, 1) {
        // SAFETY: `in_bounds` just checked that `[p, p + 1)` is heap memory.
        unsafe { read_u8(p) }
    } else {
        0
    }
}

/// The little-endian `u64` at `p`, or 0 unless all eight bytes are inside
/// the heap.
#[inline(always)]
pub(crate) fn load_u64(p: u64) -> u64 {
    if in_bounds(p, 8) {
        // SAFETY: `in_bounds` just checked that `[p, p + 8)` is heap memory.
        unsafe { read_u64(p) }
    } else {
        0
    }
}

/// Writes the byte `v` at `p` if it is inside the heap; else does nothing.
#[inline(always)]
pub(crate) fn store_u8(p: u64, v: u8) {
    if in_bounds(p, 1) {
        // SAFETY: `in_bounds` just checked that `[p, p + 1)` is heap memory.
        unsafe { write_u8(p, v) }
    }
}

/// Writes `v` as a little-endian `u64` at `p` if all eight bytes are inside
/// the heap; else does nothing.
#[inline(always)]
pub(crate) fn store_u64(p: u64, v: u64) {
    if in_bounds(p, 8) {
        // SAFETY: `in_bounds` just checked that `[p, p + 8)` is heap memory.
        unsafe { write_u64(p, v) }
    }
}
