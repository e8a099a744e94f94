//! Host functions on wasmi: the trampoline that turns a wasmi host call into a call of the core's callback.

use anyhow::{Error, anyhow};
use extism_core::backend::{CallError, HostFunction, HostState, KernelAccess, with_host_values};
use extism_core::kernel::KernelFn;
use extism_core::{Val, ValType};
use wasmi::{Caller, Linker};

use crate::errors::HostFailure;
use crate::store::{StoreData, kernel_call, memory_and_state};
use crate::types::{from_wasmi, to_wasmi, to_wasmi_type};

/// Most arguments a host function may take to get a typed trampoline.
const TYPED_MAX_PARAMS: usize = 5;

/// Define `function` in `linker`.
///
/// Extism host functions almost always take and return `i64` handles. For those signatures (up to
/// [`TYPED_MAX_PARAMS`] `i64` parameters, no result or one `i64` or `i32`) the trampoline is a typed closure: wasmi
/// passes the arguments directly, where its dynamically typed trampoline copies a heap-allocated buffer of values on
/// every call. Other signatures use the dynamic one.
pub(crate) fn define<S: HostState>(linker: &mut Linker<StoreData<S>>, function: &HostFunction<S>) -> Result<(), Error> {
    let (namespace, name) = (function.namespace.as_str(), function.name.as_str());
    let (params, results) = (&function.ty.params, &function.ty.results);
    let typed = params.len() <= TYPED_MAX_PARAMS
        && params.iter().all(|t| *t == ValType::I64)
        && matches!(results[..], [] | [ValType::I64] | [ValType::I32]);
    let defined = if typed {
        define_typed(linker, namespace, name, function)
    } else {
        define_dynamic(linker, namespace, name, function)
    };
    defined.map_err(|e| anyhow!("unable to define host function `{namespace}::{name}`: {e}"))?;
    Ok(())
}

/// A typed trampoline for `i64` parameters `$arg…` and the result kind of `$function`.
macro_rules! typed_trampoline {
    ($linker:ident, $namespace:ident, $name:ident, $function:ident, [$($arg:ident),*]) => {{
        let f = $function.clone();
        match $function.ty.results[..] {
            [] => $linker.func_wrap(
                $namespace,
                $name,
                move |mut caller: Caller<'_, StoreData<S>>, $($arg: i64),*| -> Result<(), wasmi::Error> {
                    call_host(&f, &mut caller, &[$(Val::I64($arg)),*], &mut [])
                },
            ),
            [ValType::I64] => $linker.func_wrap(
                $namespace,
                $name,
                move |mut caller: Caller<'_, StoreData<S>>, $($arg: i64),*| -> Result<i64, wasmi::Error> {
                    let mut out = [Val::I64(0)];
                    call_host(&f, &mut caller, &[$(Val::I64($arg)),*], &mut out)?;
                    Ok(out[0].unwrap_i64())
                },
            ),
            _ => $linker.func_wrap(
                $namespace,
                $name,
                move |mut caller: Caller<'_, StoreData<S>>, $($arg: i64),*| -> Result<i32, wasmi::Error> {
                    let mut out = [Val::I32(0)];
                    call_host(&f, &mut caller, &[$(Val::I64($arg)),*], &mut out)?;
                    Ok(out[0].unwrap_i32())
                },
            ),
        }
        .map(|_| ())
    }};
}

fn define_typed<S: HostState>(
    linker: &mut Linker<StoreData<S>>,
    namespace: &str,
    name: &str,
    function: &HostFunction<S>,
) -> Result<(), wasmi::errors::LinkerError> {
    match function.ty.params.len() {
        0 => typed_trampoline!(linker, namespace, name, function, []),
        1 => typed_trampoline!(linker, namespace, name, function, [a]),
        2 => typed_trampoline!(linker, namespace, name, function, [a, b]),
        3 => typed_trampoline!(linker, namespace, name, function, [a, b, c]),
        4 => typed_trampoline!(linker, namespace, name, function, [a, b, c, d]),
        _ => typed_trampoline!(linker, namespace, name, function, [a, b, c, d, e]),
    }
}

fn define_dynamic<S: HostState>(
    linker: &mut Linker<StoreData<S>>,
    namespace: &str,
    name: &str,
    function: &HostFunction<S>,
) -> Result<(), wasmi::errors::LinkerError> {
    let ty = wasmi::FuncType::new(
        function.ty.params.iter().map(|t| to_wasmi_type(*t)),
        function.ty.results.iter().map(|t| to_wasmi_type(*t)),
    );
    let function = function.clone();
    linker.func_new(namespace, name, ty, move |mut caller, params, results| {
        dynamic_call(&function, &mut caller, params, results)
    })?;
    Ok(())
}

/// The dynamic trampoline: wasmi values in and out, converted to and from the core's.
fn dynamic_call<S: HostState>(
    function: &HostFunction<S>,
    caller: &mut Caller<'_, StoreData<S>>,
    params: &[wasmi::Val],
    results: &mut [wasmi::Val],
) -> Result<(), wasmi::Error> {
    with_host_values(params, &function.ty.results, from_wasmi, |args, outs| {
        call_host(function, caller, args, outs)?;
        for (slot, out) in results.iter_mut().zip(outs.iter()) {
            *slot = to_wasmi(*out);
        }
        Ok(())
    })
}

/// Run a host function: the fuel bookkeeping of sliced calls around it, and its error carried through wasmi.
/// The callback resets `outs` to the declared result types and checks what the function leaves there.
fn call_host<S: HostState>(
    function: &HostFunction<S>,
    caller: &mut Caller<'_, StoreData<S>>,
    args: &[Val],
    outs: &mut [Val],
) -> Result<(), wasmi::Error> {
    let slice = unslice(caller);
    let outcome = invoke(function, caller, args, outs);
    if let Some(slice) = slice {
        reslice(caller, slice);
    }
    outcome.map_err(|e| wasmi::Error::host(HostFailure::new(e)))
}

fn invoke<S: HostState>(
    function: &HostFunction<S>,
    caller: &mut Caller<'_, StoreData<S>>,
    args: &[Val],
    outs: &mut [Val],
) -> Result<(), Error> {
    let mut view = CallerView { caller };
    function.callback.call(&mut view, args, outs)
}

/// The fuel situation of a sliced call when it entered a host function.
struct Slice {
    /// Fuel left in the current slice.
    left: u64,
    /// The user's whole remaining fuel (slice + reserve).
    total: u64,
}

/// Inside a sliced call, give the host function the user's whole remaining fuel: its kernel calls run as ordinary
/// (not resumable) calls, which must not stop at a slice boundary. `None` outside sliced calls.
fn unslice<S: HostState>(caller: &mut Caller<'_, StoreData<S>>) -> Option<Slice> {
    let reserve = caller.data_mut().fuel.reserve.take()?;
    let left = caller.get_fuel().unwrap_or(0);
    let total = left.saturating_add(reserve);
    let _ = caller.set_fuel(total);
    Some(Slice { left, total })
}

/// Back to slicing after the host function: what it used comes off the current slice, so that a guest calling host
/// functions in a loop still reaches the end of its slice (and so its interrupt check).
fn reslice<S: HostState>(caller: &mut Caller<'_, StoreData<S>>, slice: Slice) {
    let total = caller.get_fuel().unwrap_or(0);
    let used = slice.total.saturating_sub(total);
    let give = slice.left.saturating_sub(used).min(total);
    caller.data_mut().fuel.reserve = Some(total - give);
    let _ = caller.set_fuel(give);
}

/// The kernel (and the calling instance) as seen from inside a host call.
struct CallerView<'a, 'b, S> {
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
        // `Caller::get_export` looks in the instance whose code made this host call.
        let memory = self.caller.get_export("memory")?.into_memory()?;
        let (bytes, data) = memory.data_and_store_mut(&mut *self.caller);
        Some((bytes, &mut data.state))
    }
}

#[cfg(test)]
mod tests {
    use extism_core::backend::{EngineApi, EngineOptions, ExportShape, LinkingInputs, PluginStore};
    use extism_core::kernel::KERNEL_WASM;
    use extism_core::{Manifest, PluginState, Uuid};

    use super::*;
    use crate::Wasmi;

    /// `poke` writes through `guest_memory_and_state` at offset 100 and reports whether it found a memory.
    const GUEST: &str = r#"
    (module
      (import "host" "poke" (func $poke (result i32)))
      (memory (export "memory") 1)
      (func (export "poke_then_read") (result i32)
        (if (i32.eqz (call $poke)) (then (return (i32.const -1))))
        (i32.load8_u (i32.const 100))))
    "#;

    const NO_MEMORY: &str = r#"
    (module
      (import "host" "poke" (func $poke (result i32)))
      (func (export "poke_then_read") (result i32) (call $poke)))
    "#;

    fn run(guest: &str) -> (i32, u8) {
        let engine = Wasmi::new_engine(&EngineOptions::default()).unwrap();
        let kernel = Wasmi::compile(&engine, KERNEL_WASM).unwrap();
        let state = PluginState::new(Uuid::new_v4(), &Manifest::default());
        let mut store = Wasmi::new_store(
            &engine,
            &kernel,
            &Wasmi::prepare_functions(&engine, &LinkingInputs::kernel_only(&kernel)).unwrap(),
            state,
        )
        .unwrap();
        assert!(
            store.guest_memory_and_state().is_none(),
            "no guest memory outside a host call"
        );
        let ty = wasmi::FuncType::new([], [wasmi::ValType::I32]);
        store
            .linker
            .func_new("host", "poke", ty, |mut caller, _, results| {
                let mut view = CallerView { caller: &mut caller };
                let found = match view.guest_memory_and_state() {
                    Some((memory, state)) => {
                        assert_eq!(state.manifest().wasm.len(), 0, "the plug-in's own state comes along");
                        memory[100] = 7;
                        1
                    }
                    None => 0,
                };
                results[0] = wasmi::Val::I32(found);
                Ok(())
            })
            .unwrap();
        let module = Wasmi::compile(&engine, &wat::parse_str(guest).unwrap()).unwrap();
        let instance = store.instantiate(&module).unwrap();
        let export = store
            .export(&instance, "poke_then_read", ExportShape::I32Result)
            .unwrap();
        let rc = store.call(&export).unwrap();
        (rc, store.kernel_memory()[100])
    }

    #[test]
    fn guest_memory_is_the_calling_instances_memory() {
        assert_eq!(
            run(GUEST),
            (7, 0),
            "the guest's memory was written, the kernel's was not"
        );
    }

    #[test]
    fn guest_memory_is_none_when_the_caller_exports_none() {
        assert_eq!(run(NO_MEMORY).0, 0);
    }
}
