//! The wasmi backend of the Extism runtime: implements [`extism_core::backend::EngineApi`] on
//! [wasmi](https://docs.rs/wasmi), a WebAssembly interpreter. Applications select it through the `extism` crate's
//! `wasmi` feature rather than using this crate directly.
//!
//! # When to choose wasmi
//!
//! - **No JIT allowed**: wasmi generates no machine code, so it runs where writable-executable memory is forbidden
//!   (iOS, game consoles, some embedded and hardened systems) and on targets no JIT supports.
//! - **Fast start-up**: modules are validated when loaded and each function is translated to wasmi's bytecode on its
//!   first call. Creating a plug-in from a 91 KB module costs about 1.1 ms, where wasmtime spends about 70 ms
//!   compiling it; a new instance of a compiled plug-in costs about 36 µs (wasmtime: 30 µs; figures from
//!   `benches/REPORT.md`). Good for short-lived plug-ins, many different plug-ins, or plug-ins most of whose code
//!   never runs.
//! - **Not for compute-heavy plug-ins**: the interpreter runs guest code about six to eight times slower than wasmtime's
//!   compiled code. Calls into the plug-in and host calls out of it cost little on both (hundreds of nanoseconds and
//!   tens of nanoseconds).
//!
//! # How the limits work here
//!
//! - **Fuel**: the engine always meters fuel (wasmi charges about one unit per instruction), because interrupts are
//!   built on it and any plug-in may be given a timeout or be cancelled; metering costs about 10% on compute-bound
//!   guest code. A store without a user limit runs on `u64::MAX`. wasmi stops *before* an instruction block it cannot
//!   pay for in full, so when a call runs out the backend sets the remaining fuel to 0: the limit is spent, as far as
//!   the plug-in is concerned.
//! - **Timeouts and cancellation**: wasmi cannot be interrupted from another thread. With interrupts enabled, export
//!   calls run as resumable calls in slices of one million units of fuel (at most about 1 ms of guest code); between
//!   slices the backend checks the plug-in's own interrupt flag, then resumes. Slicing costs about 20 ns per call and
//!   is within measurement noise on long calls. The user's fuel limit is kept apart from the slices, so it means the
//!   same with or without interrupts. Host functions are not interrupted (as upstream). Start functions, guest
//!   initialisers and command modules called from other modules run in slices too: a module's start section is
//!   turned into a hidden export at compile time (wasmi would otherwise run it inside instantiation, where nothing
//!   can stop it), which the store calls right after instantiating.
//! - **Memory budget**: a wasmi resource limiter shared by all memories of the store. A growth past the budget fails
//!   the running call with an out-of-memory error rather than making `memory.grow` return -1. One difference from
//!   upstream: growing a memory past its *own declared maximum* returns -1 (as the WebAssembly specification says),
//!   because wasmi refuses such growth before asking the limiter.

mod errors;
mod host_call;
mod limits;
mod start;
mod store;
mod types;

use anyhow::Error;
use extism_core::backend::{
    Capabilities, EngineApi, EngineOptions, ExportInfo, HostFunction, HostState, ImportInfo, LinkingInputs, PluginStore,
};

pub use store::{WasmiExport, WasmiStore};

/// Deepest wasm call nesting allowed before a call traps with a stack overflow. wasmi's default (1,000) is shallower
/// than what real guest runtimes need (wasmtime allows a 512 KiB native stack); frames live on the heap here.
const MAX_RECURSION_DEPTH: usize = 100_000;

/// The wasmi engine (interpreter).
#[derive(Debug, Clone, Copy, Default)]
pub struct Wasmi;

/// What every store of a compiled plug-in links: wasmi's linker entries are cheap, so each store defines them itself.
pub struct Prepared<S> {
    /// The kernel exports guests import (the core's list).
    kernel_exports: Vec<&'static str>,
    /// The host functions guests import.
    functions: Vec<HostFunction<S>>,
}

impl EngineApi for Wasmi {
    const NAME: &'static str = "wasmi";
    /// No compilation cache: wasmi validates a module and translates each function lazily, on its first call, which
    /// costs less than reading and checking a cache entry would (a 91 KB plug-in is created in under 2 ms), and it
    /// has no serialised form of translated code.
    const CAPABILITIES: Capabilities = Capabilities::ALL.without_code_cache();
    type Engine = wasmi::Engine;
    type Module = wasmi::Module;
    type Store<S: HostState> = WasmiStore<S>;
    type Instance = wasmi::Instance;
    type Export = WasmiExport;
    type Functions<S: HostState> = Prepared<S>;

    fn new_engine(_options: &EngineOptions) -> Result<wasmi::Engine, Error> {
        let mut config = wasmi::Config::default();
        // Always on, whatever `options.fuel` says: interrupts are built on fuel slices, and any store may enable them.
        config.consume_fuel(true);
        // Validate eagerly (a broken module fails at creation, not in the middle of a call), translate lazily.
        config.compilation_mode(wasmi::CompilationMode::LazyTranslation);
        // Lazy translation charges fuel for each function the first time it runs, and when the current fuel slice
        // cannot pay for it wasmi 2.0 fails the call (`ResumableOutOfFuel` as an error, with nothing to resume)
        // instead of pausing it: a Go plug-in with a timeout ran "out of fuel" without any fuel limit. Translation is
        // the engine's work, not the guest's (no other engine charges it), so it costs no fuel; copies by
        // `memory.copy`/`fill` and the like keep wasmi's default price (64 bytes per unit).
        config.fuel_cost(wasmi::CustomFuelCosts {
            bytes_copied_per_fuel: 64,
            fuel_per_bytes_translated: 0,
            fuel_per_bytes_validated: 0,
        });
        config.set_max_recursion_depth(MAX_RECURSION_DEPTH);
        Ok(wasmi::Engine::new(&config))
    }

    fn compile(engine: &wasmi::Engine, wasm: &[u8]) -> Result<wasmi::Module, Error> {
        // Start functions run as exports, under the plug-in's limits (see `start.rs`).
        let deferred = start::defer_start(wasm)?;
        let wasm = deferred.as_deref().unwrap_or(wasm);
        // wasmi's parse and validation messages do not say what failed to parse; wasmtime's do.
        wasmi::Module::new(engine, wasm).map_err(|e| errors::to_anyhow(e).context("invalid WebAssembly module"))
    }

    fn imports(module: &wasmi::Module) -> Vec<ImportInfo> {
        types::imports(module)
    }

    fn exports(module: &wasmi::Module) -> Vec<ExportInfo> {
        types::exports(module)
    }

    fn prepare_functions<S: HostState>(
        _engine: &wasmi::Engine,
        inputs: &LinkingInputs<'_, Wasmi, S>,
    ) -> Result<Prepared<S>, Error> {
        Ok(Prepared {
            kernel_exports: inputs.kernel_exports.to_vec(),
            functions: inputs.functions.to_vec(),
        })
    }

    /// Defines the kernel exports the core listed, then the host functions.
    fn new_store<S: HostState>(
        engine: &wasmi::Engine,
        kernel: &wasmi::Module,
        prepared: &Prepared<S>,
        state: S,
    ) -> Result<WasmiStore<S>, Error> {
        let mut store = WasmiStore::new(engine, kernel, &prepared.kernel_exports, state)?;
        for f in &prepared.functions {
            store.define_function(f)?;
        }
        Ok(store)
    }
}
