//! [`module_info`]: what each module of a plug-in imports and exports, as an engine compiles it, for tools that look
//! at a plug-in before running it (the `extism` command's `inspect`, and its check that a plug-in needs no host
//! functions it cannot provide).

use anyhow::Context;
use extism_core::backend::{EngineApi, EngineOptions};

pub use extism_core::FuncType;
pub use extism_core::backend::{ExportInfo, ExternKind, ImportInfo};

use crate::registry::EngineVisitor;
use crate::{Backend, Error, WasmInput};

/// One module of a plug-in, compiled by an engine but not linked or instantiated.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ModuleInfo {
    /// The name other modules import it by: `main` for the main module, else its manifest name.
    pub name: String,
    /// The module's binary wasm (WAT already converted), for tools that read sections the engines do not report.
    pub wasm: Vec<u8>,
    /// Its imports, in module order.
    pub imports: Vec<ImportInfo>,
    /// Its exports, in module order.
    pub exports: Vec<ExportInfo>,
}

/// Load every module of `plugin` (wasm, WAT, a JSON/TOML manifest or a [`crate::Manifest`]: files are read, URLs
/// downloaded, hashes checked, as for a plug-in) and compile each on `backend`, without linking: nothing is checked
/// against the host functions, so this works for plug-ins whose imports no one provides yet. The main module is last.
///
/// Fails with the loading error, or with the engine's error for a module it cannot compile (e.g. wasmer on a module
/// that uses SIMD), prefixed with the module's name.
pub fn module_info<'a>(plugin: impl Into<WasmInput<'a>>, backend: Backend) -> Result<Vec<ModuleInfo>, Error> {
    let manifest = plugin.into().into_manifest()?;
    let modules = extism_core::load_modules(&manifest)?;
    backend.visit(Describe(modules))
}

/// Compiling each module on the engine [`Backend::visit`] gives, and what the engine says it imports and exports.
struct Describe(Vec<extism_core::NamedModule>);

impl EngineVisitor for Describe {
    type Output = Result<Vec<ModuleInfo>, Error>;

    fn visit<E: EngineApi>(self) -> Self::Output {
        let engine = E::new_engine(&EngineOptions::default())?;
        self.0
            .into_iter()
            .map(|m| {
                let module = E::compile(&engine, &m.wasm).with_context(|| format!("module `{}`", m.name))?;
                Ok(ModuleInfo {
                    imports: E::imports(&module),
                    exports: E::exports(&module),
                    name: m.name,
                    wasm: m.wasm,
                })
            })
            .collect()
    }
}
