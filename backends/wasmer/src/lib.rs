//! The wasmer backend of the Extism runtime: implements [`extism_core::backend::EngineApi`] on wasmer 7.4 with the
//! singlepass compiler. Applications select it through the `extism` crate's `wasmer` feature rather than using this
//! crate directly.
//!
//! # How the engine's gaps are filled
//!
//! - **Compiler**: singlepass only. wasmer 7.4's Cranelift pins a `cranelift-codegen` that cannot share a
//!   dependency graph with wasmtime 48, and LLVM needs a system LLVM. singlepass lacks SIMD, tail calls, memory64,
//!   exception handling, GC and wide arithmetic: a module that needs one fails to compile with an error that names
//!   it.
//! - **`Send`**: `wasmer::Store` is not `Send`. [`WasmerStore`] is, by an `unsafe impl` whose argument is written
//!   next to it (`store.rs`): the store is owned by the wrapper alone, wasmer's per-thread state lives only for the
//!   duration of a call, and the parts that make it `!Send` are raw pointers into memory the store owns and
//!   type-erased closures that wasmer requires to be `Send` anyway.
//! - **Interrupts** (timeouts, cancellation): per store, without signals. Plug-in modules are compiled with a check
//!   of a per-instance flag at every function entry and loop header; another thread raises the flags of one store
//!   (`instrument.rs`). wasmer's `experimental-host-interrupt` feature is deliberately not used: it claims
//!   `SIGUSR1`, and with it compiled in, a `SIGUSR1` from anywhere else kills the process.
//! - **Fuel**: metered by the same instrumentation, per module instance; the kernel is not metered. A plug-in made of
//!   more than one wasm module cannot share one fuel limit across its instances, so with fuel enabled its second
//!   module (or a linked command module) is refused with a capability error.
//! - **Imports with several results**: singlepass asserts when compiling a module that imports such a function; the
//!   backend refuses the module with an error that says so instead.
//! - **Memory budget**: the engine's tunables wrap every memory a store creates, charging creation and growth to the
//!   store's byte budget (`tunables.rs`).
//! - **Host functions** cannot see their caller's exports in wasmer: the kernel's handles and each instance's memory
//!   live in the function environment, and each importing instance gets its own host function objects, so a host
//!   function knows which instance called it (WASI reads the caller's memory this way). Signatures of up to five
//!   `i64` parameters and at most one result use wasmer's typed host functions, which allocate nothing per call.

mod engine;
mod errors;
mod features;
mod host_call;
mod instrument;
mod limits;
mod store;
mod tunables;
mod types;

use anyhow::Error;
use extism_core::backend::{
    Capabilities, EngineApi, EngineOptions, ExportInfo, HostFunction, HostState, ImportInfo, LinkingInputs, PluginStore,
};

pub use engine::WasmerEngine;
pub use store::{WasmerExport, WasmerInstance, WasmerStore};
/// The wasmer crate this backend runs on, for code that needs the engine itself (such as the `raw_host_call` example,
/// which measures the engine's own host-call cost beside Extism's).
pub use wasmer;

/// What every store of a compiled plug-in links. wasmer host functions belong to a store, and here to one instance
/// (see `host_call.rs`), so each store creates its own when a module that imports them is instantiated.
pub struct Prepared<S> {
    /// The kernel exports guests import (the core's list).
    kernel_exports: Vec<&'static str>,
    /// The host functions guests import.
    functions: Vec<HostFunction<S>>,
}

/// The wasmer engine (singlepass compiler).
#[derive(Debug, Clone, Copy, Default)]
pub struct Wasmer;

impl EngineApi for Wasmer {
    const NAME: &'static str = "wasmer";
    /// Fuel is metered per module instance (see the crate docs).
    const CAPABILITIES: Capabilities = Capabilities::ALL.without_fuel_for_linked_modules();
    type Engine = WasmerEngine;
    type Module = wasmer::Module;
    type Store<S: HostState> = WasmerStore<S>;
    type Instance = WasmerInstance;
    type Export = WasmerExport;
    type Functions<S: HostState> = Prepared<S>;

    fn new_engine(options: &EngineOptions) -> Result<WasmerEngine, Error> {
        WasmerEngine::new(options.fuel)
    }

    fn compile(engine: &WasmerEngine, wasm: &[u8]) -> Result<wasmer::Module, Error> {
        engine.compile(wasm)
    }

    /// See `WasmerEngine::code_identity` for what the fingerprint covers.
    fn code_identity(engine: &WasmerEngine) -> Option<extism_core::cache::CodeIdentity> {
        Some(engine.code_identity())
    }

    /// wasmer's own serialised artifact (instrumentation included: it is compiled into the code).
    fn serialize(_engine: &WasmerEngine, module: &wasmer::Module) -> Result<Option<Vec<u8>>, Error> {
        let bytes = module
            .serialize()
            .map_err(|e| anyhow::anyhow!("unable to serialise a wasmer module: {e}"))?;
        Ok(Some(bytes.to_vec()))
    }

    unsafe fn deserialize(engine: &WasmerEngine, bytes: &[u8]) -> Result<wasmer::Module, Error> {
        // SAFETY: passed on from the caller, who guarantees that `bytes` are `serialize`'s output for an engine with
        // this code identity (same wasmer, compiler settings, target, fuel setting and instrumentation).
        unsafe { wasmer::Module::deserialize(engine.engine(), bytes) }
            .map_err(|e| anyhow::anyhow!("unable to load a cached wasmer module: {e}"))
    }

    fn imports(module: &wasmer::Module) -> Vec<ImportInfo> {
        types::imports(module)
    }

    fn exports(module: &wasmer::Module) -> Vec<ExportInfo> {
        types::exports(module)
    }

    fn prepare_functions<S: HostState>(
        _engine: &WasmerEngine,
        inputs: &LinkingInputs<'_, Wasmer, S>,
    ) -> Result<Prepared<S>, Error> {
        Ok(Prepared {
            kernel_exports: inputs.kernel_exports.to_vec(),
            functions: inputs.functions.to_vec(),
        })
    }

    /// Defines the kernel exports the core listed, then the host functions.
    fn new_store<S: HostState>(
        engine: &WasmerEngine,
        kernel: &wasmer::Module,
        prepared: &Prepared<S>,
        state: S,
    ) -> Result<WasmerStore<S>, Error> {
        let mut store = WasmerStore::new(engine, kernel, &prepared.kernel_exports, state)?;
        for f in &prepared.functions {
            store.define_function(f)?;
        }
        Ok(store)
    }
}
