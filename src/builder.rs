//! [`PluginBuilder`]: the options a plug-in is created with.

use std::sync::Arc;

use std::path::PathBuf;

use extism_core::backend::EngineApi;
use extism_core::{CurrentPlugin, Function, PluginOptions, UserData, Val, ValType, WasmInput};

use crate::dispatch::DynCompiled;
use crate::plugin::Plugin;
use crate::registry::EngineVisitor;
use crate::{Backend, CompiledPlugin, DebugOptions, Error, ProfilingStrategy};

/// Builds a [`Plugin`] from a module or manifest, host functions and options.
///
/// ```
/// use extism::{Manifest, PluginBuilder, Wasm};
///
/// # fn main() -> Result<(), extism::Error> {
/// let wasm = include_bytes!("../tests/wasm/count_vowels.wasm");
/// let manifest = Manifest::new([Wasm::data(wasm.to_vec())]).with_config_key("vowels", "aeiou");
/// let mut plugin = PluginBuilder::new(manifest)
///     .with_wasi(false)
///     .with_fuel_limit(100_000_000)
///     .build()?;
/// let output: String = plugin.call("count_vowels", "Hello, world!")?;
/// assert!(output.contains(r#""count":3"#), "{output}");
/// // Fuel is refilled before each call; this is what the last one used.
/// assert!(plugin.fuel_consumed().is_some_and(|used| used > 0 && used < 100_000_000));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PluginBuilder<'a> {
    source: WasmInput<'a>,
    functions: Vec<Function>,
    /// `None`: [`Backend::from_env`] at build time.
    backend: Option<Backend>,
    options: PluginOptions,
}

impl<'a> PluginBuilder<'a> {
    /// Start from wasm bytes, WAT, a JSON/TOML manifest, or a [`crate::Manifest`].
    pub fn new(plugin: impl Into<WasmInput<'a>>) -> Self {
        PluginBuilder {
            source: plugin.into(),
            functions: Vec::new(),
            backend: None,
            options: PluginOptions::default(),
        }
    }

    /// Give the plug-in WASI preview 1: no arguments or environment, empty stdin, stdout and stderr discarded unless
    /// the environment variable `EXTISM_ENABLE_WASI_OUTPUT` is set, and the manifest's `allowed_paths` as preopened
    /// directories (a host path prefixed `ro:` is read-only). The same implementation runs on every engine.
    pub fn with_wasi(mut self, wasi: bool) -> Self {
        self.options.wasi = wasi;
        self
    }

    /// Limit every call to `fuel` units of fuel (refilled before each call). Running out fails the call with
    /// "plugin ran out of fuel"; [`Plugin::fuel_consumed`] reports what the last call used. Fuel units differ between
    /// engines: compare them only on one engine.
    pub fn with_fuel_limit(mut self, fuel: u64) -> Self {
        self.options.fuel_limit = Some(fuel);
        self
    }

    /// Let no table of the plug-in hold more than `elements` elements (default [`crate::DEFAULT_MAX_TABLE_ELEMENTS`],
    /// 2^20). `table.grow` past the limit returns -1 to the guest, as past a declared maximum; a module whose table
    /// starts larger fails to instantiate. The same on every engine.
    pub fn with_max_table_elements(mut self, elements: u32) -> Self {
        self.options.max_table_elements = Some(elements);
        self
    }

    /// Let a WASI plug-in hold at most `files` descriptors open at once, stdio and preopened directories included
    /// (default [`crate::DEFAULT_WASI_MAX_OPEN_FILES`], 128). Past it, `path_open` fails with the WASI errno `mfile`
    /// (33, "too many open files"); every descriptor is closed when the plug-in is dropped.
    pub fn with_wasi_max_open_files(mut self, files: u32) -> Self {
        self.options.wasi_max_open_files = Some(files);
        self
    }

    /// Rewrite the plug-in's calls to the kernel's memory accessors into direct loads and stores (`true`) or leave
    /// them as calls into the kernel (`false`). Without this call, the rewrite is on where it makes the engine
    /// faster ([`crate::Backend::capabilities`]'s `memory_rewrite_pays`): today on all four engines, where echo runs
    /// 1.4-3× faster (`examples/memory_rewrite.rs`).
    ///
    /// PDKs move input and output eight bytes per call to the kernel (`input_load_u64`, `load_u64`, `store_u64`, and
    /// the `_u8` forms). On engines that run multi-memory modules (all four; see [`crate::Backend::capabilities`]'s
    /// `multi_memory`), each module's direct calls to these are replaced, when the plug-in is compiled, by the
    /// accessors' own code, which reads and writes the kernel's memory, imported into the module as a second memory,
    /// with exactly the kernel's results (out-of-range reads give 0, out-of-range writes do nothing). Calls through
    /// tables and exports still reach the kernel. A plug-in with a fuel limit ([`PluginBuilder::with_fuel_limit`]) is
    /// never rewritten, so that its fuel use stays that of the kernel calls. The environment variable
    /// `EXTISM_NO_MEMORY_REWRITE` ([`crate::NO_MEMORY_REWRITE_ENV`]) turns it off for every plug-in, whatever this
    /// says. See [`extism_core::PluginOptions::memory_rewrite`].
    pub fn with_memory_rewrite(mut self, enabled: bool) -> Self {
        self.options.memory_rewrite = Some(enabled);
        self
    }

    /// Write the kernel's memory to `path` whenever a call fails (same as the `EXTISM_MEMDUMP` env var).
    pub fn with_memdump(mut self, path: impl Into<PathBuf>) -> Self {
        self.options.memdump = Some(path.into());
        self
    }

    /// Cache compiled modules as the configuration file at `path` says (upstream's cache TOML: a `[cache]` table with
    /// `directory`, optionally `files-total-size-soft-limit` and `file-count-soft-limit`). Takes precedence over the
    /// `EXTISM_CACHE_CONFIG` environment variable. By default the cache is on, in the platform's cache directory
    /// (`$XDG_CACHE_HOME/extism` or `~/.cache/extism` on Linux); see [`crate::cache`] for its layout, bounds and
    /// checks. Engines without a compilation step worth caching (wasmi) ignore it; an unreadable or invalid file
    /// fails [`PluginBuilder::build`] on every engine.
    pub fn with_cache_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.options.cache = extism_core::cache::CacheSetting::ConfigFile(path.into());
        self
    }

    /// Compile every module, without reading or writing the compilation cache (whatever `EXTISM_CACHE_CONFIG` says).
    pub fn with_cache_disabled(mut self) -> Self {
        self.options.cache = extism_core::cache::CacheSetting::Disabled;
        self
    }

    /// Write a wasm core dump (the WebAssembly tool-conventions format: a wasm module with `core`, `coremodules`,
    /// `coreinstances` and `corestack` custom sections, and the memories and globals as memory, data and global
    /// sections) to `path` whenever a call traps: a wasm trap, or a timeout, cancel, fuel or memory limit that stopped
    /// guest code (same as the `EXTISM_COREDUMP` env var). Every engine writes one; see [`DebugOptions::coredump`]
    /// for what each holds.
    pub fn with_coredump(mut self, path: impl Into<PathBuf>) -> Self {
        self.options.coredump = Some(path.into());
        self
    }

    /// Report generated code to `profiler` (upstream's `EXTISM_PROFILE`). Only wasmtime supports one (`PerfMap`, on
    /// Unix); on another engine, or for a profiler this build lacks, building fails with an error naming the engine
    /// and the profiler.
    pub fn with_profiling_strategy(mut self, profiler: ProfilingStrategy) -> Self {
        self.options.profiler = Some(crate::debug::profiler(profiler));
        self
    }

    /// Emit native debug info (DWARF) for generated code, for debuggers (upstream's `EXTISM_DEBUG`). wasmtime only:
    /// on another engine building fails with an error naming the engine and the option.
    pub fn with_debug_info(mut self) -> Self {
        self.options.debug_info = Some(true);
        self
    }

    /// Set every debugging option at once (upstream's [`DebugOptions`]): profiler, core dump, memory dump, debug
    /// info. A profiler or debug info the engine cannot provide fails the build, unless it is just what the
    /// environment says (`EXTISM_PROFILE`, `EXTISM_DEBUG`, which `DebugOptions::default()` reads): options left at
    /// their defaults behave as without this call, where the environment's requests are logged and ignored on
    /// engines that cannot honour them.
    pub fn with_debug_options(mut self, options: DebugOptions) -> Self {
        let from_env = DebugOptions::default();
        let profiler = crate::debug::profiler(options.profiling_strategy);
        self.options.profiler = (profiler != crate::debug::profiler(from_env.profiling_strategy)).then_some(profiler);
        self.options.debug_info = (options.debug_info != from_env.debug_info).then_some(options.debug_info);
        self.options.coredump = options.coredump;
        self.options.memdump = options.memdump;
        self
    }

    /// Start the wasmtime engine's configuration from `config` (upstream's method of the same name), for settings
    /// Extism leaves alone: compilation (optimisation level, Cranelift flags, target CPU features), memory
    /// reservations and guards, stack size, proposals beyond the ones below, instance allocation.
    ///
    /// The settings the runtime depends on are overwritten: epoch interruption (timeouts and cancel), fuel metering
    /// (from the fuel limit), tail calls, function references and GC (which real toolchains emit), core dumps on
    /// trap, debug info and the profiler (from the debug options), and on Pulley the target. `async_support` must
    /// stay off (calls are synchronous). A plug-in with its own configuration gets an engine of its own, not the
    /// process-wide shared one, and no instance pool unless `config` sets one.
    ///
    /// The wasmtime and Pulley engines take it; on wasmer or wasmi building fails with an error naming the engine
    /// and this option. `config` must come from the `wasmtime` version this crate is built on (re-exported as
    /// [`crate::wasmtime`]).
    #[cfg(feature = "wasmtime")]
    pub fn with_wasmtime_config(mut self, config: extism_wasmtime::wasmtime::Config) -> Self {
        self.options.native_config = Some(extism_core::debug::NativeConfig::new(
            extism_wasmtime::WASMTIME_CONFIG,
            "with_wasmtime_config",
            config,
        ));
        self
    }

    /// Add a host function in the default namespace `extism:host/user`.
    pub fn with_function<T: Send + 'static, F>(
        mut self,
        name: impl Into<String>,
        args: impl IntoIterator<Item = ValType>,
        returns: impl IntoIterator<Item = ValType>,
        user_data: UserData<T>,
        f: F,
    ) -> Self
    where
        F: Fn(&mut CurrentPlugin, &[Val], &mut [Val], UserData<T>) -> Result<(), Error> + Send + Sync + 'static,
    {
        self.functions.push(Function::new(name, args, returns, user_data, f));
        self
    }

    /// Add a host function in `namespace`.
    pub fn with_function_in_namespace<T: Send + 'static, F>(
        mut self,
        namespace: impl Into<String>,
        name: impl Into<String>,
        args: impl IntoIterator<Item = ValType>,
        returns: impl IntoIterator<Item = ValType>,
        user_data: UserData<T>,
        f: F,
    ) -> Self
    where
        F: Fn(&mut CurrentPlugin, &[Val], &mut [Val], UserData<T>) -> Result<(), Error> + Send + Sync + 'static,
    {
        self.functions
            .push(Function::new(name, args, returns, user_data, f).with_namespace(namespace));
        self
    }

    /// Run the plug-in on `backend` instead of the default engine (the one `EXTISM_BACKEND` names, else the first
    /// compiled engine; see [`Backend::from_env`]).
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Let the plug-in read the headers of its HTTP responses (the PDK's `HttpResponse::headers`); off by default,
    /// when the plug-in sees none.
    pub fn with_http_response_headers(mut self, allow: bool) -> Self {
        self.options.http_response_headers = allow;
        self
    }

    /// Add host functions.
    pub fn with_functions(mut self, functions: impl IntoIterator<Item = Function>) -> Self {
        self.functions.extend(functions);
        self
    }

    /// Compile and instantiate the plug-in. Fails if no engine was chosen with [`PluginBuilder::with_backend`] and
    /// `EXTISM_BACKEND` names an unknown engine or one not compiled into this build.
    pub fn build(self) -> Result<Plugin, Error> {
        Plugin::new_from_compiled(&self.compile()?)
    }

    /// Compile the plug-in once, to create many instances with [`Plugin::new_from_compiled`].
    pub fn compile(self) -> Result<CompiledPlugin, Error> {
        let backend = match self.backend {
            Some(backend) => backend,
            None => Backend::from_env()?,
        };
        let manifest = self.source.into_manifest()?;
        let inner = backend.visit(Compile {
            manifest: &manifest,
            functions: self.functions,
            options: &self.options,
        })?;
        Ok(CompiledPlugin { backend, inner })
    }
}

/// Compiling a plug-in on the engine [`Backend::visit`] gives.
struct Compile<'a> {
    manifest: &'a extism_core::Manifest,
    functions: Vec<Function>,
    options: &'a PluginOptions,
}

impl EngineVisitor for Compile<'_> {
    type Output = Result<Arc<dyn DynCompiled>, Error>;

    fn visit<E: EngineApi>(self) -> Self::Output {
        let compiled = extism_core::Compiled::<E>::new(self.manifest, self.functions, self.options)?;
        Ok(Arc::new(compiled))
    }
}
