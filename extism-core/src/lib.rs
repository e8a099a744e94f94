//! The engine-neutral core of an Extism-compatible plug-in runtime.
//!
//! This crate holds everything that makes a runtime *Extism*: the manifest, the kernel protocol, the built-in host
//! functions (config, vars, logging, HTTP), user host functions and [`CurrentPlugin`], the call protocol with upstream's
//! return codes and errors, and conversions. It never names a WebAssembly engine: engines plug in through the
//! [`backend::EngineApi`] trait, implemented by the backend crates (`extism-wasmtime`, with `extism-pulley` as its
//! Pulley target, `extism-wasmer` and `extism-wasmi`).
//!
//! Applications use the `extism` facade crate, which picks a backend and re-exports this crate's public types.

pub mod backend;
pub mod cache;
pub mod convert;
pub mod coredump;
mod current_plugin;
pub mod debug;
mod function;
mod http;
mod input;
mod interrupt;
pub mod kernel;
mod link;
pub mod logging;
mod manifest;
mod modules;
mod pdk;
mod plugin;
mod rewrite;
mod state;
mod timer;
mod val;
mod wasi;

pub use anyhow::Error;
#[cfg(feature = "msgpack")]
pub use convert::Msgpack;
pub use convert::{Base64, FromBytes, FromBytesOwned, Json, MemoryHandle, ToBytes};
pub use current_plugin::CurrentPlugin;
pub use function::{CPtr, EXTISM_USER_MODULE, Function, UserData};
pub use http::DEFAULT_MAX_HTTP_RESPONSE_BYTES;
pub use input::WasmInput;
pub use interrupt::Interrupt;
pub use manifest::{DEFAULT_MAX_VAR_BYTES, HttpRequest, Manifest, MemoryOptions, Wasm, WasmMetadata};
#[doc(hidden)]
pub use manifest::{PointerDataReader, with_pointer_data_reader};
pub use modules::{MAX_MODULE_BYTES, NamedModule, load_modules, read_module_file};
pub use plugin::{
    CancelHandle, Compiled, DEFAULT_MAX_TABLE_ELEMENTS, DEFAULT_WASI_MAX_OPEN_FILES, Plugin, PluginOptions,
    TRAP_RETURN_CODE,
};
pub use rewrite::NO_MEMORY_REWRITE_ENV;
pub use state::{COMMAND_INSTANCES_BEFORE_RENEWAL, MAX_COMMAND_INSTANCES, PluginState};
pub use uuid::Uuid;
pub use val::{FuncType, PTR, Val, ValType};
pub use wasi::{ENABLE_WASI_OUTPUT, WASI_MODULE};

/// The module name of the kernel and the built-in host functions.
pub const EXTISM_ENV_MODULE: &str = "extism:host/env";

/// The name of a plug-in's main module.
pub const MAIN_MODULE: &str = "main";
