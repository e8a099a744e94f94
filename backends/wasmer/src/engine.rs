//! The engine: wasmer with the singlepass compiler, the instrumentation middleware and the budget tunables.

use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Error;
use wasmer::sys::{CompilerConfig, NativeEngineExt, Singlepass};

use crate::instrument::Instrumentation;
use crate::tunables::ExtismTunables;

/// A wasmer engine set up for Extism plug-ins. Cheap to clone; clones share the engine.
#[derive(Clone)]
pub struct WasmerEngine {
    engine: wasmer::Engine,
    instrumentation: Arc<Instrumentation>,
    /// Held for each whole compilation: the instrumentation keeps per-module state between wasmer's calls.
    compile_lock: Arc<Mutex<()>>,
    fuel: bool,
}

impl std::fmt::Debug for WasmerEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmerEngine").field("fuel", &self.fuel).finish()
    }
}

impl WasmerEngine {
    pub(crate) fn new(fuel: bool) -> Result<WasmerEngine, Error> {
        let instrumentation = Arc::new(Instrumentation::new(fuel));
        let mut compiler = Singlepass::new();
        compiler.push_middleware(instrumentation.clone());
        let mut engine = wasmer::Engine::from(compiler);
        engine.set_tunables(ExtismTunables::new());
        Ok(WasmerEngine {
            engine,
            instrumentation,
            compile_lock: Arc::new(Mutex::new(())),
            fuel,
        })
    }

    /// The compilation cache's identity of this engine's code: wasmer's version; and as the fingerprint, wasmer's
    /// own id of its compiler settings, the target triple and CPU features it compiles for, whether fuel is metered,
    /// and a hash of this crate's sources that shape generated code (the instrumentation middleware, the tunables that
    /// choose memory styles, this file), so that a changed backend never loads code an older one compiled.
    pub(crate) fn code_identity(&self) -> extism_core::cache::CodeIdentity {
        static SOURCES: OnceLock<String> = OnceLock::new();
        let sources = SOURCES.get_or_init(|| {
            extism_core::cache::hash_fingerprint(&[
                include_str!("instrument.rs"),
                include_str!("tunables.rs"),
                include_str!("engine.rs"),
                include_str!("features.rs"),
            ])
        });
        let target = self.engine.target();
        extism_core::cache::CodeIdentity {
            version: wasmer_compiler::VERSION.to_string(),
            fingerprint: format!(
                "{} {} {:?} fuel={} sources={sources}",
                self.engine.deterministic_id(),
                target.triple(),
                target.cpu_features(),
                self.fuel
            ),
        }
    }

    pub(crate) fn engine(&self) -> &wasmer::Engine {
        &self.engine
    }

    pub(crate) fn meters_fuel(&self) -> bool {
        self.fuel
    }

    /// Compile a module; plug-in modules are instrumented, the Extism kernel is not.
    pub(crate) fn compile(&self, wasm: &[u8]) -> Result<wasmer::Module, Error> {
        let _compiling = self.compile_lock.lock().unwrap_or_else(|e| e.into_inner());
        // The kernel is known by its bytes: it is our own code, every export of which does bounded work, so it
        // needs no interrupt checks, and guests pay for kernel calls with their own fuel.
        let is_kernel = wasm == extism_core::kernel::KERNEL_WASM;
        if let Some((import, results)) = crate::features::multi_result_import(wasm) {
            anyhow::bail!(
                "the module imports `{import}`, a function with {results} results: the wasmer backend (singlepass \
                 compiler) supports imported functions with no more than one result; run this plug-in on the \
                 wasmtime or wasmi backend instead"
            );
        }
        self.instrumentation.instrument_next(!is_kernel);
        // singlepass reports most problems as errors but asserts on some; a module must not take the host down.
        let compiled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wasmer::Module::from_binary(&self.engine, wasm)
        }));
        match compiled {
            Ok(result) => result.map_err(|e| crate::features::compile_error(wasm, e)),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                anyhow::bail!("the wasmer backend's singlepass compiler failed on this module: {message}")
            }
        }
    }
}
