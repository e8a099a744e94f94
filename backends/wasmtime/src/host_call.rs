//! Host functions on wasmtime: the trampoline that turns a wasmtime host call into a call of the core's callback.

use anyhow::Error;
use extism_core::backend::{CallError, HostFunction, HostState, KernelAccess, with_host_values};
use extism_core::kernel::KernelFn;
use extism_core::{Val, ValType};
use wasmtime::{Caller, Linker};

use crate::errors::{HostFailure, to_anyhow};
use crate::store::{StoreData, kernel_call, memory_and_state};
use crate::types::{from_wasmtime, to_wasmtime, to_wasmtime_type};

/// Most arguments a host function may take to get a typed trampoline.
const TYPED_MAX_PARAMS: usize = 5;

/// Define `function` in `linker`.
///
/// Extism host functions almost always take and return `i64` handles. For those signatures (up to
/// [`TYPED_MAX_PARAMS`] `i64` parameters, no result or one `i64` or `i32`) the trampoline is a typed closure
/// (`Linker::func_wrap`): wasmtime passes the arguments in registers, where its dynamically typed path
/// (`Linker::func_new`) converts every argument and result to and from `wasmtime::Val` through a buffer. Other
/// signatures take the dynamic path.
pub(crate) fn define<S: HostState>(linker: &mut Linker<StoreData<S>>, function: &HostFunction<S>) -> Result<(), Error> {
    let (params, results) = (&function.ty.params, &function.ty.results);
    let typed = params.len() <= TYPED_MAX_PARAMS
        && params.iter().all(|t| *t == ValType::I64)
        && matches!(results[..], [] | [ValType::I64] | [ValType::I32]);
    if typed {
        define_typed(linker, function)
    } else {
        define_dynamic(linker, function)
    }
    .map_err(to_anyhow)?;
    Ok(())
}

/// A typed trampoline for `i64` parameters `$arg…` and the result kind of `$function`.
macro_rules! typed_trampoline {
    ($linker:ident, $function:ident, [$($arg:ident),*]) => {{
        let f = $function.clone();
        let (namespace, name) = (&$function.namespace, &$function.name);
        match $function.ty.results[..] {
            [] => $linker.func_wrap(
                namespace,
                name,
                move |mut caller: Caller<'_, StoreData<S>>, $($arg: i64),*| -> wasmtime::Result<()> {
                    call_host(&f, &mut caller, &[$(Val::I64($arg)),*], &mut [])
                },
            ),
            [ValType::I64] => $linker.func_wrap(
                namespace,
                name,
                move |mut caller: Caller<'_, StoreData<S>>, $($arg: i64),*| -> wasmtime::Result<i64> {
                    let mut out = [Val::I64(0)];
                    call_host(&f, &mut caller, &[$(Val::I64($arg)),*], &mut out)?;
                    Ok(out[0].unwrap_i64())
                },
            ),
            _ => $linker.func_wrap(
                namespace,
                name,
                move |mut caller: Caller<'_, StoreData<S>>, $($arg: i64),*| -> wasmtime::Result<i32> {
                    let mut out = [Val::I32(0)];
                    call_host(&f, &mut caller, &[$(Val::I64($arg)),*], &mut out)?;
                    Ok(out[0].unwrap_i32())
                },
            ),
        }
        .map(|_| ())
    }};
}

fn define_typed<S: HostState>(linker: &mut Linker<StoreData<S>>, function: &HostFunction<S>) -> wasmtime::Result<()> {
    match function.ty.params.len() {
        0 => typed_trampoline!(linker, function, []),
        1 => typed_trampoline!(linker, function, [a]),
        2 => typed_trampoline!(linker, function, [a, b]),
        3 => typed_trampoline!(linker, function, [a, b, c]),
        4 => typed_trampoline!(linker, function, [a, b, c, d]),
        _ => typed_trampoline!(linker, function, [a, b, c, d, e]),
    }
}

fn define_dynamic<S: HostState>(linker: &mut Linker<StoreData<S>>, function: &HostFunction<S>) -> wasmtime::Result<()> {
    let ty = wasmtime::FuncType::new(
        linker.engine(),
        function.ty.params.iter().map(|t| to_wasmtime_type(*t)),
        function.ty.results.iter().map(|t| to_wasmtime_type(*t)),
    );
    let (namespace, name) = (function.namespace.clone(), function.name.clone());
    let function = function.clone();
    linker.func_new(&namespace, &name, ty, move |mut caller, params, results| {
        invoke(&function, &mut caller, params, results)
    })?;
    Ok(())
}

/// Run a host function with core values; its error travels through wasmtime unchanged. The callback resets `outs`
/// to the declared result types and checks what the function leaves there.
#[inline]
fn call_host<S: HostState>(
    function: &HostFunction<S>,
    caller: &mut Caller<'_, StoreData<S>>,
    args: &[Val],
    outs: &mut [Val],
) -> wasmtime::Result<()> {
    let mut view = CallerView { caller };
    function
        .callback
        .call(&mut view, args, outs)
        .map_err(|e| wasmtime::Error::new(HostFailure(e)))
}

/// The dynamic trampoline: wasmtime values in and out, converted to and from the core's.
fn invoke<S: HostState>(
    function: &HostFunction<S>,
    caller: &mut Caller<'_, StoreData<S>>,
    params: &[wasmtime::Val],
    results: &mut [wasmtime::Val],
) -> wasmtime::Result<()> {
    with_host_values(params, &function.ty.results, from_wasmtime, |args, outs| {
        call_host(function, caller, args, outs)?;
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
