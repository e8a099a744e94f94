//! One plug-in's wasmer store: its "linker", its instances, the kernel, and its limits.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Error, anyhow};
use extism_core::backend::{
    CallError, ExportShape, HostFunction, HostState, KernelAccess, PluginStore, missing_command_export,
};
use extism_core::coredump::{GlobalSnapshot, InstanceSnapshot};
use extism_core::kernel::{KERNEL_MEMORY, KernelFn, KernelSignature};
use extism_core::{EXTISM_ENV_MODULE, Interrupt, Val, ValType};
use wasmer::{
    AsStoreMut, Extern, FunctionEnv, FunctionEnvMut, Global, Imports, Instance, InstantiationError, Memory, Module,
    RuntimeError, Store, TypedFunction, Value,
};

use crate::engine::WasmerEngine;
use crate::errors::{host_failure, to_anyhow, trap};
use crate::instrument::{FUEL_GLOBAL, START_EXPORT, is_hidden_export};
use crate::limits::{LocalFlags, StoreLimits};
use crate::types::{from_wasmer, to_wasmer};
use crate::{Wasmer, host_call};

/// A typed handle to one kernel function, by its signature ([`KernelSignature`]).
#[derive(Clone)]
pub(crate) enum KernelFunc {
    I64ToI64(TypedFunction<u64, u64>),
    I64ToUnit(TypedFunction<u64, ()>),
    UnitToI64(TypedFunction<(), u64>),
    UnitToUnit(TypedFunction<(), ()>),
}

impl KernelFunc {
    #[inline(always)]
    pub(crate) fn call(&self, store: &mut impl AsStoreMut, arg: u64) -> Result<u64, RuntimeError> {
        match self {
            KernelFunc::I64ToI64(f) => f.call(store, arg),
            KernelFunc::I64ToUnit(f) => f.call(store, arg).map(|()| 0),
            KernelFunc::UnitToI64(f) => f.call(store),
            KernelFunc::UnitToUnit(f) => f.call(store).map(|()| 0),
        }
    }
}

/// Handles to the kernel's memory and to the functions the core calls, indexed by [`KernelFn::index`]. Handles are
/// indexes into the store: cloning one is a copy.
#[derive(Clone)]
pub(crate) struct KernelExports {
    pub memory: Memory,
    functions: [KernelFunc; KernelFn::COUNT],
}

impl KernelExports {
    fn new(store: &Store, kernel: &Instance) -> Result<KernelExports, Error> {
        let memory = kernel
            .exports
            .get_memory(KERNEL_MEMORY)
            .map_err(|_| anyhow!("the Extism kernel exports no memory"))?
            .clone();
        let exports = &kernel.exports;
        let functions = KernelFn::handles(|f| {
            let typed = match f.signature() {
                KernelSignature::I64ToI64 => exports.get_typed_function(store, f.name()).map(KernelFunc::I64ToI64),
                KernelSignature::I64ToUnit => exports.get_typed_function(store, f.name()).map(KernelFunc::I64ToUnit),
                KernelSignature::UnitToI64 => exports.get_typed_function(store, f.name()).map(KernelFunc::UnitToI64),
                KernelSignature::UnitToUnit => exports.get_typed_function(store, f.name()).map(KernelFunc::UnitToUnit),
            };
            typed.map_err(to_anyhow)
        })?;
        Ok(KernelExports { memory, functions })
    }

    pub(crate) fn function(&self, f: KernelFn) -> &KernelFunc {
        &self.functions[f.index()]
    }
}

/// What host functions reach through their `FunctionEnv`: wasmer gives them no view of the caller's exports, so
/// the handles they need are kept here once the instances exist.
pub(crate) struct Env<S> {
    pub state: S,
    /// The kernel's exports, set right after the kernel is instantiated, before any host function can run.
    kernel: Option<KernelExports>,
    /// The exported `memory` of each instance that can call host functions (the kernel first), indexed by the
    /// slot its host functions were created with. A command module has one slot, updated for each fresh instance.
    pub memories: Vec<Option<Memory>>,
}

impl<S> Env<S> {
    pub(crate) fn kernel(&self) -> &KernelExports {
        self.kernel
            .as_ref()
            .expect("WasmerStore::new instantiates the kernel before any host function exists")
    }
}

/// A module instance in a [`WasmerStore`]: its slot in the store's instance list.
///
/// A slot rather than a `wasmer::Instance`, whose clone copies its whole export map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WasmerInstance(pub(crate) usize);

/// What a name in the store's linker stands for.
enum Definition<S> {
    /// An export of an instance (the kernel's, or a registered module's).
    Extern(Extern),
    /// A host function; each instance that imports it gets its own wasmer function, which knows the instance.
    Host(HostFunction<S>),
}

/// Fuel metering of a store whose engine meters fuel.
struct Fuel {
    /// The fuel global of the plug-in's metered instance, once it exists.
    global: Option<Global>,
    /// The fuel last set, given to the metered instance when it is created.
    value: u64,
}

/// A wasmer store and its linker for one plug-in.
pub struct WasmerStore<S: HostState> {
    store: Store,
    env: FunctionEnv<Env<S>>,
    /// Namespace → name → definition. Later definitions replace earlier ones, like a linker with shadowing.
    linker: HashMap<String, HashMap<String, Definition<S>>>,
    instances: Vec<Instance>,
    /// The same handles as in the env, kept here so that the call path does not look them up in the store.
    kernel: KernelExports,
    limits: Arc<StoreLimits>,
    /// The interrupt flags of the instrumented instances, for this thread (other threads use `limits.flags`).
    flags: LocalFlags,
    interrupt: Option<Arc<Interrupt>>,
    /// `Some` when the engine meters fuel.
    fuel: Option<Fuel>,
}

// SAFETY: `wasmer::Store` is not `Send` for three reasons only, found by asking the compiler to prove it `Send` and
// reading wasmer 7.4.2's sources behind each failure:
// 1. raw pointers in its object lists (`VMInstance`'s `NonNull<Instance>`, `MaybeInstanceOwned`'s pointers to
//    tables, globals and function records, `VMCallerCheckedAnyfunc`'s code and context pointers). They point into
//    allocations that the store itself owns (instances and their `VMContext`s) or into compiled code kept alive and
//    immutable by the `Module`s the store's instances hold. No other store or thread shares them.
// 2. type-erased boxes without a `Send` bound: `VMFunction::host_data: Box<dyn Any>` and `StoreInner::on_called`.
//    wasmer only ever puts `()` or host-function closures in `host_data`, and its public constructors
//    (`Function::new_with_env`, `Function::new_typed_with_env`, `StoreMut::on_called`) require those closures to be
//    `Send + Sync`; this backend creates host functions only through `Function::new_with_env`, whose closures
//    capture `Send + Sync` data, and never sets `on_called`.
// 3. interior mutability (`RefCell`s inside `Instance`), which rules out `Sync`, not `Send`.
// Thread-local state: wasmer records the running store in thread-locals (the store-context stack, the trap handler's
// call state) only for the duration of a call, and removes it when the call returns. The experimental async and
// host-interrupt features, which keep more per-thread state, are not enabled. Everything that could reach the store
// is owned by this `WasmerStore` (handles to its objects are plain indexes that need the store to be used), and every
// use of the store needs `&self` or `&mut self` of the wrapper: moving the wrapper to another thread therefore moves
// all of it, at a moment when no call into it is running, which is exactly the "one thread at a time" that the
// non-`Send` parts need. `WasmerStore` is deliberately not `Sync`.
unsafe impl<S: HostState> Send for WasmerStore<S> {}

impl<S: HostState> Drop for WasmerStore<S> {
    fn drop(&mut self) {
        // Before the instances (and their interrupt flags) are freed: other threads may still hold the waker.
        self.limits.flags.clear();
    }
}

impl<S: HostState> WasmerStore<S> {
    /// A store with the kernel instantiated and `kernel_exports` (the ones the core lists) defined under
    /// `extism:host/env`.
    pub(crate) fn new(
        engine: &WasmerEngine,
        kernel: &Module,
        kernel_exports: &[&'static str],
        state: S,
    ) -> Result<WasmerStore<S>, Error> {
        let mut store = Store::new(engine.engine().clone());
        let env = FunctionEnv::new(
            &mut store,
            Env {
                state,
                kernel: None,
                memories: Vec::new(),
            },
        );
        let limits = StoreLimits::new();
        // The kernel imports nothing and is not instrumented (no flags, no start function).
        let (instance, _) = crate::tunables::instantiating(&limits, || {
            Instance::new(&mut store, kernel, &Imports::new()).map_err(Box::new)
        });
        let instance = instance
            .map_err(to_anyhow)
            .map_err(|e| e.context("unable to instantiate the Extism kernel"))?;
        let exports = KernelExports::new(&store, &instance)?;
        let data = env.as_mut(&mut store);
        data.kernel = Some(exports.clone());
        data.memories.push(Some(exports.memory.clone()));
        let mut this = WasmerStore {
            store,
            env,
            linker: HashMap::new(),
            instances: vec![instance],
            kernel: exports,
            limits,
            flags: LocalFlags::default(),
            interrupt: None,
            fuel: engine.meters_fuel().then_some(Fuel { global: None, value: 0 }),
        };
        let names = this.linker.entry(EXTISM_ENV_MODULE.to_string()).or_default();
        for &name in kernel_exports {
            let export = this.instances[0]
                .exports
                .get_extern(name)
                .ok_or_else(|| anyhow!("the Extism kernel has no export `{name}`"))?;
            names.insert(name.to_string(), Definition::Extern(export.clone()));
        }
        Ok(this)
    }

    /// Before guest code runs: forget a refused memory growth, and set every interrupt flag to whether an
    /// interrupt is pending (a flag may still be raised from an earlier call or by the memory budget).
    fn arm(&mut self) {
        self.limits.take_exceeded();
        match &self.interrupt {
            // Only this thread (a refused memory growth) can have raised a flag.
            None => {
                if self.flags.any_raised() {
                    self.flags.set_all(false);
                }
            }
            // A request made before this point is seen here; one made after it raises the flags afterwards.
            Some(interrupt) => self.limits.flags.arm(&self.flags, || interrupt.is_requested()),
        }
    }

    /// After a call into the store: the result, or why it failed.
    fn finish<T>(&mut self, result: Result<T, RuntimeError>) -> Result<T, CallError> {
        if self.limits.take_exceeded() {
            return Err(CallError::MemoryLimit);
        }
        result.map_err(|e| self.classify(e))
    }

    fn classify(&mut self, error: RuntimeError) -> CallError {
        let error = match host_failure(error) {
            Ok(e) => return CallError::Host(e),
            Err(error) => error,
        };
        if self.fuel_remaining() == Some(0) {
            return CallError::OutOfFuel;
        }
        if self.flags.any_raised() {
            return CallError::Interrupted;
        }
        trap(&error)
    }

    fn instantiation_error(&mut self, error: InstantiationError) -> CallError {
        if self.limits.take_exceeded() {
            return CallError::MemoryLimit;
        }
        match error {
            InstantiationError::Start(e) => self.classify(e),
            other => CallError::Other(to_anyhow(other)),
        }
    }

    /// The imports of `module` for the instance that will take `slot`.
    fn imports_for(&mut self, module: &Module, slot: usize) -> Imports {
        let mut imports = Imports::new();
        for import in module.imports() {
            let (namespace, name) = (import.module(), import.name());
            // Undefined imports are left out: wasmer's error names them.
            match self.linker.get(namespace).and_then(|names| names.get(name)) {
                Some(Definition::Extern(e)) => imports.define(namespace, name, e.clone()),
                Some(Definition::Host(f)) => {
                    let f = host_call::function(&mut self.store, &self.env, f, slot);
                    imports.define(namespace, name, f)
                }
                None => {}
            }
        }
        imports
    }

    fn instance(&self, instance: &WasmerInstance) -> &Instance {
        &self.instances[instance.0]
    }
}

impl<S: HostState> KernelAccess<S> for WasmerStore<S> {
    fn memory_and_state(&mut self) -> (&mut [u8], &mut S) {
        // SAFETY: both results borrow `self` mutably, store included; the kernel memory is not part of the state.
        let bytes = unsafe { memory_bytes(&self.kernel.memory, &self.store) };
        (bytes, &mut self.env.as_mut(&mut self.store).state)
    }

    #[inline(always)]
    fn call_kernel(&mut self, function: KernelFn, arg: u64) -> Result<u64, CallError> {
        let r = self.kernel.function(function).call(&mut self.store, arg);
        self.finish(r)
    }
}

/// The bytes of `memory`.
///
/// # Safety
/// The caller chooses the lifetime `'a` and must tie it to a borrow of the store that `memory` belongs to (mutable
/// for a mutable use), taken before this call: while the store is borrowed no wasm runs, and nothing can grow
/// (move) or free the memory. No other slice of the same memory may be live during `'a`.
pub(crate) unsafe fn memory_bytes<'a>(memory: &Memory, store: &impl wasmer::AsStoreRef) -> &'a mut [u8] {
    let view = memory.view(store);
    let (ptr, len) = (view.data_ptr(), view.data_size() as usize);
    if len == 0 {
        return &mut [];
    }
    // SAFETY: `ptr..ptr + len` is the memory's current accessible range. The buffer is owned by the store's memory
    // object, not by any Rust value that could be borrowed at the same time, and the caller keeps the store borrowed
    // for as long as the slice lives (see above).
    unsafe { std::slice::from_raw_parts_mut(ptr, len) }
}

/// An export of a command module, called from another module: each call runs on a fresh instance.
struct Command {
    module: Module,
    imports: Imports,
    limits: Arc<StoreLimits>,
    memory_slot: usize,
    export: String,
}

impl Command {
    fn call<S: HostState>(
        &self,
        env: &mut FunctionEnvMut<Env<S>>,
        params: &[Value],
    ) -> Result<Vec<Value>, RuntimeError> {
        // Bounded: this instance lives as long as the store (see `count_command_instance`).
        (env.data_mut().state.count_command_instance())
            .map_err(|e| RuntimeError::user(Box::new(crate::errors::HostFailure(e))))?;
        let (result, flags) = crate::tunables::instantiating(&self.limits, || {
            Instance::new(&mut *env, &self.module, &self.imports).map_err(Box::new)
        });
        let instance = result.map_err(|e| match *e {
            InstantiationError::Start(e) => e,
            other => RuntimeError::user(Box::new(other)),
        })?;
        // Other threads reach the new instance's interrupt flag from now on; one raised already applies to it.
        let interrupted = self.limits.flags.any_raised();
        self.limits.flags.add(&flags);
        if interrupted {
            self.limits.flags.raise();
        }
        env.data_mut().memories[self.memory_slot] = instance.exports.get_memory("memory").ok().cloned();
        if let Ok(start) = instance.exports.get_function(START_EXPORT) {
            start.call(&mut *env, &[])?;
        }
        let func = instance
            .exports
            .get_function(&self.export)
            .map_err(|_| RuntimeError::new(missing_command_export(&self.export).to_string()))?;
        Ok(func.call(&mut *env, params)?.into_vec())
    }
}

/// A callable plug-in export.
#[derive(Clone)]
pub enum WasmerExport {
    /// `() -> ()`
    NoResult(TypedFunction<(), ()>),
    /// `() -> i32`
    I32Result(TypedFunction<(), i32>),
}

impl<S: HostState> PluginStore<Wasmer, S> for WasmerStore<S> {
    fn state(&self) -> &S {
        &self.env.as_ref(&self.store).state
    }

    fn state_mut(&mut self) -> &mut S {
        &mut self.env.as_mut(&mut self.store).state
    }

    fn define_function(&mut self, function: &HostFunction<S>) -> Result<(), Error> {
        self.linker
            .entry(function.namespace.clone())
            .or_default()
            .insert(function.name.clone(), Definition::Host(function.clone()));
        Ok(())
    }

    fn instantiate(&mut self, module: &Module) -> Result<WasmerInstance, CallError> {
        let instrumented = module
            .exports()
            .any(|e| e.name() == crate::instrument::INTERRUPT_GLOBAL);
        let metered = module.exports().any(|e| e.name() == FUEL_GLOBAL);
        // The core refuses fuel limits for plug-ins of several modules on this engine (see `Wasmer::CAPABILITIES`),
        // so at most one metered instance exists at a time.
        // The instance's slot among the memories host functions see (see `Env::memories`).
        let memory_slot = self.env.as_ref(&self.store).memories.len();
        let imports = self.imports_for(module, memory_slot);
        // Boxed: wasmer's `InstantiationError` is large, and only the failure path carries it.
        let (result, flags) = crate::tunables::instantiating(&self.limits, || {
            Instance::new(&mut self.store, module, &imports).map_err(Box::new)
        });
        let instance = result.map_err(|e| self.instantiation_error(*e))?;
        let slot = self.instances.len();
        if instrumented {
            self.flags.add(&flags);
            self.limits.flags.add(&flags);
        }
        let memory = instance.exports.get_memory("memory").ok().cloned();
        self.env.as_mut(&mut self.store).memories.push(memory);
        if metered && let Some(fuel) = self.fuel.as_mut() {
            let global = instance
                .exports
                .get_global(FUEL_GLOBAL)
                .map_err(|e| CallError::Other(to_anyhow(e)))?
                .clone();
            global
                .set(&mut self.store, Value::I64(fuel.value as i64))
                .map_err(|e| CallError::Other(to_anyhow(e)))?;
            fuel.global = Some(global);
        }
        let start = instance
            .exports
            .get_typed_function::<(), ()>(&self.store, START_EXPORT)
            .ok();
        self.instances.push(instance);
        if let Some(start) = start {
            self.arm();
            let r = start.call(&mut self.store);
            if let Err(e) = self.finish(r) {
                // The instance is unusable; a later instantiation of the module (the core retries on the next
                // call) is the plug-in's one metered instance, not a second one.
                if metered && let Some(fuel) = self.fuel.as_mut() {
                    fuel.global = None;
                }
                return Err(e);
            }
        }
        Ok(WasmerInstance(slot))
    }

    fn register_command(&mut self, name: &str, module: &Module) -> Result<(), Error> {
        // The imports as the linker has them now (kernel, host functions, modules registered so far), which is what
        // the command module can import; its host functions see the memory of the instance currently running.
        let memory_slot = {
            let memories = &mut self.env.as_mut(&mut self.store).memories;
            memories.push(None);
            memories.len() - 1
        };
        let imports = self.imports_for(module, memory_slot);
        let names = self.linker.entry(name.to_string()).or_default();
        for export in module.exports() {
            let (wasmer::ExternType::Function(ty), false) = (export.ty(), is_hidden_export(export.name())) else {
                continue;
            };
            let command = Command {
                module: module.clone(),
                imports: imports.clone(),
                limits: self.limits.clone(),
                memory_slot,
                export: export.name().to_string(),
            };
            let forward = wasmer::Function::new_with_env(
                &mut self.store,
                &self.env,
                ty.clone(),
                move |mut env: FunctionEnvMut<Env<S>>, params: &[Value]| command.call(&mut env, params),
            );
            names.insert(export.name().to_string(), Definition::Extern(forward.into()));
        }
        Ok(())
    }

    fn register(&mut self, name: &str, instance: &WasmerInstance) -> Result<(), Error> {
        let names = self.linker.entry(name.to_string()).or_default();
        for (export, value) in self.instances[instance.0].exports.iter() {
            if !is_hidden_export(export) {
                names.insert(export.clone(), Definition::Extern(value.clone()));
            }
        }
        Ok(())
    }

    fn export(&mut self, instance: &WasmerInstance, name: &str, shape: ExportShape) -> Option<WasmerExport> {
        let exports = &self.instances[instance.0].exports;
        match shape {
            ExportShape::NoResult => exports
                .get_typed_function(&self.store, name)
                .ok()
                .map(WasmerExport::NoResult),
            ExportShape::I32Result => exports
                .get_typed_function(&self.store, name)
                .ok()
                .map(WasmerExport::I32Result),
        }
    }

    fn call(&mut self, export: &WasmerExport) -> Result<i32, CallError> {
        self.arm();
        let r = match export {
            WasmerExport::NoResult(f) => f.call(&mut self.store).map(|()| 0),
            WasmerExport::I32Result(f) => f.call(&mut self.store),
        };
        self.finish(r)
    }

    fn kernel_instance(&self) -> WasmerInstance {
        WasmerInstance(0)
    }

    /// The instance's exported memories and globals, but the globals the backend's instrumentation adds.
    fn snapshot(&mut self, instance: &WasmerInstance) -> InstanceSnapshot {
        let exports: Vec<(String, Extern)> = self
            .instance(instance)
            .exports
            .iter()
            .filter(|(name, _)| !is_hidden_export(name))
            .map(|(name, export)| (name.clone(), export.clone()))
            .collect();
        let mut snapshot = InstanceSnapshot::default();
        for (_, export) in exports {
            match export {
                // SAFETY: the slice borrows the store only for the copy.
                Extern::Memory(memory) => snapshot
                    .memories
                    .push(unsafe { memory_bytes(&memory, &self.store) }.to_vec()),
                Extern::Global(global) => {
                    let mutable = global.ty(&self.store).mutability.is_mutable();
                    let (ty, value) = match global.get(&mut self.store) {
                        value @ (Value::I32(_) | Value::I64(_) | Value::F32(_) | Value::F64(_) | Value::V128(_)) => {
                            let value = from_wasmer(&value);
                            (value.ty(), Some(value))
                        }
                        Value::FuncRef(_) => (ValType::FuncRef, None),
                        _ => (ValType::ExternRef, None),
                    };
                    snapshot.globals.push(GlobalSnapshot { ty, mutable, value });
                }
                _ => {}
            }
        }
        snapshot
    }

    fn call_function(&mut self, instance: &WasmerInstance, name: &str, args: &[Val]) -> Result<Vec<Val>, CallError> {
        let func = self
            .instance(instance)
            .exports
            .get_function(name)
            .map_err(|_| CallError::Other(anyhow!("no function export named `{name}`")))?
            .clone();
        let args: Vec<Value> = args.iter().map(|a| to_wasmer(*a)).collect();
        self.arm();
        let r = func.call(&mut self.store, &args);
        let results = self.finish(r)?;
        Ok(results.iter().map(from_wasmer).collect())
    }

    fn kernel_memory(&self) -> &[u8] {
        // SAFETY: the slice borrows `self` (store included) immutably, and is returned as a shared slice.
        unsafe { memory_bytes(&self.kernel.memory, &self.store) }
    }

    fn set_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        let Some(state) = self.fuel.as_mut() else {
            return Err(anyhow!(
                "the wasmer backend meters fuel only when the engine is created with fuel enabled"
            ));
        };
        state.value = fuel;
        if let Some(global) = &state.global {
            global
                .set(&mut self.store, Value::I64(fuel as i64))
                .map_err(to_anyhow)?;
        }
        Ok(())
    }

    fn fuel_remaining(&mut self) -> Option<u64> {
        let state = self.fuel.as_ref()?;
        match &state.global {
            Some(global) => match global.get(&mut self.store) {
                Value::I64(v) => Some(v as u64),
                _ => None,
            },
            None => Some(state.value),
        }
    }

    fn set_memory_budget(&mut self, bytes: Option<u64>) -> Result<(), Error> {
        self.limits.set_budget(bytes);
        Ok(())
    }

    fn set_table_element_limit(&mut self, elements: u32) -> Result<(), Error> {
        self.limits.set_max_table_elements(elements);
        Ok(())
    }

    fn enable_interrupts(&mut self, interrupt: Arc<Interrupt>) -> Result<(), Error> {
        let limits = self.limits.clone();
        // Weak: the interrupt owns its waker.
        let flag = Arc::downgrade(&interrupt);
        interrupt.set_waker(Box::new(move || {
            limits
                .flags
                .raise_if(|| flag.upgrade().is_some_and(|i| i.is_requested()))
        }));
        self.interrupt = Some(interrupt);
        Ok(())
    }
}
