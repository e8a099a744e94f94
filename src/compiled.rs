//! [`CompiledPlugin`]: compile once, create many plug-ins cheaply.

use std::sync::Arc;

use crate::dispatch::DynCompiled;
use crate::{Error, PluginBuilder};

/// A compiled plug-in: modules compiled and imports checked once; [`crate::Plugin::new_from_compiled`] then creates
/// instances without compiling again. Host functions are shared by every plug-in created from it.
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
}

impl std::fmt::Debug for CompiledPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CompiledPlugin({})", self.backend())
    }
}
