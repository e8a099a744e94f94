//! A plug-in on one backend: compile once ([`Compiled`]), instantiate many times ([`Plugin`]), and the call protocol.

use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Error, anyhow, bail};
use uuid::Uuid;

use crate::EXTISM_ENV_MODULE;
use crate::backend::{
    CallError, Capabilities, EngineApi, EngineOptions, ExportShape, ExternKind, HostFunction, ImportInfo, KernelAccess,
    LinkingInputs, PluginStore, unsupported,
};
use crate::coredump::CoreDump;
use crate::debug::{NativeConfig, Profiler};
use crate::function::Function;
use crate::interrupt::Interrupt;
use crate::kernel::{CallRecord, KERNEL_MEMORY, KernelFn};
use crate::link::{ModuleInfo, check_imports};
use crate::manifest::Manifest;
use crate::state::PluginState;
use crate::val::{Val, ValType};

/// The return code of a call that trapped (upstream's `EXIT_SIGNALED_SIGABRT`).
pub const TRAP_RETURN_CODE: i32 = 134;

/// How plug-ins are created, beyond what the manifest says.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PluginOptions {
    /// Give the plug-in WASI preview 1.
    pub wasi: bool,
    /// Fuel available to each call (refilled before every call); `None` = unlimited.
    pub fuel_limit: Option<u64>,
    /// Write the kernel's memory to this file when a call fails (also set by the `EXTISM_MEMDUMP` env var).
    pub memdump: Option<PathBuf>,
    /// Write a wasm core dump (tool-conventions format) to this file when a call traps (also set by the
    /// `EXTISM_COREDUMP` env var). See [`crate::coredump`] for what each engine's dumps hold.
    pub coredump: Option<PathBuf>,
    /// The profiler to report generated code to. `None`: the one `EXTISM_PROFILE` names (`perf`, `jitdump`,
    /// `vtune`), if the engine supports it (else it is logged and ignored); `Some` of a profiler the engine does not
    /// support fails compilation.
    pub profiler: Option<Profiler>,
    /// Emit native debug info for generated code. `None`: if `EXTISM_DEBUG` is set and the engine can (else it is
    /// logged and ignored); `Some(true)` on an engine that cannot fails compilation.
    pub debug_info: Option<bool>,
    /// The engine's own configuration object to start from (upstream's `with_wasmtime_config`); an engine of
    /// another kind fails compilation.
    pub native_config: Option<NativeConfig>,
    /// Let the plug-in read its HTTP responses' headers (`http_headers`); off by default.
    pub http_response_headers: bool,
    /// Most elements any one table of the plug-in may hold; `None` means [`DEFAULT_MAX_TABLE_ELEMENTS`]. Growing a
    /// table past it makes `table.grow` return -1 (as a declared maximum would); a module whose table starts larger
    /// fails to instantiate.
    pub max_table_elements: Option<u32>,
    /// Most WASI file descriptors the plug-in may hold open at once, stdio and preopened directories included;
    /// `None` means [`DEFAULT_WASI_MAX_OPEN_FILES`]. Past it, `path_open` (and `sock_accept`) fail with the WASI
    /// errno `mfile` (33, "too many open files").
    pub wasi_max_open_files: Option<u32>,
    /// Where compiled modules are cached between processes (see [`crate::cache`]); by default what the
    /// `EXTISM_CACHE_CONFIG` environment variable says, else the platform's cache directory. Used only on engines
    /// with [`crate::backend::Capabilities::code_cache`].
    pub cache: crate::cache::CacheSetting,
    /// Rewrite guests' calls to the kernel's memory accessors into local loads and stores: `None` (the default)
    /// where the engine gains from it ([`crate::backend::Capabilities::memory_rewrite_pays`]), `Some(true)` on every
    /// engine that runs multi-memory modules ([`crate::backend::Capabilities::multi_memory`]), `Some(false)` nowhere.
    /// Each guest module's direct calls to `load_u8/u64`, `store_u8/u64` and `input_load_u8/u64` are then replaced,
    /// when the plug-in is compiled, by the accessors' own code, reading and writing the kernel's memory imported into
    /// the guest beside its own, with the kernel's results (see `extism-core/src/rewrite.rs`). The
    /// [`crate::NO_MEMORY_REWRITE_ENV`] environment variable turns it off whatever this says, and so does a fuel
    /// limit (so that fuel accounting stays exactly that of the kernel calls).
    pub memory_rewrite: Option<bool>,
}

impl PluginOptions {
    /// The table limit in force: [`PluginOptions::max_table_elements`] or its default.
    pub fn table_limit(&self) -> u32 {
        self.max_table_elements.unwrap_or(DEFAULT_MAX_TABLE_ELEMENTS)
    }
}

/// The default of [`PluginOptions::max_table_elements`]: 1,048,576 (2^20) elements per table, 8 to 16 MiB of host
/// memory depending on the engine. Unbounded `table.grow` would let a plug-in take gigabytes of host memory
/// whatever its memory budget (tables are not linear memory).
pub const DEFAULT_MAX_TABLE_ELEMENTS: u32 = 1 << 20;

/// The default of [`PluginOptions::wasi_max_open_files`]: 128 descriptors per plug-in, a small share of a process's
/// usual limit of 1024, so that a plug-in that opens files without closing them cannot leave the host unable to.
pub const DEFAULT_WASI_MAX_OPEN_FILES: u32 = 128;

/// The debugging settings of `options` an engine named `engine` with `capabilities` is created with: profiler, debug
/// info and native configuration, explicit or from the environment. What the engine cannot do fails when asked for
/// explicitly (an error naming the engine and the option), and is logged and ignored when it comes from the
/// environment (`EXTISM_PROFILE`, `EXTISM_DEBUG`), which applies to every plug-in of the process whatever its engine.
fn debug_settings(options: &PluginOptions, engine: &str, capabilities: &Capabilities) -> Result<EngineOptions, Error> {
    let supports = |p: Profiler| p == Profiler::None || capabilities.profilers.contains(&p);
    let profiler = match options.profiler {
        Some(p) if !supports(p) => {
            return Err(unsupported(
                engine,
                &format!("the {p:?} profiler (`profiling_strategy`)"),
            ));
        }
        Some(p) => p,
        None => match Profiler::from_env() {
            Some(p) if supports(p) => p,
            Some(p) => {
                tracing::warn!(target: "extism::debug", "EXTISM_PROFILE asks for the {p:?} profiler, which the {engine} backend does not support: ignored");
                Profiler::None
            }
            None => Profiler::None,
        },
    };
    let debug_info = match options.debug_info {
        Some(true) if !capabilities.debug_info => {
            return Err(unsupported(engine, "native debug info (`debug_info`)"));
        }
        Some(on) => on,
        None if std::env::var_os("EXTISM_DEBUG").is_some() => {
            if !capabilities.debug_info {
                tracing::warn!(target: "extism::debug", "EXTISM_DEBUG asks for native debug info, which the {engine} backend does not emit: ignored");
            }
            capabilities.debug_info
        }
        None => false,
    };
    if let Some(config) = &options.native_config
        && capabilities.native_config != Some(config.kind())
    {
        return Err(unsupported(
            engine,
            &format!("`{}` (a {} configures another engine)", config.option(), config.kind()),
        ));
    }
    Ok(EngineOptions {
        profiler,
        debug_info,
        native_config: options.native_config.clone(),
        ..EngineOptions::default()
    })
}

/// Everything needed to create plug-ins: the engine, the compiled kernel and modules, host functions and settings.
pub struct Compiled<B: EngineApi> {
    engine: B::Engine,
    kernel: B::Module,
    /// Manifest modules; the main module is last.
    modules: Vec<ModuleInfo<B::Module>>,
    /// Instantiation order of the non-main modules.
    link_order: Vec<usize>,
    /// The built-in and user host functions some module imports (user functions last, so they shadow built-ins of
    /// the same name) and the kernel exports some module imports, prepared once for all instances: linking only
    /// these keeps instantiation cheap.
    functions: B::Functions<PluginState>,
    manifest: Manifest,
    options: PluginOptions,
    /// How many of the modules had their kernel memory accessor calls rewritten.
    rewritten_modules: usize,
}

impl<B: EngineApi> Compiled<B> {
    /// Compile a plug-in's modules and check that every import can be satisfied.
    pub fn new(
        manifest: &Manifest,
        functions: impl IntoIterator<Item = Function>,
        options: &PluginOptions,
    ) -> Result<Compiled<B>, Error> {
        let functions: Vec<Function> = functions.into_iter().collect();
        for f in &functions {
            if let Some(bad) = f
                .params()
                .iter()
                .chain(f.results())
                .find(|t| matches!(t, ValType::FuncRef | ValType::ExternRef))
            {
                bail!(
                    "host function `{}::{}` uses {bad:?}: reference types are not supported in host function signatures",
                    f.effective_namespace(),
                    f.name()
                );
            }
        }
        let named = crate::modules::load_modules(manifest)?;
        let coredump = (options.coredump.clone()).or_else(|| std::env::var_os("EXTISM_COREDUMP").map(PathBuf::from));
        let engine = B::new_engine(&EngineOptions {
            fuel: options.fuel_limit.is_some(),
            max_table_elements: options.table_limit(),
            coredump: coredump.is_some(),
            ..debug_settings(options, B::NAME, &B::CAPABILITIES)?
        })?;
        // A configuration error is reported on every engine; the directory is only opened for engines that cache.
        let cache_config = options.cache.resolve()?;
        let cache = match cache_config {
            Some(config) if B::CAPABILITIES.code_cache => crate::cache::open(config),
            _ => None,
        };
        let cache = cache.as_ref();
        let kernel = B::compile_kernel(&engine, |wasm| {
            crate::cache::compile_cached::<B>(cache, &engine, wasm, |wasm| B::compile(&engine, wasm))
        })
        .context("unable to compile the Extism kernel")?;
        let layout = rewrite_layout(B::CAPABILITIES, options);
        // Kernel accessors a host function replaces keep their calls (see `rewrite_module`).
        let shadowed: Vec<&str> = (crate::pdk::builtins().iter().chain(&functions))
            .filter(|f| f.effective_namespace() == EXTISM_ENV_MODULE)
            .map(Function::name)
            .collect();
        let mut modules = Vec::with_capacity(named.len() + 1);
        let mut rewritten_modules = 0;
        // The main module's memories may move to a module of their own when it is rewritten (see
        // `Capabilities::memory_rewrite_moves_memories` and `crate::rewrite::memory_module`), unless a module of the
        // manifest already has that name. Linked modules keep theirs (a command module's memory is new for every call
        // into it). Not under a memory limit: the budget counts the main module's initial memory when the main module
        // is instantiated, and a memory created earlier by another module would escape it (tested by
        // `memory_rewrite::a_guest_memory_above_the_limit_is_refused_either_way`).
        let memories_from = (B::CAPABILITIES.memory_rewrite_moves_memories
            && manifest.memory.max_pages.is_none()
            && !named.iter().any(|m| m.name == MAIN_MEMORY_MODULE))
        .then_some(MAIN_MEMORY_MODULE);
        let main_index = named.len() - 1;
        for (index, m) in named.into_iter().enumerate() {
            let memories_from = memories_from.filter(|_| index == main_index);
            let (module, rewritten) = compile_module::<B>(cache, &engine, &m.wasm, layout, &shadowed, memories_from)?;
            let mut imports = B::imports(&module);
            if rewritten {
                // The kernel memory import the rewrite added (the original module has none: see `may_rewrite`).
                imports.retain(|i| !is_kernel_memory(i));
                rewritten_modules += 1;
            }
            if let Some(from) = memories_from
                && imports.iter().any(|i| i.module == from)
            {
                // Its memories moved: the module that holds them is linked before it.
                let wasm = crate::rewrite::memory_module(&m.wasm)
                    .context("the memory accessor rewrite moved memories that cannot move")?;
                let holder =
                    crate::cache::compile_cached::<B>(cache, &engine, &wasm, |wasm| B::compile(&engine, wasm))?;
                modules.push(ModuleInfo {
                    imports: B::imports(&holder),
                    exports: B::exports(&holder),
                    name: from.to_string(),
                    module: holder,
                });
            }
            modules.push(ModuleInfo {
                imports,
                exports: B::exports(&module),
                name: m.name,
                module,
            });
        }
        let wasi = options.wasi.then(crate::wasi::functions);
        let link_order = check_imports(&modules, &functions, crate::pdk::builtins(), wasi)?;
        let imported = |f: &&Function| {
            modules.iter().any(|m| {
                m.imports
                    .iter()
                    .any(|i| i.module == f.effective_namespace() && i.name == f.name())
            })
        };
        // User functions come last so that they may shadow built-ins.
        let imported_functions: Vec<HostFunction<PluginState>> = crate::pdk::builtins()
            .iter()
            .chain(wasi.unwrap_or_default())
            .chain(&functions)
            .filter(imported)
            .map(Function::to_host)
            .collect();
        let mut kernel_exports: Vec<&'static str> = crate::kernel::GUEST_EXPORTS
            .iter()
            .map(|(name, _, _)| *name)
            .filter(|name| {
                let shadowed = imported_functions
                    .iter()
                    .any(|f| f.namespace == EXTISM_ENV_MODULE && f.name == *name);
                !shadowed
                    && modules.iter().any(|m| {
                        m.imports
                            .iter()
                            .any(|i| i.module == EXTISM_ENV_MODULE && i.name == *name)
                    })
            })
            .collect();
        if rewritten_modules > 0 {
            kernel_exports.push(KERNEL_MEMORY);
        }
        // Every store instantiates the main module (last) and each linked reactor module once; linked command modules
        // afresh for every call into them.
        let (main, linked) = modules.split_last().expect("a manifest has a main module");
        let (commands, reactors): (Vec<_>, Vec<_>) = linked.iter().partition(|m| m.is_command());
        let instantiated: Vec<&B::Module> = reactors.iter().chain([&main]).map(|m| &m.module).collect();
        let commands: Vec<&B::Module> = commands.iter().map(|m| &m.module).collect();
        if options.fuel_limit.is_some()
            && instantiated.len() + commands.len() > 1
            && !B::CAPABILITIES.fuel_with_linked_modules
        {
            return Err(crate::backend::fuel_with_linked_modules_unsupported(B::NAME));
        }
        let functions = B::prepare_functions(
            &engine,
            &LinkingInputs {
                kernel: &kernel,
                modules: &instantiated,
                commands: &commands,
                kernel_exports: &kernel_exports,
                functions: &imported_functions,
            },
        )?;
        Ok(Compiled {
            rewritten_modules,
            functions,
            engine,
            kernel,
            modules,
            link_order,
            manifest: Manifest {
                wasm: Vec::new(),
                ..manifest.clone()
            },
            options: PluginOptions {
                coredump,
                memdump: options
                    .memdump
                    .clone()
                    .or_else(|| std::env::var_os("EXTISM_MEMDUMP").map(PathBuf::from)),
                ..options.clone()
            },
        })
    }

    /// The options plug-ins are created with.
    pub fn options(&self) -> &PluginOptions {
        &self.options
    }

    /// True if instances get WASI preview 1.
    pub fn has_wasi(&self) -> bool {
        self.options.wasi
    }

    fn timeout(&self) -> Option<Duration> {
        self.manifest.timeout_ms.map(Duration::from_millis)
    }

    fn memory_budget(&self) -> Option<u64> {
        self.manifest.memory.max_pages.map(|pages| u64::from(pages) * 65536)
    }

    fn main(&self) -> &ModuleInfo<B::Module> {
        self.modules.last().expect("a compiled plug-in has a main module")
    }

    /// True if the main module exports `name` as a function Extism can call: no parameters, no result or one `i32`.
    pub fn function_exists(&self, name: &str) -> bool {
        export_shape(self.main(), name).is_ok()
    }

    /// How many of the plug-in's modules had their calls to the kernel's memory accessors rewritten into loads and
    /// stores (see [`PluginOptions::memory_rewrite`]): 0 when the rewrite is off, the engine lacks multi-memory,
    /// or no module calls the accessors.
    pub fn rewritten_modules(&self) -> usize {
        self.rewritten_modules
    }

    /// The engine, for backends that share it.
    pub fn engine(&self) -> &B::Engine {
        &self.engine
    }
}

/// The kernel layout the memory accessor rewrite uses, or `None` when it is off: the engine lacks
/// [`crate::backend::Capabilities::multi_memory`], the options turn it off (or leave it to an engine without
/// [`crate::backend::Capabilities::memory_rewrite_pays`]), [`crate::NO_MEMORY_REWRITE_ENV`] turns it off, a fuel
/// limit is set, or the kernel's layout is not recognised.
fn rewrite_layout(
    capabilities: crate::backend::Capabilities,
    options: &PluginOptions,
) -> Option<crate::rewrite::KernelLayout> {
    // With a fuel limit, guests keep calling the kernel: fuel counts wasm instructions, and the inlined accessors are
    // other instructions than a call and the kernel's body, so a plug-in's fuel use would change under it (with the
    // earlier rewrite into appended functions, the kitchen plug-in's initialisers needed between 10,000 and 20,000
    // fuel on wasmtime instead of less than 10,000; not investigated further).
    let wanted = options.memory_rewrite.unwrap_or(capabilities.memory_rewrite_pays);
    if !capabilities.multi_memory || !wanted || options.fuel_limit.is_some() || crate::rewrite::disabled_by_env() {
        return None;
    }
    crate::rewrite::KernelLayout::of_kernel()
}

/// The name of the linked module that holds the main module's memories when the memory accessor rewrite moves them
/// out of it (see [`crate::rewrite::memory_module`]).
const MAIN_MEMORY_MODULE: &str = "extism:host/main-memory";

/// An import of the kernel memory, which only a rewritten module has (see [`crate::rewrite::may_rewrite`]).
fn is_kernel_memory(import: &ImportInfo) -> bool {
    import.module == EXTISM_ENV_MODULE && import.name == KERNEL_MEMORY && import.kind == ExternKind::Memory
}

/// Compile one module through the compilation cache, with its calls to the kernel's memory accessors rewritten when
/// `layout` is given (see [`crate::rewrite`]; its memories may move to the module `memories_from`); true if the
/// module compiled is the rewritten one. A rewritten module the engine refuses is compiled again as it was, so that
/// its errors are the engine's own. With the rewrite, the
/// cache entry is keyed by the original module and what the rewrite depends on ([`crate::rewrite::cache_key`]), so
/// that a hit skips the rewrite too; the module's kernel memory import then tells whether it was rewritten (modules
/// that import the kernel memory themselves are never rewritten).
fn compile_module<B: EngineApi>(
    cache: Option<&crate::cache::CodeCache>,
    engine: &B::Engine,
    wasm: &[u8],
    layout: Option<crate::rewrite::KernelLayout>,
    shadowed: &[&str],
    memories_from: Option<&str>,
) -> Result<(B::Module, bool), Error> {
    let layout = layout.filter(|_| crate::rewrite::may_rewrite(wasm, shadowed));
    let Some(layout) = layout else {
        let module = crate::cache::compile_cached::<B>(cache, engine, wasm, |wasm| B::compile(engine, wasm))?;
        return Ok((module, false));
    };
    let key = || crate::rewrite::cache_key(wasm, layout, shadowed, memories_from);
    let module = crate::cache::compile_keyed::<B>(cache, engine, key, || {
        let start = std::time::Instant::now();
        if let Some(rewritten) = crate::rewrite::rewrite_module(wasm, layout, shadowed, memories_from) {
            tracing::debug!(
                bytes = wasm.len(),
                micros = start.elapsed().as_micros() as u64,
                "rewrote the module's kernel memory accessor calls"
            );
            match B::compile(engine, &rewritten.wasm) {
                Ok(module) => return Ok(module),
                Err(error) => tracing::debug!("the rewritten module did not compile, using the original: {error:#}"),
            }
        }
        B::compile(engine, wasm)
    })?;
    let rewritten = B::imports(&module).iter().any(is_kernel_memory);
    Ok((module, rewritten))
}

/// Write a debugging file (memory or core dump) the host named. Opened without blocking, so that a FIFO nobody reads
/// fails the write instead of hanging the call.
fn write_debug_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    options.open(path)?.write_all(bytes)
}

/// Check that `name` is a callable export of `module`.
fn export_shape<M>(module: &ModuleInfo<M>, name: &str) -> Result<ExportShape, Error> {
    let Some(export) = module.exports.iter().find(|e| e.name == name) else {
        bail!("Function not found: {name}");
    };
    let ExternKind::Func(ty) = &export.kind else {
        bail!("Function not found: {name}");
    };
    if !ty.params.is_empty() {
        bail!("Function {name} takes {} parameters, expected none", ty.params.len());
    }
    match ty.results.as_slice() {
        [] => Ok(ExportShape::NoResult),
        [ValType::I32] => Ok(ExportShape::I32Result),
        [other] => bail!("Function {name} returns {other:?}, expected i32 or nothing"),
        many => bail!("Function {name} has {} results, expected 0 or 1", many.len()),
    }
}

/// Fuel the kernel's own work around a call (the prologue that copies the input in, the epilogue that reads the call
/// record) runs on: fuel limits charge the plug-in's code only (the export, and guest initialisers), so that
/// `fuel_consumed` measures the plug-in and a limit smaller than the prologue still reaches the export. The kernel's
/// work there is bounded by the input's size.
const KERNEL_FUEL: u64 = i64::MAX as u64;

/// A store for `state` with the prepared host functions (PDK, WASI if enabled, the user's), the non-main modules
/// linked, and every limit requested, so that an engine lacking one fails here instead of silently ignoring it. Used
/// for a new plug-in, and again after a call to `_start`.
///
/// Interrupts (when `interrupts` is set) and fuel are armed before any linked module is instantiated, so that their
/// start functions and initialisers run under the plug-in's timeout, cancel and fuel limit like a call does.
fn new_store<B: EngineApi>(
    compiled: &Compiled<B>,
    mut state: PluginState,
    interrupt: &Arc<Interrupt>,
    interrupts: bool,
) -> Result<B::Store<PluginState>, Error> {
    if compiled.options.wasi {
        let max_open = compiled
            .options
            .wasi_max_open_files
            .unwrap_or(DEFAULT_WASI_MAX_OPEN_FILES);
        state.wasi = Some(crate::wasi::ctx::WasiState::new(
            state.manifest(),
            Arc::downgrade(interrupt),
            max_open,
        )?);
    }
    let mut store = B::new_store(&compiled.engine, &compiled.kernel, &compiled.functions, state)?;
    store.set_table_element_limit(compiled.options.table_limit())?;
    if interrupts {
        store.enable_interrupts(interrupt.clone())?;
    }
    if let Some(fuel) = compiled.options.fuel_limit {
        store.set_fuel(fuel)?;
    }
    for &index in &compiled.link_order {
        let module = &compiled.modules[index];
        if module.is_command() {
            // A command module: each call into it from another module runs on a fresh instance.
            store.register_command(&module.name, &module.module)?;
            continue;
        }
        let instance = store
            .instantiate(&module.module)
            .map_err(CallError::into_error)
            .with_context(|| format!("unable to instantiate module `{}`", module.name))?;
        run_guest_init::<B>(&mut store, &instance, module).map_err(CallError::into_error)?;
        store.register(&module.name, &instance)?;
    }
    store.set_memory_budget(compiled.memory_budget())?;
    Ok(store)
}

/// One instance of a plug-in: its own store, kernel, vars and main-module instance.
pub struct Plugin<B: EngineApi> {
    compiled: Arc<Compiled<B>>,
    store: B::Store<PluginState>,
    /// The main module's instance, created on the first call so that no guest code runs outside a call.
    main: Option<B::Instance>,
    /// Exports called so far, found by a linear scan: plug-ins call few distinct exports, and comparing a short name
    /// is cheaper than hashing it.
    exports: Vec<(Box<str>, B::Export)>,
    /// Output of the last call, already checked against kernel memory.
    output: (usize, usize),
    /// The interrupt flag shared with cancel handles and the timeout timer.
    interrupt: Arc<Interrupt>,
    /// Whether the store checks `interrupt`; turned on when a timeout is set or a cancel handle exists.
    interrupts_enabled: bool,
    /// Fuel used by the last call, when fuel is limited.
    fuel_consumed: Option<u64>,
    /// Whether, and how, the next call rebuilds the store first.
    rebuild_before_next_call: Rebuild,
}

/// Why the store is rebuilt before the next call, which decides what survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rebuild {
    /// The store is kept.
    No,
    /// Everything but the id and the manifest starts afresh: the last call was to `_start` (as upstream does), or
    /// the main module's instantiation or initialiser failed (so that retries do not pile instances up in one store).
    Fresh,
    /// Instances of linked command modules have piled up (engines free instances only with their store): vars are
    /// kept, the main module starts afresh.
    KeepingVars,
}

impl<B: EngineApi> Plugin<B> {
    /// Create an instance: a store with the host functions, the kernel and the non-main modules linked.
    ///
    /// The start functions and initialisers of linked modules run here, under the manifest's timeout (creation fails
    /// with "timeout" when it passes) and fuel limit. Without a timeout nothing stops a start function that never
    /// returns: no cancel handle exists before this returns. The main module is instantiated by the first call, under
    /// that call's timeout and cancel.
    pub fn new(compiled: Arc<Compiled<B>>, id: Uuid) -> Result<Plugin<B>, Error> {
        let mut state = PluginState::new(id, &compiled.manifest);
        state.set_http_response_headers(compiled.options.http_response_headers);
        let interrupt = Arc::new(Interrupt::default());
        let interrupts_enabled = compiled.timeout().is_some();
        let generation = interrupt.enter_call();
        let now = Instant::now();
        // Host functions (HTTP) that linked modules' start functions call see how much of the timeout is left.
        state.call_started = Some(now);
        let deadline = compiled
            .timeout()
            .map(|timeout| crate::timer::start(&interrupt, generation, now + timeout));
        let store = new_store(&compiled, state, &interrupt, interrupts_enabled);
        interrupt.leave_call();
        drop(deadline);
        let store = store?;
        Ok(Plugin {
            compiled,
            store,
            main: None,
            exports: Vec::new(),
            output: (0, 0),
            interrupt,
            interrupts_enabled,
            fuel_consumed: None,
            rebuild_before_next_call: Rebuild::No,
        })
    }

    /// Replace the store with a fresh one: WASI state and the main instance are lost, and vars too unless `keep_vars`;
    /// the id and the manifest (with its config edits) are kept.
    fn rebuild(&mut self, call_started: Option<Instant>, keep_vars: bool) -> Result<(), Error> {
        let mut state = PluginState::new(self.id(), self.store.state().manifest());
        state.call_started = call_started;
        if keep_vars {
            state.vars = std::mem::take(&mut self.store.state_mut().vars);
        }
        // The host's choice to show response headers outlives the store (the C API can turn it on at any time).
        state.set_http_response_headers(self.store.state().http.headers.is_some());
        self.store = new_store(&self.compiled, state, &self.interrupt, self.interrupts_enabled)?;
        self.main = None;
        self.exports.clear();
        Ok(())
    }

    /// True if the plug-in has WASI preview 1.
    pub fn has_wasi(&self) -> bool {
        self.compiled.has_wasi()
    }

    /// A handle that cancels this plug-in's running call from any thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle {
            id: self.id(),
            interrupt: self.interrupt.clone(),
        }
    }

    /// Fuel used by the last call, when the plug-in has a fuel limit.
    pub fn fuel_consumed(&self) -> Option<u64> {
        self.fuel_consumed
    }

    /// The plug-in's id.
    pub fn id(&self) -> Uuid {
        self.store.state().id
    }

    /// The compiled plug-in this instance was made from.
    pub fn compiled(&self) -> &Arc<Compiled<B>> {
        &self.compiled
    }

    /// True if `name` is a callable export of the main module.
    pub fn function_exists(&self, name: &str) -> bool {
        self.compiled.function_exists(name)
    }

    /// Host-side state (vars, manifest).
    pub fn state_mut(&mut self) -> &mut PluginState {
        self.store.state_mut()
    }

    /// Reset the kernel: frees every allocation of the last call.
    pub fn reset(&mut self) -> Result<(), Error> {
        self.store
            .call_kernel(KernelFn::Reset, 0)
            .map(drop)
            .map_err(CallError::into_error)
    }

    /// Output of the last successful call, borrowed from kernel memory (valid until the next call).
    pub fn output(&self) -> &[u8] {
        let (offset, length) = self.output;
        self.store
            .kernel_memory()
            .get(offset..offset + length)
            .unwrap_or_default()
    }

    /// Call `name` with `input`. Returns the return code, or the error with the return code upstream gives for it
    /// (upstream's codes: guest errors keep the export's code or -1, traps and timeouts 134, others -1).
    pub fn call(&mut self, name: &str, input: &[u8]) -> Result<i32, (Error, i32)> {
        self.call_with_context(name, input, None)
    }

    /// [`Plugin::call`] with a per-call host context that host functions read with
    /// [`crate::CurrentPlugin::host_context`]; it is dropped when the call ends.
    pub fn call_with_context(
        &mut self,
        name: &str,
        input: &[u8],
        host_context: Option<Box<dyn Any + Send + Sync>>,
    ) -> Result<i32, (Error, i32)> {
        self.output = (0, 0);
        self.fuel_consumed = None;
        self.store.state_mut().host_context = host_context;
        let result = self.call_inner(name, input);
        self.store.state_mut().host_context = None;
        if result.is_err()
            && let Some(path) = &self.compiled.options.memdump
            && let Err(e) = write_debug_file(path, self.store.kernel_memory())
        {
            tracing::error!(target: "extism::memdump", "unable to write kernel memory to {}: {e}", path.display());
        }
        result
    }

    /// Write the core dump of the trap the running call just ended in, if one is asked for: before the kernel runs
    /// again (the call's epilogue), so that it shows memory as the trap left it.
    fn write_core_dump(&mut self) {
        let Some(path) = self.compiled.options.coredump.clone() else {
            return;
        };
        let dump = self.core_dump();
        if let Err(e) = write_debug_file(&path, &dump) {
            tracing::error!(target: "extism::coredump", "unable to write a core dump to {}: {e}", path.display());
        }
    }

    /// A wasm core dump of the trap the last call ended in: the engine's own if it makes one, else one the core
    /// writes from what the engine shows of the kernel's and the main module's instances (see [`crate::coredump`]).
    fn core_dump(&mut self) -> Vec<u8> {
        let name = self.compiled.main().name.clone();
        if let Some(dump) = self.store.take_engine_core_dump(&name) {
            return dump;
        }
        let kernel = self.store.kernel_instance();
        let mut instances = vec![(EXTISM_ENV_MODULE.to_string(), self.store.snapshot(&kernel))];
        if let Some(main) = self.main.clone() {
            instances.push((name.clone(), self.store.snapshot(&main)));
        }
        CoreDump { name, instances }.encode()
    }

    fn call_inner(&mut self, name: &str, input: &[u8]) -> Result<i32, (Error, i32)> {
        self.prepare_interrupts();
        // Everything guest code may run in (the store rebuilt after `_start`, the main module's start function and
        // initialisers, the kernel's prologue and the export) is inside the call: under its timeout and cancel.
        let generation = self.interrupt.enter_call();
        let started = self.compiled.timeout().map(|timeout| (Instant::now(), timeout));
        let deadline = started.map(|(now, timeout)| crate::timer::start(&self.interrupt, generation, now + timeout));
        let result = self.run_export(name, input, started.map(|(now, _)| now));
        // A cancel that lands from here on finds no call running and is dropped (it cannot stop a later call).
        self.interrupt.leave_call();
        drop(deadline);
        if self.store.state().command_instances >= crate::state::COMMAND_INSTANCES_BEFORE_RENEWAL
            && self.rebuild_before_next_call == Rebuild::No
        {
            self.rebuild_before_next_call = Rebuild::KeepingVars;
        }
        let result = match result {
            Ok(result) => {
                if let Err(
                    CallError::Trap(_) | CallError::Interrupted | CallError::OutOfFuel | CallError::MemoryLimit,
                ) = result
                {
                    self.write_core_dump();
                }
                result
            }
            Err(e) => {
                let code = match e.downcast_ref::<CallError>() {
                    Some(CallError::Interrupted) => TRAP_RETURN_CODE,
                    _ => -1,
                };
                return Err((e, code));
            }
        };
        if name == "_start" {
            self.rebuild_before_next_call = Rebuild::Fresh;
        }
        let fuel_limit = self.compiled.options.fuel_limit;
        if let Some(fuel) = fuel_limit {
            let remaining = self.store.fuel_remaining().unwrap_or(0);
            self.fuel_consumed = Some(fuel.saturating_sub(remaining));
            self.store.set_fuel(KERNEL_FUEL).map_err(|e| (e, -1))?;
        }
        if let Err(CallError::OutOfFuel) = result {
            // Checked first, like upstream: whatever else happened, the call ran dry.
            return Err((CallError::OutOfFuel.into_error(), -1));
        }

        let record = (self.store.call_kernel(KernelFn::CallEnd, 0)).map_err(|e| (e.into_error(), -1))?;
        let memory = self.store.kernel_memory();
        let record = CallRecord::read(memory, record)
            .ok_or_else(|| (anyhow!("the kernel returned a call record outside its memory"), -1))?;

        if record.error_offset != 0 && record.error_length != 0 {
            let message = read_region(memory, record.error_offset, record.error_length)
                .ok_or_else(|| (anyhow!("the plug-in's error message lies outside kernel memory"), -1))
                .and_then(|bytes| {
                    std::str::from_utf8(bytes)
                        .map(str::to_string)
                        .map_err(|e| (anyhow!("unable to load error message from memory: {e}"), -1))
                })?;
            let error = Error::msg(message);
            return Err(match result {
                Ok(rc) => (error, rc),
                Err(failure) => (error.context(failure.into_error()), -1),
            });
        }

        match result {
            // Exit 0 without a guest error is a success whose output counts, as upstream treats WASI `proc_exit(0)`.
            Ok(rc) | Err(CallError::Exit(rc @ 0)) => {
                if record.output_length != 0 {
                    if read_region(memory, record.output_offset, record.output_length).is_none() {
                        return Err((
                            anyhow!(
                                "the plug-in set an output region outside kernel memory (offset {}, length {})",
                                record.output_offset,
                                record.output_length
                            ),
                            -1,
                        ));
                    }
                    self.output = (record.output_offset as usize, record.output_length as usize);
                }
                Ok(rc)
            }
            Err(CallError::Exit(code)) => Err((CallError::Exit(code).into_error(), code)),
            Err(e @ (CallError::Trap(_) | CallError::Interrupted)) => Err((e.into_error(), TRAP_RETURN_CODE)),
            Err(e) => Err((e.into_error(), -1)),
        }
    }

    /// The part of a call that runs guest code: rebuild the store if `_start` was called, instantiate the main module
    /// if needed, copy the input in and call the export. `Err` is a failure before the export ran; the export's own
    /// outcome is the `Ok` value, classified.
    fn run_export(
        &mut self,
        name: &str,
        input: &[u8],
        started: Option<Instant>,
    ) -> Result<Result<i32, CallError>, Error> {
        // Host functions (HTTP) ask how much of the timeout is left, also those that initialisers call.
        self.store.state_mut().call_started = started;
        if self.rebuild_before_next_call != Rebuild::No {
            self.rebuild(started, self.rebuild_before_next_call == Rebuild::KeepingVars)?;
            self.rebuild_before_next_call = Rebuild::No;
        }
        let fuel_limit = self.compiled.options.fuel_limit;
        // Between calls the store holds the kernel's allowance (`KERNEL_FUEL`), except in a fresh store, whose
        // exports are not looked up yet: only the first call of an export can run guest initialisers, which run on
        // the plug-in's fuel limit, and leaves the kernel's allowance behind.
        let export = match self.exports.iter().position(|(n, _)| **n == *name) {
            Some(index) => index,
            None => {
                if let Some(fuel) = fuel_limit {
                    self.store.set_fuel(fuel)?;
                }
                let index = self.export_index(name);
                if fuel_limit.is_some() {
                    self.store.set_fuel(KERNEL_FUEL)?;
                }
                index?
            }
        };
        let input_offset = self
            .store
            .call_kernel(KernelFn::CallBegin, input.len() as u64)
            .map_err(CallError::into_error)?;
        if !input.is_empty() {
            let memory = self.store.memory_and_state().0;
            let target = crate::current_plugin::region(memory, input_offset, input.len() as u64);
            match target {
                Some(target) if input_offset != 0 => target.copy_from_slice(input),
                _ => bail!("unable to allocate {} bytes of input in kernel memory", input.len()),
            }
        }
        // Fuel is charged to the export call only: refill right before it, read what is left right after.
        if let Some(fuel) = fuel_limit {
            self.store.set_fuel(fuel)?;
        }
        Ok(match self.store.call(&self.exports[export].1) {
            // WASI `proc_exit` leaves the guest as a host-function error, and so does a limit (timeout, fuel,
            // memory) hit inside a host function, e.g. by a kernel call it made: report the limit, whatever the
            // host function made of it.
            Err(CallError::Host(e)) => match crate::wasi::exit_code(&e) {
                Some(code) => Err(CallError::Exit(code)),
                None => Err(CallError::limit_in(&e).unwrap_or(CallError::Host(e))),
            },
            other => other,
        })
    }

    /// Turn on interrupt checks once someone holds a cancel handle (a timeout turned them on at creation). An engine
    /// that cannot interrupt makes the handles' `cancel` report that instead.
    fn prepare_interrupts(&mut self) {
        if self.interrupts_enabled || Arc::strong_count(&self.interrupt) == 1 {
            return;
        }
        self.interrupts_enabled = true;
        if let Err(e) = self.store.enable_interrupts(self.interrupt.clone()) {
            self.interrupt.set_unsupported(e.to_string());
        }
    }

    /// Look up the export `name` (not looked up before), instantiating the main module first if this is the first
    /// call, and return its index in `self.exports`.
    fn export_index(&mut self, name: &str) -> Result<usize, Error> {
        let shape = export_shape(self.compiled.main(), name)?;
        let instance = match &self.main {
            Some(instance) => instance.clone(),
            None => {
                let main = self.compiled.main();
                // Main's initial memory must fit in the budget; the budget is then refilled for growth.
                let budget = self.compiled.memory_budget();
                self.store.set_memory_budget(budget)?;
                // Until main is instantiated and initialised, a failure leaves a half-made instance in the store,
                // which no engine can remove: the next call starts from a fresh store instead of adding another.
                self.rebuild_before_next_call = Rebuild::Fresh;
                let instance = self.store.instantiate(&main.module).map_err(CallError::into_error)?;
                self.store.set_memory_budget(budget)?;
                run_guest_init::<B>(&mut self.store, &instance, main).map_err(CallError::into_error)?;
                self.rebuild_before_next_call = Rebuild::No;
                self.main = Some(instance.clone());
                instance
            }
        };
        let export = self
            .store
            .export(&instance, name, shape)
            .ok_or_else(|| anyhow!("Function not found: {name}"))?;
        self.exports.push((name.into(), export));
        Ok(self.exports.len() - 1)
    }
}

fn read_region(memory: &[u8], offset: u64, length: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    memory.get(start..start.checked_add(usize::try_from(length).ok()?)?)
}

/// Run a guest language runtime's initialiser once per instance, as upstream does: Haskell's `hs_init` (after
/// `_initialize`), else `__wasm_call_ctors`, else a reactor's `_initialize`.
fn run_guest_init<B: EngineApi>(
    store: &mut B::Store<PluginState>,
    instance: &B::Instance,
    module: &ModuleInfo<B::Module>,
) -> Result<(), CallError> {
    let exported = |name: &str| module.exports.iter().find(|e| e.name == name);
    let is_unit_fn = |name: &str| matches!(exported(name), Some(e) if matches!(&e.kind, ExternKind::Func(t) if t.params.is_empty() && t.results.is_empty()));
    let mut run = |name: &str| -> Result<(), CallError> {
        match store.export(instance, name, ExportShape::NoResult) {
            Some(f) => store.call(&f).map(|_| ()),
            None => Ok(()),
        }
    };
    if exported("hs_init").is_some() {
        if is_unit_fn("_initialize") {
            run("_initialize").map_err(|e| {
                CallError::Other(e.into_error().context("failed to initialize Haskell reactor runtime"))
            })?;
        }
        store
            .call_function(instance, "hs_init", &[Val::I32(0), Val::I32(0)])
            .map_err(|e| {
                CallError::Other(
                    e.into_error()
                        .context("failed to initialize Haskell reactor runtime using hs_init"),
                )
            })?;
        return Ok(());
    }
    if exported("__wasm_call_ctors").is_some() {
        if is_unit_fn("__wasm_call_ctors") {
            run("__wasm_call_ctors")?;
        }
        return Ok(());
    }
    if is_unit_fn("_initialize") {
        run("_initialize")
            .map_err(|e| CallError::Other(e.into_error().context("failed to initialize wasi runtime")))?;
    }
    Ok(())
}

/// Cancels a plug-in's running call from any thread.
///
/// A cancel stops the call running when it arrives (the export, and whatever guest code the call runs before it:
/// start functions, initialisers, WASI sleeps) and nothing else, as upstream: one that arrives while no call runs,
/// or just as a call ends, is dropped, and never stops a later call.
#[derive(Clone, Debug)]
pub struct CancelHandle {
    /// The plug-in's id.
    pub id: Uuid,
    interrupt: Arc<Interrupt>,
}

impl CancelHandle {
    /// Stop the running call, if any; it fails with "timeout". Errors only if the plug-in's engine cannot interrupt
    /// calls.
    pub fn cancel(&self) -> Result<(), Error> {
        if let Some(reason) = self.interrupt.unsupported() {
            return Err(Error::msg(reason.to_string()));
        }
        self.interrupt.request();
        Ok(())
    }
}

#[cfg(test)]
mod rewrite_choice_tests {
    use super::*;
    use crate::backend::Capabilities;

    /// The rewrite runs only on engines with multi-memory: by default where it pays, when asked for wherever it
    /// can, never when turned off or under a fuel limit.
    #[test]
    fn the_rewrite_needs_multi_memory_and_is_on_by_default_where_it_pays() {
        let on = PluginOptions {
            memory_rewrite: Some(true),
            ..PluginOptions::default()
        };
        let off = PluginOptions {
            memory_rewrite: Some(false),
            ..PluginOptions::default()
        };
        let default = PluginOptions::default();
        let not_paying = Capabilities::ALL.with_memory_rewrite_paying(false);
        if crate::rewrite::disabled_by_env() {
            // The environment turns it off everywhere.
            assert!(rewrite_layout(Capabilities::ALL, &on).is_none());
            assert!(rewrite_layout(Capabilities::ALL, &default).is_none());
            return;
        }
        assert!(rewrite_layout(Capabilities::ALL, &on).is_some());
        assert!(rewrite_layout(Capabilities::ALL, &default).is_some());
        assert!(rewrite_layout(Capabilities::ALL, &off).is_none());
        assert!(rewrite_layout(not_paying, &on).is_some());
        assert!(rewrite_layout(not_paying, &default).is_none());
        assert!(rewrite_layout(not_paying, &off).is_none());
        for options in [&on, &default] {
            let fuel = PluginOptions {
                fuel_limit: Some(1_000_000),
                ..options.clone()
            };
            assert!(rewrite_layout(Capabilities::ALL, &fuel).is_none());
            assert!(rewrite_layout(Capabilities::ALL.without_multi_memory(), options).is_none());
            assert!(
                rewrite_layout(
                    Capabilities::ALL
                        .without_fuel_for_linked_modules()
                        .without_multi_memory(),
                    options
                )
                .is_none()
            );
        }
        // Without multi-memory, the rewrite cannot pay.
        assert!(
            !Capabilities::ALL
                .without_multi_memory()
                .with_memory_rewrite_paying(true)
                .memory_rewrite_pays
        );
    }
}
