//! [`PluginBuilder`]: the options a plug-in is created with.

use std::sync::Arc;

use extism_core::backend::EngineOptions;
use extism_core::{CurrentPlugin, Function, UserData, Val, ValType, WasmInput};

use crate::dispatch::AnyPlugin;
use crate::plugin::Plugin;
use crate::{Backend, Error};

/// Builds a [`Plugin`] from a module or manifest, host functions and options.
#[derive(Clone)]
pub struct PluginBuilder<'a> {
    source: WasmInput<'a>,
    wasi: bool,
    functions: Vec<Function>,
    backend: Backend,
}

impl<'a> PluginBuilder<'a> {
    /// Start from wasm bytes, WAT, a JSON/TOML manifest, or a [`crate::Manifest`].
    pub fn new(plugin: impl Into<WasmInput<'a>>) -> Self {
        PluginBuilder {
            source: plugin.into(),
            wasi: false,
            functions: Vec::new(),
            backend: Backend::default(),
        }
    }

    /// Give the plug-in WASI preview 1 (not available in this version yet: building fails with a clear error).
    pub fn with_wasi(mut self, wasi: bool) -> Self {
        self.wasi = wasi;
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

    /// Run the plug-in on `backend` instead of the default engine.
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Add host functions.
    pub fn with_functions(mut self, functions: impl IntoIterator<Item = Function>) -> Self {
        self.functions.extend(functions);
        self
    }

    /// Compile and instantiate the plug-in.
    pub fn build(self) -> Result<Plugin, Error> {
        let manifest = self.source.into_manifest()?;
        let options = EngineOptions::default();
        let id = extism_core::Uuid::new_v4();
        let inner = match self.backend {
            #[cfg(feature = "wasmtime")]
            Backend::Wasmtime => AnyPlugin::Wasmtime(instantiate(&manifest, self.functions, self.wasi, &options, id)?),
            #[cfg(feature = "wasmer")]
            Backend::Wasmer => AnyPlugin::Wasmer(instantiate(&manifest, self.functions, self.wasi, &options, id)?),
        };
        Ok(Plugin::from_parts(id, inner))
    }
}

fn instantiate<B: extism_core::backend::Backend>(
    manifest: &extism_core::Manifest,
    functions: Vec<Function>,
    wasi: bool,
    options: &EngineOptions,
    id: extism_core::Uuid,
) -> Result<extism_core::Plugin<B>, Error> {
    let compiled = extism_core::Compiled::<B>::new(manifest, functions, wasi, options)?;
    extism_core::Plugin::new(Arc::new(compiled), id)
}
