//! `reflect.wasm`: a host-bound round trip, for the `reflect` benchmark.
//!
//! `reflect` passes its input to the host function `extism:host/user` `reflect`
//! (`(i64) -> i64`, a kernel handle in and out) and outputs whatever the host
//! returns: input → host function → output, each a copy of the bytes.

use extism_pdk::{plugin_fn, FnResult};

/// The host side of the round trip, in the default namespace `extism:host/user`.
mod host {
    use extism_pdk::host_fn;

    #[host_fn]
    extern "ExtismHost" {
        pub fn reflect(data: Vec<u8>) -> Vec<u8>;
    }
}

/// Output = what the host's `reflect` returns for the input (any bytes).
#[plugin_fn]
pub fn reflect(input: Vec<u8>) -> FnResult<Vec<u8>> {
    // SAFETY: a host import; the PDK passes and receives kernel handles.
    Ok(unsafe { host::reflect(input)? })
}
