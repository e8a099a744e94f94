//! The host-side state of one plug-in, kept in its engine store and reachable from every host function.

use std::any::Any;
use std::collections::BTreeMap;

use uuid::Uuid;

use crate::manifest::Manifest;

/// Host-side state of one plug-in instance.
///
/// The manifest kept here has no `wasm` entries (the module bytes are compiled once and not copied into every
/// plug-in); its config may be edited between calls.
pub struct PluginState {
    pub(crate) id: Uuid,
    pub(crate) manifest: Manifest,
    pub(crate) vars: BTreeMap<String, Vec<u8>>,
    /// The host context of the running call (`call_with_host_context`), if any.
    pub(crate) host_context: Option<Box<dyn Any + Send + Sync>>,
}

impl PluginState {
    /// State for a plug-in with this id and manifest (module bytes are not kept).
    pub fn new(id: Uuid, manifest: &Manifest) -> PluginState {
        PluginState {
            id,
            manifest: Manifest {
                wasm: Vec::new(),
                ..manifest.clone()
            },
            vars: BTreeMap::new(),
            host_context: None,
        }
    }

    /// The plug-in's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The plug-in's manifest (without module bytes).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The config `config_get` reads, editable between calls (the C API's `extism_plugin_config` merges into it).
    pub fn config_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.manifest.config
    }
}

impl std::fmt::Debug for PluginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginState")
            .field("id", &self.id)
            .field("vars", &self.vars.len())
            .finish_non_exhaustive()
    }
}
