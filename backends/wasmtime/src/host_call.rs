//! Host functions on wasmtime: the trampoline that turns a wasmtime host call into a call of the core's callback.

use anyhow::Error;
use extism_core::backend::{CallError, HostFunction, HostState, KernelAccess, with_host_values};
use extism_core::kernel::KernelFn;
use wasmtime::{Caller, Linker};

use crate::errors::{HostFailure, to_anyhow};
use crate::store::{StoreData, kernel_call, memory_and_state};
use crate::types::{from_wasmtime, to_wasmtime, to_wasmtime_type};

/// Define `function` in `linker`.
pub(crate) fn define<S: HostState>(linker: &mut Linker<StoreData<S>>, function: &HostFunction<S>) -> Result<(), Error> {
    let ty = wasmtime::FuncType::new(
        linker.engine(),
        function.ty.params.iter().map(|t| to_wasmtime_type(*t)),
        function.ty.results.iter().map(|t| to_wasmtime_type(*t)),
    );
    let (namespace, name) = (function.namespace.clone(), function.name.clone());
    let function = function.clone();
    linker
        .func_new(&namespace, &name, ty, move |mut caller, params, results| {
            invoke(&function, &mut caller, params, results).map_err(|e| wasmtime::Error::new(HostFailure(e)))
        })
        .map_err(to_anyhow)?;
    Ok(())
}

fn invoke<S: HostState>(
    function: &HostFunction<S>,
    caller: &mut Caller<'_, StoreData<S>>,
    params: &[wasmtime::Val],
    results: &mut [wasmtime::Val],
) -> Result<(), Error> {
    with_host_values(params, results.len(), from_wasmtime, |args, outs| {
        let mut view = CallerView { caller };
        function.callback.call(&mut view, args, outs)?;
        for (slot, out) in results.iter_mut().zip(outs.iter()) {
            *slot = to_wasmtime(*out);
        }
        Ok(())
    })
}

/// The kernel as seen from inside a host call.
struct CallerView<'a, 'b, S: HostState> {
    caller: &'a mut Caller<'b, StoreData<S>>,
}

impl<S: HostState> KernelAccess<S> for CallerView<'_, '_, S> {
    fn memory_and_state(&mut self) -> (&mut [u8], &mut S) {
        memory_and_state(self.caller)
    }

    fn call_kernel(&mut self, function: KernelFn, arg: u64) -> Result<u64, CallError> {
        kernel_call(&mut *self.caller, function, arg)
    }

    fn guest_memory_and_state(&mut self) -> Option<(&mut [u8], &mut S)> {
        // The calling instance's own export: for a plug-in module that is its memory, never the kernel's.
        let memory = self.caller.get_export("memory")?.into_memory()?;
        let (bytes, data) = memory.data_and_store_mut(&mut *self.caller);
        Some((bytes, &mut data.state))
    }
}
