//! The on-disk compilation cache: compiled modules (plug-ins' and the kernel's) stored between processes, so that a
//! host that creates the same plug-in at every start pays for compilation once per machine.
//!
//! Engine-neutral: an engine that generates code it can serialise (wasmtime and Pulley, wasmer) supplies the bytes
//! ([`EngineApi::serialize`]), loads them back ([`EngineApi::deserialize`]) and names everything that changes the code
//! it generates ([`EngineApi::code_identity`]); interpreters that need no compilation step worth saving (wasmi) supply
//! none, and nothing is written for them.
//!
//! # Where and when
//!
//! Which cache a plug-in uses ([`CacheSetting`]), in upstream Extism's order: a configuration file given to the
//! builder (`with_cache_config(path)`) wins; `with_cache_disabled()` turns it off; otherwise the environment variable
//! `EXTISM_CACHE_CONFIG` decides: a non-empty value names a configuration file, an empty value turns the cache off,
//! and when it is unset the cache is on, in the platform's cache directory ([`default_directory`]:
//! `$XDG_CACHE_HOME/extism` or `~/.cache/extism` on Linux).
//!
//! The configuration file is upstream's (wasmtime's cache TOML): a `[cache]` table whose `directory`,
//! `enabled`, `files-total-size-soft-limit` and `file-count-soft-limit` are read; upstream's other keys (compression
//! levels, worker and clean-up settings) are accepted and ignored, as this cache neither compresses nor runs a
//! worker; any other key is an error naming it, as upstream's is.
//!
//! # Safety of what is loaded
//!
//! Deserialising compiled code is `unsafe` in every engine: the bytes become executable code. So:
//! - the directory is created private to the user (mode 0700 on Unix); an existing one owned by another user, or
//!   writable by others, is refused (never read, never written; its mode is left alone, since it may be one the user
//!   named for other things too);
//! - an entry is read only if it is a regular file (not a symbolic link, FIFO or device) no larger than the cache's
//!   size bound, so a planted file cannot redirect, block or exhaust the host; the configuration file is read with
//!   the same checks (at most 64 KiB); eviction removes only entries and the temporary files this cache names;
//! - an entry is written to a temporary file in the same directory and renamed into place, so a reader sees a whole
//!   entry or none, and two processes that create the same plug-in at once both succeed (the last rename wins; both
//!   wrote the same thing);
//! - every entry starts with a header ([`Header`]): a magic string, the format version, the engine's name and exact
//!   version, its code-generation fingerprint, the hash of the wasm module it was compiled from, the payload's length
//!   and its SHA-256. All of it is checked against what the current engine would compile **before** the payload is
//!   handed to the engine; a truncated, corrupt, foreign-version or foreign-engine entry is never loaded: the module
//!   is compiled again and the entry replaced.
//!
//! # Size
//!
//! The cache is bounded: after each write, when the entries exceed the size bound ([`DEFAULT_MAX_BYTES`], 512 MiB,
//! unless the configuration's `files-total-size-soft-limit` says otherwise) or the count bound
//! ([`DEFAULT_MAX_FILES`]), the least recently used entries are removed until both bounds hold again. An entry's
//! modification time is its last use: loading an entry touches it.
//!
//! [`EngineApi::serialize`]: crate::backend::EngineApi::serialize
//! [`EngineApi::deserialize`]: crate::backend::EngineApi::deserialize
//! [`EngineApi::code_identity`]: crate::backend::EngineApi::code_identity

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Error, anyhow, bail};
use sha2::{Digest, Sha256};

use crate::backend::EngineApi;
use crate::modules::ReadFailure;

/// The environment variable that configures the cache when the builder does not: a configuration file, or empty to
/// turn the cache off.
pub const CACHE_CONFIG_ENV: &str = "EXTISM_CACHE_CONFIG";

/// Default bound on the total size of the cache's entries: 512 MiB (a Cranelift-compiled 100 KB plug-in takes about
/// 1 MB, so hundreds of plug-ins fit).
pub const DEFAULT_MAX_BYTES: u64 = 512 << 20;

/// Default bound on the number of entries: 65,536 (upstream's default `file-count-soft-limit`).
pub const DEFAULT_MAX_FILES: u64 = 65_536;

/// Suffix of entry files: `<key>.extism-code`, the key being 64 hex digits.
const ENTRY_SUFFIX: &str = ".extism-code";

/// Largest cache configuration file read (a FIFO or `/dev/zero` named as one must not hang or exhaust the host).
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// Prefix of the temporary files entries are written to before their rename.
const TEMP_PREFIX: &str = ".tmp-";

/// Temporary files older than this are left-overs of a process that died while writing; eviction removes them.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// First bytes of every entry.
const MAGIC: &[u8; 8] = b"EXTISMCC";

/// Version of the entry format (the header's layout); entries of another format are replaced.
const FORMAT_VERSION: u32 = 1;

/// Where a plug-in's compiled code is cached, as chosen by the builder (see the module docs for the order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheSetting {
    /// What `EXTISM_CACHE_CONFIG` says; when it is unset, the platform's cache directory.
    #[default]
    FromEnvironment,
    /// No cache: every module is compiled.
    Disabled,
    /// The configuration file at this path (upstream's cache TOML).
    ConfigFile(PathBuf),
}

impl CacheSetting {
    /// The cache this setting selects: `None` when it is turned off (by the setting, the environment, the file's
    /// `enabled = false`, or a platform without a cache directory). Fails when a configuration file cannot be read or
    /// is invalid.
    pub fn resolve(&self) -> Result<Option<CacheConfig>, Error> {
        match self {
            CacheSetting::Disabled => Ok(None),
            CacheSetting::ConfigFile(path) => CacheConfig::from_file(path),
            CacheSetting::FromEnvironment => match std::env::var_os(CACHE_CONFIG_ENV) {
                Some(value) if value.is_empty() => Ok(None),
                Some(value) => CacheConfig::from_file(Path::new(&value))
                    .with_context(|| format!("invalid cache configuration in {CACHE_CONFIG_ENV}")),
                None => Ok(default_directory().map(CacheConfig::new)),
            },
        }
    }
}

/// The platform's directory for the cache: `$XDG_CACHE_HOME/extism`, else `$HOME/.cache/extism` (Linux and other
/// Unix); `$HOME/Library/Caches/extism` (macOS); `%LOCALAPPDATA%\extism\cache` (Windows). `None` when the variables
/// it needs are unset, in which case the default cache is off.
pub fn default_directory() -> Option<PathBuf> {
    let absolute = |name: &str| std::env::var_os(name).map(PathBuf::from).filter(|p| p.is_absolute());
    if cfg!(windows) {
        return absolute("LOCALAPPDATA").map(|p| p.join("extism").join("cache"));
    }
    if cfg!(target_os = "macos") {
        return absolute("HOME").map(|p| p.join("Library").join("Caches").join("extism"));
    }
    absolute("XDG_CACHE_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".cache")))
        .map(|p| p.join("extism"))
}

/// A cache's location and bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// The directory entries live in.
    pub directory: PathBuf,
    /// Bound on the entries' total size in bytes (see the module docs).
    pub max_bytes: u64,
    /// Bound on the number of entries.
    pub max_files: u64,
}

impl CacheConfig {
    /// A cache in `directory` with the default bounds.
    pub fn new(directory: impl Into<PathBuf>) -> CacheConfig {
        CacheConfig {
            directory: directory.into(),
            max_bytes: DEFAULT_MAX_BYTES,
            max_files: DEFAULT_MAX_FILES,
        }
    }

    /// Read upstream's cache configuration file. `None` if it says `enabled = false`. A relative `directory` is
    /// taken relative to the file's own directory; without one, the platform's ([`default_directory`]).
    pub fn from_file(path: &Path) -> Result<Option<CacheConfig>, Error> {
        let unreadable =
            |reason: String| anyhow!("unable to read the cache configuration {}: {reason}", path.display());
        let (bytes, _) =
            crate::modules::read_regular_file(path, MAX_CONFIG_BYTES, true).map_err(|e| unreadable(e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|_| unreadable("not UTF-8".to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        CacheConfig::parse(&text, base).with_context(|| format!("invalid cache configuration {}", path.display()))
    }

    /// Parse a configuration file's text; relative directories are taken relative to `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Option<CacheConfig>, Error> {
        let table: toml::Table = text.parse().map_err(|e| anyhow!("{e}"))?;
        if let Some(key) = table.keys().find(|k| k.as_str() != "cache") {
            bail!("unknown key `{key}` (expected a `[cache]` table)");
        }
        let cache = match table.get("cache") {
            None => toml::Table::new(),
            Some(toml::Value::Table(cache)) => cache.clone(),
            Some(_) => bail!("`cache` must be a table"),
        };
        /// Upstream's keys this cache has no use for (it neither compresses entries nor runs a background worker).
        const IGNORED: &[&str] = &[
            "worker-event-queue-size",
            "baseline-compression-level",
            "optimized-compression-level",
            "optimized-compression-usage-counter-threshold",
            "cleanup-interval",
            "optimizing-compression-task-timeout",
            "allowed-clock-drift-for-files-from-future",
            "file-count-limit-percent-if-deleting",
            "files-total-size-limit-percent-if-deleting",
        ];
        let mut config = CacheConfig::new(PathBuf::new());
        let mut directory = None;
        for (key, value) in &cache {
            match key.as_str() {
                "enabled" => match value {
                    toml::Value::Boolean(true) => {}
                    toml::Value::Boolean(false) => return Ok(None),
                    _ => bail!("`cache.enabled` must be true or false"),
                },
                "directory" => {
                    let dir = value
                        .as_str()
                        .ok_or_else(|| anyhow!("`cache.directory` must be a string"))?;
                    if dir.is_empty() {
                        bail!("`cache.directory` is empty");
                    }
                    directory = Some(base.join(dir));
                }
                "files-total-size-soft-limit" => config.max_bytes = parse_size(value)?,
                "file-count-soft-limit" => {
                    config.max_files = value
                        .as_integer()
                        .and_then(|n| u64::try_from(n).ok())
                        .ok_or_else(|| anyhow!("`cache.file-count-soft-limit` must be a non-negative integer"))?;
                }
                ignored if IGNORED.contains(&ignored) => {}
                other => bail!("unknown key `{other}` in `[cache]`"),
            }
        }
        config.directory = match directory.or_else(default_directory) {
            Some(directory) => directory,
            None => bail!("no `cache.directory`, and no platform cache directory (HOME is unset)"),
        };
        Ok(Some(config))
    }
}

/// A size as upstream writes it: an integer (bytes), or a string with a decimal (`K`, `M`, `G`, `T`, `P`) or binary
/// (`Ki`, `Mi`, `Gi`, `Ti`, `Pi`) suffix, such as `"512Mi"`.
fn parse_size(value: &toml::Value) -> Result<u64, Error> {
    let invalid = || anyhow!("`cache.files-total-size-soft-limit` must be a size such as 1073741824 or \"1Gi\"");
    match value {
        toml::Value::Integer(n) => u64::try_from(*n).map_err(|_| invalid()),
        toml::Value::String(s) => {
            let s = s.trim();
            let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let (number, suffix) = s.split_at(digits);
            let number: u64 = number.parse().map_err(|_| invalid())?;
            let multiplier: u64 = match suffix.trim() {
                "" => 1,
                "K" => 1_000,
                "Ki" => 1 << 10,
                "M" => 1_000_000,
                "Mi" => 1 << 20,
                "G" => 1_000_000_000,
                "Gi" => 1 << 30,
                "T" => 1_000_000_000_000,
                "Ti" => 1 << 40,
                "P" => 1_000_000_000_000_000,
                "Pi" => 1 << 50,
                _ => return Err(invalid()),
            };
            number.checked_mul(multiplier).ok_or_else(invalid)
        }
        _ => Err(invalid()),
    }
}

/// What identifies the code an engine generates, besides the module: its exact version and a fingerprint of every
/// setting that changes generated code (target, CPU features, fuel metering, interruption checks, …). Two engines with
/// equal identities must produce interchangeable code for the same module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeIdentity {
    /// The engine's exact version (`"48.0.8"`).
    pub version: String,
    /// Everything else that changes generated code, as one string (often a hash).
    pub fingerprint: String,
}

/// A fingerprint of anything hashable (an engine's settings, typically), as 64 hex digits: SHA-256 over what the
/// value's [`std::hash::Hash`] implementation feeds, which is stable across processes for derived implementations
/// (unlike the standard library's randomly seeded hasher).
pub fn hash_fingerprint(value: &impl std::hash::Hash) -> String {
    struct Sha256Hasher(Sha256);
    impl std::hash::Hasher for Sha256Hasher {
        fn finish(&self) -> u64 {
            unreachable!("only the SHA-256 digest is read")
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = Sha256Hasher(Sha256::new());
    value.hash(&mut hasher);
    format!("{:x}", hasher.0.finalize())
}

/// An open cache directory.
#[derive(Debug, Clone)]
pub struct CodeCache {
    config: CacheConfig,
}

/// Why an entry was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// No entry for this key.
    Missing,
    /// An entry exists but fails a check (the reason); it is never loaded.
    Invalid(String),
}

impl CodeCache {
    /// Open (creating it private, mode 0700, if needed) the cache directory `config` names. Fails if it cannot be
    /// created, or if it belongs to another user or others may write to it.
    pub fn open(config: CacheConfig) -> Result<CodeCache, Error> {
        let dir = &config.directory;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).with_context(|| format!("unable to create {}", parent.display()))?;
        }
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match builder.create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::new(e).context(format!("unable to create {}", dir.display()))),
        }
        let metadata = fs::metadata(dir).with_context(|| format!("unable to read {}", dir.display()))?;
        if !metadata.is_dir() {
            bail!("the cache directory {} is not a directory", dir.display());
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            // SAFETY: `geteuid` has no preconditions and cannot fail.
            let me = unsafe { libc::geteuid() };
            if metadata.uid() != me {
                bail!(
                    "the cache directory {} belongs to another user (uid {}): its entries would become executable \
                     code, so it is not used",
                    dir.display(),
                    metadata.uid()
                );
            }
            // A directory the cache creates is private (0700). One that already exists may be the user's own
            // (`directory = "."`), so its mode is not changed; but if others can write to it they could plant
            // entries, which become executable code: refuse it.
            if metadata.mode() & 0o022 != 0 {
                bail!(
                    "the cache directory {} is writable by other users (mode {:o}): its entries would become \
                     executable code, so it is not used",
                    dir.display(),
                    metadata.mode() & 0o777
                );
            }
        }
        Ok(CodeCache { config })
    }

    /// The cache's configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// The entry file for `engine`'s code of the module whose SHA-256 is `module_hash`.
    pub fn entry_path(&self, engine: &str, identity: &CodeIdentity, module_hash: &[u8; 32]) -> PathBuf {
        let mut key = Sha256::new();
        for part in [
            engine.as_bytes(),
            identity.version.as_bytes(),
            identity.fingerprint.as_bytes(),
        ] {
            key.update((part.len() as u64).to_le_bytes());
            key.update(part);
        }
        key.update(module_hash);
        self.config
            .directory
            .join(format!("{:x}{ENTRY_SUFFIX}", key.finalize()))
    }

    /// The payload of a valid entry (see [`Header`] for what "valid" checks); the entry counts as used now.
    pub fn load(&self, engine: &str, identity: &CodeIdentity, module_hash: &[u8; 32]) -> Result<Vec<u8>, Rejected> {
        let path = self.entry_path(engine, identity, module_hash);
        // Not through a symbolic link, not from a FIFO or device, and no larger than the whole cache may be.
        let (mut bytes, file) = match crate::modules::read_regular_file(&path, self.config.max_bytes, false) {
            Ok(read) => read,
            Err(ReadFailure::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return Err(Rejected::Missing),
            Err(e) => return Err(Rejected::Invalid(format!("unreadable: {e}"))),
        };
        let expected = Header::new(engine, identity, module_hash, &[]);
        let payload = expected.verify(&bytes).map_err(Rejected::Invalid)?;
        // Its last use, for eviction; a failure only makes it look older.
        let _ = file.set_modified(SystemTime::now());
        bytes.drain(..bytes.len() - payload);
        Ok(bytes)
    }

    /// Write an entry (temporary file, then rename), then evict what exceeds the bounds.
    pub fn store(
        &self,
        engine: &str,
        identity: &CodeIdentity,
        module_hash: &[u8; 32],
        payload: &[u8],
    ) -> Result<(), Error> {
        let path = self.entry_path(engine, identity, module_hash);
        let header = Header::new(engine, identity, module_hash, payload).encode();
        let temp = self.config.directory.join(temp_name());
        let write = || -> std::io::Result<()> {
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temp)?;
            file.write_all(&header)?;
            file.write_all(payload)?;
            drop(file);
            fs::rename(&temp, &path)
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&temp);
            return Err(Error::new(e).context(format!("unable to write the cache entry {}", path.display())));
        }
        self.evict();
        Ok(())
    }

    /// Remove an entry (an invalid one, before it is replaced).
    pub fn remove(&self, engine: &str, identity: &CodeIdentity, module_hash: &[u8; 32]) {
        let _ = fs::remove_file(self.entry_path(engine, identity, module_hash));
    }

    /// Remove the least recently used entries until the bounds hold, and temporary files left by processes that
    /// died while writing. Best effort: entries another process removes meanwhile are skipped.
    pub fn evict(&self) {
        let Ok(dir) = fs::read_dir(&self.config.directory) else {
            return;
        };
        let now = SystemTime::now();
        let mut entries = Vec::new();
        for item in dir.flatten() {
            let name = item.file_name();
            let name = name.to_string_lossy();
            let Ok(metadata) = item.metadata() else { continue };
            let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if is_temp_name(&name) {
                if now.duration_since(modified).is_ok_and(|age| age > STALE_TEMP_AGE) {
                    let _ = fs::remove_file(item.path());
                }
            } else if name.ends_with(ENTRY_SUFFIX) && metadata.is_file() {
                entries.push((modified, metadata.len(), item.path()));
            }
        }
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        let mut count = entries.len() as u64;
        if total <= self.config.max_bytes && count <= self.config.max_files {
            return;
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.2.cmp(&b.2)));
        for (_, len, path) in entries {
            if total <= self.config.max_bytes && count <= self.config.max_files {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                tracing::debug!(target: "extism::cache", "evicted {}", path.display());
            }
            total -= len;
            count -= 1;
        }
    }
}

/// A unique temporary file name in the cache directory (process id, a counter and the time, so that neither other
/// threads nor other processes pick the same one).
fn temp_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{TEMP_PREFIX}{}-{}-{nanos:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// True for the names [`temp_name`] makes (and nothing else a user may keep in a directory they named).
fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(TEMP_PREFIX) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('-').collect();
    matches!(parts[..], [pid, n, nanos]
        if pid.parse::<u32>().is_ok() && n.parse::<u64>().is_ok() && u128::from_str_radix(nanos, 16).is_ok())
}

/// The header every entry starts with, all integers little-endian:
///
/// | field | bytes |
/// |---|---|
/// | magic `EXTISMCC` | 8 |
/// | format version | 4 |
/// | engine name, version, fingerprint: each a 2-byte length and UTF-8 | variable |
/// | SHA-256 of the wasm module | 32 |
/// | payload length | 8 |
/// | SHA-256 of the payload | 32 |
///
/// followed by the payload (the engine's serialised module). An entry is valid only if every field equals what the
/// current engine expects for this module and the payload has exactly that length and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The engine's name ([`EngineApi::NAME`]).
    pub engine: String,
    /// The engine's exact version ([`CodeIdentity::version`]).
    pub version: String,
    /// The engine's code-generation fingerprint ([`CodeIdentity::fingerprint`]).
    pub fingerprint: String,
    /// SHA-256 of the wasm module the payload was compiled from.
    pub module_hash: [u8; 32],
    /// The payload's length in bytes.
    pub payload_len: u64,
    /// SHA-256 of the payload.
    pub payload_hash: [u8; 32],
}

impl Header {
    /// The header of an entry holding `payload`.
    pub fn new(engine: &str, identity: &CodeIdentity, module_hash: &[u8; 32], payload: &[u8]) -> Header {
        Header {
            engine: engine.to_string(),
            version: identity.version.clone(),
            fingerprint: identity.fingerprint.clone(),
            module_hash: *module_hash,
            payload_len: payload.len() as u64,
            payload_hash: Sha256::digest(payload).into(),
        }
    }

    /// The header's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        for field in [&self.engine, &self.version, &self.fingerprint] {
            let len = u16::try_from(field.len()).expect("header fields are short");
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out.extend_from_slice(&self.module_hash);
        out.extend_from_slice(&self.payload_len.to_le_bytes());
        out.extend_from_slice(&self.payload_hash);
        out
    }

    /// Split an entry into its header and payload, checking its structure: magic, format, complete fields, and a
    /// payload of exactly the recorded length and SHA-256. Says what is wrong otherwise.
    pub fn parse(entry: &[u8]) -> Result<(Header, &[u8]), String> {
        let mut rest = entry;
        let mut take = |n: usize, what: &str| -> Result<&[u8], String> {
            if rest.len() < n {
                return Err(format!("truncated in its {what}"));
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        if take(MAGIC.len(), "magic")? != MAGIC {
            return Err("not a cache entry (wrong magic)".to_string());
        }
        let format = u32::from_le_bytes(take(4, "format")?.try_into().expect("4 bytes"));
        if format != FORMAT_VERSION {
            return Err(format!("entry format {format}, expected {FORMAT_VERSION}"));
        }
        let mut text = |what: &str| -> Result<String, String> {
            let len = u16::from_le_bytes(take(2, what)?.try_into().expect("2 bytes"));
            String::from_utf8(take(usize::from(len), what)?.to_vec()).map_err(|_| format!("its {what} is not UTF-8"))
        };
        let engine = text("engine")?;
        let version = text("version")?;
        let fingerprint = text("fingerprint")?;
        let module_hash: [u8; 32] = take(32, "module hash")?.try_into().expect("32 bytes");
        let payload_len = u64::from_le_bytes(take(8, "length")?.try_into().expect("8 bytes"));
        let payload_hash: [u8; 32] = take(32, "payload hash")?.try_into().expect("32 bytes");
        if rest.len() as u64 != payload_len {
            return Err(format!(
                "payload of {} bytes, its header says {payload_len}",
                rest.len()
            ));
        }
        if Sha256::digest(rest).as_slice() != payload_hash {
            return Err("payload does not match its hash (corrupt)".to_string());
        }
        let header = Header {
            engine,
            version,
            fingerprint,
            module_hash,
            payload_len,
            payload_hash,
        };
        Ok((header, rest))
    }

    /// Check `entry` (header and payload, see [`Header::parse`]) against this header's engine, version, fingerprint
    /// and module; returns the payload's length (the payload is the entry's tail) or why the entry is invalid.
    pub fn verify(&self, entry: &[u8]) -> Result<usize, String> {
        let (found, payload) = Header::parse(entry)?;
        for (what, found, expected) in [
            ("engine", &found.engine, &self.engine),
            ("version", &found.version, &self.version),
            ("fingerprint", &found.fingerprint, &self.fingerprint),
        ] {
            if found != expected {
                return Err(format!("compiled by another {what}: {found:?}, expected {expected:?}"));
            }
        }
        if found.module_hash != self.module_hash {
            return Err("compiled from another module".to_string());
        }
        Ok(payload.len())
    }
}

/// Compile `wasm` through `cache`: load the engine's code for it if a valid entry exists, else compile with
/// `compile` and store the result. Cache failures never fail the compilation: they are logged (target
/// `extism::cache`) and the module is compiled.
pub(crate) fn compile_cached<B: EngineApi>(
    cache: Option<&CodeCache>,
    engine: &B::Engine,
    wasm: &[u8],
    compile: impl FnOnce(&[u8]) -> Result<B::Module, Error>,
) -> Result<B::Module, Error> {
    compile_keyed::<B>(cache, engine, || Sha256::digest(wasm).into(), || compile(wasm))
}

/// [`compile_cached`] for code made from more than the bytes compiled, such as a module the core rewrites before
/// compiling it: `key` names the entry (a SHA-256 of everything that decides the code; computed only when there is a
/// cache), and `compile` makes the module on a miss, so that a hit skips the work that precedes compilation too.
pub(crate) fn compile_keyed<B: EngineApi>(
    cache: Option<&CodeCache>,
    engine: &B::Engine,
    key: impl FnOnce() -> [u8; 32],
    compile: impl FnOnce() -> Result<B::Module, Error>,
) -> Result<B::Module, Error> {
    let Some((cache, identity)) = cache.zip(B::code_identity(engine)) else {
        return compile();
    };
    let module_hash = key();
    match cache.load(B::NAME, &identity, &module_hash) {
        Ok(payload) => {
            // SAFETY: the entry's header matched this engine's name, exact version and code-generation fingerprint
            // and this module's hash, and the payload its recorded length and SHA-256; the entry sits in a directory
            // private to this user, where only this code writes (whole entries, renamed into place). So the payload
            // is what `B::serialize` produced for this module on an engine that generates the same code.
            match unsafe { B::deserialize(engine, &payload) } {
                Ok(module) => return Ok(module),
                Err(e) => {
                    tracing::warn!(target: "extism::cache", "{} cache entry not loadable, recompiling: {e:#}", B::NAME);
                    cache.remove(B::NAME, &identity, &module_hash);
                }
            }
        }
        Err(Rejected::Missing) => {}
        Err(Rejected::Invalid(reason)) => {
            tracing::warn!(target: "extism::cache", "invalid {} cache entry replaced: {reason}", B::NAME);
            cache.remove(B::NAME, &identity, &module_hash);
        }
    }
    let module = compile()?;
    match B::serialize(engine, &module) {
        Ok(Some(payload)) => {
            if let Err(e) = cache.store(B::NAME, &identity, &module_hash, &payload) {
                tracing::warn!(target: "extism::cache", "{e:#}");
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(target: "extism::cache", "unable to serialise a {} module: {e:#}", B::NAME),
    }
    Ok(module)
}

/// Open the cache `config` describes. A directory that cannot be used only turns the cache off, with a warning: a
/// cache must never stop a plug-in from being created. (Configuration errors fail earlier, in
/// [`CacheSetting::resolve`]: the user asked for that file.)
pub(crate) fn open(config: CacheConfig) -> Option<CodeCache> {
    match CodeCache::open(config) {
        Ok(cache) => Some(cache),
        Err(e) => {
            tracing::warn!(target: "extism::cache", "compilation cache off: {e:#}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> CodeIdentity {
        CodeIdentity {
            version: "1.2.3".to_string(),
            fingerprint: "fp".to_string(),
        }
    }

    fn entry(payload: &[u8]) -> Vec<u8> {
        let mut bytes = Header::new("engine", &identity(), &[7; 32], payload).encode();
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn a_valid_entry_verifies() {
        let header = Header::new("engine", &identity(), &[7; 32], &[]);
        assert_eq!(header.verify(&entry(b"code")), Ok(4));
    }

    #[test]
    fn every_mismatch_is_rejected() {
        let expected = Header::new("engine", &identity(), &[7; 32], &[]);
        let good = entry(b"some code");
        // Every truncation, including in the header.
        for len in 0..good.len() {
            assert!(expected.verify(&good[..len]).is_err(), "truncated to {len} bytes");
        }
        // Every single-byte corruption.
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            assert!(expected.verify(&bad).is_err(), "byte {i} flipped");
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(expected.verify(&longer).is_err());
        let other_version = CodeIdentity {
            version: "1.2.4".to_string(),
            ..identity()
        };
        let err = Header::new("engine", &other_version, &[7; 32], &[])
            .verify(&good)
            .unwrap_err();
        assert!(err.contains("another version"), "{err}");
        let err = Header::new("other", &identity(), &[7; 32], &[])
            .verify(&good)
            .unwrap_err();
        assert!(err.contains("another engine"), "{err}");
        let err = Header::new("engine", &identity(), &[8; 32], &[])
            .verify(&good)
            .unwrap_err();
        assert!(err.contains("another module"), "{err}");
    }

    #[test]
    fn upstream_configuration_files_parse() {
        let base = Path::new("/etc/extism");
        let config = CacheConfig::parse(
            "[cache]\nenabled = true\ndirectory = \"/tmp/x\"\ncleanup-interval = \"1d\"\n\
             files-total-size-soft-limit = \"2Mi\"\nfile-count-soft-limit = 10\nbaseline-compression-level = 3\n",
            base,
        )
        .unwrap()
        .unwrap();
        assert_eq!(config.directory, Path::new("/tmp/x"));
        assert_eq!(config.max_bytes, 2 << 20);
        assert_eq!(config.max_files, 10);
        let relative = CacheConfig::parse("[cache]\ndirectory = \"cache\"\n", base)
            .unwrap()
            .unwrap();
        assert_eq!(relative.directory, base.join("cache"));
        assert_eq!(relative.max_bytes, DEFAULT_MAX_BYTES);
        assert_eq!(CacheConfig::parse("[cache]\nenabled = false\n", base).unwrap(), None);
        let err = CacheConfig::parse("[cache]\ndirectory = \"/x\"\ncolour = 1\n", base).unwrap_err();
        assert!(err.to_string().contains("unknown key `colour`"), "{err}");
        let err = CacheConfig::parse(
            "[cache]\ndirectory = \"/x\"\nfiles-total-size-soft-limit = \"9Q\"\n",
            base,
        )
        .unwrap_err();
        assert!(err.to_string().contains("files-total-size-soft-limit"), "{err}");
        assert_eq!(parse_size(&toml::Value::String("3G".into())).unwrap(), 3_000_000_000);
        assert_eq!(parse_size(&toml::Value::Integer(5)).unwrap(), 5);
    }
}
