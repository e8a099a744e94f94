//! Linking on wasmtime: what is prepared once per compiled plug-in, and how a store resolves a module's imports.
//!
//! Instantiating from a compiled plug-in is meant to be cheap (tens of microseconds), so a store neither clones a
//! linker nor defines the kernel exports in one: names are looked up in structures built once per compiled plug-in
//! ([`Prepared`]), kernel exports are fetched by export index, and each module is instantiated from the resolved
//! list with [`wasmtime::Instance::new`]. A per-store [`Linker`] exists only when the plug-in links several modules
//! (or a test defines a function on one store), and only holds what is specific to that store.

use std::sync::Arc;

use anyhow::{Error, anyhow};
use extism_core::EXTISM_ENV_MODULE;
use wasmtime::{AsContextMut, Extern, ImportType, Instance, Linker, Module, ModuleExport};

use crate::errors::to_anyhow;
use crate::store::StoreData;

/// Built once per compiled plug-in and shared by all its stores.
pub struct Prepared {
    /// The host functions some module imports (store-independent: each store gets its own `Func` on lookup).
    pub(crate) functions: Linker<StoreData>,
    /// Where the host finds the kernel exports it calls.
    pub(crate) kernel: KernelIndex,
    /// The kernel exports modules import under `extism:host/env` (those no host function shadows).
    guest_exports: Vec<(&'static str, ModuleExport)>,
}

/// Export indices of the kernel entry points the host calls.
pub(crate) struct KernelIndex {
    pub memory: ModuleExport,
    pub alloc: ModuleExport,
    pub free: ModuleExport,
    pub length: ModuleExport,
    pub error_set: ModuleExport,
    pub error_get: ModuleExport,
    pub reset: ModuleExport,
    pub begin: ModuleExport,
    pub end: ModuleExport,
}

impl Prepared {
    pub(crate) fn new(
        kernel: &Module,
        kernel_exports: &[&'static str],
        functions: Linker<StoreData>,
    ) -> Result<Prepared, Error> {
        let index = |name: &str| {
            kernel
                .get_export_index(name)
                .ok_or_else(|| anyhow!("the Extism kernel has no export `{name}`"))
        };
        let guest_exports = kernel_exports
            .iter()
            .map(|&name| Ok((name, index(name)?)))
            .collect::<Result<_, Error>>()?;
        Ok(Prepared {
            functions,
            kernel: KernelIndex {
                memory: index("memory")?,
                alloc: index("alloc")?,
                free: index("free")?,
                length: index("length")?,
                error_set: index("error_set")?,
                error_get: index("error_get")?,
                reset: index("reset")?,
                begin: index("extism_host_call_begin")?,
                end: index("extism_host_call_end")?,
            },
            guest_exports,
        })
    }
}

/// Everything a store resolves imports against: the prepared host functions, its kernel instance, and the modules
/// (and any extra functions) linked into this store. Cloned as a snapshot by command-module forwarders.
#[derive(Clone)]
pub(crate) struct Resolver {
    pub prepared: Arc<Prepared>,
    pub kernel: Instance,
    /// Modules registered by name and functions defined on this store alone; they shadow everything else.
    pub linked: Option<Linker<StoreData>>,
}

impl Resolver {
    /// The per-store linker, created on first use.
    pub fn linked_mut(&mut self) -> &mut Linker<StoreData> {
        self.linked.get_or_insert_with(|| {
            let mut linker = Linker::new(self.prepared.functions.engine());
            linker.allow_shadowing(true);
            linker
        })
    }

    /// Instantiate `module` (running its start function) with its imports resolved in order of precedence: this
    /// store's linked modules, then the kernel, then the prepared host functions.
    pub fn instantiate(
        &self,
        mut store: impl AsContextMut<Data = StoreData>,
        module: &Module,
    ) -> wasmtime::Result<Instance> {
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

    fn resolve(&self, mut store: impl AsContextMut<Data = StoreData>, import: &ImportType<'_>) -> Option<Extern> {
        if let Some(linked) = &self.linked
            && let Some(found) = linked.get_by_import(&mut store, import)
        {
            return Some(found);
        }
        if import.module() == EXTISM_ENV_MODULE
            && let Some((_, index)) = self
                .prepared
                .guest_exports
                .iter()
                .find(|(name, _)| *name == import.name())
        {
            return self.kernel.get_module_export(&mut store, index);
        }
        self.prepared.functions.get_by_import(&mut store, import)
    }

    /// Define every export of `instance` under `name` for modules instantiated later in this store.
    pub fn register(
        &mut self,
        store: impl AsContextMut<Data = StoreData>,
        name: &str,
        instance: Instance,
    ) -> Result<(), Error> {
        self.linked_mut().instance(store, name, instance).map_err(to_anyhow)?;
        Ok(())
    }
}
