//! An [Extism](https://extism.org)-compatible WebAssembly plug-in runtime that runs on more than one engine.
//!
//! Load a plug-in built with any Extism PDK, call its exports with bytes in and bytes out, and give it config, vars
//! and host functions. The API follows upstream's `extism` 1.x crate, so code written for it compiles here with a
//! changed dependency line.
//!
//! The engine is chosen with cargo features; `wasmtime` (Cranelift JIT, the fastest calls) is the default.
//!
//! # Choosing an engine
//!
//! | feature | engine | choose it for |
//! |---|---|---|
//! | `wasmtime` (default) | wasmtime, Cranelift JIT | the fastest guest code and calls |
//! | `wasmer` | wasmer, singlepass JIT | a JIT that compiles quickly; no SIMD, tail calls or memory64 |
//! | `wasmi` | wasmi, an interpreter | platforms without a JIT (iOS, consoles, embedded); the fastest plug-in creation |
//! | `pulley` | wasmtime compiling to Pulley bytecode, interpreted | no JIT, with wasmtime's semantics and proposals |
//!
//! Choose **wasmi** when code generation at run time is forbidden or unavailable (iOS, game consoles, hardened or
//! embedded systems), or when start-up matters more than throughput: wasmi validates a module and translates each
//! function on its first call, so creating a plug-in from a 91 KB module takes about 1.1 ms, where wasmtime spends
//! about 70 ms compiling it (or under 1 ms loading it from its compilation cache). A new instance of an already
//! compiled plug-in, ready to call, takes about 30 µs on wasmtime, 36 µs on wasmi and 85 µs on wasmer (figures from
//! the repository's `benches/REPORT.md`). Guest code runs about nine times slower on wasmi than on wasmtime, so prefer
//! wasmtime for compute-heavy plug-ins.
//!
//! Timeouts, cancellation, fuel and memory limits behave the same on every engine, with one exception: wasmer meters
//! fuel per module instance, so with a fuel limit it refuses a plug-in's second wasm module (the kernel aside) and
//! any linked command module ("the wasmer backend does not support fuel limits for plug-ins made of more than one
//! wasm module").
//!
//! With more than one engine compiled in, each plug-in picks its own: [`PluginBuilder::with_backend`], else the
//! `EXTISM_BACKEND` environment variable (`wasmtime`, `wasmer`, `wasmi`, `pulley`), else the first compiled engine. A
//! build with one engine has nothing to choose.
//!
//! ```
//! use extism::{Manifest, Plugin, Wasm};
//!
//! # fn main() -> Result<(), extism::Error> {
//! let wasm = include_bytes!("../tests/wasm/count_vowels.wasm");
//! let manifest = Manifest::new([Wasm::data(wasm.to_vec())]).with_config_key("vowels", "aeiou");
//! let mut plugin = Plugin::new(&manifest, [], false)?;
//! let output: String = plugin.call("count_vowels", "Hello, world!")?;
//! assert!(output.contains(r#""count":3"#), "{output}");
//! # Ok(())
//! # }
//! ```
//!
//! Host functions receive a [`CurrentPlugin`] to read their arguments out of the plug-in's memory and write results
//! into it:
//!
//! ```
//! use extism::{CurrentPlugin, Error, PluginBuilder, UserData, Val, PTR};
//!
//! fn greet(plugin: &mut CurrentPlugin, inputs: &[Val], outputs: &mut [Val], prefix: UserData<String>) -> Result<(), Error> {
//!     let name: String = plugin.memory_get_val(&inputs[0])?;
//!     let prefix = prefix.get()?.lock().unwrap().clone();
//!     plugin.memory_set_val(&mut outputs[0], format!("{prefix}{name}"))
//! }
//!
//! # fn main() -> Result<(), extism::Error> {
//! let wasm = include_bytes!("../tests/wasm/host_functions.wasm");
//! let mut plugin = PluginBuilder::new(&wasm[..])
//!     .with_function("greet", [PTR], [PTR], UserData::new("Hello, ".to_string()), greet)
//!     .with_function_in_namespace("my:ns", "greet", [PTR], [PTR], UserData::new("Hi, ".to_string()), greet)
//!     .build()?;
//! let output: String = plugin.call("greet_both", "Ada")?;
//! assert_eq!(output, "Hello, Ada|Hi, Ada");
//! # Ok(())
//! # }
//! ```
//!
//! # Bounds on what a plug-in can take from its host
//!
//! The same on every engine:
//!
//! | resource | default | set with | when exceeded |
//! |---|---|---|---|
//! | table elements, per table | [`DEFAULT_MAX_TABLE_ELEMENTS`] (2^20) | [`PluginBuilder::with_max_table_elements`] | `table.grow` returns -1; a module whose table starts larger fails to instantiate |
//! | WASI descriptors open at once (stdio and preopens included) | [`DEFAULT_WASI_MAX_OPEN_FILES`] (128) | [`PluginBuilder::with_wasi_max_open_files`] | `path_open` returns errno `mfile` (33); all are closed when the plug-in is dropped |
//! | instances of linked command modules (each call into one makes one, freed only with the store) | [`MAX_COMMAND_INSTANCES`] (1,000) per store; the store is renewed before the next call once [`COMMAND_INSTANCES_BEFORE_RENEWAL`] (100) have piled up (vars kept, the main module's memory and globals start afresh) | — | the call that would make one more fails: `linked command modules were instantiated 1000 times in this plug-in's store, …`; the next call runs in a renewed store |
//! | a manifest `path` or `url` module | [`MAX_MODULE_BYTES`] (1 GiB) | — | creation fails: `Unable to load Wasm file "…": larger than the 1073741824-byte limit for a module`; a path that is not a regular file (device, FIFO): `…: not a regular file` |
//!
//! A host function that panics fails the call with "host function `namespace::name` panicked: <message>" instead of
//! unwinding into the host (or aborting it); the plug-in stays usable.
//!
//! The table limit is per table: wasm validation allows a module at most 100 tables, so one instance's tables hold at
//! most 100 times the limit (at the default, about 0.8 GiB of funcref slots, address space mostly). A budget across
//! all of a plug-in's tables, like the memory budget, needs a hook on table growth, which wasmer lacks.

mod backend;
mod builder;
mod compiled;
mod debug;
mod dispatch;
pub mod logging;
mod macros;
pub mod module_info;
mod plugin;
mod pool;
mod registry;

pub use anyhow::Error;
pub use builder::PluginBuilder;
pub use compiled::CompiledPlugin;
pub use debug::{DebugOptions, ProfilingStrategy};
/// Cancels a plug-in's running call from another thread ([`Plugin::cancel_handle`]).
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
/// use extism::PluginBuilder;
///
/// # fn main() -> Result<(), extism::Error> {
/// let wat = r#"(module (func (export "spin") (result i32) (loop $forever (br $forever)) (i32.const 0)))"#;
/// let mut plugin = PluginBuilder::new(wat).build()?;
/// let cancel = plugin.cancel_handle();
/// let done = AtomicBool::new(false);
/// let error = std::thread::scope(|s| {
///     s.spawn(|| {
///         // A cancel stops only a call that is running when it arrives: repeat it until the call has ended.
///         while !done.load(Ordering::Acquire) {
///             std::thread::sleep(Duration::from_millis(10));
///             cancel.cancel().expect("every engine can interrupt a call");
///         }
///     });
///     let error = plugin.call::<&str, &[u8]>("spin", "").unwrap_err();
///     done.store(true, Ordering::Release);
///     error
/// });
/// assert_eq!(error.root_cause().to_string(), "timeout");
/// # Ok(())
/// # }
/// ```
pub use extism_core::CancelHandle;
/// What a host function sees of the plug-in that called it: kernel memory, vars, manifest and the call's host
/// context.
///
/// A host function for `reflect.wasm`, which passes its input to the host's `reflect` and returns what that returns:
///
/// ```
/// use extism::{CurrentPlugin, Error, PTR, PluginBuilder, UserData, Val};
///
/// fn reflect(plugin: &mut CurrentPlugin, inputs: &[Val], outputs: &mut [Val], _: UserData<()>) -> Result<(), Error> {
///     let text: String = plugin.memory_get_val(&inputs[0])?; // the guest passes a kernel memory handle
///     let suffix = plugin.host_context::<String>()?.clone(); // given to this call by the host
///     let calls = plugin.vars_mut().entry("calls".into()).or_insert(vec![0]); // kept between calls
///     calls[0] += 1;
///     let reply = format!("{text}{suffix} (call {})", calls[0]);
///     plugin.memory_set_val(&mut outputs[0], reply) // a new handle, returned to the guest
/// }
///
/// # fn main() -> Result<(), extism::Error> {
/// let wasm = include_bytes!("../tests/wasm/reflect.wasm");
/// let mut plugin = PluginBuilder::new(wasm)
///     .with_function("reflect", [PTR], [PTR], UserData::default(), reflect)
///     .build()?;
/// let output: String = plugin.call_with_host_context("reflect", "Hello", "!".to_string())?;
/// assert_eq!(output, "Hello! (call 1)");
/// let output: String = plugin.call_with_host_context("reflect", "Bye", "?".to_string())?;
/// assert_eq!(output, "Bye? (call 2)");
/// # Ok(())
/// # }
/// ```
pub use extism_core::CurrentPlugin;
/// Why the engine or the runtime stopped a call (trap, timeout or cancel, fuel, memory limit, WASI `proc_exit`): a
/// call's error carries it in its chain (`error.chain().find_map(|e| e.downcast_ref::<CallError>())`); errors the
/// plug-in reported itself do not.
pub use extism_core::backend::{CallError, Capabilities};
pub use extism_core::cache;
pub use extism_core::convert;
pub use extism_core::{
    COMMAND_INSTANCES_BEFORE_RENEWAL, DEFAULT_MAX_TABLE_ELEMENTS, DEFAULT_WASI_MAX_OPEN_FILES, MAX_COMMAND_INSTANCES,
    MAX_MODULE_BYTES, NO_MEMORY_REWRITE_ENV, read_module_file,
};
pub use extism_core::{
    EXTISM_ENV_MODULE, EXTISM_USER_MODULE, FromBytes, FromBytesOwned, Function, HttpRequest, MemoryHandle,
    MemoryOptions, PTR, ToBytes, UserData, Val, ValType, Wasm, WasmInput, WasmMetadata,
};
pub use extism_core::{Manifest, Uuid};
/// The wasmtime the `wasmtime` backend is built on, for [`PluginBuilder::with_wasmtime_config`] and
/// [`ProfilingStrategy`] (a `wasmtime::Config` of another version is a different type).
#[cfg(feature = "wasmtime")]
pub use extism_wasmtime::wasmtime;
pub use logging::set_log_callback;
pub use module_info::{ModuleInfo, module_info};
pub use plugin::Plugin;
pub use pool::{Pool, PoolBuilder, PoolPlugin};
pub use registry::{Backend, EngineVisitor};

/// The version of this runtime (the crate version).
pub fn extism_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
