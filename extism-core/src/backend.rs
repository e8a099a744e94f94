//! The seam between the engine-neutral core and a WebAssembly engine.
//!
//! A backend crate implements [`EngineApi`] (engine objects as associated types) and [`PluginStore`] (one plug-in's
//! store: its linker, its instances, the kernel). The core is generic over `B: EngineApi` and calls it with static
//! dispatch. A backend translates the core's needs into its engine's API and implements no Extism semantics: vars,
//! config, the call protocol, the kernel's exports and what they mean ([`crate::kernel::KernelFn`]), which kernel
//! exports guests may import, error mapping and manifest rules all live in the core. What an engine cannot do, it
//! declares up front in [`EngineApi::CAPABILITIES`], which the core checks once, when a plug-in is compiled.
//!
//! The seam knows nothing of Extism's semantics: a store carries host state of a type the core chooses (any
//! [`HostState`]; the core's is its `PluginState`), and host functions reach a backend as [`HostFunction`]s, opaque
//! callbacks over raw values ([`HostCallback`]).

use std::sync::Arc;

use anyhow::Error;

use crate::coredump::InstanceSnapshot;
use crate::debug::{NativeConfig, Profiler};
use crate::kernel::KernelFn;
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
    /// A core dump will be written when a call traps: an engine that makes its own
    /// ([`PluginStore::take_engine_core_dump`]) turns that on; others need nothing.
    pub coredump: bool,
    /// Emit native debug info (DWARF) for generated code, for debuggers; only asked of engines whose
    /// [`Capabilities::debug_info`] is set.
    pub debug_info: bool,
    /// The profiler to report generated code to; only one of [`Capabilities::profilers`] (or none).
    pub profiler: Profiler,
    /// The engine's own configuration object to start from; only one whose kind is [`Capabilities::native_config`].
    pub native_config: Option<NativeConfig>,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            fuel: false,
            max_table_elements: crate::DEFAULT_MAX_TABLE_ELEMENTS,
            coredump: false,
            debug_info: false,
            profiler: Profiler::None,
            native_config: None,
        }
    }
}

/// The error for something an engine cannot do: it names the engine and the capability.
pub fn unsupported(engine: &str, capability: &str) -> Error {
    anyhow::anyhow!("the {engine} backend does not support {capability}")
}

/// What an engine can do beyond the baseline every backend must provide (instantiation, linking, calls, fuel,
/// memory and table limits, interrupts). The core checks these once, when a plug-in is compiled, and refuses what
/// the engine cannot run with an [`unsupported`] error naming the engine and the capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// One fuel limit can cover a plug-in made of several wasm modules (linked modules, command modules). False
    /// where an engine meters fuel per instance (wasmer's metering middleware keeps the count in a global of each
    /// instrumented instance).
    pub fuel_with_linked_modules: bool,
    /// Compiled modules can be saved in the on-disk compilation cache ([`crate::cache`]): the engine implements
    /// [`EngineApi::code_identity`], [`EngineApi::serialize`] and [`EngineApi::deserialize`]. False for engines
    /// with no compilation worth saving (interpreters that translate lazily, such as wasmi); a cache configured for
    /// them is simply not used.
    pub code_cache: bool,
    /// The profilers the engine can report its generated code to ([`EngineOptions::profiler`]); empty for engines
    /// that generate no native code or cannot.
    pub profilers: &'static [Profiler],
    /// The engine can emit native debug info for generated code ([`EngineOptions::debug_info`]).
    pub debug_info: bool,
    /// The kind of [`NativeConfig`] the engine takes as the base of its configuration (`"wasmtime::Config"`), if
    /// any.
    pub native_config: Option<&'static str>,
    /// Modules with more than one memory run (the multi-memory proposal), so the core may import the kernel's
    /// memory into a guest beside its own and rewrite the guest's calls to the kernel's memory accessors into loads
    /// and stores (see [`crate::PluginOptions::memory_rewrite`]). False: guests keep calling the kernel.
    pub multi_memory: bool,
    /// The memory accessor rewrite makes plug-ins faster on this engine (measured with `examples/memory_rewrite.rs`:
    /// echo faster at every size, noop and instantiation no slower), so the core applies it unless a plug-in's
    /// options or [`crate::NO_MEMORY_REWRITE_ENV`] turn it off. False for an engine where it does not pay: there it
    /// runs only when a plug-in asks for it. True for all four engines today. Implies
    /// [`Capabilities::multi_memory`].
    pub memory_rewrite_pays: bool,
    /// How the memory accessor rewrite makes room for the kernel memory in a plug-in's main module. True (every engine
    /// today): it moves the module's own memories (and their active data) to a module of their own, which the main
    /// module imports, so that no memory index changes: only the functions that call an accessor are decoded, the
    /// guest's memory keeps index 0 (the fast path of interpreters and the case engines optimise for), and each
    /// instantiation creates one more, memory-only, instance. False: the main module keeps its memories and its
    /// memory indices shift, which takes decoding every function (as much as wasmi's whole creation) and, measured
    /// with criterion's `instantiate` on kitchen.wasm, made instantiation and first call slower on wasmtime (+5-14 µs)
    /// and Pulley (+26 µs) than the extra instance does (+2-4 µs, and none measurable on wasmer and wasmi). Both
    /// give the same results (see `extism-core/src/rewrite.rs`).
    pub memory_rewrite_moves_memories: bool,
}

impl Capabilities {
    /// Everything the seam can ask for, but engine-specific settings: no profilers, no debug info, no native
    /// configuration (add them with [`Capabilities::with_debugging`]).
    pub const ALL: Capabilities = Capabilities {
        fuel_with_linked_modules: true,
        code_cache: true,
        profilers: &[],
        debug_info: false,
        native_config: None,
        multi_memory: true,
        memory_rewrite_pays: true,
        memory_rewrite_moves_memories: true,
    };

    /// These capabilities without fuel limits on multi-module plug-ins.
    pub const fn without_fuel_for_linked_modules(self) -> Capabilities {
        Capabilities {
            fuel_with_linked_modules: false,
            ..self
        }
    }

    /// These capabilities without the compilation cache.
    pub const fn without_code_cache(self) -> Capabilities {
        Capabilities {
            code_cache: false,
            ..self
        }
    }

    /// These capabilities with the engine's profilers, debug info, and native configuration kind.
    pub const fn with_debugging(
        self,
        profilers: &'static [Profiler],
        debug_info: bool,
        native_config: Option<&'static str>,
    ) -> Capabilities {
        Capabilities {
            profilers,
            debug_info,
            native_config,
            ..self
        }
    }

    /// These capabilities without multi-memory modules: the core leaves guests' calls to the kernel's memory
    /// accessors as they are.
    pub const fn without_multi_memory(self) -> Capabilities {
        Capabilities {
            multi_memory: false,
            memory_rewrite_pays: false,
            ..self
        }
    }

    /// These capabilities with the memory accessor rewrite shifting a main module's memory indices instead of
    /// moving its memories out of it (see [`Capabilities::memory_rewrite_moves_memories`]).
    pub const fn without_memory_rewrite_moving_memories(self) -> Capabilities {
        Capabilities {
            memory_rewrite_moves_memories: false,
            ..self
        }
    }

    /// These capabilities with [`Capabilities::memory_rewrite_pays`] as given (false: the rewrite runs only when a
    /// plug-in asks for it). Without [`Capabilities::multi_memory`] it stays false.
    pub const fn with_memory_rewrite_paying(self, pays: bool) -> Capabilities {
        Capabilities {
            memory_rewrite_pays: pays && self.multi_memory,
            ..self
        }
    }
}

/// The error for a fuel limit on a multi-module plug-in, on an engine without
/// [`Capabilities::fuel_with_linked_modules`].
pub fn fuel_with_linked_modules_unsupported(engine: &str) -> Error {
    unsupported(
        engine,
        &format!(
            "fuel limits for plug-ins made of more than one wasm module ({engine} meters fuel per module instance, so \
             one limit cannot cover them all)"
        ),
    )
}

/// What [`EngineApi::prepare_functions`] links, built by the core once per compiled plug-in. Engines take what they
/// need and ignore the rest.
#[non_exhaustive]
pub struct LinkingInputs<'a, B: EngineApi, S> {
    /// The compiled kernel.
    pub kernel: &'a B::Module,
    /// The modules every store instantiates once: linked reactor modules, then the main module (for engines that
    /// size per-store resources from them).
    pub modules: &'a [&'a B::Module],
    /// The linked command modules, instantiated afresh for every call into them.
    pub commands: &'a [&'a B::Module],
    /// The kernel exports to define under [`crate::EXTISM_ENV_MODULE`]: those some module imports and no host
    /// function shadows. A backend defines exactly these (never every kernel export).
    pub kernel_exports: &'a [&'static str],
    /// The host functions some module imports; a later one shadows an earlier one of the same namespace and name.
    pub functions: &'a [HostFunction<S>],
}

impl<'a, B: EngineApi, S> LinkingInputs<'a, B, S> {
    /// Inputs for a plug-in without modules or host functions beyond the kernel (tests and tools that drive the seam
    /// directly); fill in the rest with the `with_*` methods.
    pub fn kernel_only(kernel: &'a B::Module) -> LinkingInputs<'a, B, S> {
        LinkingInputs {
            kernel,
            modules: &[],
            commands: &[],
            kernel_exports: &[],
            functions: &[],
        }
    }

    /// The modules every store instantiates once.
    pub fn with_modules(mut self, modules: &'a [&'a B::Module]) -> Self {
        self.modules = modules;
        self
    }

    /// The linked command modules.
    pub fn with_commands(mut self, commands: &'a [&'a B::Module]) -> Self {
        self.commands = commands;
        self
    }

    /// The kernel exports guests import.
    pub fn with_kernel_exports(mut self, kernel_exports: &'a [&'static str]) -> Self {
        self.kernel_exports = kernel_exports;
        self
    }

    /// The host functions.
    pub fn with_functions(mut self, functions: &'a [HostFunction<S>]) -> Self {
        self.functions = functions;
        self
    }
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
    /// What this engine can do beyond the baseline, checked by the core when a plug-in is compiled.
    const CAPABILITIES: Capabilities;
    /// Shared compilation context; cheap to clone.
    type Engine: Clone + Send + Sync + 'static;
    /// A compiled module; cheap to clone.
    type Module: Clone + Send + Sync + 'static;
    /// One plug-in's store holding host state `S`: linker, instances, the kernel instance.
    type Store<S: HostState>: PluginStore<Self, S>;
    /// A module instance inside a store.
    type Instance: Clone + Send + 'static;
    /// A callable plug-in export (`() -> ()` or `() -> i32`) inside a store.
    type Export: Clone + Send + 'static;
    /// Linking prepared once per compiled plug-in and shared by all its stores: the host functions (for engines whose
    /// host functions are store-independent, e.g. a linker template; others may just keep the list) and whatever
    /// lets a store find the kernel exports without name lookups.
    type Functions<S: HostState>: Send + Sync + 'static;

    /// Create an engine.
    fn new_engine(options: &EngineOptions) -> Result<Self::Engine, Error>;

    /// Compile binary wasm (the core has already turned WAT into binary).
    fn compile(engine: &Self::Engine, wasm: &[u8]) -> Result<Self::Module, Error>;

    /// Compile the Extism kernel ([`crate::kernel::KERNEL_WASM`]) with `compile` (which the core gives: it compiles
    /// through the compilation cache, see [`crate::cache`]). Backends whose engines are shared between compiled
    /// plug-ins may call it once per engine and hand out that module.
    fn compile_kernel(
        _engine: &Self::Engine,
        compile: impl FnOnce(&[u8]) -> Result<Self::Module, Error>,
    ) -> Result<Self::Module, Error> {
        compile(crate::kernel::KERNEL_WASM)
    }

    /// What identifies the code `engine` generates besides the module (its exact version, and a fingerprint of the
    /// settings that change code: target, CPU features, fuel metering, interruption checks, …), for the compilation
    /// cache's key and entry header. `None` (the default): modules of this engine are never cached. Engines that
    /// return `Some` declare [`Capabilities::code_cache`].
    fn code_identity(_engine: &Self::Engine) -> Option<crate::cache::CodeIdentity> {
        None
    }

    /// The engine's own serialised form of `module`, for the compilation cache; `Ok(None)` if it has none.
    fn serialize(_engine: &Self::Engine, _module: &Self::Module) -> Result<Option<Vec<u8>>, Error> {
        Ok(None)
    }

    /// Load a module from what [`EngineApi::serialize`] returned.
    ///
    /// # Safety
    ///
    /// `bytes` become executable code: they must be exactly what `serialize` returned for a module compiled by an
    /// engine of this backend with the same [`EngineApi::code_identity`]. The core calls this only for cache entries
    /// whose header and payload hash it has verified (see [`crate::cache`]).
    unsafe fn deserialize(_engine: &Self::Engine, _bytes: &[u8]) -> Result<Self::Module, Error> {
        Err(unsupported(Self::NAME, "loading compiled modules"))
    }

    /// The imports of a module, in declaration order.
    fn imports(module: &Self::Module) -> Vec<ImportInfo>;

    /// The exports of a module.
    fn exports(module: &Self::Module) -> Vec<ExportInfo>;

    /// Prepare linking for [`EngineApi::new_store`], once per compiled plug-in (see [`LinkingInputs`]).
    fn prepare_functions<S: HostState>(
        engine: &Self::Engine,
        inputs: &LinkingInputs<'_, Self, S>,
    ) -> Result<Self::Functions<S>, Error>;

    /// A new store holding `state`, in which modules link against the prepared host functions and the kernel's
    /// exports. The kernel (which imports nothing) is instantiated here, and the store keeps handles to the kernel
    /// functions the core calls ([`KernelAccess::call_kernel`]).
    fn new_store<S: HostState>(
        engine: &Self::Engine,
        kernel: &Self::Module,
        functions: &Self::Functions<S>,
        state: S,
    ) -> Result<Self::Store<S>, Error>;
}

/// What the seam needs of the host state a store carries (the core's per-plug-in state, otherwise opaque to
/// backends).
pub trait HostState: Send + 'static {
    /// Count one more instance of a linked command module in this store (see [`PluginStore::register_command`]);
    /// fails when the store holds as many as it may, which fails the call into the command module.
    fn count_command_instance(&mut self) -> Result<(), Error>;
}

/// What a host function does, opaque to backends: given the store's view of the kernel and the arguments (already
/// checked against the function's type by the engine), it fills in `results` (one slot per declared result).
pub trait HostCallback<S>: Send + Sync + 'static {
    /// Run the function. `results` must hold the zero of each declared result type on entry (`Val::I64(0)` for an
    /// `i64` result, …; [`with_host_values`] prepares them so): the function may leave a slot untouched. On success
    /// every slot holds a value of its declared type. An error fails the calling wasm code with [`CallError::Host`]
    /// carrying it unchanged.
    fn call(&self, kernel: &mut dyn KernelAccess<S>, params: &[Val], results: &mut [Val]) -> Result<(), Error>;
}

/// A host function as a backend links it: `namespace::name`, its type and its behaviour.
pub struct HostFunction<S> {
    /// The import module name it is defined under.
    pub namespace: String,
    /// The import name.
    pub name: String,
    /// Its wasm type.
    pub ty: FuncType,
    /// What it does.
    pub callback: Arc<dyn HostCallback<S>>,
}

impl<S> Clone for HostFunction<S> {
    fn clone(&self) -> Self {
        HostFunction {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            ty: self.ty.clone(),
            callback: self.callback.clone(),
        }
    }
}

impl<S> std::fmt::Debug for HostFunction<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HostFunction({}::{} {})", self.namespace, self.name, self.ty)
    }
}

/// One plug-in's store.
///
/// Also gives the core access to the kernel between calls through [`KernelAccess`].
pub trait PluginStore<B: EngineApi, S: HostState>: KernelAccess<S> + Send + 'static {
    /// The host state.
    fn state(&self) -> &S;

    /// The host state, mutable.
    fn state_mut(&mut self) -> &mut S;

    /// Define a host function in this store's linker, beyond the prepared ones. A later definition of the same
    /// namespace and name replaces an earlier one (users may shadow built-ins).
    fn define_function(&mut self, function: &HostFunction<S>) -> Result<(), Error>;

    /// Instantiate a module against the linker (its start function, if any, runs).
    fn instantiate(&mut self, module: &B::Module) -> Result<B::Instance, CallError>;

    /// Define every export of `instance` under module name `name` in the linker.
    fn register(&mut self, name: &str, instance: &B::Instance) -> Result<(), Error>;

    /// Make the function exports of `module` importable under `name` with command semantics: every call to one of
    /// them instantiates `module` afresh (running its start function), calls the export and discards the instance.
    ///
    /// Each forwarding call first counts the instance with [`HostState::count_command_instance`] (which bounds how
    /// many a store may hold) and fails with its error; a command module without the called export fails with
    /// [`missing_command_export`].
    fn register_command(&mut self, name: &str, module: &B::Module) -> Result<(), Error>;

    /// Look up a function export by name; the core has checked that its type is `() -> ()` or `() -> i32`.
    fn export(&mut self, instance: &B::Instance, name: &str, shape: ExportShape) -> Option<B::Export>;

    /// Call an export with no arguments. Returns its `i32` result, or 0 for a `() -> ()` export.
    fn call(&mut self, export: &B::Export) -> Result<i32, CallError>;

    /// The kernel's instance (for [`PluginStore::call_function`]).
    fn kernel_instance(&self) -> B::Instance;

    /// Call any function export with any arguments. The slow, general path: for guest-runtime initialisers such as
    /// `hs_init(argc, argv)` and for tests, never for the per-call hot path.
    fn call_function(&mut self, instance: &B::Instance, name: &str, args: &[Val]) -> Result<Vec<Val>, CallError>;

    /// The kernel's linear memory, for reading output between calls.
    fn kernel_memory(&self) -> &[u8];

    /// Set the fuel available to the next call. Only called when the engine was created with
    /// [`EngineOptions::fuel`]; running out fails the call with [`CallError::OutOfFuel`].
    fn set_fuel(&mut self, fuel: u64) -> Result<(), Error>;

    /// Fuel left after the last call, when fuel is metered.
    fn fuel_remaining(&mut self) -> Option<u64>;

    /// From now on, let all memories of this store together grow by at most `bytes` more (`None`: no limit).
    /// Creating a memory counts as growing it from 0 to its initial size. Growth past the budget fails the running
    /// call with [`CallError::MemoryLimit`] (a trap, not `memory.grow = -1`).
    fn set_memory_budget(&mut self, bytes: Option<u64>) -> Result<(), Error>;

    /// From now on, let no table of this store hold more than `elements` elements: `table.grow` past it returns -1,
    /// and instantiating a module whose table starts larger fails.
    fn set_table_element_limit(&mut self, elements: u32) -> Result<(), Error>;

    /// Make calls in this store stop with [`CallError::Interrupted`] soon after `interrupt` is requested from any
    /// thread. The backend installs a waker on `interrupt` if its engine needs one to notice the flag.
    fn enable_interrupts(&mut self, interrupt: Arc<crate::Interrupt>) -> Result<(), Error>;

    /// The exported memories and globals of `instance`, copied, for a core dump after a trap (see
    /// [`crate::coredump`]).
    fn snapshot(&mut self, instance: &B::Instance) -> InstanceSnapshot;

    /// The engine's own core dump (a wasm module, tool-conventions format, with `name` in its `core` section) of the
    /// last [`PluginStore::call`] if it trapped, for engines that make them when created with
    /// [`EngineOptions::coredump`]. `None` (the default) lets the core write one with [`crate::coredump`].
    fn take_engine_core_dump(&mut self, name: &str) -> Option<Vec<u8>> {
        let _ = name;
        None
    }
}

/// What the core needs of the kernel, from outside a call and from inside a host function alike: its memory, and
/// calls to the functions of [`KernelFn`] (whose meaning is the core's business, not the backend's).
///
/// Memory returned here is the **kernel's** linear memory: every Extism handle is an offset into it.
pub trait KernelAccess<S> {
    /// Kernel memory and the host state, borrowed together.
    fn memory_and_state(&mut self) -> (&mut [u8], &mut S);

    /// Call the kernel function `function` with `arg` (ignored by functions that take no argument). Returns its
    /// result, or 0 for functions that return none (see [`KernelFn::signature`]).
    fn call_kernel(&mut self, function: KernelFn, arg: u64) -> Result<u64, CallError>;

    /// Inside a host call: the calling instance's own exported `memory` (not the kernel's) with the host state, for
    /// host functions that take pointers into the guest, such as WASI. `None` outside a host call or when the caller
    /// exports no memory.
    fn guest_memory_and_state(&mut self) -> Option<(&mut [u8], &mut S)> {
        None
    }
}

/// The error for a call into a linked command module that lacks the called export (possible only when the module
/// changed under a running plug-in; every backend reports it with this text).
pub fn missing_command_export(export: &str) -> Error {
    anyhow::anyhow!("command module has no export `{export}`")
}

/// The error for a command module whose exports cannot be linked under `name`.
pub fn command_link_error(name: &str, error: impl std::fmt::Display) -> Error {
    anyhow::anyhow!("unable to link command module `{name}`: {error}")
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

/// Arguments and results of most host functions fit here without a heap allocation.
const INLINE_VALUES: usize = 8;

/// For an engine's dynamic host-call path: `params` converted to core values with `convert`, and one result slot per
/// type of `results` holding that type's zero (as [`HostCallback::call`] expects), both on the stack when there are
/// at most eight, passed to `body` (which typically calls [`HostCallback::call`] and converts the results back).
/// Reference types (which host functions cannot have) get `Val::I32(0)`.
pub fn with_host_values<P, R>(
    params: &[P],
    results: &[crate::val::ValType],
    convert: impl Fn(&P) -> Val,
    body: impl FnOnce(&[Val], &mut [Val]) -> R,
) -> R {
    let zero = |ty: &crate::val::ValType| Val::result_slot(*ty);
    let n_results = results.len();
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
        for (slot, ty) in inline_outs.iter_mut().zip(results) {
            *slot = zero(ty);
        }
        &mut inline_outs[..n_results]
    } else {
        heap_outs = results.iter().map(zero).collect();
        &mut heap_outs
    };
    body(args, outs)
}
