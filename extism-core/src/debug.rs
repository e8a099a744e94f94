//! Debugging and profiling settings that reach the engine: which profiler to feed, whether to emit debug info,
//! whether to prepare core dumps, and an engine's own configuration object (upstream's `with_wasmtime_config`).
//!
//! The core names no engine: a [`NativeConfig`] is an opaque value with a label, which only the backend whose
//! [`crate::backend::Capabilities::native_config`] carries the same label opens.

use std::any::Any;
use std::sync::Arc;

/// A profiler the engine reports the code it generates to (upstream's `EXTISM_PROFILE`, wasmtime's
/// `ProfilingStrategy`). Engines declare the ones they support in [`crate::backend::Capabilities::profilers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profiler {
    /// No profiler.
    #[default]
    None,
    /// A `perf` map file (`/tmp/perf-<pid>.map`) naming the generated functions, for Linux `perf`.
    PerfMap,
    /// The `jitdump` format, for Linux `perf`.
    JitDump,
    /// Intel VTune, through `ittapi`.
    VTune,
    /// wasmtime's profiler of its Pulley interpreter.
    Pulley,
}

impl Profiler {
    /// The profiler `EXTISM_PROFILE` names, as upstream reads it: `perf`, `jitdump` or `vtune`. `Err` carries an
    /// unknown value.
    pub fn from_env_value(value: &str) -> Result<Profiler, String> {
        match value {
            "perf" => Ok(Profiler::PerfMap),
            "jitdump" => Ok(Profiler::JitDump),
            "vtune" => Ok(Profiler::VTune),
            other => Err(other.to_string()),
        }
    }

    /// The profiler the `EXTISM_PROFILE` environment variable names, if it is set to a known value (an unknown value
    /// is logged and ignored, as upstream does).
    pub fn from_env() -> Option<Profiler> {
        let value = std::env::var("EXTISM_PROFILE").ok()?;
        match Profiler::from_env_value(&value) {
            Ok(profiler) => Some(profiler),
            Err(other) => {
                tracing::warn!(target: "extism::debug", "Invalid value for EXTISM_PROFILE: {other}");
                None
            }
        }
    }
}

/// An engine's own configuration object, handed through the core unopened: for example the `wasmtime::Config` of
/// upstream's `PluginBuilder::with_wasmtime_config`. The backend whose [`crate::backend::Capabilities::native_config`]
/// equals [`NativeConfig::kind`] takes it as the base of its engine configuration; every other engine refuses the
/// plug-in with an error naming itself and [`NativeConfig::option`].
#[derive(Clone)]
pub struct NativeConfig {
    kind: &'static str,
    option: &'static str,
    config: Arc<dyn Any + Send + Sync>,
}

impl NativeConfig {
    /// Wrap `config`, of the type named `kind` (e.g. `"wasmtime::Config"`), set by the builder method `option`.
    pub fn new<T: Any + Send + Sync>(kind: &'static str, option: &'static str, config: T) -> NativeConfig {
        NativeConfig {
            kind,
            option,
            config: Arc::new(config),
        }
    }

    /// The configuration type's name, which the accepting engine declares.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The builder method that set it, for errors.
    pub fn option(&self) -> &'static str {
        self.option
    }

    /// The configuration, if it is a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.config.downcast_ref()
    }
}

impl std::fmt::Debug for NativeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeConfig")
            .field("kind", &self.kind)
            .field("option", &self.option)
            .finish_non_exhaustive()
    }
}
