//! One plug-in's wasmtime store: the kernel instance, typed handles to the kernel exports, and import resolution.

use std::sync::Arc;

use anyhow::{Error, anyhow};
use extism_core::backend::{
    CallError, ExportShape, HostFunction, HostState, KernelAccess, PluginStore, missing_command_export,
};
use extism_core::coredump::{GlobalSnapshot, InstanceSnapshot};
use extism_core::kernel::{KernelFn, KernelSignature};
use extism_core::{Interrupt, Val, ValType};
use wasmtime::{AsContextMut, Instance, Memory, Store, TypedFunc};

use crate::engine::{PoolLease, WasmtimeModule};
use crate::errors::{classify, classify_trap, to_anyhow};
use crate::limits::{MemoryBudget, on_epoch_deadline};
use crate::link::{KernelIndex, Prepared, Resolver};
use crate::types::{from_wasmtime, to_wasmtime};
use crate::{Target, WasmtimeOn};

/// A typed handle to one kernel function, by its signature ([`KernelSignature`]).
pub(crate) enum KernelFunc {
    I64ToI64(TypedFunc<u64, u64>),
    I64ToUnit(TypedFunc<u64, ()>),
    UnitToI64(TypedFunc<(), u64>),
    UnitToUnit(TypedFunc<(), ()>),
}

impl KernelFunc {
    #[inline(always)]
    fn call(&self, ctx: impl AsContextMut, arg: u64) -> wasmtime::Result<u64> {
        match self {
            KernelFunc::I64ToI64(f) => f.call(ctx, arg),
            KernelFunc::I64ToUnit(f) => f.call(ctx, arg).map(|()| 0),
            KernelFunc::UnitToI64(f) => f.call(ctx, ()),
            KernelFunc::UnitToUnit(f) => f.call(ctx, ()).map(|()| 0),
        }
    }
}

/// Handles to the kernel's memory and to the functions the core calls, indexed by [`KernelFn::index`].
pub(crate) struct KernelExports {
    pub memory: Memory,
    functions: [KernelFunc; KernelFn::COUNT],
}

impl KernelExports {
    /// Fetched by export index and type-checked against the kernel: no name lookups per store.
    fn new<S: HostState>(
        store: &mut Store<StoreData<S>>,
        kernel: &Instance,
        index: &KernelIndex,
    ) -> Result<KernelExports, Error> {
        let mismatch = || anyhow!("the Extism kernel instance does not match its module");
        let memory = kernel
            .get_module_export(&mut *store, &index.memory)
            .and_then(wasmtime::Extern::into_memory)
            .ok_or_else(mismatch)?;
        let functions = KernelFn::handles(|f| {
            let func = kernel
                .get_module_export(&mut *store, &index.functions[f.index()])
                .and_then(wasmtime::Extern::into_func)
                .ok_or_else(mismatch)?;
            let typed = match f.signature() {
                KernelSignature::I64ToI64 => func.typed(&*store).map(KernelFunc::I64ToI64),
                KernelSignature::I64ToUnit => func.typed(&*store).map(KernelFunc::I64ToUnit),
                KernelSignature::UnitToI64 => func.typed(&*store).map(KernelFunc::UnitToI64),
                KernelSignature::UnitToUnit => func.typed(&*store).map(KernelFunc::UnitToUnit),
            };
            typed.map_err(to_anyhow)
        })?;
        Ok(KernelExports { memory, functions })
    }

    #[inline(always)]
    fn call(&self, ctx: impl AsContextMut, function: KernelFn, arg: u64) -> Result<u64, CallError> {
        self.functions[function.index()].call(ctx, arg).map_err(classify)
    }
}

/// The data of a wasmtime store: the core's state plus the kernel handles host functions need (public only as a
/// type parameter of the prepared linker).
pub struct StoreData<S> {
    pub(crate) state: S,
    pub(crate) budget: MemoryBudget,
    /// Set once interrupts are enabled; checked at every epoch deadline.
    pub(crate) interrupt: Option<Arc<Interrupt>>,
    /// Set by [`WasmtimeStore::new`] right after the kernel is instantiated, before the store is handed out.
    /// Shared (not cloned) because cloning a `TypedFunc` bumps wasmtime's type-registry reference counts.
    kernel: Option<Arc<KernelExports>>,
}

impl<S> StoreData<S> {
    pub(crate) fn kernel(&self) -> &KernelExports {
        self.kernel
            .as_ref()
            .expect("WasmtimeStore::new instantiates the kernel before the store is used")
    }
}

/// A wasmtime store for one plug-in, and what its modules' imports resolve against.
pub struct WasmtimeStore<S: HostState> {
    pub(crate) store: Store<StoreData<S>>,
    resolver: Resolver<S>,
    /// The same handles as in the store data, held here too so that the call path borrows them beside the store.
    kernel: Arc<KernelExports>,
    /// The error of the last export call if it trapped with a core dump attached (engines created with
    /// `coredump_on_trap`), kept for [`PluginStore::take_engine_core_dump`].
    trap_with_core_dump: Option<wasmtime::Error>,
    /// Pool capacity this store's instances use. Declared after `store` so that it is released only once the store
    /// (and with it every instance) has been dropped.
    lease: Option<PoolLease>,
}

impl<S: HostState> WasmtimeStore<S> {
    pub(crate) fn new(prepared: &Prepared<S>, state: S) -> Result<WasmtimeStore<S>, Error> {
        let (lease, linking) = prepared.for_new_store()?;
        let pooled = lease.is_some();
        let engine = prepared.engine();
        let kernel = prepared.kernel().for_store(engine, pooled)?;
        let mut store = Store::new(
            kernel.engine(),
            StoreData {
                state,
                budget: MemoryBudget::default(),
                interrupt: None,
                kernel: None,
            },
        );
        store.limiter(|data| &mut data.budget);
        // Every store has a deadline one epoch ahead: epochs are per engine, so a tick for any plug-in of this engine
        // reaches here, and the callback lets the call go on unless this plug-in's own flag is set.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| on_epoch_deadline(ctx.data().interrupt.as_ref()));
        // The kernel imports nothing, so it needs no linker.
        let instance = Instance::new(&mut store, kernel, &[]).map_err(to_anyhow)?;
        let exports = Arc::new(KernelExports::new(&mut store, &instance, &linking.kernel)?);
        store.data_mut().kernel = Some(exports.clone());
        Ok(WasmtimeStore {
            store,
            trap_with_core_dump: None,
            resolver: Resolver {
                linking,
                engine: engine.clone(),
                pooled,
                kernel: instance,
                instances: Vec::new(),
                linked: None,
            },
            kernel: exports,
            lease,
        })
    }

    /// True if this store's instances come from the instance pool (see the `engine` module); for tests and
    /// diagnostics.
    pub fn is_pooled(&self) -> bool {
        self.lease.is_some()
    }
}

/// The kernel, reached through anything that gives mutable access to the store (the store itself, or a `Caller`
/// inside a host function).
pub(crate) fn kernel_call<S: HostState, C: AsContextMut<Data = StoreData<S>>>(
    mut ctx: C,
    function: KernelFn,
    arg: u64,
) -> Result<u64, CallError> {
    let kernel: *const KernelExports = ctx.as_context_mut().data().kernel();
    // SAFETY: the handles live in an `Arc` that the store data holds from `WasmtimeStore::new` until the store is
    // dropped, and nothing replaces or mutates them after that; the call borrows the store mutably, so the store
    // (and with it the `Arc`) outlives this reference. A raw pointer rather than a clone of the `Arc` keeps two
    // atomic operations off every kernel call a host function makes.
    unsafe { &*kernel }.call(&mut ctx, function, arg)
}

pub(crate) fn memory_and_state<S: HostState, C: AsContextMut<Data = StoreData<S>>>(ctx: &mut C) -> (&mut [u8], &mut S) {
    let memory = ctx.as_context_mut().data().kernel().memory;
    let (bytes, data) = memory.data_and_store_mut(ctx);
    (bytes, &mut data.state)
}

impl<S: HostState> KernelAccess<S> for WasmtimeStore<S> {
    fn memory_and_state(&mut self) -> (&mut [u8], &mut S) {
        memory_and_state(&mut self.store)
    }

    #[inline(always)]
    fn call_kernel(&mut self, function: KernelFn, arg: u64) -> Result<u64, CallError> {
        self.kernel.call(&mut self.store, function, arg)
    }
}

/// A callable plug-in export.
#[derive(Clone)]
pub enum WasmtimeExport {
    /// `() -> ()`
    NoResult(TypedFunc<(), ()>),
    /// `() -> i32`
    I32Result(TypedFunc<(), i32>),
}

impl<T: Target, S: HostState> PluginStore<WasmtimeOn<T>, S> for WasmtimeStore<S> {
    fn state(&self) -> &S {
        &self.store.data().state
    }

    fn state_mut(&mut self) -> &mut S {
        &mut self.store.data_mut().state
    }

    fn define_function(&mut self, function: &HostFunction<S>) -> Result<(), Error> {
        crate::host_call::define(self.resolver.linked_mut(), function)
    }

    fn instantiate(&mut self, module: &WasmtimeModule) -> Result<Instance, CallError> {
        self.resolver.instantiate(&mut self.store, module).map_err(classify)
    }

    fn register(&mut self, name: &str, instance: &Instance) -> Result<(), Error> {
        self.resolver.register(name, *instance);
        Ok(())
    }

    fn register_command(&mut self, name: &str, module: &WasmtimeModule) -> Result<(), Error> {
        // Each forwarding function instantiates against what this store links now (kernel, host functions, modules
        // registered so far), which is what the command module can import.
        let snapshot = self.resolver.clone();
        let exports = module
            .for_store(&self.resolver.engine, self.resolver.pooled)?
            .exports()
            .filter_map(|e| Some((e.name().to_string(), e.ty().func()?.clone())))
            .collect::<Vec<_>>();
        for (export_name, ty) in exports {
            let (module, resolver) = (module.clone(), snapshot.clone());
            self.resolver
                .linked_mut()
                .func_new(name, &export_name.clone(), ty, move |mut caller, params, results| {
                    // Bounded: this instance lives as long as the store (see `count_command_instance`).
                    (caller.data_mut().state.count_command_instance())
                        .map_err(|e| wasmtime::Error::new(crate::errors::HostFailure(e)))?;
                    let instance = resolver.instantiate(&mut caller, &module)?;
                    let func = instance
                        .get_func(&mut caller, &export_name)
                        .ok_or_else(|| wasmtime::Error::msg(missing_command_export(&export_name).to_string()))?;
                    func.call(&mut caller, params, results)
                })
                .map_err(to_anyhow)?;
        }
        Ok(())
    }

    fn export(&mut self, instance: &Instance, name: &str, shape: ExportShape) -> Option<WasmtimeExport> {
        match shape {
            ExportShape::NoResult => instance
                .get_typed_func(&mut self.store, name)
                .ok()
                .map(WasmtimeExport::NoResult),
            ExportShape::I32Result => instance
                .get_typed_func(&mut self.store, name)
                .ok()
                .map(WasmtimeExport::I32Result),
        }
    }

    fn call(&mut self, export: &WasmtimeExport) -> Result<i32, CallError> {
        match export {
            WasmtimeExport::NoResult(f) => f.call(&mut self.store, ()).map(|()| 0),
            WasmtimeExport::I32Result(f) => f.call(&mut self.store, ()),
        }
        .map_err(|error| {
            self.trap_with_core_dump = None;
            if error.downcast_ref::<wasmtime::WasmCoreDump>().is_some()
                && let Some(trap) = classify_trap(&error)
            {
                self.trap_with_core_dump = Some(error);
                return trap;
            }
            classify(error)
        })
    }

    /// wasmtime's own core dump (memories and globals of every instance in the store, the trap's frames), when the
    /// engine was created with `coredump_on_trap`.
    fn take_engine_core_dump(&mut self, name: &str) -> Option<Vec<u8>> {
        let error = self.trap_with_core_dump.take()?;
        let dump = error.downcast_ref::<wasmtime::WasmCoreDump>()?;
        Some(dump.serialize(&mut self.store, name))
    }

    fn snapshot(&mut self, instance: &Instance) -> InstanceSnapshot {
        let exports: Vec<wasmtime::Extern> = instance
            .exports(&mut self.store)
            .map(wasmtime::Export::into_extern)
            .collect();
        let mut snapshot = InstanceSnapshot::default();
        for export in exports {
            match export {
                wasmtime::Extern::Memory(memory) => snapshot.memories.push(memory.data(&self.store).to_vec()),
                wasmtime::Extern::Global(global) => {
                    let mutable = global.ty(&self.store).mutability() == wasmtime::Mutability::Var;
                    let (ty, value) = match global.get(&mut self.store) {
                        wasmtime::Val::I32(v) => (ValType::I32, Some(Val::I32(v))),
                        wasmtime::Val::I64(v) => (ValType::I64, Some(Val::I64(v))),
                        wasmtime::Val::F32(bits) => (ValType::F32, Some(Val::F32(bits))),
                        wasmtime::Val::F64(bits) => (ValType::F64, Some(Val::F64(bits))),
                        wasmtime::Val::V128(v) => (ValType::V128, Some(Val::V128(v.as_u128()))),
                        wasmtime::Val::FuncRef(_) => (ValType::FuncRef, None),
                        _ => (ValType::ExternRef, None),
                    };
                    snapshot.globals.push(GlobalSnapshot { ty, mutable, value });
                }
                _ => {}
            }
        }
        snapshot
    }

    fn kernel_instance(&self) -> Instance {
        self.resolver.kernel
    }

    fn call_function(&mut self, instance: &Instance, name: &str, args: &[Val]) -> Result<Vec<Val>, CallError> {
        let func = instance
            .get_func(&mut self.store, name)
            .ok_or_else(|| CallError::Other(anyhow!("no function export named `{name}`")))?;
        let ty = func.ty(&self.store);
        let args: Vec<wasmtime::Val> = args.iter().map(|a| to_wasmtime(*a)).collect();
        let mut results: Vec<wasmtime::Val> = ty.results().map(|_| wasmtime::Val::I32(0)).collect();
        func.call(&mut self.store, &args, &mut results).map_err(classify)?;
        Ok(results.iter().map(from_wasmtime).collect())
    }

    fn set_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        self.store
            .set_fuel(fuel)
            .map_err(|e| to_anyhow(e).context(format!("fuel is not metered by this {} engine", T::NAME)))
    }

    fn fuel_remaining(&mut self) -> Option<u64> {
        self.store.get_fuel().ok()
    }

    fn set_memory_budget(&mut self, bytes: Option<u64>) -> Result<(), Error> {
        self.store.data_mut().budget.remaining = bytes;
        Ok(())
    }

    fn set_table_element_limit(&mut self, elements: u32) -> Result<(), Error> {
        self.store.data_mut().budget.max_table_elements = Some(elements as usize);
        Ok(())
    }

    fn enable_interrupts(&mut self, interrupt: Arc<Interrupt>) -> Result<(), Error> {
        let engine = self.store.engine().clone();
        interrupt.set_waker(Box::new(move || engine.increment_epoch()));
        self.store.data_mut().interrupt = Some(interrupt);
        Ok(())
    }

    fn kernel_memory(&self) -> &[u8] {
        self.kernel.memory.data(&self.store)
    }
}
