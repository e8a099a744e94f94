//! `host_functions.wasm`: imports two host functions that share a name but not
//! a namespace, to test that the runtime links each import to the right one.
//!
//! Imports (both `(i64) -> i64`, a kernel handle in and out):
//! * `extism:host/user` `greet` (the `#[host_fn]` default namespace)
//! * `my:ns` `greet`

use extism_pdk::{plugin_fn, FnResult};

/// `greet` from the default user namespace, `extism:host/user`.
mod user {
    use extism_pdk::host_fn;

    #[host_fn]
    extern "ExtismHost" {
        pub fn greet(name: String) -> String;
    }
}

/// `greet` from the namespace `my:ns`.
mod ns {
    use extism_pdk::host_fn;

    #[host_fn("my:ns")]
    extern "ExtismHost" {
        pub fn greet(name: String) -> String;
    }
}

/// Output: `<extism:host/user greet(input)>|<my:ns greet(input)>`.
#[plugin_fn]
pub fn greet_both(name: String) -> FnResult<String> {
    // SAFETY: host imports; the PDK passes and receives kernel handles.
    let from_user = unsafe { user::greet(name.clone())? };
    let from_ns = unsafe { ns::greet(name)? };
    Ok(format!("{from_user}|{from_ns}"))
}

/// Output: `extism:host/user greet(input)` only.
#[plugin_fn]
pub fn greet_user(name: String) -> FnResult<String> {
    // SAFETY: host import; the PDK passes and receives kernel handles.
    Ok(unsafe { user::greet(name)? })
}
