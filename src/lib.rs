//! An [Extism](https://extism.org)-compatible WebAssembly plug-in runtime that runs on more than one engine.
//!
//! Load a plug-in built with any Extism PDK, call its exports with bytes in and bytes out, and give it config, vars
//! and host functions. The API follows upstream's `extism` 1.x crate, so code written for it compiles here with a
//! changed dependency line.
//!
//! The engine is chosen with cargo features; `wasmtime` (Cranelift JIT, the fastest calls) is the default.
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

#[cfg(not(any(feature = "wasmtime", feature = "wasmer")))]
compile_error!("enable at least one engine feature of the `extism` crate: `wasmtime` or `wasmer`");

mod backend;
mod builder;
mod dispatch;
mod plugin;

pub use anyhow::Error;
pub use backend::Backend;
pub use builder::PluginBuilder;
pub use extism_core::convert;
pub use extism_core::{
    CurrentPlugin, EXTISM_ENV_MODULE, EXTISM_USER_MODULE, FromBytes, FromBytesOwned, Function, HttpRequest,
    MemoryHandle, MemoryOptions, PTR, ToBytes, UserData, Val, ValType, Wasm, WasmInput, WasmMetadata,
};
pub use extism_core::{Manifest, Uuid};
pub use plugin::Plugin;

/// The version of this runtime (the crate version).
pub fn extism_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
