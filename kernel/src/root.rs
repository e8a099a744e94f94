//! The allocator's root: all of the kernel's state, in one `static` that the
//! linker places in zero-initialised memory between the shadow stack and
//! `__heap_base`, i.e. below the heap, where guests cannot write.
//!
//! All-zero is the valid initial state (empty heap, generation 0, no
//! input/output/error, all free lists empty), so no initialisation is needed.

use core::cell::UnsafeCell;

/// Number of free lists: size classes 0..=115 are used (see `heap::class_of`);
/// 128 makes the non-empty bitmap exactly two words.
pub(crate) const CLASSES: usize = 128;

/// All of the kernel's state (its layout is described in README.md).
#[repr(C)]
pub(crate) struct Root {
    /// Bytes of the heap in use: blocks live in `[heap_start, heap_start + top)`.
    pub(crate) top: u64,
    /// Incremented by every `reset`; mixed into every block header's seal.
    pub(crate) generation: u64,
    /// The input region, set by `input_set`: offset, then length.
    pub(crate) input_offset: u64,
    pub(crate) input_length: u64,
    /// The output region, set by `output_set`: offset, then length.
    pub(crate) output_offset: u64,
    pub(crate) output_length: u64,
    /// Error handle (0 = no error).
    pub(crate) error: u64,
    /// Bit `k` of `nonempty[k / 64]` set ⇔ free list `k` is non-empty
    /// (`heads[k]` is only meaningful when its bit is set).
    pub(crate) nonempty: [u64; 2],
    /// Head (data offset) of each size class's LIFO free list.
    pub(crate) heads: [u64; CLASSES],
    /// `extism_host_call_end` record:
    /// {output_offset, output_length, error_offset, error_length}.
    pub(crate) record: [u64; 4],
}

/// Interior-mutable holder so the root can live in a plain (non-`mut`) static.
struct Holder(UnsafeCell<Root>);

// SAFETY: the kernel is built for wasm32-unknown-unknown without the atomics
// feature: its memory is not shared and it runs on one thread, so the root is
// never accessed from two threads.
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

/// The root, mutably.
///
/// # Safety
///
/// No other reference returned by `root` may be alive while the returned one
/// is used. Each export calls it once and drops the reference when it
/// returns; the kernel is never re-entered (it imports nothing, so no other
/// code runs during an export) and runs on one thread.
#[inline(always)]
pub(crate) unsafe fn root() -> &'static mut Root {
    // SAFETY: the pointer comes from the `UnsafeCell` of a static, so it is
    // valid and aligned for the whole program; the caller guarantees that
    // this is the only live reference to the root.
    unsafe { &mut *ROOT.0.get() }
}
