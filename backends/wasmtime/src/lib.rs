//! The wasmtime backend of the Extism runtime: implements [`extism_core::backend::Backend`] on wasmtime
//! (Cranelift JIT). Applications select it through the `extism` crate's `wasmtime` feature rather than using this
//! crate directly.

mod engine;
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

pub use engine::{POOL_UNITS, WasmtimeEngine, WasmtimeModule};
pub use link::Prepared;
pub use store::{StoreData, WasmtimeExport, WasmtimeStore};

/// The wasmtime engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wasmtime;

impl Backend for Wasmtime {
    const NAME: &'static str = "wasmtime";
    type Engine = WasmtimeEngine;
    type Module = WasmtimeModule;
    type Store = WasmtimeStore;
    type Instance = wasmtime::Instance;
    type Export = WasmtimeExport;
    type Functions = Arc<Prepared>;

    /// The process-wide engine for `options` (see [`engine`]).
    fn new_engine(options: &EngineOptions) -> Result<WasmtimeEngine, Error> {
        WasmtimeEngine::shared(options)
    }

    fn compile(engine: &WasmtimeEngine, wasm: &[u8]) -> Result<WasmtimeModule, Error> {
        engine.compile(wasm)
    }

    /// Compiled once per (process-wide) engine.
    fn compile_kernel(engine: &WasmtimeEngine) -> Result<WasmtimeModule, Error> {
        engine.kernel()
    }

    fn imports(module: &WasmtimeModule) -> Vec<ImportInfo> {
        types::imports(&module.module)
    }

    fn exports(module: &WasmtimeModule) -> Vec<ExportInfo> {
        types::exports(&module.module)
    }

    /// A linker with the host functions (wasmtime host functions are store-independent) and the kernel's export
    /// indices, so that a store resolves imports without defining anything (see [`link`]); and whether stores of
    /// this plug-in can come from the instance pool.
    fn prepare_functions(
        engine: &WasmtimeEngine,
        kernel: &WasmtimeModule,
        modules: &[&WasmtimeModule],
        commands: &[&WasmtimeModule],
        kernel_exports: &[&'static str],
        functions: &[Function],
    ) -> Result<Arc<Prepared>, Error> {
        Ok(Arc::new(Prepared::new(
            engine,
            kernel,
            modules,
            commands,
            kernel_exports,
            functions,
        )?))
    }

    fn new_store(
        _engine: &WasmtimeEngine,
        _kernel: &WasmtimeModule,
        functions: &Arc<Prepared>,
        state: PluginState,
    ) -> Result<WasmtimeStore, Error> {
        WasmtimeStore::new(functions, state)
    }
}
