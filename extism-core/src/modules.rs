//! Turning a manifest's `wasm` entries into named module bytes: reading files, downloading URLs, checking hashes,
//! converting WAT, and applying the naming rules (one module is `main`; a module named `extism:host/env` would collide
//! with the kernel; duplicate names are errors).

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Error, bail};
use sha2::{Digest, Sha256};

use crate::manifest::{Manifest, Wasm};
use crate::{EXTISM_ENV_MODULE, MAIN_MODULE};

/// One module of a plug-in, ready to compile.
#[derive(Debug, Clone)]
pub struct NamedModule {
    /// The name other modules import it by (`main` for the main module).
    pub name: String,
    /// Binary wasm.
    pub wasm: Vec<u8>,
}

/// Load every module of `manifest` and name it. The main module is last in the result.
pub fn load_modules(manifest: &Manifest) -> Result<Vec<NamedModule>, Error> {
    if manifest.wasm.is_empty() {
        bail!("No wasm files specified in Extism manifest");
    }
    let count = manifest.wasm.len();
    let mut seen = HashSet::new();
    seen.insert(EXTISM_ENV_MODULE.to_string());
    let mut modules = Vec::with_capacity(count);
    for (index, entry) in manifest.wasm.iter().enumerate() {
        let is_last = index + 1 == count;
        let name = if count == 1 || (is_last && !seen.contains(MAIN_MODULE)) {
            MAIN_MODULE.to_string()
        } else {
            entry.meta().name.clone().unwrap_or_else(|| MAIN_MODULE.to_string())
        };
        if !seen.insert(name.clone()) {
            bail!("Duplicate module name found in Extism manifest: {name}");
        }
        let bytes = fetch(entry)?;
        if let Some(expected) = &entry.meta().hash {
            let actual = format!("{:x}", Sha256::digest(&bytes));
            if &actual != expected {
                bail!("Hash mismatch, found {actual} but expected {expected}");
            }
        }
        let wasm = to_binary(bytes).with_context(|| format!("invalid module `{name}`"))?;
        modules.push(NamedModule { name, wasm });
    }
    // Dependencies are linked before the main module, so keep `main` last.
    let main = modules
        .iter()
        .position(|m| m.name == MAIN_MODULE)
        .expect("naming always yields a main module");
    let main = modules.remove(main);
    modules.push(main);
    Ok(modules)
}

/// WAT text becomes binary wasm; everything else is handed to the engine as it is.
fn to_binary(bytes: Vec<u8>) -> Result<Vec<u8>, Error> {
    if crate::input::looks_like_wat(&bytes) {
        let text = std::str::from_utf8(&bytes).expect("looks_like_wat checked UTF-8");
        return wat::parse_str(text).map_err(|e| Error::msg(format!("invalid WAT: {e}")));
    }
    Ok(bytes)
}

fn fetch(entry: &Wasm) -> Result<Vec<u8>, Error> {
    match entry {
        Wasm::Data { data, .. } => Ok(data.clone()),
        Wasm::File { path, .. } => read_module_file(path),
        Wasm::Url { req, .. } => download(req),
    }
}

/// Largest module accepted from a file or a URL (1 GiB), so that a manifest entry cannot make the host read without
/// end (`/dev/zero`) or exhaust its memory.
pub const MAX_MODULE_BYTES: u64 = 1 << 30;

/// Read a manifest `path` entry: a regular file (not a device, FIFO or socket, which could block or never end) of
/// at most [`MAX_MODULE_BYTES`]. Public for tools that read a module or manifest a user names with the same bounds
/// (the `extism` command).
pub fn read_module_file(path: &Path) -> Result<Vec<u8>, Error> {
    read_regular_file(path, MAX_MODULE_BYTES, true)
        .map(|(bytes, _)| bytes)
        .map_err(|e| {
            let reason = match e {
                ReadFailure::TooLarge(limit) => format!("larger than the {limit}-byte limit for a module"),
                other => other.to_string(),
            };
            Error::msg(format!("Unable to load Wasm file \"{}\": {reason}", path.display()))
        })
}

/// Why [`read_regular_file`] read nothing.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// Opening or reading failed (not found, permissions, a symbolic link where none is followed, …).
    Io(std::io::Error),
    /// The path names a device, FIFO, socket or directory.
    NotRegular,
    /// Larger than the limit.
    TooLarge(u64),
}

impl std::fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadFailure::Io(e) => write!(f, "{}", e.kind()),
            ReadFailure::NotRegular => f.write_str("not a regular file"),
            ReadFailure::TooLarge(limit) => write!(f, "larger than the {limit}-byte limit"),
        }
    }
}

/// Read the regular file `path` whole if it holds at most `limit` bytes, with the file it was read from (for its
/// metadata). Never blocks on a FIFO (it is opened non-blocking, and the type check refuses it) and never reads
/// without end (`/dev/zero`); with `follow_symlinks` false, a symbolic link in the last component is refused.
pub(crate) fn read_regular_file(
    path: &Path,
    limit: u64,
    follow_symlinks: bool,
) -> Result<(Vec<u8>, std::fs::File), ReadFailure> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        let no_follow = if follow_symlinks { 0 } else { libc::O_NOFOLLOW };
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK | no_follow);
    }
    #[cfg(not(unix))]
    let _ = follow_symlinks;
    let file = options.open(path).map_err(ReadFailure::Io)?;
    // The type and size of what was opened, not of what the path names now.
    let metadata = file.metadata().map_err(ReadFailure::Io)?;
    if !metadata.is_file() {
        return Err(ReadFailure::NotRegular);
    }
    if metadata.len() > limit {
        return Err(ReadFailure::TooLarge(limit));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    // One byte over the limit is read to notice a file that grew after `metadata`.
    (&file)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadFailure::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadFailure::TooLarge(limit));
    }
    Ok((bytes, file))
}

#[cfg(feature = "register-http")]
fn download(req: &crate::manifest::HttpRequest) -> Result<Vec<u8>, Error> {
    let method = req.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
    let mut request = ureq::http::Request::builder().method(method.as_str()).uri(&req.url);
    for (k, v) in &req.headers {
        request = request.header(k, v);
    }
    let request = request
        .body(())
        .with_context(|| format!("invalid request for wasm module at {}", req.url))?;
    let response = ureq::run(request).with_context(|| format!("unable to download wasm module from {}", req.url))?;
    let mut body = response.into_body();
    body.with_config()
        .limit(MAX_MODULE_BYTES)
        .read_to_vec()
        .with_context(|| format!("unable to read wasm module from {}", req.url))
}

#[cfg(not(feature = "register-http"))]
fn download(_req: &crate::manifest::HttpRequest) -> Result<Vec<u8>, Error> {
    bail!("HTTP registration is disabled")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &[u8] = b"\0asm\x01\0\0\0";

    fn names(m: &Manifest) -> Result<Vec<String>, String> {
        load_modules(m)
            .map(|v| v.into_iter().map(|m| m.name).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn naming_rules() {
        let one = Manifest::new([Wasm::data(EMPTY).with_name("x")]);
        assert_eq!(names(&one).unwrap(), ["main"]);
        let two = Manifest::new([Wasm::data(EMPTY).with_name("a"), Wasm::data(EMPTY).with_name("b")]);
        assert_eq!(names(&two).unwrap(), ["a", "main"]);
        let named_main = Manifest::new([Wasm::data(EMPTY).with_name("main"), Wasm::data(EMPTY).with_name("b")]);
        assert_eq!(names(&named_main).unwrap(), ["b", "main"]);
        let two_unnamed = Manifest::new([Wasm::data(EMPTY), Wasm::data(EMPTY)]);
        assert_eq!(
            names(&two_unnamed).unwrap_err(),
            "Duplicate module name found in Extism manifest: main"
        );
        let kernel = Manifest::new([Wasm::data(EMPTY).with_name(EXTISM_ENV_MODULE), Wasm::data(EMPTY)]);
        assert_eq!(
            names(&kernel).unwrap_err(),
            "Duplicate module name found in Extism manifest: extism:host/env"
        );
        assert_eq!(
            names(&Manifest::default()).unwrap_err(),
            "No wasm files specified in Extism manifest"
        );
    }

    #[test]
    fn hashes_and_files() {
        let hash = format!("{:x}", Sha256::digest(EMPTY));
        assert!(load_modules(&Manifest::new([Wasm::data(EMPTY).with_hash(hash.clone())])).is_ok());
        let err = load_modules(&Manifest::new([Wasm::data(EMPTY).with_hash("00")])).unwrap_err();
        assert_eq!(err.to_string(), format!("Hash mismatch, found {hash} but expected 00"));
        let err = load_modules(&Manifest::new([Wasm::file("/definitely/not/here.wasm")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unable to load Wasm file \"/definitely/not/here.wasm\": entity not found"
        );
    }
}
