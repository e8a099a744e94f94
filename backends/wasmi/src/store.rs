//! One plug-in's wasmi store: the linker, the kernel instance, typed handles to the kernel exports, and the call
//! paths (direct, or in fuel slices when interrupts are enabled).

use std::sync::Arc;

use anyhow::{Error, anyhow};
use extism_core::backend::{
    CallError, ExportShape, HostFunction, HostState, KernelAccess, PluginStore, command_link_error,
    missing_command_export,
};
use extism_core::coredump::{GlobalSnapshot, InstanceSnapshot};
use extism_core::kernel::{KERNEL_MEMORY, KernelFn, KernelSignature};
use extism_core::{EXTISM_ENV_MODULE, Interrupt, Val, ValType};
use wasmi::{
    AsContextMut, Func, Instance, Linker, Memory, Module, ResumableCall, Store, TypedFunc, TypedResumableCall,
};

use crate::Wasmi;
use crate::errors::{HostFailure, classify, classify_borrowed, to_anyhow};
use crate::limits::{FuelAccount, MemoryBudget, UNLIMITED_FUEL, split_slice};
use crate::start::START_EXPORT;
use crate::types::{from_wasmi, to_wasmi};

/// A typed handle to one kernel function, by its signature ([`KernelSignature`]).
#[derive(Clone, Copy)]
pub(crate) enum KernelFunc {
    I64ToI64(TypedFunc<u64, u64>),
    I64ToUnit(TypedFunc<u64, ()>),
    UnitToI64(TypedFunc<(), u64>),
    UnitToUnit(TypedFunc<(), ()>),
}

impl KernelFunc {
    #[inline(always)]
    fn call(self, ctx: impl AsContextMut, arg: u64) -> Result<u64, wasmi::Error> {
        match self {
            KernelFunc::I64ToI64(f) => f.call(ctx, arg),
            KernelFunc::I64ToUnit(f) => f.call(ctx, arg).map(|()| 0),
            KernelFunc::UnitToI64(f) => f.call(ctx, ()),
            KernelFunc::UnitToUnit(f) => f.call(ctx, ()).map(|()| 0),
        }
    }
}

/// Handles to the kernel's memory and to the functions the core calls, indexed by [`KernelFn::index`]. wasmi
/// handles are plain indices, so copying them is free.
#[derive(Clone, Copy)]
pub(crate) struct KernelExports {
    pub memory: Memory,
    functions: [KernelFunc; KernelFn::COUNT],
}

impl KernelExports {
    fn new<S: HostState>(store: &Store<StoreData<S>>, kernel: &Instance) -> Result<KernelExports, Error> {
        let memory = kernel
            .get_memory(store, KERNEL_MEMORY)
            .ok_or_else(|| anyhow!("the Extism kernel exports no memory"))?;
        let functions = KernelFn::handles(|f| {
            let typed = match f.signature() {
                KernelSignature::I64ToI64 => kernel.get_typed_func(store, f.name()).map(KernelFunc::I64ToI64),
                KernelSignature::I64ToUnit => kernel.get_typed_func(store, f.name()).map(KernelFunc::I64ToUnit),
                KernelSignature::UnitToI64 => kernel.get_typed_func(store, f.name()).map(KernelFunc::UnitToI64),
                KernelSignature::UnitToUnit => kernel.get_typed_func(store, f.name()).map(KernelFunc::UnitToUnit),
            };
            typed.map_err(to_anyhow)
        })?;
        Ok(KernelExports { memory, functions })
    }

    pub(crate) fn function(&self, f: KernelFn) -> KernelFunc {
        self.functions[f.index()]
    }
}

/// The data of a wasmi store: the core's state, the kernel handles host functions need, and the limits' books.
pub(crate) struct StoreData<S> {
    pub state: S,
    /// Set by [`WasmiStore::new`] right after the kernel is instantiated, before the store is handed out.
    kernel: Option<KernelExports>,
    pub budget: MemoryBudget,
    pub fuel: FuelAccount,
    /// Set by [`PluginStore::enable_interrupts`]; reachable from host functions, whose nested guest calls (command
    /// modules) are sliced too.
    pub interrupt: Option<Arc<Interrupt>>,
}

impl<S> StoreData<S> {
    pub(crate) fn kernel(&self) -> KernelExports {
        self.kernel
            .expect("WasmiStore::new instantiates the kernel before the store is used")
    }

    /// Forget violations recorded by an earlier operation (a host function may have swallowed the error they caused).
    fn clear_violations(&mut self) {
        self.budget.exceeded = false;
        self.fuel.exhausted = false;
    }
}

/// A wasmi store and linker for one plug-in.
pub struct WasmiStore<S: HostState> {
    /// Boxed: a wasmi store is about 2 KB, which would make every plug-in handle that large.
    pub(crate) store: Box<Store<StoreData<S>>>,
    pub(crate) linker: Linker<StoreData<S>>,
    kernel_instance: Instance,
    kernel: KernelExports,
    /// Set by [`PluginStore::enable_interrupts`]: export calls then run in fuel slices.
    interrupt: Option<Arc<Interrupt>>,
}

impl<S: HostState> WasmiStore<S> {
    /// A store with the kernel instantiated and `kernel_exports` (the ones the core lists) defined under
    /// `extism:host/env`.
    pub(crate) fn new(
        engine: &wasmi::Engine,
        kernel: &Module,
        kernel_exports: &[&'static str],
        state: S,
    ) -> Result<WasmiStore<S>, Error> {
        let data = StoreData {
            state,
            kernel: None,
            budget: MemoryBudget::default(),
            fuel: FuelAccount::default(),
            interrupt: None,
        };
        let mut store = Box::new(Store::new(engine, data));
        store.limiter(|data| &mut data.budget);
        // The engine always meters fuel (so that interrupts can be enabled on any store); without a user limit the
        // store never runs dry.
        store.set_fuel(UNLIMITED_FUEL).map_err(to_anyhow)?;
        let mut linker = Linker::new(engine);
        // Users may shadow built-in host functions (upstream allows overriding e.g. `http_request`).
        linker.allow_shadowing(true);
        // The kernel imports nothing, so the empty linker instantiates it.
        let instance = linker.instantiate_and_start(&mut *store, kernel).map_err(to_anyhow)?;
        let exports = KernelExports::new(&store, &instance)?;
        store.data_mut().kernel = Some(exports);
        for &name in kernel_exports {
            let export = instance
                .get_export(&*store, name)
                .ok_or_else(|| anyhow!("the Extism kernel has no export `{name}`"))?;
            linker
                .define(EXTISM_ENV_MODULE, name, export)
                .map_err(|e| anyhow!("unable to define the kernel export `{name}`: {e}"))?;
        }
        Ok(WasmiStore {
            store,
            linker,
            kernel_instance: instance,
            kernel: exports,
            interrupt: None,
        })
    }
}

/// Turn a failed wasmi operation into a [`CallError`], consulting what the limits recorded while it ran (see
/// [`crate::errors`]).
fn failure<S: HostState>(store: &mut Store<StoreData<S>>, error: wasmi::Error) -> CallError {
    settle(store, classify(error))
}

/// The final class of a failure: what the limits recorded overrides what the error says.
fn settle<S: HostState>(store: &mut Store<StoreData<S>>, class: CallError) -> CallError {
    let data = store.data_mut();
    if std::mem::take(&mut data.budget.exceeded) {
        return CallError::MemoryLimit;
    }
    let exhausted = std::mem::take(&mut data.fuel.exhausted);
    match class {
        CallError::OutOfFuel => out_of_fuel(store),
        _ if exhausted => out_of_fuel(store),
        other => other,
    }
}

/// The user's fuel is spent: make the store say so (wasmi stops before an instruction block it cannot pay for
/// in full, leaving a remainder the plug-in can no longer use).
fn out_of_fuel<S: HostState>(store: &mut Store<StoreData<S>>) -> CallError {
    if store.data().fuel.limited {
        // Fuel metering is always on, so this cannot fail.
        let _ = store.set_fuel(0);
    }
    CallError::OutOfFuel
}

/// The kernel, reached through anything that gives mutable access to the store (a `Caller` inside a host function).
pub(crate) fn kernel_call<S: HostState, C: AsContextMut<Data = StoreData<S>>>(
    mut ctx: C,
    function: KernelFn,
    arg: u64,
) -> Result<u64, CallError> {
    let func = ctx.as_context().data().kernel().function(function);
    func.call(&mut ctx, arg).map_err(|e| {
        let class = classify(e);
        if matches!(class, CallError::OutOfFuel) {
            ctx.as_context_mut().data_mut().fuel.exhausted = true;
        }
        class
    })
}

pub(crate) fn memory_and_state<S: HostState, C: AsContextMut<Data = StoreData<S>>>(ctx: &mut C) -> (&mut [u8], &mut S) {
    let memory = ctx.as_context().data().kernel().memory;
    let (bytes, data) = memory.data_and_store_mut(ctx.as_context_mut());
    (bytes, &mut data.state)
}

/// Run `func` in fuel slices, checking `interrupt` between them.
///
/// The store's fuel is the user's remaining fuel on entry and again on return; in between, all but one slice waits in
/// the [`FuelAccount`] reserve (host functions called meanwhile settle it, see [`crate::host_call`]).
fn call_sliced<S: HostState, R: wasmi::WasmResults>(
    store: &mut Store<StoreData<S>>,
    func: &TypedFunc<(), R>,
    interrupt: &Interrupt,
) -> Result<R, CallError> {
    if interrupt.is_requested() {
        return Err(CallError::Interrupted);
    }
    let limited = store.data().fuel.limited;
    // Without a user limit the store always holds `UNLIMITED_FUEL`: no need to read it back.
    let total = if limited {
        store.get_fuel().unwrap_or(0)
    } else {
        UNLIMITED_FUEL
    };
    let (give, reserve) = split_slice(total, 0);
    set_slice(&mut *store, give, reserve);
    let mut step = func.call_resumable(&mut *store, ());
    let outcome = loop {
        match step {
            Ok(TypedResumableCall::Finished(results)) => break Ok(results),
            Ok(TypedResumableCall::HostTrap(trap)) => break Err(classify_borrowed(trap.host_error())),
            Err(error) => break Err(classify(error)),
            Ok(TypedResumableCall::OutOfFuel(paused)) => {
                if interrupt.is_requested() {
                    break Err(CallError::Interrupted);
                }
                let total = store.data().fuel.reserve.unwrap_or(0) + store.get_fuel().unwrap_or(0);
                let required = paused.required_fuel();
                if total < required {
                    break Err(CallError::OutOfFuel);
                }
                let (give, reserve) = split_slice(total, required);
                set_slice(&mut *store, give, reserve);
                step = paused.resume(&mut *store);
            }
        }
    };
    // Give the held-back fuel back to the store, so that it holds the user's remaining fuel again.
    let reserve = store.data_mut().fuel.reserve.take().unwrap_or(0);
    let left = if limited { store.get_fuel().unwrap_or(0) } else { 0 };
    let _ = store.set_fuel(if limited {
        left.saturating_add(reserve)
    } else {
        UNLIMITED_FUEL
    });
    outcome.map_err(|class| settle(store, class))
}

/// Call `func` from anywhere guest code may start (a start function, a guest runtime's initialiser, a command module
/// called from a host function): in fuel slices when interrupts are enabled, so that a timeout or cancel stops it
/// like an export call, else as a plain call. Errors are wasmi's own, unchanged (an interrupt is a host failure
/// carrying [`CallError::Interrupted`]), so that a nested call's failure travels through the outer call as it would
/// without slicing.
///
/// Reentrant: inside a sliced call (a host function's nested call) the outer slice and reserve are merged into this
/// call's budget and split again when it returns.
pub(crate) fn call_func<S: HostState, C: AsContextMut<Data = StoreData<S>>>(
    mut ctx: C,
    func: Func,
    params: &[wasmi::Val],
    results: &mut [wasmi::Val],
) -> Result<(), wasmi::Error> {
    let Some(interrupt) = ctx.as_context().data().interrupt.clone() else {
        return func.call(&mut ctx, params, results);
    };
    let interrupted = || wasmi::Error::host(HostFailure::new(Error::new(CallError::Interrupted)));
    if interrupt.is_requested() {
        return Err(interrupted());
    }
    let limited = ctx.as_context().data().fuel.limited;
    let outer = ctx.as_context_mut().data_mut().fuel.reserve.take();
    let total = if limited {
        ctx.as_context()
            .get_fuel()
            .unwrap_or(0)
            .saturating_add(outer.unwrap_or(0))
    } else {
        UNLIMITED_FUEL
    };
    let (give, reserve) = split_slice(total, 0);
    set_slice(ctx.as_context_mut(), give, reserve);
    let mut step = func.call_resumable(&mut ctx, params, results);
    let outcome = loop {
        match step {
            Ok(ResumableCall::Finished) => break Ok(()),
            Ok(ResumableCall::HostTrap(trap)) => break Err(trap.into_host_error()),
            Err(error) => break Err(error),
            Ok(ResumableCall::OutOfFuel(paused)) => {
                if interrupt.is_requested() {
                    break Err(interrupted());
                }
                let data_reserve = ctx.as_context().data().fuel.reserve.unwrap_or(0);
                let total = data_reserve.saturating_add(ctx.as_context().get_fuel().unwrap_or(0));
                let required = paused.required_fuel();
                if total < required {
                    break Err(wasmi::Error::from(wasmi::TrapCode::OutOfFuel));
                }
                let (give, reserve) = split_slice(total, required);
                set_slice(ctx.as_context_mut(), give, reserve);
                step = paused.resume(&mut ctx, results);
            }
        }
    };
    let reserve = ctx.as_context_mut().data_mut().fuel.reserve.take().unwrap_or(0);
    let left = if limited {
        ctx.as_context().get_fuel().unwrap_or(0).saturating_add(reserve)
    } else {
        UNLIMITED_FUEL
    };
    match outer {
        // Back inside the outer sliced call: it goes on slicing what is left.
        Some(_) => {
            let (give, reserve) = split_slice(left, 0);
            set_slice(ctx.as_context_mut(), give, reserve);
        }
        None => {
            let _ = ctx.as_context_mut().set_fuel(left);
        }
    }
    outcome
}

fn set_slice<S: HostState>(mut store: impl AsContextMut<Data = StoreData<S>>, give: u64, reserve: u64) {
    let mut store = store.as_context_mut();
    store.data_mut().fuel.reserve = Some(reserve);
    // Fuel metering is always on, so this cannot fail.
    let _ = store.set_fuel(give);
}

impl<S: HostState> WasmiStore<S> {
    /// Run one top-level operation on the store and classify its failure.
    fn run<R>(
        &mut self,
        op: impl FnOnce(&mut Store<StoreData<S>>, &KernelExports) -> Result<R, wasmi::Error>,
    ) -> Result<R, CallError> {
        self.store.data_mut().clear_violations();
        let result = op(&mut self.store, &self.kernel);
        result.map_err(|e| failure(&mut self.store, e))
    }
}

impl<S: HostState> KernelAccess<S> for WasmiStore<S> {
    fn memory_and_state(&mut self) -> (&mut [u8], &mut S) {
        let (bytes, data) = self.kernel.memory.data_and_store_mut(&mut *self.store);
        (bytes, &mut data.state)
    }

    #[inline(always)]
    fn call_kernel(&mut self, function: KernelFn, arg: u64) -> Result<u64, CallError> {
        self.run(|s, k| k.function(function).call(s, arg))
    }
}

/// A callable plug-in export.
#[derive(Clone, Copy)]
pub enum WasmiExport {
    /// `() -> ()`
    NoResult(TypedFunc<(), ()>),
    /// `() -> i32`
    I32Result(TypedFunc<(), i32>),
}

impl<S: HostState> PluginStore<Wasmi, S> for WasmiStore<S> {
    fn state(&self) -> &S {
        &self.store.data().state
    }

    fn state_mut(&mut self) -> &mut S {
        &mut self.store.data_mut().state
    }

    fn define_function(&mut self, function: &HostFunction<S>) -> Result<(), Error> {
        crate::host_call::define(&mut self.linker, function)
    }

    fn instantiate(&mut self, module: &Module) -> Result<Instance, CallError> {
        self.store.data_mut().clear_violations();
        // The module's start function, if any, was turned into an export (see `start.rs`): it runs next, sliced, so
        // that the plug-in's timeout and cancel stop it.
        let instance = self
            .linker
            .instantiate_and_start(&mut *self.store, module)
            .map_err(|e| failure(&mut self.store, e))?;
        if let Some(start) = instance.get_func(&*self.store, START_EXPORT) {
            call_func(&mut *self.store, start, &[], &mut []).map_err(|e| failure(&mut self.store, e))?;
        }
        Ok(instance)
    }

    fn register_command(&mut self, name: &str, module: &Module) -> Result<(), Error> {
        // Each forwarding function instantiates against the linker as it is now (kernel, host functions, modules
        // registered so far), which is what the command module can import.
        let linker = self.linker.clone();
        for export in module.exports() {
            let Some(ty) = export.ty().func().cloned() else {
                continue;
            };
            if export.name() == START_EXPORT {
                continue;
            }
            let (module, linker, export_name) = (module.clone(), linker.clone(), export.name().to_string());
            self.linker
                .func_new(name, export.name(), ty, move |mut caller, params, results| {
                    // Bounded: this instance lives as long as the store (see `count_command_instance`).
                    (caller.data_mut().state.count_command_instance())
                        .map_err(|e| wasmi::Error::host(HostFailure::new(e)))?;
                    let instance = linker.instantiate_and_start(&mut caller, &module)?;
                    if let Some(start) = instance.get_func(&caller, START_EXPORT) {
                        call_func(&mut caller, start, &[], &mut [])?;
                    }
                    let func = instance
                        .get_func(&caller, &export_name)
                        .ok_or_else(|| wasmi::Error::new(missing_command_export(&export_name).to_string()))?;
                    call_func(&mut caller, func, params, results)
                })
                .map_err(|e| command_link_error(name, e))?;
        }
        Ok(())
    }

    fn register(&mut self, name: &str, instance: &Instance) -> Result<(), Error> {
        let exports: Vec<(String, wasmi::Extern)> = instance
            .exports(&*self.store)
            .filter(|e| e.name() != START_EXPORT)
            .map(|e| (e.name().to_string(), e.into_extern()))
            .collect();
        for (export, item) in exports {
            self.linker
                .define(name, &export, item)
                .map_err(|e| anyhow!("unable to link module `{name}`: {e}"))?;
        }
        Ok(())
    }

    fn export(&mut self, instance: &Instance, name: &str, shape: ExportShape) -> Option<WasmiExport> {
        match shape {
            ExportShape::NoResult => instance
                .get_typed_func(&*self.store, name)
                .ok()
                .map(WasmiExport::NoResult),
            ExportShape::I32Result => instance
                .get_typed_func(&*self.store, name)
                .ok()
                .map(WasmiExport::I32Result),
        }
    }

    fn call(&mut self, export: &WasmiExport) -> Result<i32, CallError> {
        self.store.data_mut().clear_violations();
        if let Some(interrupt) = &self.interrupt {
            return match export {
                WasmiExport::NoResult(f) => call_sliced(&mut self.store, f, interrupt).map(|()| 0),
                WasmiExport::I32Result(f) => call_sliced(&mut self.store, f, interrupt),
            };
        }
        self.run(|s, _| match export {
            WasmiExport::NoResult(f) => f.call(s, ()).map(|()| 0),
            WasmiExport::I32Result(f) => f.call(s, ()),
        })
    }

    fn kernel_instance(&self) -> Instance {
        self.kernel_instance
    }

    /// The instance's exported memories and globals (wasmi lists exports in no specified order).
    fn snapshot(&mut self, instance: &Instance) -> InstanceSnapshot {
        let mut snapshot = InstanceSnapshot::default();
        for export in instance.exports(&*self.store) {
            match export.into_extern() {
                wasmi::Extern::Memory(memory) => snapshot.memories.push(memory.data(&*self.store).to_vec()),
                wasmi::Extern::Global(global) => {
                    let mutable = global.ty(&*self.store).mutability() == wasmi::Mutability::Var;
                    let value = global.get(&*self.store);
                    let (ty, value) = match value {
                        wasmi::Val::FuncRef(_) => (ValType::FuncRef, None),
                        wasmi::Val::ExternRef(_) => (ValType::ExternRef, None),
                        other => {
                            let value = from_wasmi(&other);
                            (value.ty(), Some(value))
                        }
                    };
                    snapshot.globals.push(GlobalSnapshot { ty, mutable, value });
                }
                _ => {}
            }
        }
        snapshot
    }

    fn call_function(&mut self, instance: &Instance, name: &str, args: &[Val]) -> Result<Vec<Val>, CallError> {
        let func = instance
            .get_func(&*self.store, name)
            .ok_or_else(|| CallError::Other(anyhow!("no function export named `{name}`")))?;
        let ty = func.ty(&*self.store);
        let args: Vec<wasmi::Val> = args.iter().map(|a| to_wasmi(*a)).collect();
        let mut results: Vec<wasmi::Val> = ty.results().iter().map(|t| wasmi::Val::default_for_ty(*t)).collect();
        self.run(|s, _| call_func(s, func, &args, &mut results))?;
        Ok(results.iter().map(from_wasmi).collect())
    }

    fn kernel_memory(&self) -> &[u8] {
        self.kernel.memory.data(&*self.store)
    }

    fn set_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        self.store.set_fuel(fuel).map_err(to_anyhow)?;
        self.store.data_mut().fuel.limited = true;
        Ok(())
    }

    fn fuel_remaining(&mut self) -> Option<u64> {
        if !self.store.data().fuel.limited {
            return None;
        }
        self.store.get_fuel().ok()
    }

    fn set_memory_budget(&mut self, bytes: Option<u64>) -> Result<(), Error> {
        self.store.data_mut().budget.set(bytes);
        Ok(())
    }

    fn set_table_element_limit(&mut self, elements: u32) -> Result<(), Error> {
        self.store.data_mut().budget.max_table_elements = Some(elements as usize);
        Ok(())
    }

    fn enable_interrupts(&mut self, interrupt: Arc<Interrupt>) -> Result<(), Error> {
        // No waker: wasmi cannot be stopped from outside, so the flag is polled between fuel slices.
        self.store.data_mut().interrupt = Some(interrupt.clone());
        self.interrupt = Some(interrupt);
        Ok(())
    }
}
