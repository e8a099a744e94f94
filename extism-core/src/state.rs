//! The host-side state of one plug-in, kept in its engine store and reachable from every host function.

use std::any::Any;
use std::collections::BTreeMap;
use std::time::Instant;

use uuid::Uuid;

use crate::Error;
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
    pub(crate) http: crate::http::state::HttpState,
    /// When the running call's export was entered; set only when the manifest has a `timeout_ms`, the one thing
    /// that needs it ([`crate::CurrentPlugin::time_remaining`]), so calls without a timeout do not read the clock.
    pub(crate) call_started: Option<Instant>,
    /// The host context of the running call (`call_with_host_context`), if any.
    pub(crate) host_context: Option<Box<dyn Any + Send + Sync>>,
    /// The WASI context, for plug-ins created with WASI.
    pub(crate) wasi: Option<crate::wasi::ctx::WasiState>,
    /// Instances of linked command modules made in this store. No engine can free an instance before its store, so
    /// the core renews the store between calls once this reaches [`COMMAND_INSTANCES_BEFORE_RENEWAL`].
    pub(crate) command_instances: u32,
}

/// Once this many instances of linked command modules have been made in a plug-in's store, the store is renewed
/// before the next call (vars are kept; the main module's memory and globals start afresh, as after `_start`).
pub const COMMAND_INSTANCES_BEFORE_RENEWAL: u32 = 100;

/// The most instances of linked command modules one store may make: a call that would make more fails (the
/// plug-in stays usable; its store is renewed before the next call).
pub const MAX_COMMAND_INSTANCES: u32 = 1_000;

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
            command_instances: 0,
        }
    }

    /// Count one more instance of a linked command module about to be made, or refuse it past
    /// [`MAX_COMMAND_INSTANCES`]. Backends call this before each such instantiation.
    pub fn count_command_instance(&mut self) -> Result<(), Error> {
        if self.command_instances >= MAX_COMMAND_INSTANCES {
            anyhow::bail!(
                "linked command modules were instantiated {MAX_COMMAND_INSTANCES} times in this plug-in's store, \
                 the most one store may hold; the store is renewed before the next call"
            );
        }
        self.command_instances += 1;
        Ok(())
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

impl crate::backend::HostState for PluginState {
    fn count_command_instance(&mut self) -> Result<(), Error> {
        PluginState::count_command_instance(self)
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
