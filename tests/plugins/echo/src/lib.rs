//! `echo.wasm`: the smallest useful plug-ins.
//!
//! * `echo` returns its input unchanged (any bytes, any length).
//! * `noop` touches neither input nor output.

use extism_pdk::{plugin_fn, FnResult};

/// Output = input, byte for byte. Binary data is fine: no UTF-8 decoding.
#[plugin_fn]
pub fn echo(input: Vec<u8>) -> FnResult<Vec<u8>> {
    Ok(input)
}

/// Does nothing and returns 0 (success).
///
/// This is a bare export rather than a `#[plugin_fn]`: the macro, even for a
/// function returning `()`, would still allocate an empty block and call
/// `output_set`. A bare `() -> i32` export is exactly the signature the PDK
/// macro produces, without any host call at all.
#[no_mangle]
pub extern "C" fn noop() -> i32 {
    0
}
