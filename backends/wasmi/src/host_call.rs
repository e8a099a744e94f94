//! Host functions on wasmi: the trampoline that turns a wasmi host call into a core [`Function`] call.

use anyhow::{Error, anyhow};
use extism_core::backend::KernelAccess;
use extism_core::{CurrentPlugin, Function, PluginState, Val};
use wasmi::{Caller, Linker};

use crate::errors::HostFailure;
use crate::store::{StoreData, kernel_call, memory_and_state};
use crate::types::{from_wasmi, to_wasmi, to_wasmi_type};

/// Arguments of most host functions fit here without a heap allocation.
const INLINE_VALUES: usize = 8;

/// Define `function` as `namespace::name` in `linker`.
pub(crate) fn define(
    linker: &mut Linker<StoreData>,
    namespace: &str,
    name: &str,
    function: &Function,
) -> Result<(), Error> {
    let ty = wasmi::FuncType::new(
        function.params().iter().map(|t| to_wasmi_type(*t)),
        function.results().iter().map(|t| to_wasmi_type(*t)),
    );
    let function = function.clone();
    linker
        .func_new(namespace, name, ty, move |mut caller, params, results| {
            let slice = unslice(&mut caller);
            let outcome = invoke(&function, &mut caller, params, results);
            if let Some(slice) = slice {
                reslice(&mut caller, slice);
            }
            outcome.map_err(|e| wasmi::Error::host(HostFailure(e)))
        })
        .map_err(|e| anyhow!("unable to define host function `{namespace}::{name}`: {e}"))?;
    Ok(())
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
fn unslice(caller: &mut Caller<'_, StoreData>) -> Option<Slice> {
    let reserve = caller.data_mut().fuel.reserve.take()?;
    let left = caller.get_fuel().unwrap_or(0);
    let total = left.saturating_add(reserve);
    let _ = caller.set_fuel(total);
    Some(Slice { left, total })
}

/// Back to slicing after the host function: what it used comes off the current slice, so that a guest calling host
/// functions in a loop still reaches the end of its slice (and so its interrupt check).
fn reslice(caller: &mut Caller<'_, StoreData>, slice: Slice) {
    let total = caller.get_fuel().unwrap_or(0);
    let used = slice.total.saturating_sub(total);
    let give = slice.left.saturating_sub(used).min(total);
    caller.data_mut().fuel.reserve = Some(total - give);
    let _ = caller.set_fuel(give);
}

fn invoke(
    function: &Function,
    caller: &mut Caller<'_, StoreData>,
    params: &[wasmi::Val],
    results: &mut [wasmi::Val],
) -> Result<(), Error> {
    let mut inline_args = [Val::I32(0); INLINE_VALUES];
    let mut heap_args = Vec::new();
    let args: &[Val] = if params.len() <= INLINE_VALUES {
        for (slot, p) in inline_args.iter_mut().zip(params) {
            *slot = from_wasmi(p);
        }
        &inline_args[..params.len()]
    } else {
        heap_args.extend(params.iter().map(from_wasmi));
        &heap_args
    };

    let mut inline_out = [Val::I32(0); INLINE_VALUES];
    let mut heap_out = Vec::new();
    let outs: &mut [Val] = if results.len() <= INLINE_VALUES {
        &mut inline_out[..results.len()]
    } else {
        heap_out.resize(results.len(), Val::I32(0));
        &mut heap_out
    };
    for (slot, ty) in outs.iter_mut().zip(function.results()) {
        *slot = Val::default_for(*ty).unwrap_or(Val::I32(0));
    }

    let mut view = CallerView { caller };
    function.invoke(&mut CurrentPlugin::new(&mut view), args, outs)?;

    for ((slot, out), ty) in results.iter_mut().zip(outs.iter()).zip(function.results()) {
        if out.ty() != *ty {
            return Err(anyhow!(
                "host function `{}` returned a {:?} where its signature declares {ty:?}",
                function.name(),
                out.ty()
            ));
        }
        *slot = to_wasmi(*out);
    }
    Ok(())
}

/// The kernel (and the calling instance) as seen from inside a host call.
struct CallerView<'a, 'b> {
    caller: &'a mut Caller<'b, StoreData>,
}

impl KernelAccess for CallerView<'_, '_> {
    fn memory_and_state(&mut self) -> (&mut [u8], &mut PluginState) {
        memory_and_state(self.caller)
    }

    fn kernel_alloc(&mut self, n: u64) -> Result<u64, Error> {
        kernel_call(&mut *self.caller, |k| k.alloc, n)
    }

    fn kernel_free(&mut self, p: u64) -> Result<(), Error> {
        kernel_call(&mut *self.caller, |k| k.free, p)
    }

    fn kernel_length(&mut self, p: u64) -> Result<u64, Error> {
        kernel_call(&mut *self.caller, |k| k.length, p)
    }

    fn kernel_error_set(&mut self, p: u64) -> Result<(), Error> {
        kernel_call(&mut *self.caller, |k| k.error_set, p)
    }

    fn kernel_reset(&mut self) -> Result<(), Error> {
        kernel_call(&mut *self.caller, |k| k.reset, ())
    }

    fn guest_memory_and_state(&mut self) -> Option<(&mut [u8], &mut PluginState)> {
        // `Caller::get_export` looks in the instance whose code made this host call.
        let memory = self.caller.get_export("memory")?.into_memory()?;
        let (bytes, data) = memory.data_and_store_mut(&mut *self.caller);
        Some((bytes, &mut data.state))
    }
}
