//! `extism_version`: the library's version string.

use std::ffi::c_char;

/// Get the Extism version string
///
/// A plain version (`"0.1.0"`); use `extism_backends` for the engines compiled in. Static: do not free.
#[unsafe(no_mangle)]
pub extern "C" fn extism_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
