//! Creating plug-ins: `extism_plugin_new*`, `extism_compiled_plugin_*`, and the frees that go with them.
//!
//! Every creation path is one function, [`compile`], fed by the entry points' arguments, so that they differ only
//! where upstream's do: which options they pass and which prefix their error messages carry.

use std::ffi::c_char;

use extism::{Backend, CompiledPlugin, Function, Plugin, PluginBuilder, WasmInput};

use crate::backend;
use crate::ffi::{array_len, bytes_arg, guard, set_errmsg, utf8_arg};
use crate::function::ExtismFunction;
use crate::plugin::ExtismPlugin;
use crate::types::ExtismSize;

/// The prefix of compile errors in `errmsg`.
const COMPILE: &str = "Unable to compile Extism plugin";
/// The prefix of instantiation errors in `errmsg` (only some entry points tell the two apart, as upstream).
const CREATE: &str = "Unable to create Extism plugin";

/// A compiled plug-in: compile once, then create plug-ins from it cheaply with `extism_plugin_new_from_compiled`.
pub struct ExtismCompiledPlugin(pub(crate) CompiledPlugin);

/// The arguments every creation entry point has, still raw.
struct Request {
    wasm: *const u8,
    wasm_size: ExtismSize,
    functions: *mut *const ExtismFunction,
    n_functions: ExtismSize,
    with_wasi: bool,
    fuel_limit: Option<u64>,
    /// The `backend` argument (NULL: `EXTISM_BACKEND` or the default).
    backend: *const c_char,
}

impl Request {
    /// The request of the `*_with_backend` entry points, whose fuel limit is an optional pointer.
    ///
    /// # Safety
    /// `fuel_limit` is NULL or readable.
    unsafe fn with_backend(
        wasm: *const u8,
        wasm_size: ExtismSize,
        functions: *mut *const ExtismFunction,
        n_functions: ExtismSize,
        with_wasi: bool,
        backend: *const c_char,
        fuel_limit: *const u64,
    ) -> Request {
        Request {
            wasm,
            wasm_size,
            functions,
            n_functions,
            with_wasi,
            // SAFETY: NULL or readable (caller's promise).
            fuel_limit: unsafe { fuel_limit.as_ref() }.copied(),
            backend,
        }
    }
}

/// Why creation failed: the message goes to `errmsg` as is.
struct Failure(String);

impl Failure {
    fn compile(cause: impl std::fmt::Display) -> Failure {
        Failure(format!("{COMPILE}: {cause}"))
    }

    fn create(cause: impl std::fmt::Display) -> Failure {
        Failure(format!("{CREATE}: {cause}"))
    }
}

/// Move the host functions out of the C array, as upstream: a NULL array means none; a NULL entry or a function
/// already given to a plug-in fails the whole creation (functions taken before the bad entry are dropped, which
/// runs their `free_user_data`).
///
/// # Safety
/// `functions` is NULL or points to `n` readable pointers, each NULL or a live `ExtismFunction`.
unsafe fn take_functions(functions: *mut *const ExtismFunction, n: ExtismSize) -> Result<Vec<Function>, Failure> {
    if functions.is_null() {
        return Ok(Vec::new());
    }
    // Checked before any function is taken, so that a bad count leaves every function with its caller.
    let n = array_len(
        functions as usize,
        n,
        size_of::<*const ExtismFunction>(),
        "the functions array",
    )
    .map_err(Failure::compile)?;
    (0..n)
        .map(|i| {
            // SAFETY: `functions` holds `n` readable pointers (caller's promise).
            let entry = unsafe { *functions.add(i) };
            // SAFETY: each entry is NULL or a live function (caller's promise).
            let Some(function) = (unsafe { entry.as_ref() }) else {
                return Err(Failure("Cannot pass null pointer".into()));
            };
            function
                .take()
                .ok_or_else(|| Failure("Function cannot be registered with multiple different Plugins".into()))
        })
        .collect()
}

/// Read a manifest's `{"ptr": .., "len": ..}` wasm data from the caller's memory: the form in which upstream's C++
/// SDK passes in-memory modules (`Manifest::wasmBytes`) to `extism_plugin_new`, `ptr` being a decimal address.
/// Accepted on the C path only, where the caller already hands the library raw pointers and promises that they are
/// readable; the address is checked as any buffer argument (non-NULL with a non-zero length, a length a buffer can
/// have). The Rust API and manifests read from files or URLs keep rejecting it (see `extism_core`'s manifest docs).
///
/// # Safety
/// The C caller's promise: `ptr` names `len` readable bytes.
unsafe fn read_caller_memory(ptr: u64, len: u64) -> Result<Vec<u8>, String> {
    let what = format!("wasm data {{\"ptr\": {ptr}, \"len\": {len}}}");
    let addr = usize::try_from(ptr).map_err(|_| format!("{what}: the address is not a valid pointer"))?;
    // SAFETY: the C caller promises that a manifest's `{"ptr", "len"}` names `len` readable bytes of its memory, as
    // it does for the `wasm` argument itself; `bytes_arg` rejects NULL and impossible lengths first.
    unsafe { bytes_arg(addr as *const u8, len, &what) }.map(<[u8]>::to_vec)
}

/// Compile what `request` describes.
///
/// # Safety
/// The pointers in `request` satisfy the promises of the entry point that made it.
unsafe fn compile(request: Request) -> Result<CompiledPlugin, Failure> {
    // SAFETY: NULL or `wasm_size` readable bytes (caller's promise).
    let wasm = unsafe { bytes_arg(request.wasm, request.wasm_size, "wasm") }.map_err(Failure::compile)?;
    // The C path alone accepts manifest `data` given as `{"ptr": .., "len": ..}` (see `read_caller_memory`).
    // SAFETY: the C caller promises that the manifest's `{"ptr", "len"}` entries name readable memory of its own.
    let manifest =
        unsafe { extism_core::with_pointer_data_reader(read_caller_memory, || WasmInput::from(wasm).into_manifest()) }
            .map_err(|e| Failure::compile(e.root_cause()))?;
    let backend_name = if request.backend.is_null() {
        None
    } else {
        // SAFETY: non-NULL and NUL-terminated (caller's promise).
        Some(unsafe { utf8_arg(request.backend, "backend") }.map_err(Failure::compile)?)
    };
    let backend: Backend = backend::resolve(backend_name).map_err(Failure::compile)?;
    // SAFETY: as the caller promises for the functions array.
    let functions = unsafe { take_functions(request.functions, request.n_functions) }?;
    let mut builder = PluginBuilder::new(manifest)
        .with_wasi(request.with_wasi)
        .with_functions(functions)
        .with_backend(backend);
    if let Some(fuel) = request.fuel_limit {
        builder = builder.with_fuel_limit(fuel);
    }
    builder.compile().map_err(|e| Failure::compile(e.root_cause()))
}

/// Box a new plug-in from `compiled`; instantiation errors get `prefix`.
fn instantiate(compiled: &CompiledPlugin, prefix: fn(String) -> Failure) -> Result<*mut ExtismPlugin, Failure> {
    let plugin = Plugin::new_from_compiled(compiled).map_err(|e| prefix(e.root_cause().to_string()))?;
    Ok(Box::into_raw(Box::new(ExtismPlugin::new(plugin))))
}

/// Run a creation, reporting failure through `errmsg` and NULL.
///
/// # Safety
/// `errmsg` is NULL or valid for one pointer write.
unsafe fn create<T>(errmsg: *mut *mut c_char, body: impl FnOnce() -> Result<*mut T, Failure>) -> *mut T {
    let result = guard(
        Err(Failure("internal error: the runtime panicked (see stderr)".into())),
        body,
    );
    match result {
        Ok(ptr) => ptr,
        Err(Failure(message)) => {
            // SAFETY: NULL or writable (caller's promise).
            unsafe { set_errmsg(errmsg, message) };
            std::ptr::null_mut()
        }
    }
}

/// Pre-compile an Extism plugin
///
/// # Safety
/// `wasm` is NULL or points to `wasm_size` bytes; `functions` is NULL or points to `n_functions` pointers, each NULL
/// or a live `ExtismFunction`; `errmsg` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_compiled_plugin_new(
    wasm: *const u8,
    wasm_size: ExtismSize,
    functions: *mut *const ExtismFunction,
    n_functions: ExtismSize,
    with_wasi: bool,
    errmsg: *mut *mut c_char,
) -> *mut ExtismCompiledPlugin {
    let request = Request {
        wasm,
        wasm_size,
        functions,
        n_functions,
        with_wasi,
        fuel_limit: None,
        backend: std::ptr::null(),
    };
    // SAFETY: the caller's promises cover `request` and `errmsg`.
    unsafe { new_compiled(request, errmsg) }
}

/// Pre-compile an Extism plugin and set the number of instructions a plugin is allowed to execute
///
/// # Safety
/// As `extism_compiled_plugin_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_compiled_plugin_new_with_fuel_limit(
    wasm: *const u8,
    wasm_size: ExtismSize,
    functions: *mut *const ExtismFunction,
    n_functions: ExtismSize,
    with_wasi: bool,
    fuel_limit: u64,
    errmsg: *mut *mut c_char,
) -> *mut ExtismCompiledPlugin {
    let request = Request {
        wasm,
        wasm_size,
        functions,
        n_functions,
        with_wasi,
        fuel_limit: Some(fuel_limit),
        backend: std::ptr::null(),
    };
    // SAFETY: the caller's promises cover `request` and `errmsg`.
    unsafe { new_compiled(request, errmsg) }
}

/// Pre-compile an Extism plugin for a chosen engine (not in upstream's header).
///
/// `backend` names the engine: `"wasmtime"`, `"wasmer"`, `"wasmi"` or `"pulley"` (see `extism_backends` for the compiled ones).
/// NULL or `""` means the one the `EXTISM_BACKEND` environment variable names, else the library's default. An
/// unknown or not compiled engine fails with a message listing the compiled ones. `fuel_limit` is NULL for no limit,
/// or points to the fuel each call may use (as `extism_compiled_plugin_new_with_fuel_limit`).
///
/// # Safety
/// As `extism_compiled_plugin_new`; `backend` is NULL or a NUL-terminated string; `fuel_limit` is NULL or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_compiled_plugin_new_with_backend(
    wasm: *const u8,
    wasm_size: ExtismSize,
    functions: *mut *const ExtismFunction,
    n_functions: ExtismSize,
    with_wasi: bool,
    backend: *const c_char,
    fuel_limit: *const u64,
    errmsg: *mut *mut c_char,
) -> *mut ExtismCompiledPlugin {
    // SAFETY: `fuel_limit` is NULL or readable (caller's promise).
    let request =
        unsafe { Request::with_backend(wasm, wasm_size, functions, n_functions, with_wasi, backend, fuel_limit) };
    // SAFETY: the caller's promises cover `request` and `errmsg`.
    unsafe { new_compiled(request, errmsg) }
}

/// The body of the `extism_compiled_plugin_new*` entry points.
///
/// # Safety
/// As `compile` for `request`; `errmsg` is NULL or writable.
unsafe fn new_compiled(request: Request, errmsg: *mut *mut c_char) -> *mut ExtismCompiledPlugin {
    // SAFETY: passed on from the caller.
    unsafe {
        create(errmsg, || {
            Ok(Box::into_raw(Box::new(ExtismCompiledPlugin(compile(request)?))))
        })
    }
}

/// Free `ExtismCompiledPlugin`
///
/// NULL-safe. Plug-ins already created from it stay valid.
///
/// # Safety
/// `plugin` is NULL or a compiled plug-in not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_compiled_plugin_free(plugin: *mut ExtismCompiledPlugin) {
    guard((), || {
        if !plugin.is_null() {
            // SAFETY: made by `Box::into_raw` here and not freed before (caller's promise).
            drop(unsafe { Box::from_raw(plugin) });
        }
    })
}

/// Create a new plugin with host functions, the functions passed to this function no longer need to be manually freed using
///
/// `wasm`: is a WASM module (wat or wasm) or a JSON encoded manifest
/// `wasm_size`: the length of the `wasm` parameter
/// `functions`: an array of `ExtismFunction*`
/// `n_functions`: the number of functions provided
/// `with_wasi`: enables/disables WASI
///
/// Returns NULL on failure, with the reason in `*errmsg` (unless `errmsg` is NULL), to be freed with
/// `extism_plugin_new_error_free`. The engine is the one `EXTISM_BACKEND` names, else the library's default.
///
/// # Safety
/// As `extism_compiled_plugin_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_new(
    wasm: *const u8,
    wasm_size: ExtismSize,
    functions: *mut *const ExtismFunction,
    n_functions: ExtismSize,
    with_wasi: bool,
    errmsg: *mut *mut c_char,
) -> *mut ExtismPlugin {
    let request = Request {
        wasm,
        wasm_size,
        functions,
        n_functions,
        with_wasi,
        fuel_limit: None,
        backend: std::ptr::null(),
    };
    // SAFETY: the caller's promises cover `request` and `errmsg`. Upstream reports instantiation failures of this
    // entry point as compile errors too.
    unsafe { create(errmsg, || instantiate(&compile(request)?, Failure::compile)) }
}

/// Create a new plugin from an `ExtismCompiledPlugin`
///
/// # Safety
/// `compiled` is NULL or a live compiled plug-in; `errmsg` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_new_from_compiled(
    compiled: *const ExtismCompiledPlugin,
    errmsg: *mut *mut c_char,
) -> *mut ExtismPlugin {
    // SAFETY: NULL or live (caller's promise), and `errmsg` NULL or writable.
    unsafe {
        create(errmsg, || match compiled.as_ref() {
            Some(compiled) => instantiate(&compiled.0, Failure::create),
            None => Err(Failure::create("the compiled plug-in is NULL")),
        })
    }
}

/// Create a new plugin and set the number of instructions a plugin is allowed to execute
///
/// # Safety
/// As `extism_plugin_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_new_with_fuel_limit(
    wasm: *const u8,
    wasm_size: ExtismSize,
    functions: *mut *const ExtismFunction,
    n_functions: ExtismSize,
    with_wasi: bool,
    fuel_limit: u64,
    errmsg: *mut *mut c_char,
) -> *mut ExtismPlugin {
    let request = Request {
        wasm,
        wasm_size,
        functions,
        n_functions,
        with_wasi,
        fuel_limit: Some(fuel_limit),
        backend: std::ptr::null(),
    };
    // SAFETY: the caller's promises cover `request` and `errmsg`.
    unsafe { create(errmsg, || instantiate(&compile(request)?, Failure::create)) }
}

/// Create a new plugin on a chosen engine (not in upstream's header).
///
/// `backend` and `fuel_limit` as in `extism_compiled_plugin_new_with_backend`; the rest as `extism_plugin_new`.
/// Use `extism_plugin_backend` to see which engine runs a plug-in.
///
/// # Safety
/// As `extism_compiled_plugin_new_with_backend`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_new_with_backend(
    wasm: *const u8,
    wasm_size: ExtismSize,
    functions: *mut *const ExtismFunction,
    n_functions: ExtismSize,
    with_wasi: bool,
    backend: *const c_char,
    fuel_limit: *const u64,
    errmsg: *mut *mut c_char,
) -> *mut ExtismPlugin {
    // SAFETY: `fuel_limit` is NULL or readable (caller's promise).
    let request =
        unsafe { Request::with_backend(wasm, wasm_size, functions, n_functions, with_wasi, backend, fuel_limit) };
    // SAFETY: the caller's promises cover `request` and `errmsg`.
    unsafe { create(errmsg, || instantiate(&compile(request)?, Failure::create)) }
}

/// Free the error returned by `extism_plugin_new`, errors returned from `extism_plugin_error` don't need to be freed
///
/// # Safety
/// `err` is NULL or a message from one of the creation functions, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_new_error_free(err: *mut c_char) {
    guard((), || {
        if !err.is_null() {
            // SAFETY: made by `CString::into_raw` in `set_errmsg` and not freed before (caller's promise).
            drop(unsafe { std::ffi::CString::from_raw(err) });
        }
    })
}

/// Free `ExtismPlugin`
///
/// NULL-safe. Waits for a call running on another thread to finish; host functions the plug-in holds are released
/// (running their `free_user_data` if nothing else holds them).
///
/// # Safety
/// `plugin` is NULL or a plug-in not freed before, and no thread uses it after this returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_free(plugin: *mut ExtismPlugin) {
    guard((), || {
        if plugin.is_null() {
            return;
        }
        // SAFETY: non-NULL and live (caller's promise).
        let shared = unsafe { &*plugin };
        // A call still running on another thread holds the lock: let it finish before the plug-in goes away. From
        // inside one of the plug-in's own host functions the plug-in is in use further up this very stack: freeing
        // it would be a use-after-free, so it is leaked instead.
        match shared.lock() {
            Ok(locked) => drop(locked),
            Err(_) => {
                tracing::error!(target: "extism::sdk", "extism_plugin_free called from the plug-in's own host function: not freed");
                return;
            }
        }
        // SAFETY: made by `Box::into_raw` here and not freed before (caller's promise); no reference to it is used
        // after this.
        drop(unsafe { Box::from_raw(plugin) });
    })
}
