//! [`Plugin`]: a loaded plug-in instance and its calls.

use std::any::Any;

use extism_core::{CancelHandle, FromBytes, Function, ToBytes, Uuid, WasmInput};

use crate::builder::PluginBuilder;
use crate::dispatch::DynPlugin;
use crate::{CompiledPlugin, Error};

/// A loaded plug-in: call its exports with bytes in and bytes out.
///
/// Globals and memory of the plug-in survive between calls; a failed call (trap, guest error, host-function error)
/// leaves it usable.
pub struct Plugin {
    /// A random (v4) id, unique to this instance; also the `plugin` field of its log events.
    pub id: Uuid,
    backend: crate::Backend,
    inner: Box<dyn DynPlugin>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Plugin({})", self.id)
    }
}

impl Plugin {
    /// Create a plug-in from a [`CompiledPlugin`] without compiling again.
    pub fn new_from_compiled(compiled: &CompiledPlugin) -> Result<Plugin, Error> {
        let id = Uuid::new_v4();
        let inner = compiled.inner.clone().instantiate(id)?;
        Ok(Plugin {
            id,
            backend: compiled.backend,
            inner,
        })
    }

    /// Create a plug-in from wasm bytes, WAT, a JSON/TOML manifest or a [`crate::Manifest`], with host functions.
    pub fn new<'a>(
        wasm: impl Into<WasmInput<'a>>,
        imports: impl IntoIterator<Item = Function>,
        with_wasi: bool,
    ) -> Result<Plugin, Error> {
        PluginBuilder::new(wasm)
            .with_functions(imports)
            .with_wasi(with_wasi)
            .build()
    }

    /// Call the export `name` with `input` and decode its output, which may borrow from plug-in memory until the
    /// next call. Fails on any error, and on a non-zero return code without an error
    /// (`"Returned non-zero exit code: {rc}"`).
    pub fn call<'a, 'b, T: ToBytes<'a>, U: FromBytes<'b>>(
        &'b mut self,
        name: impl AsRef<str>,
        input: T,
    ) -> Result<U, Error> {
        let input = input.to_bytes()?;
        let rc = self.inner.call(name.as_ref(), input.as_ref()).map_err(|(e, _)| e)?;
        if rc != 0 {
            anyhow::bail!("Returned non-zero exit code: {rc}");
        }
        U::from_bytes(self.output())
    }

    /// Like [`Plugin::call`], but an error comes with the return code upstream Extism gives for it (the export's own
    /// code, -1, or 134 for traps). A non-zero code without an error is not an error here.
    pub fn call_get_error_code<'a, 'b, T: ToBytes<'a>, U: FromBytes<'b>>(
        &'b mut self,
        name: impl AsRef<str>,
        input: T,
    ) -> Result<U, (Error, i32)> {
        let input = input.to_bytes().map_err(|e| (e, -1))?;
        self.inner.call(name.as_ref(), input.as_ref())?;
        U::from_bytes(self.output()).map_err(|e| (e, -1))
    }

    /// Like [`Plugin::call`], with a host context for this call only: host functions read it with
    /// [`crate::CurrentPlugin::host_context`]. A non-zero return code without an error is not an error here.
    pub fn call_with_host_context<'a, 'b, T: ToBytes<'a>, U: FromBytes<'b>, C: Any + Send + Sync>(
        &'b mut self,
        name: impl AsRef<str>,
        input: T,
        host_context: C,
    ) -> Result<U, Error> {
        let input = input.to_bytes()?;
        let context: Box<dyn Any + Send + Sync> = Box::new(host_context);
        self.inner
            .call_with_context(name.as_ref(), input.as_ref(), Some(context))
            .map_err(|(e, _)| e)?;
        U::from_bytes(self.output())
    }

    /// A handle that cancels this plug-in's running call from another thread; the call fails with "timeout".
    pub fn cancel_handle(&self) -> CancelHandle {
        self.inner.cancel_handle()
    }

    /// Fuel used by the last call, when the plug-in has a fuel limit.
    pub fn fuel_consumed(&self) -> Option<u64> {
        self.inner.fuel_consumed()
    }

    fn output(&self) -> &[u8] {
        self.inner.output()
    }

    /// Call `name` with raw input and an optional host context, and return the code upstream's C API returns for
    /// the call: the export's own return code on success (which may be non-zero), or the error with its code (see
    /// [`Plugin::call_get_error_code`]). The output is then [`Plugin::last_output`]. For the C API and other
    /// bindings that need the exact code.
    pub fn raw_call(
        &mut self,
        name: &str,
        input: &[u8],
        host_context: Option<Box<dyn Any + Send + Sync>>,
    ) -> Result<i32, (Error, i32)> {
        self.inner.call_with_context(name, input, host_context)
    }

    /// The output of the last call, borrowed from kernel memory (empty after a failed call); valid until the next
    /// call or reset.
    pub fn last_output(&self) -> &[u8] {
        self.output()
    }

    /// The config the plug-in reads with `config_get`: edits take effect on the next call.
    pub fn config_mut(&mut self) -> &mut std::collections::BTreeMap<String, String> {
        self.inner.state_mut().config_mut()
    }

    /// Let the plug-in read the headers of its HTTP responses (`http_headers`), as
    /// [`crate::PluginBuilder::with_http_response_headers`] does at creation; for the C API's
    /// `extism_plugin_allow_http_response_headers`, which enables it on a live plug-in.
    pub fn set_http_response_headers(&mut self, enabled: bool) {
        self.inner.state_mut().set_http_response_headers(enabled)
    }

    /// True if the main module exports `name` with a signature Extism can call (no parameters, no result or `i32`).
    pub fn function_exists(&self, name: impl AsRef<str>) -> bool {
        self.inner.function_exists(name.as_ref())
    }

    /// Reset the kernel, freeing every allocation made by the last call.
    pub fn reset(&mut self) -> Result<(), Error> {
        self.inner.reset()
    }

    /// True if the plug-in was created with WASI.
    pub fn has_wasi(&self) -> bool {
        self.inner.has_wasi()
    }

    /// How many of the plug-in's wasm modules had their calls to the kernel's memory accessors rewritten (see
    /// [`crate::CompiledPlugin::rewritten_modules`]).
    pub fn rewritten_modules(&self) -> usize {
        self.inner.rewritten_modules()
    }

    /// The engine it runs on.
    pub fn backend(&self) -> crate::Backend {
        self.backend
    }
}
