//! `extism_log_file`, `extism_log_custom`, `extism_log_drain`: the C entry points to the log sinks.

use std::ffi::c_char;

use crate::ffi::{guard, utf8_arg};
use crate::types::{ExtismLogDrainFunctionType, ExtismSize};
use extism::logging;

/// An optional C string argument: `Ok(None)` for NULL, an error for non-UTF-8.
///
/// # Safety
/// `ptr` is NULL or a NUL-terminated string.
unsafe fn optional(ptr: *const c_char, what: &str) -> Result<Option<&'static str>, String> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated (caller's promise); only used during the entry point.
    unsafe { utf8_arg(ptr, what) }.map(Some)
}

/// Set log file and level.
/// The log level can be either one of: info, error, trace, debug, warn or a more
/// complex filter like `extism=trace,cranelift=debug`
/// The file will be created if it doesn't exist.
///
/// `filename` NULL, `"stderr"` or `"-"` means stderr and `"stdout"` stdout; `log_level` NULL means `"error"`.
/// Returns false if a logger is already installed in this process, a string is not UTF-8, or the file cannot be
/// opened.
///
/// # Safety
/// Each argument is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_log_file(filename: *const c_char, log_level: *const c_char) -> bool {
    guard(false, || {
        // SAFETY: NULL or NUL-terminated (caller's promise).
        let (Ok(file), Ok(level)) = (unsafe { optional(filename, "filename") }, unsafe {
            optional(log_level, "log level")
        }) else {
            return false;
        };
        logging::set_log_file(file, level).is_ok()
    })
}

/// Enable a custom log handler, this will buffer logs until `extism_log_drain` is called
/// Log level should be one of: info, error, trace, debug, warn
///
/// `log_level` NULL means `"error"`; filters as in `extism_log_file`. Returns false if a logger is already
/// installed in this process or `log_level` is not UTF-8.
///
/// # Safety
/// `log_level` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_log_custom(log_level: *const c_char) -> bool {
    guard(false, || {
        // SAFETY: NULL or NUL-terminated (caller's promise).
        let Ok(level) = (unsafe { optional(log_level, "log level") }) else {
            return false;
        };
        logging::set_log_buffer(level).is_ok()
    })
}

/// Calls the provided callback function for each buffered log line.
/// This is only needed when `extism_log_custom` is used.
///
/// Each line is NUL-terminated, keeps its trailing newline, and is valid only during its callback; `size` excludes
/// the NUL. The buffer is emptied. A NULL `handler` does nothing.
#[unsafe(no_mangle)]
pub extern "C" fn extism_log_drain(handler: ExtismLogDrainFunctionType) {
    guard((), || {
        if let Some(handler) = handler {
            logging::drain_logs(|line| {
                handler(line.as_bytes_with_nul().as_ptr().cast(), line.len() as ExtismSize);
            });
        }
    })
}
