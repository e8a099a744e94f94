//! The run-time face of the compile-time engine choice: one enum variant per compiled backend, one `match` per
//! public call. With a single backend compiled the match has one arm and costs nothing.

use std::sync::Arc;

use extism_core::{Compiled as CoreCompiled, Plugin as CorePlugin};

/// A plug-in instance on whichever backend created it.
pub(crate) enum AnyPlugin {
    /// On wasmtime.
    #[cfg(feature = "wasmtime")]
    Wasmtime(CorePlugin<extism_wasmtime::Wasmtime>),
    /// On wasmer.
    #[cfg(feature = "wasmer")]
    Wasmer(CorePlugin<extism_wasmer::Wasmer>),
    /// On wasmi.
    #[cfg(feature = "wasmi")]
    Wasmi(CorePlugin<extism_wasmi::Wasmi>),
}

/// A compiled plug-in on whichever backend compiled it.
#[derive(Clone)]
pub(crate) enum AnyCompiled {
    /// On wasmtime.
    #[cfg(feature = "wasmtime")]
    Wasmtime(Arc<CoreCompiled<extism_wasmtime::Wasmtime>>),
    /// On wasmer.
    #[cfg(feature = "wasmer")]
    Wasmer(Arc<CoreCompiled<extism_wasmer::Wasmer>>),
    /// On wasmi.
    #[cfg(feature = "wasmi")]
    Wasmi(Arc<CoreCompiled<extism_wasmi::Wasmi>>),
}

/// Run `$body` with `$p` bound to the backend-specific value inside `$value` (an [`AnyPlugin`] or an
/// [`AnyCompiled`]).
macro_rules! with_plugin {
    ($value:expr, $p:ident => $body:expr) => {
        match $value {
            #[cfg(feature = "wasmtime")]
            $crate::dispatch::AnyPlugin::Wasmtime($p) => $body,
            #[cfg(feature = "wasmer")]
            $crate::dispatch::AnyPlugin::Wasmer($p) => $body,
            #[cfg(feature = "wasmi")]
            $crate::dispatch::AnyPlugin::Wasmi($p) => $body,
        }
    };
}

/// Compile for `$backend` with `$compile` (a generic function called with the backend type), wrapping the result in
/// the matching [`AnyCompiled`] variant.
macro_rules! compile_for {
    ($backend:expr, $compile:ident ( $($arg:expr),* )) => {
        match $backend {
            #[cfg(feature = "wasmtime")]
            $crate::Backend::Wasmtime => $crate::dispatch::AnyCompiled::Wasmtime(
                $compile::<extism_wasmtime::Wasmtime>($($arg),*)?,
            ),
            #[cfg(feature = "wasmer")]
            $crate::Backend::Wasmer => $crate::dispatch::AnyCompiled::Wasmer($compile::<extism_wasmer::Wasmer>($($arg),*)?),
            #[cfg(feature = "wasmi")]
            $crate::Backend::Wasmi => $crate::dispatch::AnyCompiled::Wasmi($compile::<extism_wasmi::Wasmi>($($arg),*)?),
        }
    };
}

/// Instantiate an [`AnyCompiled`] into the matching [`AnyPlugin`].
pub(crate) fn instantiate(compiled: &AnyCompiled, id: extism_core::Uuid) -> Result<AnyPlugin, crate::Error> {
    Ok(match compiled {
        #[cfg(feature = "wasmtime")]
        AnyCompiled::Wasmtime(c) => AnyPlugin::Wasmtime(CorePlugin::new(c.clone(), id)?),
        #[cfg(feature = "wasmer")]
        AnyCompiled::Wasmer(c) => AnyPlugin::Wasmer(CorePlugin::new(c.clone(), id)?),
        #[cfg(feature = "wasmi")]
        AnyCompiled::Wasmi(c) => AnyPlugin::Wasmi(CorePlugin::new(c.clone(), id)?),
    })
}

pub(crate) use {compile_for, with_plugin};
