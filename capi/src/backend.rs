//! Choosing the engine from C: the `backend` argument of the `*_with_backend` functions, else `EXTISM_BACKEND`,
//! else the build's default; and naming the engines (`extism_backends`, `extism_plugin_backend`).

use std::ffi::{CString, c_char};
use std::sync::OnceLock;

use extism::Backend;

use crate::compiled::ExtismCompiledPlugin;
use crate::ffi::guard;
use crate::plugin::{ExtismPlugin, plugin_ref};

/// The environment variable that picks the engine for programs that do not choose one.
pub(crate) const BACKEND_ENV: &str = "EXTISM_BACKEND";

/// The engine to use: `name` if given and not empty, else the one `EXTISM_BACKEND` names if it is set and not
/// empty, else the build's default. An unknown name, or an engine not compiled into this library, is an error that
/// lists the compiled ones.
pub(crate) fn resolve(name: Option<&str>) -> Result<Backend, String> {
    if let Some(name) = name.filter(|n| !n.trim().is_empty()) {
        return name.parse().map_err(|e: extism::Error| e.to_string());
    }
    match std::env::var(BACKEND_ENV) {
        Ok(name) if !name.trim().is_empty() => name
            .parse()
            .map_err(|e: extism::Error| format!("{BACKEND_ENV}={name:?}: {e}")),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{BACKEND_ENV} is not valid UTF-8")),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(Backend::default()),
    }
}

/// Every compiled engine with its name as a C string, made once.
fn names() -> &'static [(Backend, CString)] {
    static NAMES: OnceLock<Vec<(Backend, CString)>> = OnceLock::new();
    NAMES.get_or_init(|| {
        Backend::ALL
            .iter()
            .map(|&b| (b, CString::new(b.name()).expect("engine names have no NUL")))
            .collect()
    })
}

/// The static C name of `backend`.
pub(crate) fn c_name(backend: Backend) -> *const c_char {
    names()
        .iter()
        .find(|(b, _)| *b == backend)
        .map_or(std::ptr::null(), |(_, name)| name.as_ptr())
}

/// The engines compiled into this library, comma-separated in the order wasmtime, wasmer, wasmi, pulley (for example
/// `"wasmtime,wasmi"`). The first one is the default when neither a `backend` argument nor `EXTISM_BACKEND` names one.
/// Static: do not free.
#[unsafe(no_mangle)]
pub extern "C" fn extism_backends() -> *const c_char {
    static LIST: OnceLock<CString> = OnceLock::new();
    guard(std::ptr::null(), || {
        LIST.get_or_init(|| {
            let names: Vec<&str> = Backend::ALL.iter().map(|b| b.name()).collect();
            CString::new(names.join(",")).expect("engine names have no NUL")
        })
        .as_ptr()
    })
}

/// The engine running `plugin` (`"wasmtime"`, `"wasmer"`, `"wasmi"` or `"pulley"`); NULL if `plugin` is NULL. Static: do not
/// free.
///
/// # Safety
/// `plugin` is NULL or a live plug-in.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_backend(plugin: *const ExtismPlugin) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: NULL or live (caller's promise).
        unsafe { plugin_ref(plugin) }.map_or(std::ptr::null(), |p| c_name(p.backend))
    })
}

/// The engine `compiled` was compiled for; NULL if `compiled` is NULL. Static: do not free.
///
/// # Safety
/// `compiled` is NULL or a live compiled plug-in.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_compiled_plugin_backend(compiled: *const ExtismCompiledPlugin) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: NULL or live (caller's promise).
        unsafe { compiled.as_ref() }.map_or(std::ptr::null(), |c| c_name(c.0.backend()))
    })
}
