//! The run-time face of the compile-time engine choice: a plug-in is a `Box<dyn DynPlugin>` and a compiled plug-in an
//! `Arc<dyn DynCompiled>`, implemented once for the core's types over every engine. A call costs one indirect call on
//! top of the core's (statically dispatched) call path.

use std::any::Any;
use std::sync::Arc;

use extism_core::backend::EngineApi;
use extism_core::{CancelHandle, Compiled as CoreCompiled, Plugin as CorePlugin, PluginState, Uuid};

use crate::Error;

/// A plug-in instance on any engine: what [`crate::Plugin`] needs of `extism_core::Plugin<E>`.
/// `Send` but not `Sync`: wasmer's stores are not `Sync`, so a plug-in never was in builds with wasmer.
pub(crate) trait DynPlugin: Send {
    fn call(&mut self, name: &str, input: &[u8]) -> Result<i32, (Error, i32)>;
    fn call_with_context(
        &mut self,
        name: &str,
        input: &[u8],
        host_context: Option<Box<dyn Any + Send + Sync>>,
    ) -> Result<i32, (Error, i32)>;
    fn cancel_handle(&self) -> CancelHandle;
    fn fuel_consumed(&self) -> Option<u64>;
    fn output(&self) -> &[u8];
    fn state_mut(&mut self) -> &mut PluginState;
    fn function_exists(&self, name: &str) -> bool;
    fn reset(&mut self) -> Result<(), Error>;
    fn has_wasi(&self) -> bool;
    fn rewritten_modules(&self) -> usize;
}

impl<E: EngineApi> DynPlugin for CorePlugin<E> {
    fn call(&mut self, name: &str, input: &[u8]) -> Result<i32, (Error, i32)> {
        CorePlugin::call(self, name, input)
    }

    fn call_with_context(
        &mut self,
        name: &str,
        input: &[u8],
        host_context: Option<Box<dyn Any + Send + Sync>>,
    ) -> Result<i32, (Error, i32)> {
        CorePlugin::call_with_context(self, name, input, host_context)
    }

    fn cancel_handle(&self) -> CancelHandle {
        CorePlugin::cancel_handle(self)
    }

    fn fuel_consumed(&self) -> Option<u64> {
        CorePlugin::fuel_consumed(self)
    }

    fn output(&self) -> &[u8] {
        CorePlugin::output(self)
    }

    fn state_mut(&mut self) -> &mut PluginState {
        CorePlugin::state_mut(self)
    }

    fn function_exists(&self, name: &str) -> bool {
        CorePlugin::function_exists(self, name)
    }

    fn reset(&mut self) -> Result<(), Error> {
        CorePlugin::reset(self)
    }

    fn has_wasi(&self) -> bool {
        CorePlugin::has_wasi(self)
    }

    fn rewritten_modules(&self) -> usize {
        self.compiled().rewritten_modules()
    }
}

/// A compiled plug-in on any engine.
pub(crate) trait DynCompiled: Send + Sync {
    /// A new instance with the id `id`.
    fn instantiate(self: Arc<Self>, id: Uuid) -> Result<Box<dyn DynPlugin>, Error>;
    /// How many modules had their kernel memory accessor calls rewritten.
    fn rewritten_modules(&self) -> usize;
}

impl<E: EngineApi> DynCompiled for CoreCompiled<E> {
    fn instantiate(self: Arc<Self>, id: Uuid) -> Result<Box<dyn DynPlugin>, Error> {
        Ok(Box::new(CorePlugin::new(self, id)?))
    }

    fn rewritten_modules(&self) -> usize {
        CoreCompiled::rewritten_modules(self)
    }
}
