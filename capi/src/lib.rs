//! `libextism`: the Extism C API, a drop-in for upstream's `extism.h`, over the engine-neutral runtime.
//!
//! The library is `libextism.so` / `libextism.a` with the header `capi/extism.h` (generated from these sources by
//! cbindgen; `capi/tests/header.rs` checks it is current). Every function of upstream's header is here with its
//! semantics, plus a few of our own to choose the engine: `extism_backends`,
//! `extism_plugin_new_with_backend`, `extism_compiled_plugin_new_with_backend`, `extism_plugin_backend`,
//! `extism_compiled_plugin_backend`. Programs that do not call them choose with the `EXTISM_BACKEND` environment
//! variable.
//!
//! Across the boundary: every entry point catches panics, so that none unwinds into C (a panic in the runtime, in a
//! host function or in code a C host function calls back into becomes the entry point's error value); pointer
//! arguments are checked (NULL, NULL with a non-zero length, lengths and counts no buffer can have such as
//! `UINT64_MAX`, non-UTF-8 text, invalid JSON give NULL/false/-1 and an error message where the function has a
//! channel for one) before any slice is made of them; a plug-in is guarded by a mutex, so calls from several threads
//! serialise, and a host function that calls back into its own plug-in gets an error instead of a deadlock. A C++ host
//! function must not let an exception escape into the library (it cannot be caught there).
//!
//! Manifests given to the creation functions may carry in-memory modules as `"data": {"ptr": <address>, "len": <n>}`,
//! as upstream's C++ SDK sends them: the C caller is trusted with raw pointers here; the Rust API and manifests read
//! from files or URLs refuse that form (see `read_caller_memory` in `compiled.rs`).
//!
//! Where we deliberately differ from upstream (each only where upstream would crash, deadlock or be undefined):
//! - NULL or invalid arguments that upstream dereferences are reported as errors;
//! - `extism_plugin_config` also stores why invalid JSON was rejected, for `extism_plugin_error`;
//! - reentrant use of a plug-in from its own host function fails instead of deadlocking, and
//!   `extism_plugin_free` from there leaks the plug-in instead of freeing it under the running call;
//! - an `ExtismCurrentPlugin*` used after its host function returned, or from another thread, is treated as NULL;
//! - a C host function that leaves a result of another type than declared fails the call with an error, and an
//!   `ExtismValType` outside the enum makes `extism_function_new` return NULL.

mod backend;
mod calls;
mod cancel;
mod compiled;
mod current_plugin;
mod ffi;
mod function;
mod log;
mod plugin;
mod types;
mod version;

pub use backend::{extism_backends, extism_compiled_plugin_backend, extism_plugin_backend};
pub use calls::{
    extism_error, extism_plugin_allow_http_response_headers, extism_plugin_call, extism_plugin_call_with_host_context,
    extism_plugin_config, extism_plugin_error, extism_plugin_function_exists, extism_plugin_id,
    extism_plugin_output_data, extism_plugin_output_length, extism_plugin_reset,
};
pub use cancel::{ExtismCancelHandle, extism_plugin_cancel, extism_plugin_cancel_handle};
pub use compiled::{
    ExtismCompiledPlugin, extism_compiled_plugin_free, extism_compiled_plugin_new,
    extism_compiled_plugin_new_with_backend, extism_compiled_plugin_new_with_fuel_limit, extism_plugin_free,
    extism_plugin_new, extism_plugin_new_error_free, extism_plugin_new_from_compiled, extism_plugin_new_with_backend,
    extism_plugin_new_with_fuel_limit,
};
pub use current_plugin::{
    ExtismCurrentPlugin, extism_current_plugin_host_context, extism_current_plugin_memory,
    extism_current_plugin_memory_alloc, extism_current_plugin_memory_free, extism_current_plugin_memory_length,
};
pub use function::{ExtismFunction, extism_function_free, extism_function_new, extism_function_set_namespace};
pub use log::{extism_log_custom, extism_log_drain, extism_log_file};
pub use plugin::ExtismPlugin;
pub use types::{
    ExtismFunctionType, ExtismLogDrainFunctionType, ExtismMemoryHandle, ExtismSize, ExtismVal, ExtismValType,
    ExtismValUnion,
};
pub use version::extism_version;
