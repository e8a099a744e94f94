//! The wasmtime backend of the Extism runtime: implements [`extism_core::backend::EngineApi`] on wasmtime
//! (Cranelift JIT). Applications select it through the `extism` crate's `wasmtime` feature rather than using this
//! crate directly.
//!
//! The backend is generic over where wasmtime's code runs ([`Target`]): [`Wasmtime`] is the host's machine code, and
//! other crates add targets with a marker type (`extism-pulley`: wasmtime's Pulley interpreter), sharing this code.

mod engine;
mod errors;
mod host_call;
mod limits;
mod link;
mod store;
mod types;

use std::marker::PhantomData;
use std::sync::Arc;

use anyhow::Error;
use extism_core::backend::{Capabilities, EngineApi, EngineOptions, ExportInfo, HostState, ImportInfo, LinkingInputs};

use engine::TargetSpec;
use extism_core::debug::Profiler;
/// The wasmtime this backend is built on, for the types of its configuration options (`wasmtime::Config`,
/// `wasmtime::ProfilingStrategy`).
pub use wasmtime;

/// The [`extism_core::debug::NativeConfig`] kind this backend takes: a `wasmtime::Config`, the base of the engine's
/// configuration (see [`WasmtimeEngine`] for the settings the backend overwrites).
pub const WASMTIME_CONFIG: &str = "wasmtime::Config";
pub use engine::{POOL_UNITS, WASMTIME_VERSION, WasmtimeEngine, WasmtimeModule};
pub use link::Prepared;
pub use store::{StoreData, WasmtimeExport, WasmtimeStore};

/// Where the code a wasmtime engine compiles runs, as a marker type: the settings it adds to wasmtime's [`Config`]
/// and the engine's name. Engines of different targets share nothing (each has its own pool and kernel).
///
/// [`Config`]: wasmtime::Config
pub trait Target: Send + Sync + 'static {
    /// The engine's name ([`EngineApi::NAME`]).
    const NAME: &'static str;

    /// The profilers wasmtime can feed for this target, as built here (wasmtime's `profiling` cargo feature, which
    /// jitdump and VTune need, is off).
    const PROFILERS: &'static [Profiler];

    /// Whether wasmtime can emit native debug info (DWARF) for this target's code.
    const DEBUG_INFO: bool;

    /// Whether the kernel memory accessor rewrite makes this target's plug-ins faster, so that the core applies it
    /// by default ([`Capabilities::memory_rewrite_pays`]).
    const MEMORY_REWRITE_PAYS: bool;

    /// Add the target's settings to the engine configuration (before the backend's own, which every target shares).
    /// Fails if the target cannot run on this host.
    fn configure(config: &mut wasmtime::Config) -> Result<(), Error>;
}

/// The host's machine code, compiled by Cranelift: the `wasmtime` engine.
#[derive(Debug)]
pub enum Native {}

impl Target for Native {
    const NAME: &'static str = "wasmtime";
    /// `perf` map files, on Unix.
    const PROFILERS: &'static [Profiler] = if cfg!(unix) { &[Profiler::PerfMap] } else { &[] };
    const DEBUG_INFO: bool = true;
    /// Yes: the inlined accessors compile to a compare and a load or store.
    const MEMORY_REWRITE_PAYS: bool = true;

    fn configure(_config: &mut wasmtime::Config) -> Result<(), Error> {
        Ok(())
    }
}

/// wasmtime, running code for the target `T`.
pub struct WasmtimeOn<T: Target>(PhantomData<fn() -> T>);

/// The wasmtime engine (Cranelift JIT).
pub type Wasmtime = WasmtimeOn<Native>;

impl<T: Target> EngineApi for WasmtimeOn<T> {
    const NAME: &'static str = T::NAME;
    /// Everything, with the target's profilers and debug info, a `wasmtime::Config` as the base of the engine's
    /// configuration (upstream's `with_wasmtime_config`), and the memory accessor rewrite by default where the
    /// target gains from it.
    const CAPABILITIES: Capabilities = Capabilities::ALL
        .with_debugging(T::PROFILERS, T::DEBUG_INFO, Some(WASMTIME_CONFIG))
        .with_memory_rewrite_paying(T::MEMORY_REWRITE_PAYS);
    type Engine = WasmtimeEngine;
    type Module = WasmtimeModule;
    type Store<S: HostState> = WasmtimeStore<S>;
    type Instance = wasmtime::Instance;
    type Export = WasmtimeExport;
    type Functions<S: HostState> = Arc<Prepared<S>>;

    /// The process-wide engine for `options` (see [`engine`]).
    fn new_engine(options: &EngineOptions) -> Result<WasmtimeEngine, Error> {
        let target = TargetSpec {
            name: T::NAME,
            configure: T::configure,
        };
        WasmtimeEngine::shared(options, target)
    }

    fn compile(engine: &WasmtimeEngine, wasm: &[u8]) -> Result<WasmtimeModule, Error> {
        engine.compile(wasm)
    }

    /// Compiled (or loaded from the compilation cache) once per process-wide engine.
    fn compile_kernel(
        engine: &WasmtimeEngine,
        compile: impl FnOnce(&[u8]) -> Result<WasmtimeModule, Error>,
    ) -> Result<WasmtimeModule, Error> {
        engine.kernel(compile)
    }

    /// wasmtime's version and its own compatibility hash of the engine's settings
    /// ([`wasmtime::Engine::precompile_compatibility_hash`]: target, Cranelift and ISA flags (CPU features), tunables,
    /// enabled proposals, fuel and epoch instrumentation), which is what wasmtime itself checks when loading code.
    /// Pulley is cached like native code: its bytecode is wasmtime's compiled output for the `pulley64` target, and
    /// the target is part of the hash (and of the engine name in the key).
    fn code_identity(engine: &WasmtimeEngine) -> Option<extism_core::cache::CodeIdentity> {
        Some(engine.code_identity())
    }

    fn serialize(_engine: &WasmtimeEngine, module: &WasmtimeModule) -> Result<Option<Vec<u8>>, Error> {
        module.module.serialize().map(Some).map_err(errors::to_anyhow)
    }

    unsafe fn deserialize(engine: &WasmtimeEngine, bytes: &[u8]) -> Result<WasmtimeModule, Error> {
        // SAFETY: passed on from the caller, who guarantees that `bytes` are `serialize`'s output for an engine with
        // this code identity.
        unsafe { engine.deserialize(bytes) }
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
    fn prepare_functions<S: HostState>(
        engine: &WasmtimeEngine,
        inputs: &LinkingInputs<'_, Self, S>,
    ) -> Result<Arc<Prepared<S>>, Error> {
        Ok(Arc::new(Prepared::new(engine, inputs)?))
    }

    fn new_store<S: HostState>(
        _engine: &WasmtimeEngine,
        _kernel: &WasmtimeModule,
        functions: &Arc<Prepared<S>>,
        state: S,
    ) -> Result<WasmtimeStore<S>, Error> {
        WasmtimeStore::new(functions, state)
    }
}
