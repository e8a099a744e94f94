//! The wasmtime backend of the Extism runtime: implements [`extism_core::backend::Backend`] on wasmtime
//! (Cranelift JIT). Applications select it through the `extism` crate's `wasmtime` feature rather than using this
//! crate directly.

mod errors;
mod host_call;
mod store;
mod types;

use anyhow::Error;
use extism_core::PluginState;
use extism_core::backend::{Backend, EngineOptions, ExportInfo, ImportInfo};

pub use store::{WasmtimeExport, WasmtimeStore};

/// The wasmtime engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wasmtime;

impl Backend for Wasmtime {
    const NAME: &'static str = "wasmtime";
    type Engine = wasmtime::Engine;
    type Module = wasmtime::Module;
    type Store = WasmtimeStore;
    type Instance = wasmtime::Instance;
    type Export = WasmtimeExport;

    fn new_engine(_options: &EngineOptions) -> Result<wasmtime::Engine, Error> {
        let mut config = wasmtime::Config::new();
        // Real toolchains emit reference types, tail calls and function references; GC support is compiled in.
        config.wasm_tail_call(true);
        config.wasm_function_references(true);
        config.wasm_gc(true);
        wasmtime::Engine::new(&config).map_err(errors::to_anyhow)
    }

    fn compile(engine: &wasmtime::Engine, wasm: &[u8]) -> Result<wasmtime::Module, Error> {
        wasmtime::Module::new(engine, wasm).map_err(errors::to_anyhow)
    }

    fn imports(module: &wasmtime::Module) -> Vec<ImportInfo> {
        types::imports(module)
    }

    fn exports(module: &wasmtime::Module) -> Vec<ExportInfo> {
        types::exports(module)
    }

    fn new_store(
        engine: &wasmtime::Engine,
        kernel: &wasmtime::Module,
        state: PluginState,
    ) -> Result<WasmtimeStore, Error> {
        WasmtimeStore::new(engine, kernel, state)
    }
}
