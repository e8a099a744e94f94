//! What every entry point needs at the boundary: no panic escapes into C, and C pointers are checked before use.

use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Run an entry point's body, turning a panic into `fallback`: unwinding out of an `extern "C"` function would
/// abort the host process, and a C caller has no way to handle a Rust panic. The panic message has already gone to
/// stderr through the panic hook.
pub(crate) fn guard<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// A C string argument as UTF-8. `what` names it in the error.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid while the result is used.
pub(crate) unsafe fn utf8_arg<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, String> {
    if ptr.is_null() {
        return Err(format!("{what} is NULL"));
    }
    // SAFETY: non-NULL, and the caller promises a NUL-terminated string.
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str().map_err(|e| format!("{what} is not valid UTF-8: {e}"))
}

/// The length in elements of a C array of `len` elements of `elem_size` bytes at address `addr`, if Rust may build
/// a slice of it: at most `isize::MAX` bytes and not running past the end of the address space (the rules of
/// `slice::from_raw_parts`, whose violation is undefined behaviour, not a panic). An absurd length from C (say
/// `UINT64_MAX`, or a negative size cast to unsigned) is an error naming `what`.
pub(crate) fn array_len(addr: usize, len: u64, elem_size: usize, what: &str) -> Result<usize, String> {
    usize::try_from(len)
        .ok()
        .and_then(|n| {
            let bytes = n.checked_mul(elem_size)?;
            (bytes <= isize::MAX as usize && addr.checked_add(bytes).is_some()).then_some(n)
        })
        .ok_or_else(|| format!("{what} is too long: {len} is not a valid length for a buffer in memory"))
}

/// A byte-buffer argument. A NULL pointer is accepted only with length 0 (an empty buffer); a length no buffer can
/// have is an error (see [`array_len`]).
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes that stay valid while the result is used.
pub(crate) unsafe fn bytes_arg<'a>(ptr: *const u8, len: u64, what: &str) -> Result<&'a [u8], String> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(format!("{what} is NULL but its length is {len}"));
    }
    let len = array_len(ptr as usize, len, 1, what)?;
    // SAFETY: non-NULL, a length a slice may have (checked above), and the caller promises `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// `message` as a C string. Interior NULs (a guest may put any bytes in its error) are shown as `\0` rather than
/// cutting the message short.
pub(crate) fn c_string(message: impl Into<String>) -> CString {
    let message = message.into();
    CString::new(message).unwrap_or_else(|e| {
        let escaped = String::from_utf8_lossy(&e.into_vec()).replace('\0', "\\0");
        CString::new(escaped).expect("NULs were escaped")
    })
}

/// Store `message` in `*errmsg` for the caller to free with `extism_plugin_new_error_free`; does nothing if `errmsg`
/// is NULL (upstream lets callers pass NULL when they do not want the message).
///
/// # Safety
/// `errmsg` is NULL or valid for one pointer write.
pub(crate) unsafe fn set_errmsg(errmsg: *mut *mut c_char, message: impl Into<String>) {
    if errmsg.is_null() {
        return;
    }
    // SAFETY: non-NULL and writable, as the caller promises.
    unsafe { *errmsg = c_string(message).into_raw() };
}
