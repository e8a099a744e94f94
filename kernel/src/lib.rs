//! The Extism-compatible kernel.
//!
//! A tiny `no_std` WebAssembly module whose linear memory is the meeting place
//! of plug-ins (guests) and the host: guests import its exports under the
//! module name `extism:host/env`, the host instantiates it once per plug-in and
//! reads/writes its memory directly.
//!
//! * [`mem`]     raw, bounds-checked access to linear memory;
//! * [`root`]    the allocator's root (all state), in the reserved area;
//! * [`heap`]    the block allocator (headers, size classes, free lists);
//! * [`exports`] the exported functions (the kernel ABI).
//!
//! Every export accepts arbitrary 64-bit values and never traps.
//! See README.md for the memory layout.

#![no_std]

pub mod exports;
mod heap;
mod mem;
mod root;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
