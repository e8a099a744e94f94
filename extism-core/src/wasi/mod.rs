//! WASI preview 1 (`wasi_snapshot_preview1`) for plug-ins created with WASI, identical on every backend.
//!
//! # Design: one implementation over a guest-memory slice
//!
//! Every backend gets the same WASI because it is built from two things the engine seam already provides inside
//! a host call: the calling module's linear memory as a byte slice
//! ([`KernelAccess::guest_memory_and_state`](crate::backend::KernelAccess::guest_memory_and_state)) and the
//! plug-in's host state, where the WASI context lives. The WASI functions are ordinary core [`Function`]s
//! (see [`functions`]) defined into the store like the PDK's, so a backend needs no WASI code of its own.
//!
//! The system calls themselves are `wasi-common` 36 (the implementation wasmtime used for preview 1 until it moved
//! to the component model, still maintained in wasmtime's tree), built **without** its `wasmtime` feature: its
//! `wiggle`-generated entry points take a `wiggle::GuestMemory`, which wraps a plain `&mut [u8]`, and its `sync`
//! module implements files, directories, clocks, randomness and `poll_oneoff` on `cap-std`. Why this over the
//! alternatives:
//!
//! - **one code path**: `wasmtime-wasi` (preview 1 through the component model, with tokio), `wasmer-wasix` (a
//!   tokio runtime and hundreds of crates) and `wasmi_wasi` each bind to one engine, so one plug-in with one manifest
//!   could behave differently from engine to engine; here every engine runs the same code.
//! - **sandboxing we did not write**: `cap-std` resolves every path beneath a preopened directory handle, so `..`,
//!   absolute paths and symlinks that point outside a preopen fail in the kernel's own path walk (`openat2` with
//!   `RESOLVE_BENEATH` where Linux has it), not in a string check of ours.
//! - **cost**: it adds 30 crates to the workspace (`cap-std` and friends, `wiggle`, `witx`) and about 40 s of CPU
//!   time to a clean build, measured on this machine: debug, 34 s user + 6 s system for the new crates in
//!   `cargo build -p extism-core`; release, 39 s user + 5 s system for `wasi-common` alone from scratch. Against
//!   the ~10 minutes of a clean build of the engines that is a few percent, and an incremental rebuild of the
//!   runtime pays nothing.
//! - **synchronous**: the generated functions are `async`, but with the `sync` implementations every future is
//!   ready on its first poll (wasmtime's own synchronous linker relies on that); [`imports`] polls each once with a
//!   no-op waker and reports a clear error if one ever is not ready, instead of blocking or spinning.
//!
//! # What a plug-in sees
//!
//! The context is built per plug-in instance ([`WasiState::new`]) exactly as upstream Extism builds it: no
//! arguments and no environment variables; stdin empty; stdout and stderr discarded unless
//! `EXTISM_ENABLE_WASI_OUTPUT` is set, in which case they are the host's; the manifest's `allowed_paths`
//! preopened from fd 3 on, a host path prefixed `ro:` read-only ([`read_only`]). `proc_exit(code)` ends the call
//! with an [`wasi_common::I32Exit`] error that the call protocol turns into an exit code ([`exit_code`]).

pub(crate) mod ctx;
mod imports;
mod read_only;
mod sched;

use anyhow::Error;

pub(crate) use imports::functions;

/// The module name plug-ins import WASI preview 1 from.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// The environment variable that, when set (to anything), sends a WASI plug-in's stdout and stderr to the host's.
pub const ENABLE_WASI_OUTPUT: &str = "EXTISM_ENABLE_WASI_OUTPUT";

/// The exit code if `error` is a WASI `proc_exit` travelling out of a call as a host-function error.
pub(crate) fn exit_code(error: &Error) -> Option<i32> {
    error.downcast_ref::<wasi_common::I32Exit>().map(|exit| exit.0)
}
