//! The seam between the engine-neutral core and a WebAssembly engine.
//!
//! A backend crate implements [`EngineApi`] (engine objects as associated types) and [`PluginStore`] (one plug-in's
//! store: its linker, its instances, the kernel). The core is generic over `B: EngineApi` and calls it with static
//! dispatch. A backend translates the core's needs into its engine's API and implements no Extism semantics: vars,
//! config, the call protocol, error mapping and manifest rules all live in the core.

use std::sync::Arc;

use anyhow::Error;

use crate::function::Function;
use crate::state::PluginState;
use crate::val::{FuncType, Val};

/// Knobs that configure an engine.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineOptions {
    /// Meter fuel, so that [`PluginStore::set_fuel`] can limit calls. Engines that need metering compiled into the
    /// code (wasmtime, wasmer) pay for it only when this is set.
    pub fuel: bool,
    /// The plug-in's table limit, as the core resolved it (see [`crate::PluginOptions::max_table_elements`]).
    /// Enforced per store ([`PluginStore::set_table_element_limit`]); an engine whose instance allocator has its own
    /// table capacity uses it to decide what that allocator may hold.
    pub max_table_elements: u32,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            fuel: false,
            max_table_elements: crate::DEFAULT_MAX_TABLE_ELEMENTS,
        }
    }
}

/// The error a backend returns for something its engine cannot do: it names the engine and the capability.
pub fn unsupported(engine: &str, capability: &str) -> Error {
    anyhow::anyhow!("the {engine} backend does not support {capability}")
}

/// A WebAssembly engine the core can run plug-ins on: what a backend crate implements (on a marker type such as
/// `extism_wasmtime::Wasmtime`).
///
/// Named `EngineApi` (after wgpu-hal's `Api`) rather than `Engine`, which is its associated type (the compilation
/// context), or `Backend`, which is the `extism` facade's public enum of compiled engines: one name per thing, so that
/// code using both never renames either.
pub trait EngineApi: Sized + Send + Sync + 'static {
    /// Lowercase engine name, used in error messages and in the run-time choice (`"wasmtime"`).
    const NAME: &'static str;
    /// Shared compilation context; cheap to clone.
    type Engine: Clone + Send + Sync + 'static;
    /// A compiled module; cheap to clone.
    type Module: Clone + Send + Sync + 'static;
    /// One plug-in's store: host state, linker, instances, the kernel instance.
    type Store: PluginStore<Self>;
    /// A module instance inside a store.
    type Instance: Clone + Send + 'static;
    /// A callable plug-in export (`() -> ()` or `() -> i32`) inside a store.
    type Export: Clone + Send + 'static;
    /// Linking prepared once per compiled plug-in and shared by all its stores: the host functions (for engines whose
    /// host functions are store-independent, e.g. a linker template; others may just keep the list) and whatever
    /// lets a store find the kernel exports without name lookups.
    type Functions: Send + Sync + 'static;

    /// Create an engine.
    fn new_engine(options: &EngineOptions) -> Result<Self::Engine, Error>;

    /// Compile binary wasm (the core has already turned WAT into binary).
    fn compile(engine: &Self::Engine, wasm: &[u8]) -> Result<Self::Module, Error>;

    /// Compile the Extism kernel ([`crate::kernel::KERNEL_WASM`]). Backends whose engines are shared between compiled
    /// plug-ins may compile it once per engine and hand out that module.
    fn compile_kernel(engine: &Self::Engine) -> Result<Self::Module, Error> {
        Self::compile(engine, crate::kernel::KERNEL_WASM)
    }

    /// The imports of a module, in declaration order.
    fn imports(module: &Self::Module) -> Vec<ImportInfo>;

    /// The exports of a module.
    fn exports(module: &Self::Module) -> Vec<ExportInfo>;

    /// Prepare linking for [`EngineApi::new_store`], once per compiled plug-in: the host functions `functions` (later
    /// ones shadow earlier ones of the same namespace and name) and the kernel exports named in `kernel_exports`
    /// (the ones some module imports under `extism:host/env` and no host function shadows). For engines that size per-store
    /// resources from the plug-in's modules: `modules` are those every store instantiates once (linked modules and
    /// the main module), `commands` the linked command modules, instantiated afresh for every call into them.
    fn prepare_functions(
        engine: &Self::Engine,
        kernel: &Self::Module,
        modules: &[&Self::Module],
        commands: &[&Self::Module],
        kernel_exports: &[&'static str],
        functions: &[Function],
    ) -> Result<Self::Functions, Error>;

    /// A new store holding `state`, in which modules link against the prepared host functions and the kernel's
    /// exports. The kernel (which imports nothing) is instantiated here, and the store keeps handles to the kernel
    /// exports the core calls ([`KernelAccess`], [`PluginStore::begin_call`], [`PluginStore::end_call`]).
    fn new_store(
        engine: &Self::Engine,
        kernel: &Self::Module,
        functions: &Self::Functions,
        state: PluginState,
    ) -> Result<Self::Store, Error>;
}

/// One plug-in's store.
///
/// Also gives the core access to the kernel between calls through [`KernelAccess`].
pub trait PluginStore<B: EngineApi>: KernelAccess + Send + 'static {
    /// The host state.
    fn state(&self) -> &PluginState;

    /// The host state, mutable.
    fn state_mut(&mut self) -> &mut PluginState;

    /// Define a host function as `namespace::name` in this store's linker, beyond the prepared ones. A later
    /// definition of the same name replaces an earlier one (users may shadow built-ins).
    fn define_function(&mut self, namespace: &str, name: &str, function: &Function) -> Result<(), Error>;

    /// Instantiate a module against the linker (its start function, if any, runs).
    fn instantiate(&mut self, module: &B::Module) -> Result<B::Instance, CallError>;

    /// Define every export of `instance` under module name `name` in the linker.
    fn register(&mut self, name: &str, instance: &B::Instance) -> Result<(), Error>;

    /// Make the function exports of `module` importable under `name` with command semantics: every call to one of
    /// them instantiates `module` afresh (running its start function), calls the export and discards the instance.
    fn register_command(&mut self, name: &str, module: &B::Module) -> Result<(), Error> {
        let _ = (name, module);
        Err(unsupported(
            B::NAME,
            "command modules (modules exporting `_start`) linked into other modules",
        ))
    }

    /// Look up a function export by name; the core has checked that its type is `() -> ()` or `() -> i32`.
    fn export(&mut self, instance: &B::Instance, name: &str, shape: ExportShape) -> Option<B::Export>;

    /// Call an export with no arguments. Returns its `i32` result, or 0 for a `() -> ()` export.
    fn call(&mut self, export: &B::Export) -> Result<i32, CallError>;

    /// The kernel's instance (for [`PluginStore::call_function`]).
    fn kernel_instance(&self) -> B::Instance;

    /// Call any function export with any arguments. The slow, general path: for guest-runtime initialisers such as
    /// `hs_init(argc, argv)` and for tests, never for the per-call hot path.
    fn call_function(&mut self, instance: &B::Instance, name: &str, args: &[Val]) -> Result<Vec<Val>, CallError>;

    /// Kernel `extism_host_call_begin(len)`: reset, allocate the input, record it. Returns the input offset.
    fn begin_call(&mut self, input_len: u64) -> Result<u64, CallError>;

    /// Kernel `extism_host_call_end()`: the address of the 32-byte call record (see [`crate::kernel::CallRecord`]).
    fn end_call(&mut self) -> Result<u64, CallError>;

    /// The kernel's linear memory, for reading output between calls.
    fn kernel_memory(&self) -> &[u8];

    /// Set the fuel available to the next call. Only called when the engine was created with
    /// [`EngineOptions::fuel`]; running out fails the call with [`CallError::OutOfFuel`].
    fn set_fuel(&mut self, fuel: u64) -> Result<(), Error> {
        let _ = fuel;
        Err(unsupported(B::NAME, "fuel limits"))
    }

    /// Fuel left after the last call, when fuel is metered.
    fn fuel_remaining(&mut self) -> Option<u64> {
        None
    }

    /// From now on, let all memories of this store together grow by at most `bytes` more (`None`: no limit).
    /// Creating a memory counts as growing it from 0 to its initial size. Growth past the budget fails the running
    /// call with [`CallError::MemoryLimit`] (a trap, not `memory.grow = -1`).
    fn set_memory_budget(&mut self, bytes: Option<u64>) -> Result<(), Error> {
        match bytes {
            None => Ok(()),
            Some(_) => Err(unsupported(B::NAME, "memory limits")),
        }
    }

    /// From now on, let no table of this store hold more than `elements` elements: `table.grow` past it returns -1,
    /// and instantiating a module whose table starts larger fails.
    fn set_table_element_limit(&mut self, elements: u32) -> Result<(), Error> {
        let _ = elements;
        Err(unsupported(B::NAME, "table size limits"))
    }

    /// Make calls in this store stop with [`CallError::Interrupted`] soon after `interrupt` is requested from any
    /// thread. The backend installs a waker on `interrupt` if its engine needs one to notice the flag.
    fn enable_interrupts(&mut self, interrupt: Arc<crate::Interrupt>) -> Result<(), Error> {
        let _ = interrupt;
        Err(unsupported(B::NAME, "timeouts and cancellation"))
    }
}

/// What the core needs of the kernel, from outside a call and from inside a host function alike.
///
/// Memory returned here is the **kernel's** linear memory: every Extism handle is an offset into it.
pub trait KernelAccess {
    /// Kernel memory and the host state, borrowed together.
    fn memory_and_state(&mut self) -> (&mut [u8], &mut PluginState);
    /// Kernel `alloc(n)`.
    fn kernel_alloc(&mut self, n: u64) -> Result<u64, Error>;
    /// Kernel `free(p)`.
    fn kernel_free(&mut self, p: u64) -> Result<(), Error>;
    /// Kernel `length(p)`.
    fn kernel_length(&mut self, p: u64) -> Result<u64, Error>;
    /// Kernel `error_set(p)`.
    fn kernel_error_set(&mut self, p: u64) -> Result<(), Error>;
    /// Kernel `error_get()`.
    fn kernel_error_get(&mut self) -> Result<u64, Error>;
    /// Kernel `reset()`.
    fn kernel_reset(&mut self) -> Result<(), Error>;

    /// Inside a host call: the calling instance's own exported `memory` (not the kernel's) with the host state, for
    /// host functions that take pointers into the guest, such as WASI. `None` outside a host call or when the caller
    /// exports no memory.
    fn guest_memory_and_state(&mut self) -> Option<(&mut [u8], &mut PluginState)> {
        None
    }
}

/// The shape of a callable plug-in export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportShape {
    /// `() -> ()`
    NoResult,
    /// `() -> i32`
    I32Result,
}

/// The kind of an import or export. Public through the facade's `module_info`, so new kinds may come.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExternKind {
    /// A function with its signature.
    Func(FuncType),
    /// A linear memory.
    Memory,
    /// A table.
    Table,
    /// A global.
    Global,
    /// Anything else (tags, …).
    Other,
}

impl std::fmt::Display for ExternKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExternKind::Func(_) => f.write_str("function"),
            ExternKind::Memory => f.write_str("memory"),
            ExternKind::Table => f.write_str("table"),
            ExternKind::Global => f.write_str("global"),
            ExternKind::Other => f.write_str("extern"),
        }
    }
}

/// An import of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportInfo {
    /// Module name (namespace).
    pub module: String,
    /// Item name.
    pub name: String,
    /// What is imported.
    pub kind: ExternKind,
}

/// An export of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportInfo {
    /// Export name.
    pub name: String,
    /// What is exported.
    pub kind: ExternKind,
}

/// A host function's error, for backends to carry through their engine's own error type unchanged, so that
/// [`CallError::Host`] gets the original error back (engines whose host errors need more bounds wrap it themselves).
#[derive(Debug)]
pub struct HostFailure(pub Error);

impl std::fmt::Display for HostFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for HostFailure {}

/// Why a wasm call failed, as classified by the backend. Public through the facade (hosts tell limits apart with it),
/// so new kinds may come: match with a wildcard arm.
#[derive(Debug)]
#[non_exhaustive]
pub enum CallError {
    /// The engine trapped (unreachable, out-of-bounds access, stack overflow, …); the engine's message.
    Trap(String),
    /// The call was interrupted (timeout or cancel).
    Interrupted,
    /// The call ran out of fuel.
    OutOfFuel,
    /// A memory grew past the plug-in's budget.
    MemoryLimit,
    /// WASI `proc_exit(code)`.
    Exit(i32),
    /// A host function failed; its error, unchanged.
    Host(Error),
    /// Anything else the engine reports (link errors, …).
    Other(Error),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Trap(msg) => f.write_str(msg),
            CallError::Interrupted => f.write_str("timeout"),
            CallError::OutOfFuel => f.write_str("plugin ran out of fuel"),
            CallError::MemoryLimit => f.write_str("oom"),
            // The text wasmtime and wasi-common give, which upstream Extism reports.
            CallError::Exit(code) => write!(f, "Exited with i32 exit status {code}"),
            CallError::Host(e) | CallError::Other(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CallError {}

impl CallError {
    /// The limit this error reports (timeout or cancel, fuel, memory budget), as a fresh value; `None` for others.
    pub fn as_limit(&self) -> Option<CallError> {
        match self {
            CallError::Interrupted => Some(CallError::Interrupted),
            CallError::OutOfFuel => Some(CallError::OutOfFuel),
            CallError::MemoryLimit => Some(CallError::MemoryLimit),
            _ => None,
        }
    }

    /// The limit an error carries somewhere as a [`CallError`] (see [`CallError::as_limit`]).
    pub fn limit_in(error: &Error) -> Option<CallError> {
        error.downcast_ref::<CallError>().and_then(CallError::as_limit)
    }

    /// Convert into the public error type, keeping host-function errors as they were.
    pub fn into_error(self) -> Error {
        match self {
            CallError::Host(e) | CallError::Other(e) => e,
            other => Error::new(other),
        }
    }
}

/// A shared, type-erased host function implementation (see [`crate::Function`]).
pub type HostFunctionImpl =
    Arc<dyn Fn(&mut crate::CurrentPlugin<'_>, &[crate::Val], &mut [crate::Val]) -> Result<(), Error> + Send + Sync>;

/// Arguments and results of most host functions fit here without a heap allocation.
const INLINE_VALUES: usize = 8;

/// For an engine's dynamic host-call path: `params` converted to core values with `convert`, and `n_results` result
/// slots, both on the stack when there are at most eight, passed to `body` (which typically calls
/// [`Function::invoke`] and converts the results back).
pub fn with_host_values<P, R>(
    params: &[P],
    n_results: usize,
    convert: impl Fn(&P) -> Val,
    body: impl FnOnce(&[Val], &mut [Val]) -> R,
) -> R {
    let mut inline_args = [Val::I32(0); INLINE_VALUES];
    let heap_args: Vec<Val>;
    let args: &[Val] = if params.len() <= INLINE_VALUES {
        for (slot, p) in inline_args.iter_mut().zip(params) {
            *slot = convert(p);
        }
        &inline_args[..params.len()]
    } else {
        heap_args = params.iter().map(convert).collect();
        &heap_args
    };
    let mut inline_outs = [Val::I32(0); INLINE_VALUES];
    let mut heap_outs: Vec<Val>;
    let outs: &mut [Val] = if n_results <= INLINE_VALUES {
        &mut inline_outs[..n_results]
    } else {
        heap_outs = vec![Val::I32(0); n_results];
        &mut heap_outs
    };
    body(args, outs)
}
