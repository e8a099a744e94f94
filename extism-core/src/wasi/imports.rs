//! The `wasi_snapshot_preview1` functions as core [`Function`]s.
//!
//! Each one takes the calling module's memory and the plug-in's WASI context from the [`CurrentPlugin`], wraps the
//! memory in a `wiggle::GuestMemory`, and runs `wasi-common`'s generated entry point of the same name, which
//! decodes the pointers, performs the call and returns the errno. The table below is the whole preview 1 ABI; its
//! Rust types are checked against the generated functions by the compiler, so a wrong signature does not build.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use anyhow::{Error, anyhow, bail};
use wasi_common::WasiCtx;
use wasi_common::snapshots::preview_1::wasi_snapshot_preview1 as p1;
use wiggle::{GuestMemory, GuestPtr};

use super::WASI_MODULE;
use crate::current_plugin::CurrentPlugin;
use crate::function::Function;
use crate::function::HostFunctionImpl;
use crate::val::{FuncType, Val, ValType};

/// A wasm parameter type of a WASI function.
trait Param: Sized {
    const TYPE: ValType;
    /// The next argument, which the engine has already checked against the declared type.
    fn take(args: &mut std::slice::Iter<'_, Val>) -> Result<Self, Error>;
}

impl Param for i32 {
    const TYPE: ValType = ValType::I32;
    fn take(args: &mut std::slice::Iter<'_, Val>) -> Result<i32, Error> {
        match args.next() {
            Some(Val::I32(v)) => Ok(*v),
            other => bail!("expected an i32 argument, got {other:?}"),
        }
    }
}

impl Param for i64 {
    const TYPE: ValType = ValType::I64;
    fn take(args: &mut std::slice::Iter<'_, Val>) -> Result<i64, Error> {
        match args.next() {
            Some(Val::I64(v)) => Ok(*v),
            other => bail!("expected an i64 argument, got {other:?}"),
        }
    }
}

/// The wasm result of a WASI function: an errno, or nothing for `proc_exit`.
trait Results {
    const TYPES: &'static [ValType];
    fn store(self, results: &mut [Val]);
}

impl Results for i32 {
    const TYPES: &'static [ValType] = &[ValType::I32];
    fn store(self, results: &mut [Val]) {
        if let Some(slot) = results.first_mut() {
            *slot = Val::I32(self);
        }
    }
}

impl Results for () {
    const TYPES: &'static [ValType] = &[];
    fn store(self, _results: &mut [Val]) {}
}

/// The calling module's memory and the plug-in's WASI context, borrowed together from the store.
fn guest<'p>(plugin: &'p mut CurrentPlugin<'_>, function: &str) -> Result<(&'p mut [u8], &'p mut WasiCtx), Error> {
    let (memory, state) = plugin.guest_memory_and_state().ok_or_else(|| {
        anyhow!("WASI function `{function}` needs the calling module to export its memory as `memory`")
    })?;
    let wasi = state
        .wasi
        .as_mut()
        .ok_or_else(|| anyhow!("WASI function `{function}` was called by a plug-in created without WASI"))?;
    Ok((memory, &mut wasi.ctx))
}

/// Run a generated WASI function to completion on this thread.
///
/// With `wasi-common`'s synchronous implementations every future is ready when first polled, so one poll with a
/// waker that does nothing suffices; a future that is not ready would need an executor, which a plug-in call does
/// not have, so that is an error rather than a wait.
fn run<F: Future>(function: &str, future: F) -> Result<F::Output, Error> {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => bail!("WASI function `{function}` would have to wait asynchronously, which is not supported"),
    }
}

/// A generated WASI host function.
type HostFn = fn(&mut CurrentPlugin<'_>, &[Val], &mut [Val]) -> Result<(), Error>;

/// WASI errno `mfile`: too many open files.
const ERRNO_MFILE: i32 = 33;

/// The functions that add or remove descriptors, wrapped to keep [`WasiState::open_files`] and enforce
/// [`WasiState::max_open_files`]; the others as they are.
///
/// `wasi-common` opens the file first and writes the new descriptor to the guest's result pointer last, so a bad
/// pointer would leave an open descriptor that neither the guest nor the table count knows of: the pointer is
/// checked before anything is opened, failing the call with the error wiggle's write would give.
///
/// [`WasiState::open_files`]: super::WasiState
/// [`WasiState::max_open_files`]: super::WasiState
fn counted(name: &'static str, f: HostFn) -> HostFunctionImpl {
    // Where each opening function takes its result pointer.
    let result_pointer = match name {
        "path_open" => 8,
        "sock_accept" => 2,
        "fd_close" | "fd_renumber" => {
            return Arc::new(
                move |plugin: &mut CurrentPlugin<'_>, args: &[Val], results: &mut [Val]| {
                    f(plugin, args, results)?;
                    let closed = match (name, args) {
                        (_, _) if results.first() != Some(&Val::I32(0)) => false,
                        // Renumbering onto itself closes nothing; onto another descriptor closes that one.
                        ("fd_renumber", [from, to]) => from != to,
                        _ => true,
                    };
                    if closed && let Some(wasi) = plugin.state().wasi.as_mut() {
                        wasi.open_files = wasi.open_files.saturating_sub(1);
                    }
                    Ok(())
                },
            );
        }
        _ => return Arc::new(f),
    };
    Arc::new(
        move |plugin: &mut CurrentPlugin<'_>, args: &[Val], results: &mut [Val]| {
            let Some((memory, state)) = plugin.guest_memory_and_state() else {
                // No memory: the generated function reports that.
                return f(plugin, args, results);
            };
            let wasi = state.wasi.as_ref();
            if wasi.is_some_and(|w| w.open_files >= w.max_open_files) {
                results[0] = Val::I32(ERRNO_MFILE);
                return Ok(());
            }
            if let Some(Val::I32(ptr)) = args.get(result_pointer) {
                // The check wiggle makes when it writes the result (bounds and alignment of a `u32`), with its error.
                GuestMemory::Unshared(memory)
                    .read(GuestPtr::<u32>::new(*ptr as u32))
                    .map_err(Error::new)?;
            }
            f(plugin, args, results)?;
            if results.first() == Some(&Val::I32(0))
                && let Some(wasi) = plugin.state().wasi.as_mut()
            {
                wasi.open_files += 1;
            }
            Ok(())
        },
    )
}

/// Declares every WASI function: its wasm signature and a host function that forwards to the generated entry point.
macro_rules! wasi_functions {
    ($($name:ident($($param:ty),*) -> $result:ty;)*) => {
        /// The host functions, one per `wasi_snapshot_preview1` import.
        mod host {
            #[allow(unused_imports)] // `Param` is unused by `sched_yield`, the one function without parameters.
            use super::{CurrentPlugin, Error, GuestMemory, Param, Results, Val, guest, p1, run};
            $(
                pub(super) fn $name(
                    plugin: &mut CurrentPlugin<'_>,
                    args: &[Val],
                    results: &mut [Val],
                ) -> Result<(), Error> {
                    #[allow(unused_mut, unused_variables)]
                    let mut args = args.iter();
                    let (memory, ctx) = guest(plugin, stringify!($name))?;
                    let mut memory = GuestMemory::Unshared(memory);
                    let output: $result = run(
                        stringify!($name),
                        p1::$name(ctx, &mut memory, $(<$param as Param>::take(&mut args)?),*),
                    )??;
                    Results::store(output, results);
                    Ok(())
                }
            )*
        }

        /// Every `wasi_snapshot_preview1` function, built once and shared by every plug-in with WASI.
        pub(crate) fn functions() -> &'static [Function] {
            static FUNCTIONS: OnceLock<Vec<Function>> = OnceLock::new();
            FUNCTIONS.get_or_init(|| {
                vec![$(
                    Function::from_impl(
                        WASI_MODULE,
                        stringify!($name),
                        FuncType::new(
                            [$(<$param as Param>::TYPE),*],
                            <$result as Results>::TYPES.iter().copied(),
                        ),
                        counted(stringify!($name), host::$name),
                    ),
                )*]
            })
        }
    };
}

wasi_functions! {
    args_get(i32, i32) -> i32;
    args_sizes_get(i32, i32) -> i32;
    environ_get(i32, i32) -> i32;
    environ_sizes_get(i32, i32) -> i32;
    clock_res_get(i32, i32) -> i32;
    clock_time_get(i32, i64, i32) -> i32;
    fd_advise(i32, i64, i64, i32) -> i32;
    fd_allocate(i32, i64, i64) -> i32;
    fd_close(i32) -> i32;
    fd_datasync(i32) -> i32;
    fd_fdstat_get(i32, i32) -> i32;
    fd_fdstat_set_flags(i32, i32) -> i32;
    fd_fdstat_set_rights(i32, i64, i64) -> i32;
    fd_filestat_get(i32, i32) -> i32;
    fd_filestat_set_size(i32, i64) -> i32;
    fd_filestat_set_times(i32, i64, i64, i32) -> i32;
    fd_pread(i32, i32, i32, i64, i32) -> i32;
    fd_prestat_get(i32, i32) -> i32;
    fd_prestat_dir_name(i32, i32, i32) -> i32;
    fd_pwrite(i32, i32, i32, i64, i32) -> i32;
    fd_read(i32, i32, i32, i32) -> i32;
    fd_readdir(i32, i32, i32, i64, i32) -> i32;
    fd_renumber(i32, i32) -> i32;
    fd_seek(i32, i64, i32, i32) -> i32;
    fd_sync(i32) -> i32;
    fd_tell(i32, i32) -> i32;
    fd_write(i32, i32, i32, i32) -> i32;
    path_create_directory(i32, i32, i32) -> i32;
    path_filestat_get(i32, i32, i32, i32, i32) -> i32;
    path_filestat_set_times(i32, i32, i32, i32, i64, i64, i32) -> i32;
    path_link(i32, i32, i32, i32, i32, i32, i32) -> i32;
    path_open(i32, i32, i32, i32, i32, i64, i64, i32, i32) -> i32;
    path_readlink(i32, i32, i32, i32, i32, i32) -> i32;
    path_remove_directory(i32, i32, i32) -> i32;
    path_rename(i32, i32, i32, i32, i32, i32) -> i32;
    path_symlink(i32, i32, i32, i32, i32) -> i32;
    path_unlink_file(i32, i32, i32) -> i32;
    poll_oneoff(i32, i32, i32, i32) -> i32;
    proc_exit(i32) -> ();
    proc_raise(i32) -> i32;
    sched_yield() -> i32;
    random_get(i32, i32) -> i32;
    sock_accept(i32, i32, i32) -> i32;
    sock_recv(i32, i32, i32, i32, i32, i32) -> i32;
    sock_send(i32, i32, i32, i32, i32) -> i32;
    sock_shutdown(i32, i32) -> i32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preview1_function_is_defined_once() {
        let names: std::collections::BTreeSet<&str> = functions().iter().map(Function::name).collect();
        assert_eq!(names.len(), functions().len());
        assert_eq!(names.len(), 46);
        assert!(functions().iter().all(|f| f.namespace() == Some(WASI_MODULE)));
    }

    #[test]
    fn futures_that_are_not_ready_are_an_error() {
        let error = run("poll_oneoff", std::future::pending::<()>()).unwrap_err();
        assert!(error.to_string().contains("poll_oneoff"), "{error}");
    }
}
