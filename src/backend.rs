//! [`Backend`]: the engines compiled into this build, and choosing one.

use std::str::FromStr;

use crate::Error;

/// A WebAssembly engine compiled into this build (one variant per enabled engine feature).
///
/// - `Wasmtime` (feature `wasmtime`, default): Cranelift JIT; the fastest calls, slower start-up.
/// - `Wasmer` (feature `wasmer`): wasmer's singlepass JIT; quick compilation, slower calls than wasmtime, no SIMD,
///   tail calls or memory64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// wasmtime (Cranelift JIT).
    #[cfg(feature = "wasmtime")]
    Wasmtime,
    /// wasmer (singlepass compiler).
    #[cfg(feature = "wasmer")]
    Wasmer,
}

/// Every engine this project knows, compiled in or not, for error messages.
const KNOWN: &[&str] = &["wasmtime", "wasmer", "wasmi"];

impl Backend {
    /// Every backend compiled into this build.
    pub const ALL: &'static [Backend] = &[
        #[cfg(feature = "wasmtime")]
        Backend::Wasmtime,
        #[cfg(feature = "wasmer")]
        Backend::Wasmer,
    ];

    /// The engine's name: `"wasmtime"`, `"wasmer"`.
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "wasmtime")]
            Backend::Wasmtime => "wasmtime",
            #[cfg(feature = "wasmer")]
            Backend::Wasmer => "wasmer",
        }
    }
}

impl Default for Backend {
    /// The first compiled engine in the order wasmtime, wasmer, wasmi.
    fn default() -> Backend {
        Backend::ALL[0]
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = Error;

    /// Parse an engine name (case-insensitive). Unknown names and engines not compiled in are errors that say which
    /// engines this build has.
    fn from_str(name: &str) -> Result<Backend, Error> {
        let wanted = name.trim().to_ascii_lowercase();
        if let Some(b) = Backend::ALL.iter().find(|b| b.name() == wanted) {
            return Ok(*b);
        }
        let compiled: Vec<&str> = Backend::ALL.iter().map(|b| b.name()).collect();
        if KNOWN.contains(&wanted.as_str()) {
            anyhow::bail!(
                "the `{wanted}` engine is not compiled into this build (enable the `{wanted}` cargo feature); \
                 compiled engines: {}",
                compiled.join(", ")
            )
        }
        anyhow::bail!("unknown engine `{name}`; compiled engines: {}", compiled.join(", "))
    }
}
