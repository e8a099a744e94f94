//! The allocator's root: all of the kernel's state, in one `static` that the
//! linker places in zero-initialised memory between the shadow stack and
//! `__heap_base`, i.e. below the heap, where guests cannot write.
//!
//! All-zero is the valid initial state (empty heap, generation 0, no
//! input/output/error, all free lists empty), so no initialisation is needed.

use core::cell::UnsafeCell;

/// Number of free lists: size classes 0..=115 are used (see `heap::class_of`);
/// 128 makes the non-empty bitmap exactly two words.
pub const CLASSES: usize = 128;

#[repr(C)]
pub struct Root {
    /// Bytes of the heap in use: blocks live in `[heap_start, heap_start + top)`.
    pub top: u64,
    /// Incremented by every `reset`; mixed into every block header's seal.
    pub generation: u64,
    pub input_offset: u64,
    pub input_length: u64,
    pub output_offset: u64,
    pub output_length: u64,
    /// Error handle (0 = no error).
    pub error: u64,
    /// Bit `k` of `nonempty[k / 64]` set ⇔ free list `k` is non-empty
    /// (`heads[k]` is only meaningful when its bit is set).
    pub nonempty: [u64; 2],
    /// Head (data offset) of each size class's LIFO free list.
    pub heads: [u64; CLASSES],
    /// `extism_host_call_end` record:
    /// {output_offset, output_length, error_offset, error_length}.
    pub record: [u64; 4],
}

/// Interior-mutable holder so the root can live in a plain (non-`mut`) static.
struct Holder(UnsafeCell<Root>);

// The kernel is single-threaded (wasm32-unknown-unknown, no threads).
unsafe impl Sync for Holder {}

static ROOT: Holder = Holder(UnsafeCell::new(Root {
    top: 0,
    generation: 0,
    input_offset: 0,
    input_length: 0,
    output_offset: 0,
    output_length: 0,
    error: 0,
    nonempty: [0; 2],
    heads: [0; CLASSES],
    record: [0; 4],
}));

/// The root. Each export takes it exactly once, and the kernel is never
/// re-entered (it imports nothing), so the reference is never aliased.
#[inline(always)]
pub fn root() -> &'static mut Root {
    unsafe { &mut *ROOT.0.get() }
}
