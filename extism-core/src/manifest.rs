//! The Extism manifest: which wasm modules make up a plug-in, and the settings it runs under.
//!
//! Field names, defaults and JSON/TOML shapes follow upstream Extism's manifest, so manifests written for upstream load
//! here unchanged. One deliberate difference: a `data` entry given as `{"ptr": .., "len": ..}` (a raw pointer into the
//! host's memory, which upstream reads unchecked) is rejected with an error; pass the bytes as base64 instead. A
//! manifest is data, often read from a file or a URL, and data must not make the host read arbitrary memory. The one
//! exception is the C API (see [`with_pointer_data_reader`]), whose caller hands over raw pointers anyway.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The default `max_var_bytes`: 1 MiB.
pub const DEFAULT_MAX_VAR_BYTES: u64 = 1024 * 1024;

fn default_var_bytes() -> Option<u64> {
    Some(DEFAULT_MAX_VAR_BYTES)
}

/// Memory limits of a plug-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryOptions {
    /// Memory budget in 64 KiB pages, shared by all memories of the plug-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pages: Option<u32>,
    /// Largest HTTP response body a plug-in may receive (default 50 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_http_response_bytes: Option<u64>,
    /// Size budget of the plug-in's vars (default 1 MiB; `0` disables vars).
    #[serde(default = "default_var_bytes", skip_serializing_if = "Option::is_none")]
    pub max_var_bytes: Option<u64>,
}

impl Default for MemoryOptions {
    fn default() -> Self {
        MemoryOptions {
            max_pages: None,
            max_http_response_bytes: None,
            max_var_bytes: default_var_bytes(),
        }
    }
}

impl MemoryOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the memory budget in pages.
    pub fn with_max_pages(mut self, pages: u32) -> Self {
        self.max_pages = Some(pages);
        self
    }

    /// Set the largest HTTP response body.
    pub fn with_max_http_response_bytes(mut self, bytes: u64) -> Self {
        self.max_http_response_bytes = Some(bytes);
        self
    }

    /// Set the vars budget in bytes.
    pub fn with_max_var_bytes(mut self, bytes: u64) -> Self {
        self.max_var_bytes = Some(bytes);
        self
    }
}

/// An HTTP request: used for manifest modules fetched by URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRequest {
    /// The URL.
    pub url: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The method; `GET` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

impl HttpRequest {
    /// A `GET` request for `url`.
    pub fn new(url: impl Into<String>) -> HttpRequest {
        HttpRequest {
            url: url.into(),
            headers: BTreeMap::new(),
            method: None,
        }
    }

    /// Set the method.
    pub fn with_method(mut self, method: impl Into<String>) -> HttpRequest {
        self.method = Some(method.into());
        self
    }

    /// Add a header.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<String>) -> HttpRequest {
        self.headers.insert(key.into(), value.into());
        self
    }
}

/// The optional name and SHA-256 hash of a module.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmMetadata {
    /// The module name other modules import it by; the main module is `main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lowercase hex SHA-256 of the module bytes; checked when the module is loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

/// One wasm module of a manifest: from a file, from bytes, or from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wasm {
    /// Read from a file when the plug-in is created.
    File {
        /// Path of the `.wasm` (or `.wat`) file.
        path: PathBuf,
        /// Name and hash.
        meta: WasmMetadata,
    },
    /// Module bytes (base64 in JSON and TOML).
    Data {
        /// The module bytes (binary wasm or WAT text).
        data: Vec<u8>,
        /// Name and hash.
        meta: WasmMetadata,
    },
    /// Downloaded when the plug-in is created.
    Url {
        /// The request that fetches the module.
        req: HttpRequest,
        /// Name and hash.
        meta: WasmMetadata,
    },
}

impl Wasm {
    /// A module read from `path`.
    pub fn file(path: impl AsRef<Path>) -> Self {
        Wasm::File {
            path: path.as_ref().to_path_buf(),
            meta: WasmMetadata::default(),
        }
    }

    /// A module from bytes.
    pub fn data(data: impl Into<Vec<u8>>) -> Self {
        Wasm::Data {
            data: data.into(),
            meta: WasmMetadata::default(),
        }
    }

    /// A module fetched with `GET url`.
    pub fn url(url: impl Into<String>) -> Self {
        Wasm::Url {
            req: HttpRequest::new(url),
            meta: WasmMetadata::default(),
        }
    }

    /// A module fetched with a custom request.
    pub fn http(req: impl Into<HttpRequest>) -> Self {
        Wasm::Url {
            req: req.into(),
            meta: WasmMetadata::default(),
        }
    }

    /// Name and hash.
    pub fn meta(&self) -> &WasmMetadata {
        match self {
            Wasm::File { meta, .. } | Wasm::Data { meta, .. } | Wasm::Url { meta, .. } => meta,
        }
    }

    /// Name and hash, mutable.
    pub fn meta_mut(&mut self) -> &mut WasmMetadata {
        match self {
            Wasm::File { meta, .. } | Wasm::Data { meta, .. } | Wasm::Url { meta, .. } => meta,
        }
    }

    /// Set the module name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.meta_mut().name = Some(name.into());
        self
    }

    /// Set the expected SHA-256 (lowercase hex).
    pub fn with_hash(mut self, hash: impl Into<String>) -> Self {
        self.meta_mut().hash = Some(hash.into());
        self
    }
}

impl From<PathBuf> for Wasm {
    fn from(path: PathBuf) -> Wasm {
        Wasm::file(path)
    }
}

impl From<Vec<u8>> for Wasm {
    fn from(data: Vec<u8>) -> Wasm {
        Wasm::data(data)
    }
}

impl From<HttpRequest> for Wasm {
    fn from(req: HttpRequest) -> Wasm {
        Wasm::http(req)
    }
}

/// The flat shape of a `wasm` entry in JSON/TOML; exactly one of `path`, `data`, `url` must be present.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WasmEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<WasmData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    headers: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
}

/// Module bytes in a manifest: a base64 string (standard alphabet, padded).
struct WasmData(Vec<u8>);

impl Serialize for WasmData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

/// Reads the `len` bytes at address `ptr` of this process, for a `{"ptr": .., "len": ..}` wasm data entry.
///
/// # Safety
/// Only called inside [`with_pointer_data_reader`], whose caller vouches for the addresses; `len` is at most
/// [`crate::MAX_MODULE_BYTES`].
pub type PointerDataReader = unsafe fn(ptr: u64, len: u64) -> Result<Vec<u8>, String>;

thread_local! {
    /// How this thread reads `{"ptr", "len"}` wasm data: `None` (rejected) except inside [`with_pointer_data_reader`].
    static POINTER_DATA_READER: Cell<Option<PointerDataReader>> = const { Cell::new(None) };
}

/// Run `parse` with `{"ptr": .., "len": ..}` wasm data accepted, read by `reader`, on this thread only.
///
/// For libextism alone: upstream's C++ SDK passes in-memory modules to `extism_plugin_new` that way, and a C caller is
/// trusted with raw pointers into its own memory anyway. Outside `parse` (the Rust API, manifests read from files or
/// URLs) such an entry stays an error. `parse` should parse the caller's manifest and nothing else.
///
/// # Safety
/// Every `{"ptr", "len"}` entry that `parse` meets must name `len` bytes of this process that `reader` may read (the
/// C API's caller promises this for the manifest it passes). Lengths above [`crate::MAX_MODULE_BYTES`] are refused
/// before `reader` runs.
#[doc(hidden)]
pub unsafe fn with_pointer_data_reader<R>(reader: PointerDataReader, parse: impl FnOnce() -> R) -> R {
    /// Restores the previous reader, also when `parse` panics.
    struct Restore(Option<PointerDataReader>);
    impl Drop for Restore {
        fn drop(&mut self) {
            POINTER_DATA_READER.set(self.0);
        }
    }
    let _restore = Restore(POINTER_DATA_READER.replace(Some(reader)));
    parse()
}

impl<'de> Deserialize<'de> for WasmData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Base64(String),
            Pointer { ptr: u64, len: u64 },
        }
        match Repr::deserialize(d)? {
            Repr::Base64(text) => base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map(WasmData)
                .map_err(|e| serde::de::Error::custom(format!("invalid base64 in wasm data: {e}"))),
            Repr::Pointer { ptr, len } => match POINTER_DATA_READER.get() {
                Some(_) if len > crate::MAX_MODULE_BYTES => Err(serde::de::Error::custom(format!(
                    "wasm data {{\"ptr\": {ptr}, \"len\": {len}}} is larger than the {}-byte limit for a module",
                    crate::MAX_MODULE_BYTES
                ))),
                // SAFETY: inside `with_pointer_data_reader`, whose caller vouches for the address; `len` is bounded.
                Some(read) => unsafe { read(ptr, len) }
                    .map(WasmData)
                    .map_err(serde::de::Error::custom),
                None => Err(serde::de::Error::custom(format!(
                    "wasm data given as a raw host pointer ({{\"ptr\": {ptr}, \"len\": {len}}}) is not supported: \
                     pass the module bytes as a base64 string"
                ))),
            },
        }
    }
}

impl Serialize for Wasm {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let meta = self.meta().clone();
        let mut entry = WasmEntry {
            name: meta.name,
            hash: meta.hash,
            ..WasmEntry::default()
        };
        match self {
            Wasm::File { path, .. } => entry.path = Some(path.clone()),
            Wasm::Data { data, .. } => entry.data = Some(WasmData(data.clone())),
            Wasm::Url { req, .. } => {
                entry.url = Some(req.url.clone());
                entry.headers = Some(req.headers.clone());
                entry.method = req.method.clone();
            }
        }
        entry.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Wasm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let entry = WasmEntry::deserialize(d)?;
        let meta = WasmMetadata {
            name: entry.name,
            hash: entry.hash,
        };
        let is_url_request = entry.headers.is_some() || entry.method.is_some();
        match (entry.path, entry.data, entry.url) {
            (Some(path), None, None) if !is_url_request => Ok(Wasm::File { path, meta }),
            (None, Some(WasmData(data)), None) if !is_url_request => Ok(Wasm::Data { data, meta }),
            (None, None, Some(url)) => Ok(Wasm::Url {
                req: HttpRequest {
                    url,
                    headers: entry.headers.unwrap_or_default(),
                    method: entry.method,
                },
                meta,
            }),
            _ => Err(D::Error::custom(
                "a wasm entry needs exactly one of `path`, `data` or `url` \
                 (`headers` and `method` go only with `url`)",
            )),
        }
    }
}

/// Describes a plug-in: its modules and the settings it runs under.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The modules; the main one is named `main` or listed last.
    #[serde(default)]
    pub wasm: Vec<Wasm>,
    /// Memory limits.
    #[serde(default)]
    pub memory: MemoryOptions,
    /// Read-only key/value configuration the plug-in reads with `config_get`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Host names (glob patterns) the plug-in may send HTTP requests to; `None` allows none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_hosts: Option<Vec<String>>,
    /// WASI preopened directories: host path (prefix `ro:` for read-only) to guest path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_paths: Option<BTreeMap<String, PathBuf>>,
    /// Wall-clock limit of each call, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl Manifest {
    /// A manifest of these modules with default settings.
    pub fn new(wasm: impl IntoIterator<Item = impl Into<Wasm>>) -> Manifest {
        Manifest {
            wasm: wasm.into_iter().map(Into::into).collect(),
            ..Manifest::default()
        }
    }

    /// Add a module.
    pub fn with_wasm(mut self, wasm: impl Into<Wasm>) -> Self {
        self.wasm.push(wasm.into());
        self
    }

    /// Allow no HTTP hosts at all (an empty list).
    pub fn disallow_all_hosts(mut self) -> Self {
        self.allowed_hosts = Some(vec![]);
        self
    }

    /// Set the memory options.
    pub fn with_memory_options(mut self, memory: MemoryOptions) -> Self {
        self.memory = memory;
        self
    }

    /// Set the memory budget in pages.
    pub fn with_memory_max(mut self, max: u32) -> Self {
        self.memory.max_pages = Some(max);
        self
    }

    /// Allow HTTP requests to a host (glob pattern).
    pub fn with_allowed_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.get_or_insert_with(Vec::new).push(host.into());
        self
    }

    /// Replace the allowed hosts.
    pub fn with_allowed_hosts(mut self, hosts: impl Iterator<Item = String>) -> Self {
        self.allowed_hosts = Some(hosts.collect());
        self
    }

    /// Preopen the host directory `src` (prefix `ro:` for read-only) as `dest` inside the plug-in.
    pub fn with_allowed_path(mut self, src: String, dest: impl AsRef<Path>) -> Self {
        self.allowed_paths
            .get_or_insert_with(BTreeMap::new)
            .insert(src, dest.as_ref().to_path_buf());
        self
    }

    /// Replace the preopened directories.
    pub fn with_allowed_paths(mut self, paths: impl Iterator<Item = (String, PathBuf)>) -> Self {
        self.allowed_paths = Some(paths.collect());
        self
    }

    /// Add config entries.
    pub fn with_config(mut self, config: impl Iterator<Item = (impl Into<String>, impl Into<String>)>) -> Self {
        for (k, v) in config {
            self.config.insert(k.into(), v.into());
        }
        self
    }

    /// Add one config entry.
    pub fn with_config_key(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.config.insert(k.into(), v.into());
        self
    }

    /// Set the per-call timeout (stored in milliseconds).
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout_ms = Some(timeout.as_millis().try_into().unwrap_or(u64::MAX));
        self
    }
}

impl From<Manifest> for std::borrow::Cow<'_, [u8]> {
    fn from(m: Manifest) -> Self {
        std::borrow::Cow::Owned(serde_json::to_vec(&m).expect("a manifest always serialises to JSON"))
    }
}

impl From<&Manifest> for std::borrow::Cow<'_, [u8]> {
    fn from(m: &Manifest) -> Self {
        std::borrow::Cow::Owned(serde_json::to_vec(m).expect("a manifest always serialises to JSON"))
    }
}
