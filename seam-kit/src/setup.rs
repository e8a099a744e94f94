//! The one place where the kit builds engines, modules and stores, and the only place it calls the kernel directly.
//!
//! Everything here goes through the seam's construction half (`new_engine`, `compile`, `compile_kernel`,
//! `prepare_functions`, `new_store`) and its kernel calls ([`KernelAccess::call_kernel`],
//! [`PluginStore::kernel_instance`]). The tests use only what this module returns and the seam's call-time surface
//! (`instantiate`, `register`, `register_command`, `export`, `call`, `call_function`, the limits, `define_function`, `state`,
//! `kernel_memory`), so a change to how stores are built or how the kernel is reached is a change to this file alone.
//!
//! No kit guest imports a kernel export (under `extism:host/env`), so stores are prepared with an empty list of them;
//! which kernel exports a plug-in links is the core's rule, tested by the conformance suite.

use anyhow::Error;
use extism_core::backend::{CallError, EngineApi, EngineOptions, KernelAccess, LinkingInputs, PluginStore};
use extism_core::kernel::KernelFn;
use extism_core::{Function, Manifest, PluginState, Uuid, Val};

/// An engine of `B` and its compiled kernel: what every store of a test is made from.
pub struct Setup<B: EngineApi> {
    engine: B::Engine,
    kernel: B::Module,
}

impl<B: EngineApi> Setup<B> {
    /// An engine that does not meter fuel (what a plug-in without a fuel limit gets).
    pub fn new() -> Setup<B> {
        Setup::with_fuel(false)
    }

    /// An engine that meters fuel (what a plug-in with a fuel limit gets).
    pub fn metering_fuel() -> Setup<B> {
        Setup::with_fuel(true)
    }

    fn with_fuel(fuel: bool) -> Setup<B> {
        let mut options = EngineOptions::default();
        options.fuel = fuel;
        let engine = B::new_engine(&options).unwrap_or_else(|e| panic!("{}: creating the engine: {e:#}", B::NAME));
        let kernel = B::compile_kernel(&engine, |wasm| B::compile(&engine, wasm))
            .unwrap_or_else(|e| panic!("{}: compiling the kernel: {e:#}", B::NAME));
        Setup { engine, kernel }
    }

    /// Compile a module given as WAT; the engine's error if it refuses it.
    pub fn try_compile(&self, wat: &str) -> Result<B::Module, Error> {
        let wasm = wat::parse_str(wat)?;
        B::compile(&self.engine, &wasm)
    }

    /// Compile a module given as WAT, which the engine must accept.
    #[track_caller]
    pub fn compile(&self, wat: &str) -> B::Module {
        self.try_compile(wat)
            .unwrap_or_else(|e| panic!("{}: compiling a kit guest: {e:#}", B::NAME))
    }

    /// A store in which `modules` will each be instantiated once, with `functions` prepared as its host functions.
    /// Nothing but the kernel is instantiated yet.
    pub fn store(&self, modules: &[&B::Module], functions: &[Function]) -> B::Store<PluginState> {
        self.store_with_commands(modules, &[], functions)
    }

    /// Like [`Setup::store`], for a plug-in that also links the command modules `commands` (instantiated afresh for
    /// every call into them).
    pub fn store_with_commands(
        &self,
        modules: &[&B::Module],
        commands: &[&B::Module],
        functions: &[Function],
    ) -> B::Store<PluginState> {
        let functions: Vec<_> = functions.iter().map(Function::to_host).collect();
        let inputs = LinkingInputs::kernel_only(&self.kernel)
            .with_modules(modules)
            .with_commands(commands)
            .with_functions(&functions);
        let prepared = B::prepare_functions(&self.engine, &inputs)
            .unwrap_or_else(|e| panic!("{}: preparing the host functions: {e:#}", B::NAME));
        B::new_store(&self.engine, &self.kernel, &prepared, new_state())
            .unwrap_or_else(|e| panic!("{}: creating a store: {e:#}", B::NAME))
    }
}

impl<B: EngineApi> Default for Setup<B> {
    fn default() -> Setup<B> {
        Setup::new()
    }
}

/// Host state for a new store: a fresh id, the default manifest.
pub fn new_state() -> PluginState {
    PluginState::new(Uuid::new_v4(), &Manifest::default())
}

/// The kernel's `extism_host_call_begin(input_len)`, as the core starts a call: reset, allocate the input, record it.
/// Returns the input's offset in kernel memory.
pub fn begin_call<B: EngineApi>(store: &mut B::Store<PluginState>, input_len: u64) -> Result<u64, CallError> {
    store.call_kernel(KernelFn::CallBegin, input_len)
}

/// The kernel's `extism_host_call_end()`, as the core ends a call: the address of the 32-byte call record.
pub fn end_call<B: EngineApi>(store: &mut B::Store<PluginState>) -> Result<u64, CallError> {
    store.call_kernel(KernelFn::CallEnd, 0)
}

/// Kernel `alloc(n)` from the host, between calls: the handle of `n` new bytes of kernel memory.
pub fn kernel_alloc<B: EngineApi>(store: &mut B::Store<PluginState>, n: u64) -> Result<u64, Error> {
    store.call_kernel(KernelFn::Alloc, n).map_err(CallError::into_error)
}

/// Kernel `length(handle)` from the host, between calls.
pub fn kernel_length<B: EngineApi>(store: &mut B::Store<PluginState>, handle: u64) -> Result<u64, Error> {
    store
        .call_kernel(KernelFn::Length, handle)
        .map_err(CallError::into_error)
}

/// Kernel `free(handle)` from the host, between calls.
pub fn kernel_free<B: EngineApi>(store: &mut B::Store<PluginState>, handle: u64) -> Result<(), Error> {
    store
        .call_kernel(KernelFn::Free, handle)
        .map(drop)
        .map_err(CallError::into_error)
}

/// Call the kernel's `alloc` then `length` through the general path ([`PluginStore::call_function`] on the kernel's
/// instance), which converts values both ways: the length `alloc(n)` recorded, as the kernel returns it.
pub fn kernel_alloc_and_length_by_name<B: EngineApi>(
    store: &mut B::Store<PluginState>,
    n: u64,
) -> Result<Vec<Val>, CallError> {
    let kernel = PluginStore::<B, PluginState>::kernel_instance(store);
    let handle = store.call_function(&kernel, "alloc", &[Val::I64(n as i64)])?;
    store.call_function(&kernel, "length", &handle)
}
