//! Host functions on wasmer: the trampoline that turns a wasmer host call into a call of the core's callback.

use anyhow::Error;
use extism_core::Val;
use extism_core::backend::{CallError, HostFunction, HostState, KernelAccess, with_host_values};
use extism_core::kernel::KernelFn;
use wasmer::{FunctionEnv, FunctionEnvMut, RuntimeError, Store, Value};

use crate::errors::{HostFailure, host_failure, trap};
use crate::store::{Env, KernelExports, memory_bytes};
use crate::types::{from_wasmer, to_wasmer, to_wasmer_func_type};

/// A wasmer function that runs `function` for the instance in `slot`.
///
/// wasmer tells a host function nothing about its caller, so each importing instance gets its own wasmer function
/// that knows the instance: that is how [`KernelAccess::guest_memory_and_state`] finds the caller's memory.
pub(crate) fn function<S: HostState>(
    store: &mut Store,
    env: &FunctionEnv<Env<S>>,
    function: &HostFunction<S>,
    slot: usize,
) -> wasmer::Function {
    if let Some(typed) = typed(store, env, function, slot) {
        return typed;
    }
    let ty = to_wasmer_func_type(&function.ty.params, &function.ty.results);
    let function = function.clone();
    wasmer::Function::new_with_env(
        store,
        env,
        ty,
        move |mut env: FunctionEnvMut<Env<S>>, params: &[Value]| {
            dynamic(&function, &mut env, slot, params).map_err(|e| RuntimeError::user(Box::new(HostFailure(e))))
        },
    )
}

/// The signatures of nearly every Extism host function (handles are `i64`): up to five `i64` parameters and no
/// result, an `i64` or an `i32`. For these, a typed wasmer function avoids the dynamic path, which allocates the
/// arguments, the results and a copy of the signature on every call.
fn typed<S: HostState>(
    store: &mut Store,
    env: &FunctionEnv<Env<S>>,
    function: &HostFunction<S>,
    slot: usize,
) -> Option<wasmer::Function> {
    use extism_core::ValType::{I32, I64};
    if function.ty.params.iter().any(|t| *t != I64) {
        return None;
    }
    macro_rules! with_params {
        ($($arg:ident),*) => {{
            let f = function.clone();
            match &function.ty.results[..] {
                [] => Some(wasmer::Function::new_typed_with_env(
                    store,
                    env,
                    move |mut env: FunctionEnvMut<Env<S>>, $($arg: i64),*| -> Result<(), HostFailure> {
                        run(&f, &mut env, slot, &[$(Val::I64($arg)),*], &mut []).map_err(HostFailure)
                    },
                )),
                [I64] => Some(wasmer::Function::new_typed_with_env(
                    store,
                    env,
                    move |mut env: FunctionEnvMut<Env<S>>, $($arg: i64),*| -> Result<i64, HostFailure> {
                        let mut out = [Val::I64(0)];
                        run(&f, &mut env, slot, &[$(Val::I64($arg)),*], &mut out).map_err(HostFailure)?;
                        Ok(out[0].i64().unwrap_or_default())
                    },
                )),
                [I32] => Some(wasmer::Function::new_typed_with_env(
                    store,
                    env,
                    move |mut env: FunctionEnvMut<Env<S>>, $($arg: i64),*| -> Result<i32, HostFailure> {
                        let mut out = [Val::I32(0)];
                        run(&f, &mut env, slot, &[$(Val::I64($arg)),*], &mut out).map_err(HostFailure)?;
                        Ok(out[0].i32().unwrap_or_default())
                    },
                )),
                _ => None,
            }
        }};
    }
    match function.ty.params.len() {
        0 => with_params!(),
        1 => with_params!(a),
        2 => with_params!(a, b),
        3 => with_params!(a, b, c),
        4 => with_params!(a, b, c, d),
        5 => with_params!(a, b, c, d, e),
        _ => None,
    }
}

/// Run `function` with `args`; `outs` has one slot per declared result (the callback checks their types).
fn run<S: HostState>(
    function: &HostFunction<S>,
    env: &mut FunctionEnvMut<'_, Env<S>>,
    slot: usize,
    args: &[Val],
    outs: &mut [Val],
) -> Result<(), Error> {
    let mut view = CallerView { env, slot };
    function.callback.call(&mut view, args, outs)
}

/// The general path, for any signature.
fn dynamic<S: HostState>(
    function: &HostFunction<S>,
    env: &mut FunctionEnvMut<'_, Env<S>>,
    slot: usize,
    params: &[Value],
) -> Result<Vec<Value>, Error> {
    with_host_values(params, &function.ty.results, from_wasmer, |args, outs| {
        run(function, env, slot, args, outs)?;
        // wasmer's dynamic host functions return their results in a `Vec`.
        Ok(outs.iter().map(|v| to_wasmer(*v)).collect())
    })
}

/// The kernel and the calling instance as seen from inside a host call.
struct CallerView<'a, 'b, S> {
    env: &'a mut FunctionEnvMut<'b, Env<S>>,
    /// The instance that called.
    slot: usize,
}

impl<S: HostState> CallerView<'_, '_, S> {
    fn kernel(&self) -> &KernelExports {
        self.env.data().kernel()
    }
}

/// A kernel call's error from inside a host call.
fn kernel_error(error: RuntimeError) -> CallError {
    match host_failure(error) {
        Ok(e) => CallError::Host(e),
        Err(e) => trap(&e),
    }
}

impl<S: HostState> KernelAccess<S> for CallerView<'_, '_, S> {
    fn memory_and_state(&mut self) -> (&mut [u8], &mut S) {
        let (env, store) = self.env.data_and_store_mut();
        // SAFETY: both results borrow `self.env` (the store included) mutably; memory bytes are not part of the env.
        let bytes = unsafe { memory_bytes(&env.kernel().memory, &store) };
        (bytes, &mut env.state)
    }

    fn call_kernel(&mut self, function: KernelFn, arg: u64) -> Result<u64, CallError> {
        let func = self.kernel().function(function).clone();
        func.call(&mut *self.env, arg).map_err(kernel_error)
    }

    fn guest_memory_and_state(&mut self) -> Option<(&mut [u8], &mut S)> {
        let (env, store) = self.env.data_and_store_mut();
        let memory = env.memories.get(self.slot)?.as_ref()?;
        // SAFETY: as in `memory_and_state`: the results borrow `self.env` mutably.
        let bytes = unsafe { memory_bytes(memory, &store) };
        Some((bytes, &mut env.state))
    }
}
