//! [`CompiledPlugin`]: compile once, create many plug-ins cheaply.

use std::sync::Arc;

use crate::dispatch::DynCompiled;
use crate::{Error, PluginBuilder};

/// A compiled plug-in: modules compiled and imports checked once; [`crate::Plugin::new_from_compiled`] then creates
/// instances without compiling again. Host functions are shared by every plug-in created from it.
///
/// Each instance has its own memory, globals and vars; here `counter` counts calls in a var:
///
/// ```
/// use extism::{CompiledPlugin, Plugin, PluginBuilder};
///
/// # fn main() -> Result<(), extism::Error> {
/// let wasm = include_bytes!("../tests/wasm/kitchen.wasm");
/// let compiled = CompiledPlugin::new(PluginBuilder::new(wasm))?;
/// let mut first = Plugin::new_from_compiled(&compiled)?;
/// let mut second = Plugin::new_from_compiled(&compiled)?;
/// assert_eq!(first.call::<&str, String>("counter", "")?, "1");
/// assert_eq!(first.call::<&str, String>("counter", "")?, "2");
/// assert_eq!(second.call::<&str, String>("counter", "")?, "1");
/// assert_eq!(second.backend(), compiled.backend());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct CompiledPlugin {
    pub(crate) backend: crate::Backend,
    pub(crate) inner: Arc<dyn DynCompiled>,
}

impl CompiledPlugin {
    /// Compile what `builder` describes.
    pub fn new(builder: PluginBuilder) -> Result<CompiledPlugin, Error> {
        builder.compile()
    }

    /// The engine it was compiled for.
    pub fn backend(&self) -> crate::Backend {
        self.backend
    }

    /// How many of the plug-in's wasm modules had their calls to the kernel's memory accessors rewritten into direct
    /// loads and stores on the kernel's memory (see [`PluginBuilder::with_memory_rewrite`]): 0 when the rewrite is
    /// off, the engine cannot run multi-memory modules, or no module calls the accessors directly.
    pub fn rewritten_modules(&self) -> usize {
        self.inner.rewritten_modules()
    }
}

impl std::fmt::Debug for CompiledPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CompiledPlugin({})", self.backend())
    }
}
