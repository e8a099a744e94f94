//! Linking on wasmtime: what is prepared once per compiled plug-in, and how a store resolves a module's imports.
//!
//! Instantiating from a compiled plug-in is meant to be cheap (tens of microseconds), so a store neither clones a
//! linker nor defines the kernel exports in one: names are looked up in structures built once per compiled plug-in
//! ([`Prepared`]), kernel exports are fetched by export index, and each module is instantiated from the resolved
//! list with [`wasmtime::Instance::new`]. A per-store [`Linker`] exists only when the plug-in links several modules
//! (or a test defines a function on one store), and only holds what is specific to that store.

use std::sync::{Arc, OnceLock};

use anyhow::{Error, anyhow};
use extism_core::EXTISM_ENV_MODULE;
use extism_core::backend::{HostFunction, HostState, LinkingInputs};
use extism_core::kernel::{KERNEL_MEMORY, KernelFn};
use wasmtime::{AsContextMut, Extern, ImportType, Instance, Linker, Module, ModuleExport};

use crate::engine::{PoolLease, WasmtimeEngine, WasmtimeModule};
use crate::store::StoreData;
use crate::{Target, WasmtimeOn};

/// Built once per compiled plug-in and shared by all its stores: the linking for the engine modules were compiled
/// with and, made on first need, for the on-demand engine stores fall back to (see [`crate::engine`]).
pub struct Prepared<S: HostState> {
    engine: WasmtimeEngine,
    /// Linking in the primary engine, if every module of the plug-in is in it and fits the pool.
    pooled: Option<Arc<Linking<S>>>,
    /// Pool units a store of this plug-in takes.
    pool_units: u32,
    /// Linking in the on-demand engine.
    on_demand: OnceLock<Result<Arc<Linking<S>>, String>>,
    kernel: WasmtimeModule,
    kernel_exports: Vec<&'static str>,
    functions: Vec<HostFunction<S>>,
}

impl<S: HostState> Prepared<S> {
    pub(crate) fn new<T: Target>(
        engine: &WasmtimeEngine,
        inputs: &LinkingInputs<'_, WasmtimeOn<T>, S>,
    ) -> Result<Prepared<S>, Error> {
        let LinkingInputs {
            kernel,
            modules,
            commands,
            kernel_exports,
            functions,
            ..
        } = *inputs;
        // Command modules instantiate on every call into them, and a store keeps its instances until it is dropped:
        // a pooled store could not bound what it takes from the pool.
        let poolable = engine.is_pooled()
            && engine.pool_holds_table_limit()
            && commands.is_empty()
            && kernel.fits_pool()
            && modules.iter().all(|m| m.fits_pool());
        let pool_units = kernel.pool_units() + modules.iter().map(|m| m.pool_units()).sum::<u32>();
        let pooled = if poolable {
            Some(Arc::new(Linking::new(
                engine.primary(),
                &kernel.module,
                kernel_exports,
                functions,
            )?))
        } else {
            None
        };
        Ok(Prepared {
            engine: engine.clone(),
            pooled,
            pool_units,
            on_demand: OnceLock::new(),
            kernel: kernel.clone(),
            kernel_exports: kernel_exports.to_vec(),
            functions: functions.to_vec(),
        })
    }

    /// What a new store links against: pool capacity and the pooled linking when the pool has room, else the
    /// on-demand linking.
    pub(crate) fn for_new_store(&self) -> Result<(Option<PoolLease>, Arc<Linking<S>>), Error> {
        if let Some(pooled) = &self.pooled
            && let Some(lease) = self.engine.lease(self.pool_units)
        {
            return Ok((Some(lease), pooled.clone()));
        }
        let linking = self
            .on_demand
            .get_or_init(|| {
                let make = || -> Result<Arc<Linking<S>>, Error> {
                    let engine = self.engine.on_demand()?;
                    let kernel = self.kernel.for_store(&self.engine, false)?;
                    Ok(Arc::new(Linking::new(
                        engine,
                        kernel,
                        &self.kernel_exports,
                        &self.functions,
                    )?))
                };
                make().map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(|e| anyhow!("{e}"))?;
        Ok((None, linking.clone()))
    }

    pub(crate) fn engine(&self) -> &WasmtimeEngine {
        &self.engine
    }

    pub(crate) fn kernel(&self) -> &WasmtimeModule {
        &self.kernel
    }
}

/// What stores of one engine link against, prepared once.
pub(crate) struct Linking<S: HostState> {
    /// The host functions some module imports (store-independent: each store gets its own `Func` on lookup).
    pub(crate) functions: Linker<StoreData<S>>,
    /// Where the host finds the kernel exports it calls.
    pub(crate) kernel: KernelIndex,
    /// The kernel exports modules import under `extism:host/env` (those no host function shadows).
    guest_exports: Vec<(&'static str, ModuleExport)>,
}

/// Export indices of the kernel's memory and of the functions the host calls (indexed by [`KernelFn::index`]).
pub(crate) struct KernelIndex {
    pub memory: ModuleExport,
    pub functions: [ModuleExport; KernelFn::COUNT],
}

impl<S: HostState> Linking<S> {
    fn new(
        engine: &wasmtime::Engine,
        kernel: &Module,
        kernel_exports: &[&'static str],
        functions: &[HostFunction<S>],
    ) -> Result<Linking<S>, Error> {
        let mut linker = Linker::new(engine);
        // Users may shadow built-in host functions (upstream allows overriding e.g. `http_request`).
        linker.allow_shadowing(true);
        for f in functions {
            crate::host_call::define(&mut linker, f)?;
        }
        let index = |name: &str| {
            kernel
                .get_export_index(name)
                .ok_or_else(|| anyhow!("the Extism kernel has no export `{name}`"))
        };
        let guest_exports = kernel_exports
            .iter()
            .map(|&name| Ok((name, index(name)?)))
            .collect::<Result<_, Error>>()?;
        Ok(Linking {
            functions: linker,
            kernel: KernelIndex {
                memory: index(KERNEL_MEMORY)?,
                functions: KernelFn::handles(|f| index(f.name()))?,
            },
            guest_exports,
        })
    }
}

/// Everything a store resolves imports against: the prepared host functions, its kernel instance, and the modules
/// (and any extra functions) linked into this store. Cloned as a snapshot by command-module forwarders.
pub(crate) struct Resolver<S: HostState> {
    pub linking: Arc<Linking<S>>,
    /// The engine and which of its engines this store belongs to, to pick the module copy to instantiate.
    pub engine: WasmtimeEngine,
    pub pooled: bool,
    pub kernel: Instance,
    /// Instances of linked modules, by module name; their exports shadow everything else. Kept as a list rather than
    /// in [`Resolver::linked`]: a plug-in links one or two, and looking an import's module name up here costs less
    /// than the per-store linker's lookup of every import.
    pub instances: Vec<(String, Instance)>,
    /// Functions defined on this store alone (forwarders into command modules); they shadow the kernel and the host
    /// functions.
    pub linked: Option<Linker<StoreData<S>>>,
}

impl<S: HostState> Clone for Resolver<S> {
    fn clone(&self) -> Self {
        Resolver {
            linking: self.linking.clone(),
            engine: self.engine.clone(),
            pooled: self.pooled,
            kernel: self.kernel,
            instances: self.instances.clone(),
            linked: self.linked.clone(),
        }
    }
}

impl<S: HostState> Resolver<S> {
    /// The per-store linker, created on first use.
    pub(crate) fn linked_mut(&mut self) -> &mut Linker<StoreData<S>> {
        self.linked.get_or_insert_with(|| {
            let mut linker = Linker::new(self.linking.functions.engine());
            linker.allow_shadowing(true);
            linker
        })
    }

    /// Instantiate `module` (running its start function) with its imports resolved in order of precedence: this
    /// store's linked modules, then the kernel, then the prepared host functions.
    pub(crate) fn instantiate(
        &self,
        mut store: impl AsContextMut<Data = StoreData<S>>,
        module: &WasmtimeModule,
    ) -> wasmtime::Result<Instance> {
        let module = module
            .for_store(&self.engine, self.pooled)
            .map_err(|e| wasmtime::Error::msg(format!("{e:#}")))?;
        let mut imports = Vec::with_capacity(module.imports().len());
        for import in module.imports() {
            let resolved = self.resolve(&mut store, &import).ok_or_else(|| {
                wasmtime::Error::msg(format!(
                    "unknown import: `{}::{}` has not been defined",
                    import.module(),
                    import.name()
                ))
            })?;
            imports.push(resolved);
        }
        Instance::new(&mut store, module, &imports)
    }

    fn resolve(&self, mut store: impl AsContextMut<Data = StoreData<S>>, import: &ImportType<'_>) -> Option<Extern> {
        for (name, instance) in self.instances.iter().rev() {
            if name == import.module()
                && let Some(found) = instance.get_export(&mut store, import.name())
            {
                return Some(found);
            }
        }
        if let Some(linked) = &self.linked
            && let Some(found) = linked.get_by_import(&mut store, import)
        {
            return Some(found);
        }
        if import.module() == EXTISM_ENV_MODULE
            && let Some((_, index)) = self
                .linking
                .guest_exports
                .iter()
                .find(|(name, _)| *name == import.name())
        {
            return self.kernel.get_module_export(&mut store, index);
        }
        self.linking.functions.get_by_import(&mut store, import)
    }

    /// Define every export of `instance` under `name` for modules instantiated later in this store.
    pub(crate) fn register(&mut self, name: &str, instance: Instance) {
        self.instances.push((name.to_string(), instance));
    }
}
