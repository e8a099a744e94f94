//! `extism_version`: the library's version string.
//!
//! The version scheme: the major and minor numbers are those of the upstream Extism release whose C API (`extism.h`)
//! this library implements, currently 1.41 (`capi/tests/header.rs` compares our header with upstream's 1.41.0), so
//! that hosts and build scripts checking for the 1.x API they were written against accept it; the patch number counts
//! this library's own releases at that API level. The same version is the crates', `extism.pc`'s and the CMake
//! package's, and the SONAME is `libextism.so.<major>`. The engines compiled in are a separate axis:
//! `extism_backends()`, and the `engines` variable of `extism.pc`.

use std::ffi::c_char;

/// Get the Extism version string
///
/// A plain version, `"1.41.0"` for this release (see the version scheme in the crate docs); use `extism_backends`
/// for the engines compiled in. Static: do not free.
#[unsafe(no_mangle)]
pub extern "C" fn extism_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
