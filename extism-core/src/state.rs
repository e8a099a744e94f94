//! The host-side state of one plug-in, kept in its engine store and reachable from every host function.

use std::any::Any;
use std::collections::BTreeMap;
use std::time::Instant;

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
    /// Status and headers of the plug-in's last HTTP request.
    pub(crate) http: crate::http::HttpState,
    /// When the running call's export was entered; set only when the manifest has a `timeout_ms`, the one thing
    /// that needs it ([`crate::CurrentPlugin::time_remaining`]), so calls without a timeout do not read the clock.
    pub(crate) call_started: Option<Instant>,
    /// The host context of the running call (`call_with_host_context`), if any.
    pub(crate) host_context: Option<Box<dyn Any + Send + Sync>>,
    /// The WASI context, for plug-ins created with WASI.
    pub(crate) wasi: Option<crate::wasi::WasiState>,
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
            http: Default::default(),
            call_started: None,
            host_context: None,
            wasi: None,
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

    /// Let the plug-in read the headers of its HTTP responses with `http_headers` (off by default: the import then
    /// returns 0).
    pub fn set_http_response_headers(&mut self, enabled: bool) {
        self.http.capture_headers(enabled);
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
