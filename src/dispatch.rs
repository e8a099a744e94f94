//! The run-time face of the compile-time engine choice: one enum variant per compiled backend, one `match` per
//! public call. With a single backend compiled the match has one arm and costs nothing.

use extism_core::Plugin as CorePlugin;

/// A plug-in instance on whichever backend created it.
pub(crate) enum AnyPlugin {
    /// On wasmtime.
    #[cfg(feature = "wasmtime")]
    Wasmtime(CorePlugin<extism_wasmtime::Wasmtime>),
    /// On wasmer.
    #[cfg(feature = "wasmer")]
    Wasmer(CorePlugin<extism_wasmer::Wasmer>),
}

/// Run `$body` with `$p` bound to the backend-specific plug-in inside `$value`.
macro_rules! with_plugin {
    ($value:expr, $p:ident => $body:expr) => {
        match $value {
            #[cfg(feature = "wasmtime")]
            $crate::dispatch::AnyPlugin::Wasmtime($p) => $body,
            #[cfg(feature = "wasmer")]
            $crate::dispatch::AnyPlugin::Wasmer($p) => $body,
        }
    };
}

pub(crate) use with_plugin;
