//! Raw access to the kernel's linear memory.
//!
//! The heap is everything from [`heap_start`] to the end of memory; below it
//! lie the (unused) shadow stack and the allocator's root. The `load_*` /
//! `store_*` helpers here refuse anything outside `[heap_start, memory end)`,
//! so nothing a guest passes can reach the root or trap.

use core::arch::wasm32;

/// Size of a WebAssembly page.
pub const PAGE: u64 = 65536;

/// Largest possible linear memory of a 32-bit module (65536 pages).
pub const MAX_MEMORY: u64 = 1 << 32;

unsafe extern "C" {
    /// Synthesised by the linker (wasm-ld): the first address after the
    /// shadow stack and all static data, i.e. after the root.
    static __heap_base: u8;
}

/// First byte of the heap: `__heap_base` rounded up to 16.
#[inline(always)]
pub fn heap_start() -> u64 {
    let base = (&raw const __heap_base) as usize as u64;
    (base + 15) & !15
}

/// One past the last byte of linear memory.
#[inline(always)]
pub fn memory_end() -> u64 {
    wasm32::memory_size::<0>() as u64 * PAGE
}

/// Grows memory so that it ends at or after `end` (impossible past 2^32).
/// Returns false if `memory.grow` failed.
#[inline(always)]
pub fn grow_to(end: u64) -> bool {
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
pub fn in_bounds(p: u64, size: u64) -> bool {
    // memory_end() >= 1 page > size, so no underflow.
    p >= heap_start() && p <= memory_end() - size
}

// Unchecked accessors: callers guarantee `[p, p + size)` is inside memory.
// Wasm loads/stores are little-endian and alignment-agnostic.

#[inline(always)]
pub fn read_u8(p: u64) -> u8 {
    unsafe { core::ptr::read(p as usize as *const u8) }
}

#[inline(always)]
pub fn read_u64(p: u64) -> u64 {
    unsafe { core::ptr::read_unaligned(p as usize as *const u64) }
}

#[inline(always)]
pub fn write_u8(p: u64, v: u8) {
    unsafe { core::ptr::write(p as usize as *mut u8, v) }
}

#[inline(always)]
pub fn write_u64(p: u64, v: u64) {
    unsafe { core::ptr::write_unaligned(p as usize as *mut u64, v) }
}

// Checked accessors: anything outside the heap reads as 0 / is ignored.

#[inline(always)]
pub fn load_u8(p: u64) -> u8 {
    if in_bounds(p, 1) { read_u8(p) } else { 0 }
}

#[inline(always)]
pub fn load_u64(p: u64) -> u64 {
    if in_bounds(p, 8) { read_u64(p) } else { 0 }
}

#[inline(always)]
pub fn store_u8(p: u64, v: u8) {
    if in_bounds(p, 1) {
        write_u8(p, v)
    }
}

#[inline(always)]
pub fn store_u64(p: u64, v: u64) {
    if in_bounds(p, 8) {
        write_u64(p, v)
    }
}
