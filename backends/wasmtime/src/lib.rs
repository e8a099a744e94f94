//! The wasmtime backend of the Extism runtime: implements [`extism_core::backend::Backend`] on wasmtime
//! (Cranelift JIT). Applications select it through the `extism` crate's `wasmtime` feature rather than using this
//! crate directly.

mod errors;
mod host_call;
mod limits;
mod link;
mod store;
mod types;

use std::sync::Arc;

use anyhow::Error;
use extism_core::backend::{Backend, EngineOptions, ExportInfo, ImportInfo};
use extism_core::{Function, PluginState};

pub use link::Prepared;
pub use store::{StoreData, WasmtimeExport, WasmtimeStore};

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
    type Functions = Arc<Prepared>;

    fn new_engine(options: &EngineOptions) -> Result<wasmtime::Engine, Error> {
        let mut config = wasmtime::Config::new();
        // Epoch checks make every call interruptible (timeouts, cancel); fuel metering only when a limit is set.
        config.epoch_interruption(true);
        config.consume_fuel(options.fuel);
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

    /// A linker with the host functions (wasmtime host functions are store-independent) and the kernel's export
    /// indices, so that a store resolves imports without defining anything (see [`link`]).
    fn prepare_functions(
        engine: &wasmtime::Engine,
        kernel: &wasmtime::Module,
        kernel_exports: &[&'static str],
        functions: &[Function],
    ) -> Result<Arc<Prepared>, Error> {
        let mut linker = wasmtime::Linker::new(engine);
        // Users may shadow built-in host functions (upstream allows overriding e.g. `http_request`).
        linker.allow_shadowing(true);
        for f in functions {
            host_call::define(&mut linker, f.effective_namespace(), f.name(), f)?;
        }
        Ok(Arc::new(Prepared::new(kernel, kernel_exports, linker)?))
    }

    fn new_store(
        engine: &wasmtime::Engine,
        kernel: &wasmtime::Module,
        functions: &Arc<Prepared>,
        state: PluginState,
    ) -> Result<WasmtimeStore, Error> {
        WasmtimeStore::new(engine, kernel, functions, state)
    }
}
