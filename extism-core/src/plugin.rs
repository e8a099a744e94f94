//! A plug-in on one backend: compile once ([`Compiled`]), instantiate many times ([`Plugin`]), and the call protocol.

use std::sync::Arc;

use anyhow::{Context, Error, anyhow, bail};
use uuid::Uuid;

use crate::EXTISM_ENV_MODULE;
use crate::backend::{Backend, CallError, EngineOptions, ExportShape, ExternKind, KernelAccess, PluginStore};
use crate::function::Function;
use crate::kernel::{CallRecord, KERNEL_WASM};
use crate::link::{ModuleInfo, check_imports};
use crate::manifest::Manifest;
use crate::state::PluginState;
use crate::val::{Val, ValType};

/// The return code of a call that trapped (upstream's `EXIT_SIGNALED_SIGABRT`).
pub const TRAP_RETURN_CODE: i32 = 134;

/// Everything needed to create plug-ins: the engine, the compiled kernel and modules, host functions and settings.
pub struct Compiled<B: Backend> {
    engine: B::Engine,
    kernel: B::Module,
    /// Manifest modules; the main module is last.
    modules: Vec<ModuleInfo<B::Module>>,
    /// Instantiation order of the non-main modules.
    link_order: Vec<usize>,
    functions: Vec<Function>,
    manifest: Manifest,
}

impl<B: Backend> Compiled<B> {
    /// Compile a plug-in's modules and check that every import can be satisfied.
    pub fn new(
        manifest: &Manifest,
        functions: impl IntoIterator<Item = Function>,
        with_wasi: bool,
        options: &EngineOptions,
    ) -> Result<Compiled<B>, Error> {
        if with_wasi {
            bail!("WASI is not available in this build of the runtime yet: create the plug-in with WASI disabled");
        }
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
        let engine = B::new_engine(options)?;
        let kernel = B::compile(&engine, KERNEL_WASM).context("unable to compile the Extism kernel")?;
        let mut modules = Vec::with_capacity(named.len());
        for m in named {
            let module = B::compile(&engine, &m.wasm)?;
            modules.push(ModuleInfo {
                imports: B::imports(&module),
                exports: B::exports(&module),
                name: m.name,
                module,
            });
        }
        let link_order = check_imports(&modules, &functions, crate::pdk::builtins())?;
        Ok(Compiled {
            engine,
            kernel,
            modules,
            link_order,
            functions,
            manifest: Manifest {
                wasm: Vec::new(),
                ..manifest.clone()
            },
        })
    }

    fn main(&self) -> &ModuleInfo<B::Module> {
        self.modules.last().expect("a compiled plug-in has a main module")
    }

    /// True if the main module exports `name` as a function Extism can call: no parameters, no result or one `i32`.
    pub fn function_exists(&self, name: &str) -> bool {
        export_shape(self.main(), name).is_ok()
    }

    /// The engine, for backends that share it.
    pub fn engine(&self) -> &B::Engine {
        &self.engine
    }
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

/// One instance of a plug-in: its own store, kernel, vars and main-module instance.
pub struct Plugin<B: Backend> {
    compiled: Arc<Compiled<B>>,
    store: B::Store,
    /// The main module's instance, created on the first call so that no guest code runs outside a call.
    main: Option<B::Instance>,
    /// Exports called so far, found by a linear scan: plug-ins call few distinct exports, and comparing a short name
    /// is cheaper than hashing it.
    exports: Vec<(Box<str>, B::Export)>,
    /// Output of the last call, already checked against kernel memory.
    output: (usize, usize),
}

impl<B: Backend> Plugin<B> {
    /// Create an instance: a store with the host functions, the kernel and the non-main modules linked.
    pub fn new(compiled: Arc<Compiled<B>>, id: Uuid) -> Result<Plugin<B>, Error> {
        let state = PluginState::new(id, &compiled.manifest);
        let mut store = B::new_store(&compiled.engine, &compiled.kernel, state)?;
        for f in crate::pdk::builtins() {
            store.define_function(EXTISM_ENV_MODULE, f.name(), f)?;
        }
        for f in &compiled.functions {
            store.define_function(f.effective_namespace(), f.name(), f)?;
        }
        for &index in &compiled.link_order {
            let module = &compiled.modules[index];
            let instance = store
                .instantiate(&module.module)
                .map_err(CallError::into_error)
                .with_context(|| format!("unable to instantiate module `{}`", module.name))?;
            run_guest_init::<B>(&mut store, &instance, module).map_err(CallError::into_error)?;
            store.register(&module.name, &instance)?;
        }
        Ok(Plugin {
            compiled,
            store,
            main: None,
            exports: Vec::new(),
            output: (0, 0),
        })
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
        self.store.kernel_reset()
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
    /// (see the contract §3.6: guest errors keep the export's code or -1, traps and timeouts 134, others -1).
    pub fn call(&mut self, name: &str, input: &[u8]) -> Result<i32, (Error, i32)> {
        self.output = (0, 0);
        let export = self.export_index(name).map_err(|e| (e, -1))?;

        let input_offset = self
            .store
            .begin_call(input.len() as u64)
            .map_err(|e| (e.into_error(), -1))?;
        if !input.is_empty() {
            let memory = self.store.memory_and_state().0;
            let target = crate::current_plugin::region(memory, input_offset, input.len() as u64);
            match target {
                Some(target) if input_offset != 0 => target.copy_from_slice(input),
                _ => {
                    return Err((
                        anyhow!("unable to allocate {} bytes of input in kernel memory", input.len()),
                        -1,
                    ));
                }
            }
        }

        let state = self.store.state_mut();
        state.call_started = state.manifest.timeout_ms.map(|_| std::time::Instant::now());
        let result = self.store.call(&self.exports[export].1);

        let record = self.store.end_call().map_err(|e| (e.into_error(), -1))?;
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
            Ok(rc) => {
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
            Err(CallError::Exit(0)) => Ok(0),
            Err(CallError::Exit(code)) => Err((CallError::Exit(code).into_error(), code)),
            Err(e @ (CallError::Trap(_) | CallError::Interrupted)) => Err((e.into_error(), TRAP_RETURN_CODE)),
            Err(e) => Err((e.into_error(), -1)),
        }
    }

    /// The index in `self.exports` of the export `name`, instantiating the main module first if this is the first
    /// call.
    fn export_index(&mut self, name: &str) -> Result<usize, Error> {
        if let Some(index) = self.exports.iter().position(|(n, _)| **n == *name) {
            return Ok(index);
        }
        let shape = export_shape(self.compiled.main(), name)?;
        let instance = match &self.main {
            Some(instance) => instance.clone(),
            None => {
                let main = self.compiled.main();
                let instance = self.store.instantiate(&main.module).map_err(CallError::into_error)?;
                run_guest_init::<B>(&mut self.store, &instance, main).map_err(CallError::into_error)?;
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
fn run_guest_init<B: Backend>(
    store: &mut B::Store,
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
