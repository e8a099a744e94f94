//! The kernel ABI: every exported function. Handles are u64 byte offsets
//! into the kernel's memory, 0 = none. Every export accepts arbitrary values
//! and never traps.

use crate::mem;
use crate::root::root;

/// Allocates `n` bytes; returns the block's data offset, or 0 if `n == 0`,
/// `n >= 2^32` or memory cannot grow.
#[unsafe(no_mangle)]
pub extern "C" fn alloc(n: u64) -> u64 {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    unsafe { root() }.alloc(n)
}

/// Frees the live block at `p`; anything else is a no-op.
/// Freeing the current input block sets the input length to 0.
#[unsafe(no_mangle)]
pub extern "C" fn free(p: u64) {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    unsafe { root() }.free(p)
}

/// Requested length of the live block at `p`, 0 for anything else. O(1).
#[unsafe(no_mangle)]
pub extern "C" fn length(p: u64) -> u64 {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    unsafe { root() }.length(p)
}

/// Same as `length` (which is already O(1) and checked).
#[unsafe(no_mangle)]
pub extern "C" fn length_unsafe(p: u64) -> u64 {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    unsafe { root() }.length(p)
}

/// Byte at `p`; 0 unless `p` is inside the heap (heap start to end of memory).
#[unsafe(no_mangle)]
pub extern "C" fn load_u8(p: u64) -> u8 {
    mem::load_u8(p)
}

/// Eight bytes (little-endian) at `p`; 0 unless all of them are inside the
/// heap.
#[unsafe(no_mangle)]
pub extern "C" fn load_u64(p: u64) -> u64 {
    mem::load_u64(p)
}

/// Writes the byte `v` at `p`; ignored unless `p` is inside the heap.
#[unsafe(no_mangle)]
pub extern "C" fn store_u8(p: u64, v: u8) {
    mem::store_u8(p, v)
}

/// Writes `v` (little-endian) at `p`; ignored unless all eight bytes are inside
/// the heap.
#[unsafe(no_mangle)]
pub extern "C" fn store_u64(p: u64, v: u64) {
    mem::store_u64(p, v)
}

/// Sets the input region; ignored unless `[h, h + len)` is inside the used
/// heap. `input_set(0, 0)` clears it.
#[unsafe(no_mangle)]
pub extern "C" fn input_set(h: u64, len: u64) {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    let r = unsafe { root() };
    if (h == 0 && len == 0) || (h != 0 && r.in_heap(h, len)) {
        r.input_offset = h;
        r.input_length = len;
    }
}

/// Length of the input region.
#[unsafe(no_mangle)]
pub extern "C" fn input_length() -> u64 {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    unsafe { root() }.input_length
}

/// Offset of the input region (0 = none).
#[unsafe(no_mangle)]
pub extern "C" fn input_offset() -> u64 {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    unsafe { root() }.input_offset
}

/// Byte `off` of the input, 0 past its end.
#[unsafe(no_mangle)]
pub extern "C" fn input_load_u8(off: u64) -> u8 {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    let r = unsafe { root() };
    if off < r.input_length {
        mem::load_u8(r.input_offset + off)
    } else {
        0
    }
}

/// Eight bytes (little-endian) at `off` of the input, 0 unless all of them
/// are inside the input.
#[unsafe(no_mangle)]
pub extern "C" fn input_load_u64(off: u64) -> u64 {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    let r = unsafe { root() };
    if r.input_length >= 8 && off <= r.input_length - 8 {
        mem::load_u64(r.input_offset + off)
    } else {
        0
    }
}

/// Sets the output region; same rule as `input_set`.
#[unsafe(no_mangle)]
pub extern "C" fn output_set(p: u64, len: u64) {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    let r = unsafe { root() };
    if (p == 0 && len == 0) || (p != 0 && r.in_heap(p, len)) {
        r.output_offset = p;
        r.output_length = len;
    }
}

/// Length of the output region.
#[unsafe(no_mangle)]
pub extern "C" fn output_length() -> u64 {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    unsafe { root() }.output_length
}

/// Offset of the output region (0 = none).
#[unsafe(no_mangle)]
pub extern "C" fn output_offset() -> u64 {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    unsafe { root() }.output_offset
}

/// Sets the error to the live block `h` (its bytes are the message);
/// `error_set(0)` clears it; anything else is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn error_set(h: u64) {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    let r = unsafe { root() };
    if h == 0 || r.length(h) != 0 {
        r.error = h;
    }
}

/// The error handle set by `error_set` (0 = no error).
#[unsafe(no_mangle)]
pub extern "C" fn error_get() -> u64 {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    unsafe { root() }.error
}

/// Invalidates every handle and empties the heap, in O(1).
#[unsafe(no_mangle)]
pub extern "C" fn reset() {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    unsafe { root() }.reset()
}

/// Bytes the allocator manages (heap start to end of memory).
#[unsafe(no_mangle)]
pub extern "C" fn memory_bytes() -> u64 {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    unsafe { root() }.capacity()
}

/// Host only: `reset()`, then allocate and set an input of `len` bytes.
/// Returns the input's offset (the host copies the input there), or 0 if
/// `len == 0` or the allocation failed (input stays empty).
#[unsafe(no_mangle)]
pub extern "C" fn extism_host_call_begin(len: u64) -> u64 {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    let r = unsafe { root() };
    r.reset();
    if len == 0 {
        return 0;
    }
    let h = r.alloc(len);
    if h != 0 {
        r.input_offset = h;
        r.input_length = len;
    }
    h
}

/// Host only: writes {output_offset, output_length, error_offset,
/// error_length} (four little-endian u64s) to the root's record and returns
/// the record's address. error_length is `length(error)`: 0 if there is no
/// error or its block is no longer live.
#[unsafe(no_mangle)]
pub extern "C" fn extism_host_call_end() -> u64 {
    // SAFETY: the export's only reference to the root; nothing else runs
    // until the export returns.
    let r = unsafe { root() };
    let error_length = if r.error != 0 { r.length(r.error) } else { 0 };
    r.record = [r.output_offset, r.output_length, r.error, error_length];
    (&raw const r.record) as usize as u64
}
