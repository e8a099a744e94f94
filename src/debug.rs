//! Upstream's debugging options: [`DebugOptions`] and [`ProfilingStrategy`], for
//! [`crate::PluginBuilder::with_debug_options`].

use std::path::PathBuf;

use extism_core::debug::Profiler;

/// Which profiler the engine reports the code it generates to.
///
/// With the `wasmtime` feature this is wasmtime's own `wasmtime::ProfilingStrategy` (the type upstream's
/// [`DebugOptions::profiling_strategy`] has, so that code written for upstream compiles unchanged); without it, an
/// enum with the same variants. Which engine supports which profiler: wasmtime, `PerfMap` on Unix (jitdump and VTune
/// need wasmtime's `profiling` cargo feature, which this build leaves off); Pulley, wasmer and wasmi, none. Asking an
/// engine for a profiler it lacks fails when the plug-in is built, with an error naming the engine and the profiler.
#[cfg(feature = "wasmtime")]
pub use extism_wasmtime::wasmtime::ProfilingStrategy;

/// Which profiler the engine reports the code it generates to (wasmtime's `ProfilingStrategy` when the `wasmtime`
/// feature is on). No engine compiled into this build supports any but `None`: asking for one fails when the
/// plug-in is built, with an error naming the engine and the profiler.
#[cfg(not(feature = "wasmtime"))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProfilingStrategy {
    /// No profiler.
    None,
    /// A `perf` map file naming generated functions.
    PerfMap,
    /// The `jitdump` format, for Linux `perf`.
    JitDump,
    /// Intel VTune.
    VTune,
    /// wasmtime's Pulley interpreter profiler.
    Pulley,
}

/// The core's profiler for a [`ProfilingStrategy`].
pub(crate) fn profiler(strategy: ProfilingStrategy) -> Profiler {
    match strategy {
        ProfilingStrategy::None => Profiler::None,
        ProfilingStrategy::PerfMap => Profiler::PerfMap,
        ProfilingStrategy::JitDump => Profiler::JitDump,
        ProfilingStrategy::VTune => Profiler::VTune,
        ProfilingStrategy::Pulley => Profiler::Pulley,
    }
}

/// Debugging options, as upstream's `extism::DebugOptions` (same fields, same defaults), for
/// [`crate::PluginBuilder::with_debug_options`].
///
/// [`DebugOptions::default`] reads the environment like upstream: `EXTISM_PROFILE` (`perf`, `jitdump`, `vtune`),
/// `EXTISM_COREDUMP` and `EXTISM_MEMDUMP` (paths), `EXTISM_DEBUG` (set: debug info). A plug-in built without
/// `with_debug_options` reads the same variables, but a profiler or debug info its engine cannot provide is then
/// logged and ignored instead of failing the build.
///
/// ```
/// use extism::{DebugOptions, PluginBuilder};
///
/// # fn main() -> Result<(), extism::Error> {
/// let dump = std::env::temp_dir().join(format!("doc-coredump-{}.wasm", std::process::id()));
/// let wat = r#"(module (func (export "boom") (result i32) unreachable))"#;
/// let mut plugin = PluginBuilder::new(wat)
///     .with_debug_options(DebugOptions { coredump: Some(dump.clone()), ..Default::default() })
///     .build()?;
/// assert!(plugin.call::<&str, &[u8]>("boom", "").is_err());
/// // A wasm core dump (tool-conventions format): a wasm module with a `core` custom section.
/// let bytes = std::fs::read(&dump)?;
/// assert_eq!(&bytes[..4], b"\0asm");
/// # std::fs::remove_file(&dump)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct DebugOptions {
    /// The profiler to report generated code to (default: `EXTISM_PROFILE`, else none).
    pub profiling_strategy: ProfilingStrategy,
    /// Write a wasm core dump here when a call traps (default: `EXTISM_COREDUMP`). On wasmtime it is wasmtime's own
    /// (every instance's memories and globals, the trap's frames); other engines get the core's (the kernel's and
    /// the main module's exported memories and globals; see `extism_core::coredump` for what is missing).
    pub coredump: Option<PathBuf>,
    /// Write the kernel's memory here when a call fails (default: `EXTISM_MEMDUMP`).
    pub memdump: Option<PathBuf>,
    /// Emit native debug info (DWARF) for generated code, for debuggers (default: whether `EXTISM_DEBUG` is set).
    /// wasmtime only; other engines refuse it.
    pub debug_info: bool,
}

impl Default for DebugOptions {
    fn default() -> DebugOptions {
        let profiling_strategy = match Profiler::from_env() {
            Some(Profiler::PerfMap) => ProfilingStrategy::PerfMap,
            Some(Profiler::JitDump) => ProfilingStrategy::JitDump,
            Some(Profiler::VTune) => ProfilingStrategy::VTune,
            Some(Profiler::Pulley) => ProfilingStrategy::Pulley,
            Some(Profiler::None) | None => ProfilingStrategy::None,
        };
        DebugOptions {
            profiling_strategy,
            coredump: std::env::var_os("EXTISM_COREDUMP").map(PathBuf::from),
            memdump: std::env::var_os("EXTISM_MEMDUMP").map(PathBuf::from),
            debug_info: std::env::var_os("EXTISM_DEBUG").is_some(),
        }
    }
}
