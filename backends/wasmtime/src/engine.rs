//! Engines and compiled modules on wasmtime: a process-wide pooled engine, with an on-demand engine behind it.
//!
//! Instantiating from a compiled plug-in is dominated by the operating system when every store maps fresh linear
//! memories (reserve, protect, fault in, unmap: about 80% of the time). wasmtime's pooling allocator keeps memory
//! slots mapped and reuses them, which roughly halves instantiation. A pool is a fixed reservation of address space,
//! so there is one per process and configuration (with or without fuel), shared by every compiled plug-in, and
//! small: [`POOL_UNITS`] memories (about 4 GiB of address space each, about 130 GiB in all, never committed).
//!
//! Stores take pool capacity through a [`PoolLease`] sized for their modules before they instantiate anything, so
//! the pool is never exhausted mid-call. When it is full, or a plug-in does not fit it (more than one memory or table
//! in a module, a very large table or instance, a table limit above the pool's table size, command modules that
//! instantiate on every call), the store runs on the on-demand engine instead: same code, loaded from the pooled
//! module's serialized form, same behaviour, just the slower instantiation. If the pool cannot be created at all (a low address-space limit), the on-demand engine is
//! the only one.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Error, anyhow};
use extism_core::backend::EngineOptions;
use extism_core::debug::Profiler;

use crate::errors::to_anyhow;

/// Memories, tables and core instances in each process-wide pool; a store of a plug-in made of the kernel and one
/// module takes two of each.
pub const POOL_UNITS: u32 = 32;

/// Bytes of each pooled linear memory kept resident (zeroed with `memset` on reuse instead of being returned to the
/// OS): covers the kernel's memory and a plug-in's first pages, which every instance touches.
const KEEP_RESIDENT: usize = 64 * 1024;

/// Largest table (elements) a pooled module may declare or grow to; larger ones use the on-demand engine. The
/// default table limit of a plug-in, so that with it a pooled table grows exactly as far as an on-demand one (plug-ins
/// with a larger limit are not pooled). Only address space: a pooled table's pages are committed as it grows.
const POOL_TABLE_ELEMENTS: usize = extism_core::DEFAULT_MAX_TABLE_ELEMENTS as usize;

/// The exact wasmtime version this crate is built with (the workspace pins it; a test checks the pin), written into
/// compilation-cache entries so that another version's code is never loaded.
pub const WASMTIME_VERSION: &str = "48.0.8";

/// Largest per-instance metadata (`VMContext`) in the pool; larger modules use the on-demand engine.
const POOL_INSTANCE_BYTES: usize = 4 << 20;

/// The engines plug-ins of one configuration share. Cheap to clone.
#[derive(Clone)]
pub struct WasmtimeEngine {
    inner: Arc<Engines>,
    /// Whether pooled tables can grow as far as the table limit of the plug-ins compiled with this handle allows;
    /// if not, they are not pooled.
    pool_holds_table_limit: bool,
}

struct Engines {
    /// Compiles every module. Pooled unless the pool could not be created.
    primary: wasmtime::Engine,
    /// Capacity left in `primary`'s pool; `None` when `primary` is on-demand.
    pool: Option<PoolCapacity>,
    /// The on-demand engine stores fall back to, created on first need (the primary itself when it is on-demand).
    on_demand: OnceLock<Result<wasmtime::Engine, String>>,
    /// The Extism kernel, compiled once for every plug-in of this engine.
    kernel: OnceLock<Result<WasmtimeModule, String>>,
    /// The compilation cache's identity of this engine's code, computed on first use.
    code_identity: OnceLock<extism_core::cache::CodeIdentity>,
    /// What every engine here is configured with.
    settings: Settings,
}

struct PoolCapacity {
    /// Units (memories, tables, instances) held by live pooled stores.
    used: AtomicU32,
}

/// Which code a wasmtime engine generates: the settings a [`crate::Target`] adds, and the engine's name for errors.
#[derive(Clone, Copy)]
pub(crate) struct TargetSpec {
    pub name: &'static str,
    pub configure: fn(&mut wasmtime::Config) -> Result<(), Error>,
}

impl WasmtimeEngine {
    /// The shared engine for `options` and `target`, created on first use; or, for a plug-in that brings its own
    /// `wasmtime::Config` ([`EngineOptions::native_config`]), an engine of its own.
    pub(crate) fn shared(options: &EngineOptions, target: TargetSpec) -> Result<WasmtimeEngine, Error> {
        let settings = Settings::new(options, target)?;
        if settings.base.is_some() {
            // A configuration of the user's cannot be compared with another: its engine is not shared.
            let engine = WasmtimeEngine::new(settings, false).map_err(|e| {
                anyhow!(
                    "unable to create the {} engine from the given wasmtime::Config: {e:#}",
                    target.name
                )
            })?;
            return Ok(WasmtimeEngine {
                pool_holds_table_limit: options.max_table_elements as usize <= POOL_TABLE_ELEMENTS,
                ..engine
            });
        }
        /// One engine per target and settings (a failure to create one is remembered too). A list under a lock: it
        /// is read once per compiled plug-in, and holds a few entries per target.
        type Shared = Vec<(SettingsKey, Result<WasmtimeEngine, String>)>;
        static ENGINES: Mutex<Shared> = Mutex::new(Vec::new());
        let mut engines = ENGINES.lock().unwrap_or_else(|p| p.into_inner());
        let key = settings.key();
        let shared = match engines.iter().find(|(k, _)| *k == key) {
            Some((_, shared)) => shared.clone(),
            None => {
                let shared = WasmtimeEngine::new(settings, true).map_err(|e| format!("{e:#}"));
                engines.push((key, shared.clone()));
                shared
            }
        };
        drop(engines);
        let shared = shared.map_err(|e| anyhow!("unable to create the {} engine: {e}", target.name))?;
        Ok(WasmtimeEngine {
            pool_holds_table_limit: options.max_table_elements as usize <= POOL_TABLE_ELEMENTS,
            ..shared
        })
    }

    /// Engines for `settings`: pooled if `pool` and the pool can be created, else on demand only.
    fn new(settings: Settings, pool: bool) -> Result<WasmtimeEngine, Error> {
        if !pool {
            let primary = wasmtime::Engine::new(&settings.config()?).map_err(to_anyhow)?;
            return Ok(WasmtimeEngine {
                inner: Arc::new(Engines {
                    on_demand: OnceLock::from(Ok(primary.clone())),
                    primary,
                    pool: None,
                    kernel: OnceLock::new(),
                    code_identity: OnceLock::new(),
                    settings,
                }),
                pool_holds_table_limit: true,
            });
        }
        let mut pooled = settings.config()?;
        let mut pool = wasmtime::PoolingAllocationConfig::new();
        pool.total_core_instances(POOL_UNITS)
            .total_memories(POOL_UNITS)
            .total_tables(POOL_UNITS)
            // At most one GC heap per store, and a pooled store takes at least one unit.
            .total_gc_heaps(POOL_UNITS)
            .table_elements(POOL_TABLE_ELEMENTS)
            .max_core_instance_size(POOL_INSTANCE_BYTES)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT);
        pooled.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        let engines = match wasmtime::Engine::new(&pooled) {
            Ok(primary) => Engines {
                primary,
                pool: Some(PoolCapacity {
                    used: AtomicU32::new(0),
                }),
                on_demand: OnceLock::new(),
                kernel: OnceLock::new(),
                code_identity: OnceLock::new(),
                settings,
            },
            // No pool (e.g. the address space is limited): every instance is allocated on demand.
            Err(_) => {
                let primary = wasmtime::Engine::new(&settings.config()?).map_err(to_anyhow)?;
                Engines {
                    on_demand: OnceLock::from(Ok(primary.clone())),
                    primary,
                    pool: None,
                    kernel: OnceLock::new(),
                    code_identity: OnceLock::new(),
                    settings,
                }
            }
        };
        Ok(WasmtimeEngine {
            inner: Arc::new(engines),
            pool_holds_table_limit: true,
        })
    }

    /// The engine modules are compiled with.
    pub fn primary(&self) -> &wasmtime::Engine {
        &self.inner.primary
    }

    /// True if the primary engine allocates instances from a pool.
    pub fn is_pooled(&self) -> bool {
        self.inner.pool.is_some()
    }

    /// True if pooled tables can grow as far as the plug-ins' table limit allows.
    pub(crate) fn pool_holds_table_limit(&self) -> bool {
        self.pool_holds_table_limit
    }

    /// The on-demand engine.
    pub(crate) fn on_demand(&self) -> Result<&wasmtime::Engine, Error> {
        let settings = &self.inner.settings;
        self.inner
            .on_demand
            .get_or_init(|| {
                let engine = settings
                    .config()
                    .and_then(|c| wasmtime::Engine::new(&c).map_err(to_anyhow));
                engine.map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(|e| anyhow!("unable to create the {} engine: {e}", settings.target.name))
    }

    /// Reserve `units` of pool capacity for one store, if the pool has them.
    pub(crate) fn lease(&self, units: u32) -> Option<PoolLease> {
        let pool = self.inner.pool.as_ref()?;
        pool.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(units).filter(|&total| total <= POOL_UNITS)
            })
            .ok()?;
        Some(PoolLease {
            engine: self.clone(),
            units,
        })
    }

    /// The Extism kernel, compiled with `compile` on first use.
    pub(crate) fn kernel(
        &self,
        compile: impl FnOnce(&[u8]) -> Result<WasmtimeModule, Error>,
    ) -> Result<WasmtimeModule, Error> {
        self.inner
            .kernel
            .get_or_init(|| compile(extism_core::kernel::KERNEL_WASM).map_err(|e| format!("{e:#}")))
            .clone()
            .map_err(|e| anyhow!("{e}"))
    }

    /// wasmtime's exact version and its compatibility hash of the primary engine's code-generation settings.
    pub(crate) fn code_identity(&self) -> extism_core::cache::CodeIdentity {
        self.inner
            .code_identity
            .get_or_init(|| extism_core::cache::CodeIdentity {
                version: WASMTIME_VERSION.to_string(),
                fingerprint: extism_core::cache::hash_fingerprint(&self.primary().precompile_compatibility_hash()),
            })
            .clone()
    }

    /// Load a module serialised by an engine with the same [`WasmtimeEngine::code_identity`]: into the pooled engine
    /// when it fits the pool, else into the on-demand engine (as [`WasmtimeEngine::compile`] decides).
    ///
    /// # Safety
    ///
    /// `bytes` must be what [`wasmtime::Module::serialize`] returned for a module compiled with this configuration.
    pub(crate) unsafe fn deserialize(&self, bytes: &[u8]) -> Result<WasmtimeModule, Error> {
        // SAFETY: the caller's guarantee; the on-demand engine has the same code-generation settings (`config`).
        self.in_primary_or_on_demand(|engine| unsafe { wasmtime::Module::deserialize(engine, bytes) })
    }

    /// Compile `wasm` with the primary engine; a module the pool cannot hold is compiled with the on-demand engine.
    pub(crate) fn compile(&self, wasm: &[u8]) -> Result<WasmtimeModule, Error> {
        self.in_primary_or_on_demand(|engine| wasmtime::Module::new(engine, wasm))
    }

    /// A module made by `make` for the primary engine; if that fails on a pooled engine, for the on-demand one
    /// (valid wasm that does not fit the pool's per-module limits). The primary engine's error if both fail.
    fn in_primary_or_on_demand(
        &self,
        make: impl Fn(&wasmtime::Engine) -> wasmtime::Result<wasmtime::Module>,
    ) -> Result<WasmtimeModule, Error> {
        let module = |module, pooled| WasmtimeModule {
            pooled,
            module,
            on_demand: Arc::new(OnceLock::new()),
        };
        match make(self.primary()) {
            Ok(made) => Ok(module(made, self.is_pooled())),
            Err(pooled_error) if self.is_pooled() => match make(self.on_demand()?) {
                Ok(made) => Ok(module(made, false)),
                Err(_) => Err(to_anyhow(pooled_error)),
            },
            Err(e) => Err(to_anyhow(e)),
        }
    }
}

/// Pool capacity held by one store, given back when the store (and with it its instances) is gone.
pub(crate) struct PoolLease {
    engine: WasmtimeEngine,
    units: u32,
}

impl Drop for PoolLease {
    fn drop(&mut self) {
        if let Some(pool) = &self.engine.inner.pool {
            pool.used.fetch_sub(self.units, Ordering::AcqRel);
        }
    }
}

/// What an engine is configured with: the target, fuel metering and the debugging settings, over the user's own
/// `wasmtime::Config` if the plug-in brought one.
struct Settings {
    target: TargetSpec,
    fuel: bool,
    coredump: bool,
    debug_info: bool,
    profiler: wasmtime::ProfilingStrategy,
    /// The user's configuration (upstream's `with_wasmtime_config`), the base the others are set on.
    base: Option<wasmtime::Config>,
}

/// What makes two shared engines interchangeable (engines with a user's configuration are never shared).
#[derive(Clone, Copy, PartialEq)]
struct SettingsKey {
    target: &'static str,
    fuel: bool,
    coredump: bool,
    debug_info: bool,
    profiler: wasmtime::ProfilingStrategy,
}

impl Settings {
    fn new(options: &EngineOptions, target: TargetSpec) -> Result<Settings, Error> {
        let base = match &options.native_config {
            Some(native) => Some(native.get::<wasmtime::Config>().cloned().ok_or_else(|| {
                anyhow!(
                    "the {} backend was given a `{}` that holds no wasmtime::Config",
                    target.name,
                    native.option()
                )
            })?),
            None => None,
        };
        Ok(Settings {
            target,
            fuel: options.fuel,
            coredump: options.coredump,
            debug_info: options.debug_info,
            profiler: match options.profiler {
                Profiler::None => wasmtime::ProfilingStrategy::None,
                Profiler::PerfMap => wasmtime::ProfilingStrategy::PerfMap,
                Profiler::JitDump => wasmtime::ProfilingStrategy::JitDump,
                Profiler::VTune => wasmtime::ProfilingStrategy::VTune,
                Profiler::Pulley => wasmtime::ProfilingStrategy::Pulley,
            },
            base,
        })
    }

    fn key(&self) -> SettingsKey {
        SettingsKey {
            target: self.target.name,
            fuel: self.fuel,
            coredump: self.coredump,
            debug_info: self.debug_info,
            profiler: self.profiler,
        }
    }

    /// The engine configuration, the same whatever the instance allocation: modules move between the pooled and the
    /// on-demand engine as serialized code, which wasmtime accepts only between compatible configurations.
    ///
    /// On a user's configuration, the settings Extism depends on are overwritten: the target (Pulley), epoch
    /// interruption (timeouts, cancel), fuel metering, the proposals real toolchains emit (tail calls, function
    /// references, GC), core dumps on trap, debug info and the profiler (from the plug-in's debug options).
    fn config(&self) -> Result<wasmtime::Config, Error> {
        let mut config = self.base.clone().unwrap_or_default();
        (self.target.configure)(&mut config)?;
        config.epoch_interruption(true);
        config.consume_fuel(self.fuel);
        config.wasm_tail_call(true);
        config.wasm_function_references(true);
        config.wasm_gc(true);
        config.coredump_on_trap(self.coredump);
        config.debug_info(self.debug_info);
        config.profiler(self.profiler);
        Ok(config)
    }
}

/// A compiled module: in the pooled engine when it fits the pool, else in the on-demand engine.
#[derive(Clone)]
pub struct WasmtimeModule {
    /// The module as compiled.
    pub(crate) module: wasmtime::Module,
    /// Whether `module` belongs to the pooled engine.
    pooled: bool,
    /// `module` loaded into the on-demand engine, made on first need (only when `pooled`).
    on_demand: Arc<OnceLock<Result<wasmtime::Module, String>>>,
}

impl WasmtimeModule {
    /// True if stores from the pool can instantiate this module.
    pub(crate) fn fits_pool(&self) -> bool {
        self.pooled
    }

    /// The module for a store of the pooled engine (`pooled`) or of the on-demand engine.
    pub(crate) fn for_store(&self, engine: &WasmtimeEngine, pooled: bool) -> Result<&wasmtime::Module, Error> {
        if pooled || !self.pooled {
            return Ok(&self.module);
        }
        self.on_demand
            .get_or_init(|| {
                let load = || -> Result<wasmtime::Module, Error> {
                    let code = self.module.serialize().map_err(to_anyhow)?;
                    // SAFETY: `code` was serialized just now, in this process, by this wasmtime, from a module
                    // compiled with the same settings (`config`) as the engine it is loaded into; the two engines
                    // differ only in how instances are allocated, which is not part of compiled code.
                    unsafe { wasmtime::Module::deserialize(engine.on_demand()?, code) }.map_err(to_anyhow)
                };
                load().map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(|e| anyhow!("unable to load the module into wasmtime's on-demand engine: {e}"))
    }

    /// Pool units one instance of this module takes (memories, tables, the instance itself).
    pub(crate) fn pool_units(&self) -> u32 {
        let needs = self.module.resources_required();
        needs.num_memories.max(needs.num_tables).max(1)
    }
}

#[cfg(test)]
mod tests {
    /// [`super::WASMTIME_VERSION`] names the version the workspace pins (cache entries of another version must never
    /// look current).
    #[test]
    fn wasmtime_version_matches_the_workspace_pin() {
        let manifest = include_str!("../../../Cargo.toml");
        let pin = format!("wasmtime = {{ version = \"={}\"", super::WASMTIME_VERSION);
        assert!(
            manifest.contains(&pin),
            "the workspace's wasmtime pin is not {}",
            super::WASMTIME_VERSION
        );
    }
}
