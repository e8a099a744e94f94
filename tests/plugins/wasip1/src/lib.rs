//! `wasip1.wasm`: a plug-in built for `wasm32-wasip1`, whose exports use the
//! Rust standard library's WASI-backed features (files, stdio, environment,
//! arguments, exit, clocks, randomness) so that the runtime's WASI can be
//! checked from a real guest. Paths are guest paths, as the preopens name them.
//!
//! Export names avoid the C library's (`exit`, `rename`, `clock`, `random`):
//! wasi-libc is linked into the same module, and an export of that name would
//! clash with it or, worse, replace it.
//!
//! File-system failures are returned as errors whose message is
//! `{operation} {path}: {ErrorKind:?}`, so that tests can tell "refused" from
//! "not found" without depending on the host's error texts.

use std::io::{Read, Write};

use extism_pdk::{plugin_fn, Error, FnResult};

/// The error of a failed file-system operation.
fn failed(operation: &str, path: &str, e: std::io::Error) -> Error {
    Error::msg(format!("{operation} {path}: {:?}", e.kind()))
}

/// Splits `a=b` at the first `=`.
fn pair<'a>(operation: &str, input: &'a str) -> FnResult<(&'a str, &'a str)> {
    Ok(input
        .split_once('=')
        .ok_or_else(|| Error::msg(format!("{operation}: input must be `a=b`")))?)
}

/// Input: a path. Output: the file's bytes.
#[plugin_fn]
pub fn read_file(path: String) -> FnResult<Vec<u8>> {
    Ok(std::fs::read(&path).map_err(|e| failed("read_file", &path, e))?)
}

/// Input: `path=contents`. Creates or truncates the file and writes the
/// contents.
#[plugin_fn]
pub fn write_file(input: String) -> FnResult<()> {
    let (path, contents) = pair("write_file", &input)?;
    Ok(std::fs::write(path, contents).map_err(|e| failed("write_file", path, e))?)
}

/// Input: `path=contents`. Opens an existing file for appending (no create,
/// no truncate) and appends the contents.
#[plugin_fn]
pub fn append_file(input: String) -> FnResult<()> {
    let (path, contents) = pair("append_file", &input)?;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| failed("append_file", path, e))?;
    Ok(file
        .write_all(contents.as_bytes())
        .map_err(|e| failed("append_file", path, e))?)
}

/// Input: a path. Opens the file for reading only and sets its modification
/// time to one second after the Unix epoch: a change made through a
/// descriptor that was never opened for writing.
#[plugin_fn]
pub fn touch_file(path: String) -> FnResult<()> {
    let file = std::fs::File::open(&path).map_err(|e| failed("touch_file", &path, e))?;
    let times = std::fs::FileTimes::new()
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1));
    Ok(file
        .set_times(times)
        .map_err(|e| failed("touch_file", &path, e))?)
}

/// Input: a path. Removes the file.
#[plugin_fn]
pub fn remove_file(path: String) -> FnResult<()> {
    Ok(std::fs::remove_file(&path).map_err(|e| failed("remove_file", &path, e))?)
}

/// Input: a path. Creates the directory.
#[plugin_fn]
pub fn create_dir(path: String) -> FnResult<()> {
    Ok(std::fs::create_dir(&path).map_err(|e| failed("create_dir", &path, e))?)
}

/// Input: `from=to`. Renames a file or directory.
#[plugin_fn]
pub fn rename_path(input: String) -> FnResult<()> {
    let (from, to) = pair("rename_path", &input)?;
    Ok(std::fs::rename(from, to).map_err(|e| failed("rename_path", from, e))?)
}

/// Input: a directory path. Output: the names of its entries, sorted, one per
/// line.
#[plugin_fn]
pub fn list_dir(path: String) -> FnResult<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&path).map_err(|e| failed("list_dir", &path, e))? {
        let entry = entry.map_err(|e| failed("list_dir", &path, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names.join("\n"))
}

/// Writes the input to stdout and then to stderr, flushing both.
#[plugin_fn]
pub fn print(input: Vec<u8>) -> FnResult<()> {
    let mut stdout = std::io::stdout();
    stdout.write_all(&input)?;
    stdout.flush()?;
    let mut stderr = std::io::stderr();
    stderr.write_all(&input)?;
    stderr.flush()?;
    Ok(())
}

/// Output: everything on stdin, which a runtime gives as empty.
#[plugin_fn]
pub fn read_stdin() -> FnResult<Vec<u8>> {
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input)?;
    Ok(input)
}

/// Output: `{"env":[["KEY","value"],…],"args":["…",…]}`, what the plug-in
/// sees of its environment variables and command-line arguments.
#[plugin_fn]
pub fn env_and_args() -> FnResult<String> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let args: Vec<String> = std::env::args().collect();
    Ok(serde_json::json!({ "env": env, "args": args }).to_string())
}

/// Input: a decimal exit code. Sets the output to `exiting with {code}`, then
/// calls `std::process::exit` with the code, so the export never returns.
#[plugin_fn]
pub fn exit_with(code: String) -> FnResult<()> {
    let code: i32 = code
        .trim()
        .parse()
        .map_err(|e| Error::msg(format!("exit_with: not a decimal i32: {e}")))?;
    extism_pdk::output(format!("exiting with {code}"))?;
    std::process::exit(code)
}

/// Output: the wall-clock time in whole seconds since the Unix epoch. Fails
/// unless the monotonic clock moves forward across a short busy loop.
#[plugin_fn]
pub fn clock_now() -> FnResult<String> {
    let start = std::time::Instant::now();
    let mut later = std::time::Instant::now();
    for _ in 0..1_000_000 {
        later = std::time::Instant::now();
        if later > start {
            break;
        }
    }
    if later <= start {
        return Err(Error::msg("clock: the monotonic clock does not advance").into());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| Error::msg(format!("clock: before the epoch: {e}")))?;
    Ok(now.as_secs().to_string())
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    /// WASI's `random_get(buf, len) -> errno`, called directly: the standard
    /// library exposes no random bytes of its own.
    #[link_name = "random_get"]
    fn wasi_random_get(buf: *mut u8, len: usize) -> u16;
}

/// Output: 32 bytes from WASI's `random_get`, as lowercase hex.
#[plugin_fn]
pub fn random_bytes() -> FnResult<String> {
    let mut bytes = [0u8; 32];
    // SAFETY: `bytes` is a live, writable buffer of exactly the length passed.
    let errno = unsafe { wasi_random_get(bytes.as_mut_ptr(), bytes.len()) };
    if errno != 0 {
        return Err(Error::msg(format!("random: random_get returned errno {errno}")).into());
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
