//! Calling a plug-in and reading what the call left: `extism_plugin_call*`, `_error`, `_output_*`, and the other
//! entry points that act on a live plug-in (config, function lookup, reset, id, HTTP header capture).

use std::collections::BTreeMap;
use std::ffi::{c_char, c_void};

use crate::current_plugin::HostContext;
use crate::ffi::{bytes_arg, guard, utf8_arg};
use crate::plugin::{ExtismPlugin, LockError, Locked, plugin_ref};
use crate::types::ExtismSize;

/// The message for a plug-in used from inside one of its own host functions.
const REENTRANT: &str = "cannot make reentrant calls into plugin";

/// Lock `plugin`, logging why not when it cannot be (the plug-in's own error slot is then out of reach).
fn lock<'a>(plugin: &'a ExtismPlugin, entry: &str) -> Option<Locked<'a>> {
    match plugin.lock() {
        Ok(locked) => Some(locked),
        Err(LockError::Reentrant) => {
            tracing::error!(target: "extism::sdk", "{entry}: {REENTRANT}");
            None
        }
    }
}

/// Get a plugin's ID, the returned bytes are a 16 byte buffer that represent a UUIDv4
///
/// NULL if `plugin` is NULL; otherwise valid while the plug-in lives.
///
/// # Safety
/// `plugin` is NULL or a live plug-in.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_id(plugin: *mut ExtismPlugin) -> *const u8 {
    guard(std::ptr::null(), || {
        // SAFETY: NULL or live (caller's promise).
        match unsafe { plugin_ref(plugin) } {
            Some(plugin) => plugin.id.as_ptr(),
            None => std::ptr::null(),
        }
    })
}

/// Enable HTTP response headers in plugins using `extism:host/env::http_request`
///
/// Ignored if `plugin` is NULL.
///
/// # Safety
/// `plugin` is NULL or a live plug-in.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_allow_http_response_headers(plugin: *mut ExtismPlugin) {
    guard((), || {
        // SAFETY: NULL or live (caller's promise).
        if let Some(plugin) = unsafe { plugin_ref(plugin) }
            && let Some(mut slot) = lock(plugin, "extism_plugin_allow_http_response_headers")
        {
            slot.plugin.set_http_response_headers(true);
        }
    })
}

/// Update plugin config values.
///
/// `json` is a JSON object of string or null values, merged into the plug-in's config: a string sets the key, null
/// removes it. Takes effect on the next call. Returns false if `plugin` is NULL or the JSON is not such an object
/// (`extism_plugin_error` then says why); on success the stored error is cleared, as upstream.
///
/// # Safety
/// `plugin` is NULL or a live plug-in; `json` is NULL or points to `json_size` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_config(
    plugin: *mut ExtismPlugin,
    json: *const u8,
    json_size: ExtismSize,
) -> bool {
    guard(false, || {
        // SAFETY: NULL or live (caller's promise).
        let Some(plugin) = (unsafe { plugin_ref(plugin) }) else {
            return false;
        };
        let Some(mut slot) = lock(plugin, "extism_plugin_config") else {
            return false;
        };
        // SAFETY: NULL or `json_size` readable bytes (caller's promise).
        let parsed = unsafe { bytes_arg(json, json_size, "config JSON") }.and_then(|bytes| {
            serde_json::from_slice::<BTreeMap<String, Option<String>>>(bytes)
                .map_err(|e| format!("invalid config JSON (expected an object of string or null values): {e}"))
        });
        let updates = match parsed {
            Ok(updates) => updates,
            Err(message) => {
                slot.set_error(message);
                return false;
            }
        };
        let config = slot.plugin.config_mut();
        for (key, value) in updates {
            match value {
                Some(value) => config.insert(key, value),
                None => config.remove(&key),
            };
        }
        slot.error = None;
        true
    })
}

/// Returns true if `func_name` exists
///
/// That is, the main module exports `func_name` as a function Extism can call (no parameters, no result or one
/// `i32`). False for NULL arguments and non-UTF-8 names. Clears the stored error, as upstream.
///
/// # Safety
/// `plugin` is NULL or a live plug-in; `func_name` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_function_exists(plugin: *mut ExtismPlugin, func_name: *const c_char) -> bool {
    guard(false, || {
        // SAFETY: NULL or live (caller's promise).
        let Some(plugin) = (unsafe { plugin_ref(plugin) }) else {
            return false;
        };
        // SAFETY: NULL or NUL-terminated (caller's promise).
        let Ok(name) = (unsafe { utf8_arg(func_name, "function name") }) else {
            return false;
        };
        let Some(mut slot) = lock(plugin, "extism_plugin_function_exists") else {
            return false;
        };
        slot.error = None;
        slot.plugin.function_exists(name)
    })
}

/// Call a function
///
/// `func_name`: is the function to call
/// `data`: is the input data
/// `data_len`: is the length of `data`
///
/// Returns the export's return code, or for a failed call -1, or 134 for a trap or cancellation (the error is then
/// in `extism_plugin_error`; a guest may also set an error and return 0). Blocks while another thread calls the
/// same plug-in; returns -1 if called from one of the plug-in's own host functions.
///
/// # Safety
/// `plugin` is NULL or a live plug-in; `func_name` is NULL or a NUL-terminated string; `data` is NULL or points to
/// `data_len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_call(
    plugin: *mut ExtismPlugin,
    func_name: *const c_char,
    data: *const u8,
    data_len: ExtismSize,
) -> i32 {
    // SAFETY: the same promises, passed on.
    unsafe { extism_plugin_call_with_host_context(plugin, func_name, data, data_len, std::ptr::null_mut()) }
}

/// Call a function with host context.
///
/// `func_name`: is the function to call
/// `data`: is the input data
/// `data_len`: is the length of `data`
/// `host_context`: a pointer to context data that will be available in host functions
///
/// Same as `extism_plugin_call`; host functions read `host_context` (for this call only) with
/// `extism_current_plugin_host_context`.
///
/// # Safety
/// As `extism_plugin_call`; `host_context` is only handed back to host functions, never dereferenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_call_with_host_context(
    plugin: *mut ExtismPlugin,
    func_name: *const c_char,
    data: *const u8,
    data_len: ExtismSize,
    host_context: *mut c_void,
) -> i32 {
    guard(-1, || {
        // SAFETY: NULL or live (caller's promise).
        let Some(plugin) = (unsafe { plugin_ref(plugin) }) else {
            return -1;
        };
        let Some(mut slot) = lock(plugin, "extism_plugin_call") else {
            return -1;
        };
        slot.error = None;
        // SAFETY: NULL or a NUL-terminated string (caller's promise).
        let name = unsafe { utf8_arg(func_name, "function name") };
        // SAFETY: NULL or `data_len` readable bytes (caller's promise).
        let input = unsafe { bytes_arg(data, data_len, "input data") };
        let (name, input) = match (name, input) {
            (Ok(name), Ok(input)) => (name, input),
            (Err(message), _) | (_, Err(message)) => {
                slot.set_error(message);
                return -1;
            }
        };
        let context: Option<Box<dyn std::any::Any + Send + Sync>> = if host_context.is_null() {
            None
        } else {
            Some(Box::new(HostContext(host_context)))
        };
        match slot.plugin.raw_call(name, input, context) {
            Ok(rc) => rc,
            Err((error, rc)) => {
                // The outermost message, as upstream: exactly the guest's text for guest errors, and "timeout",
                // "oom", "plugin ran out of fuel", "Function not found: …" for the runtime's own.
                slot.set_error(error.to_string());
                rc
            }
        }
    })
}

/// Get the error associated with a `Plugin`
///
/// Deprecated alias of `extism_plugin_error`.
///
/// # Safety
/// `plugin` is NULL or a live plug-in.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_error(plugin: *mut ExtismPlugin) -> *const c_char {
    // SAFETY: the same promise, passed on.
    unsafe { extism_plugin_error(plugin) }
}

/// Get the error associated with a `Plugin`
///
/// NULL if `plugin` is NULL or the last call succeeded. The string belongs to the plug-in (do not free it) and stays
/// valid until the next call, config update or reset of the plug-in.
///
/// # Safety
/// `plugin` is NULL or a live plug-in.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_error(plugin: *mut ExtismPlugin) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: NULL or live (caller's promise).
        let Some(plugin) = (unsafe { plugin_ref(plugin) }) else {
            return std::ptr::null();
        };
        let Some(slot) = lock(plugin, "extism_plugin_error") else {
            return std::ptr::null();
        };
        // The CString's buffer is on the heap and lives in the plug-in until the next call replaces it.
        slot.error.as_ref().map_or(std::ptr::null(), |e| e.as_ptr())
    })
}

/// Get the length of a plugin's output data
///
/// 0 if `plugin` is NULL or the last call failed or produced nothing.
///
/// # Safety
/// `plugin` is NULL or a live plug-in.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_output_length(plugin: *mut ExtismPlugin) -> ExtismSize {
    guard(0, || {
        // SAFETY: NULL or live (caller's promise).
        let Some(plugin) = (unsafe { plugin_ref(plugin) }) else {
            return 0;
        };
        lock(plugin, "extism_plugin_output_length").map_or(0, |slot| slot.plugin.last_output().len() as ExtismSize)
    })
}

/// Get a pointer to the output data
///
/// NULL only if `plugin` is NULL. Points into the plug-in's memory: valid until the next call or reset of the
/// plug-in.
///
/// # Safety
/// `plugin` is NULL or a live plug-in.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_output_data(plugin: *mut ExtismPlugin) -> *const u8 {
    guard(std::ptr::null(), || {
        // SAFETY: NULL or live (caller's promise).
        let Some(plugin) = (unsafe { plugin_ref(plugin) }) else {
            return std::ptr::null();
        };
        lock(plugin, "extism_plugin_output_data").map_or(std::ptr::null(), |slot| slot.plugin.last_output().as_ptr())
    })
}

/// Reset the Extism runtime, this will invalidate all allocated memory
///
/// Frees every allocation in the plug-in's kernel memory (the output of the last call included). Returns false if
/// `plugin` is NULL or the reset failed (`extism_plugin_error` then says why).
///
/// # Safety
/// `plugin` is NULL or a live plug-in.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_reset(plugin: *mut ExtismPlugin) -> bool {
    guard(false, || {
        // SAFETY: NULL or live (caller's promise).
        let Some(plugin) = (unsafe { plugin_ref(plugin) }) else {
            return false;
        };
        let Some(mut slot) = lock(plugin, "extism_plugin_reset") else {
            return false;
        };
        match slot.plugin.reset() {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(target: "extism::sdk", "unable to reset plugin: {e}");
                slot.set_error(e.to_string());
                false
            }
        }
    })
}
