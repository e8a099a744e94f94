//! Where the runtime's log events go: a callback, a file, stdout or stderr, or an in-memory buffer drained later.
//!
//! Plug-in logs (the `log_*` imports) and the runtime's own diagnostics are `tracing` events under the `extism`
//! target (plug-in logs under `extism::pdk`, with the plug-in's id in the `plugin` field). An application with its
//! own `tracing` subscriber sees them there and needs nothing from this module. The functions here install a
//! process-wide subscriber for applications that have none (Rust's `set_log_callback`, and the C library's
//! `extism_log_file` and `extism_log_custom`), so each fails when a global subscriber is already installed: there is
//! only one per process.
//!
//! Filters follow upstream: a bare level name (`"info"`, `"TRACE"`, …) means that level for the runtime's events
//! only (the directive `extism=<level>`); anything else is a list of `tracing-subscriber` `EnvFilter` directives
//! (`"extism=debug,my_app=info"`), invalid ones ignored with a warning on stderr; an empty filter means errors only.
//! The `RUST_LOG` environment variable is not read.
//!
//! Unlike upstream, the log callback must be `Send + Sync` (events arrive on whichever thread logged them), and a
//! drain handler may itself log without deadlocking (lines logged meanwhile wait for the next drain).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Error, anyhow};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The filter used when none is given: errors only.
pub const DEFAULT_LOG_FILTER: &str = "error";

/// Send every formatted log line (with its trailing newline, without colours) to `func`.
///
/// Installs the process-wide `tracing` subscriber, filtered by `filter` (see the [module docs](self)); fails if a
/// global subscriber is already installed.
pub fn set_log_callback<F>(func: F, filter: &str) -> Result<(), Error>
where
    F: Fn(&str) + Send + Sync + 'static,
{
    let func = Arc::new(func);
    install(filter, false, move || CallbackWriter(Arc::clone(&func)))
}

/// Write log lines to `destination`: `None`, `"stderr"` or `"-"` for stderr, `"stdout"` for stdout (both with
/// colours), anything else names a file that is created if needed and appended to (without colours).
///
/// `filter` defaults to `"error"` (see the [module docs](self)). Installs the process-wide `tracing` subscriber;
/// fails if one is already installed or the file cannot be opened.
pub fn set_log_file(destination: Option<&str>, filter: Option<&str>) -> Result<(), Error> {
    let filter = filter.unwrap_or(DEFAULT_LOG_FILTER);
    match Destination::parse(destination) {
        Destination::Stderr => install(filter, true, std::io::stderr),
        Destination::Stdout => install(filter, true, std::io::stdout),
        Destination::File(path) => install(filter, false, open_log_file(&path)?),
    }
}

/// Keep log lines in memory until [`drain_logs`] hands them out.
///
/// `filter` defaults to `"error"` (see the [module docs](self)). Installs the process-wide `tracing` subscriber;
/// fails if one is already installed. Lines accumulate without bound until drained.
pub fn set_log_buffer(filter: Option<&str>) -> Result<(), Error> {
    let buffer: &'static LogBuffer = &BUFFER;
    install(filter.unwrap_or(DEFAULT_LOG_FILTER), false, move || {
        BufferWriter(buffer)
    })
}

/// Hand every line buffered since the last drain to `handler`, oldest first, and empty the buffer. Does nothing
/// unless [`set_log_buffer`] installed the buffer.
pub fn drain_logs(handler: impl FnMut(&LogLine)) {
    BUFFER.drain(handler);
}

/// One formatted log line from the in-memory buffer.
///
/// The text keeps its trailing newline. It is stored followed by a NUL byte so that the C API can pass it out
/// without copying.
#[derive(Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The line's UTF-8 text and one terminating NUL.
    bytes: Box<[u8]>,
}

impl LogLine {
    fn new(text: &[u8]) -> LogLine {
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(String::from_utf8_lossy(text).as_bytes());
        bytes.push(0);
        LogLine { bytes: bytes.into() }
    }

    /// The line's text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.text()).expect("LogLine holds UTF-8 by construction")
    }

    /// The line's text followed by a NUL byte: a C string (the text itself may contain NULs if a plug-in logged
    /// them, so pass [`LogLine::len`] along with it).
    pub fn as_bytes_with_nul(&self) -> &[u8] {
        &self.bytes
    }

    /// Length of the text in bytes, without the NUL.
    pub fn len(&self) -> usize {
        self.bytes.len() - 1
    }

    /// True for an empty line.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn text(&self) -> &[u8] {
        &self.bytes[..self.len()]
    }
}

impl std::fmt::Debug for LogLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LogLine").field(&self.as_str()).finish()
    }
}

/// The filter for a user's filter text (see the module docs).
pub(crate) fn env_filter(filter: &str) -> EnvFilter {
    let builder = EnvFilter::builder().with_default_directive(tracing::Level::ERROR.into());
    if tracing::Level::from_str(filter).is_ok() {
        builder.parse_lossy(format!("extism={filter}"))
    } else {
        builder.parse_lossy(filter)
    }
}

/// Install the global subscriber: `filter` decides which events are formatted, `writer` receives each line.
fn install<W>(filter: &str, ansi: bool, writer: W) -> Result<(), Error>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing::subscriber::set_global_default(subscriber(filter, ansi, writer))
        .map_err(|e| anyhow!("unable to install the log subscriber: {e}"))
}

/// The subscriber every sink uses: one formatted line per event, ANSI colours only for terminals. Whatever the
/// colour setting, escape sequences inside logged text are neutralised, so a plug-in cannot drive the terminal.
fn subscriber<W>(filter: &str, ansi: bool, writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(env_filter(filter))
        .with_ansi(ansi)
        .with_writer(writer)
        .finish()
}

/// Open (creating it if needed) a log file for appending.
fn open_log_file(path: &Path) -> Result<Mutex<File>, Error> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow!("unable to open log file {}: {e}", path.display()))?;
    // One lock per line keeps lines from different threads whole.
    Ok(Mutex::new(file))
}

/// Where [`set_log_file`] writes.
#[derive(Debug, PartialEq, Eq)]
enum Destination {
    Stderr,
    Stdout,
    File(PathBuf),
}

impl Destination {
    fn parse(name: Option<&str>) -> Destination {
        match name {
            None | Some("stderr") | Some("-") => Destination::Stderr,
            Some("stdout") => Destination::Stdout,
            Some(path) => Destination::File(PathBuf::from(path)),
        }
    }
}

/// Hands each line to the user's callback. The formatter writes a whole line in one `write` call.
struct CallbackWriter<F>(Arc<F>);

impl<F: Fn(&str)> Write for CallbackWriter<F> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        (self.0)(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The process's log buffer, filled once [`set_log_buffer`] installed it.
static BUFFER: LogBuffer = LogBuffer::new();

/// Lines waiting for [`drain_logs`].
struct LogBuffer {
    lines: Mutex<VecDeque<LogLine>>,
}

impl LogBuffer {
    const fn new() -> LogBuffer {
        LogBuffer {
            lines: Mutex::new(VecDeque::new()),
        }
    }

    fn push(&self, text: &[u8]) {
        let line = LogLine::new(text);
        // A handler that panicked cannot have left the queue half-changed: keep logging.
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(line);
    }

    fn drain(&self, mut handler: impl FnMut(&LogLine)) {
        // Take the lines out before calling the handler, so that a handler that logs does not deadlock on the lock.
        let lines = std::mem::take(&mut *self.lines.lock().unwrap_or_else(PoisonError::into_inner));
        for line in &lines {
            handler(line);
        }
    }
}

/// Appends each line to a [`LogBuffer`].
struct BufferWriter(&'static LogBuffer);

impl Write for BufferWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Sinks tested with thread-local subscribers (`tracing::subscriber::with_default`), which leave the process's
    //! global subscriber free; the global installation itself is tested in the `logging` test binaries.

    use super::*;
    use tracing::subscriber::with_default;

    fn buffered(filter: &str) -> (&'static LogBuffer, impl tracing::Subscriber + Send + Sync + 'static) {
        let buffer: &'static LogBuffer = Box::leak(Box::new(LogBuffer::new()));
        (buffer, subscriber(filter, false, move || BufferWriter(buffer)))
    }

    fn drained(buffer: &LogBuffer) -> Vec<String> {
        let mut lines = Vec::new();
        buffer.drain(|line| lines.push(line.as_str().to_string()));
        lines
    }

    #[test]
    fn a_bare_level_applies_to_the_runtime_only() {
        let (buffer, sub) = buffered("info");
        with_default(sub, || {
            tracing::info!(target: "extism::pdk", plugin = "p1", "shown");
            tracing::debug!(target: "extism::pdk", "too detailed");
            tracing::error!(target: "other_crate", "not ours");
        });
        let lines = drained(buffer);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains(" INFO extism::pdk: shown plugin=\"p1\"\n"),
            "{lines:?}"
        );
    }

    #[test]
    fn directives_and_the_default() {
        let (buffer, sub) = buffered("other_crate=warn");
        with_default(sub, || {
            tracing::warn!(target: "other_crate", "theirs");
            tracing::error!(target: "extism::pdk", "ours, not selected");
        });
        let lines = drained(buffer);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("theirs"));

        let (buffer, sub) = buffered("");
        with_default(sub, || {
            tracing::warn!(target: "anything", "below the default");
            tracing::error!(target: "anything", "errors pass by default");
        });
        let lines = drained(buffer);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("errors pass by default"));
    }

    #[test]
    fn drain_delivers_in_order_then_empties() {
        let (buffer, sub) = buffered("trace");
        with_default(sub, || {
            for i in 0..3 {
                tracing::info!(target: "extism", "line {i}");
            }
        });
        let mut lines = Vec::new();
        buffer.drain(|line| {
            assert_eq!(line.as_bytes_with_nul().last(), Some(&0));
            assert_eq!(line.as_bytes_with_nul().len(), line.len() + 1);
            lines.push(line.as_str().to_string());
        });
        assert_eq!(lines.len(), 3);
        for (i, line) in lines.iter().enumerate() {
            assert!(line.ends_with(&format!("line {i}\n")), "{line}");
        }
        assert!(drained(buffer).is_empty());
    }

    #[test]
    fn a_drain_handler_may_log() {
        let (buffer, sub) = buffered("info");
        with_default(sub, || {
            tracing::info!(target: "extism", "first");
            buffer.drain(|_| tracing::info!(target: "extism", "logged while draining"));
            let lines = drained(buffer);
            assert_eq!(lines.len(), 1);
            assert!(lines[0].contains("logged while draining"));
        });
    }

    #[test]
    fn plug_in_text_cannot_drive_the_terminal() {
        let (buffer, sub) = buffered("info");
        with_default(
            sub,
            || tracing::info!(target: "extism::pdk", "{}", "red \u{1b}[31m text"),
        );
        let lines = drained(buffer);
        assert!(!lines[0].contains('\u{1b}'), "{lines:?}");
    }

    #[test]
    fn destination_names() {
        assert_eq!(Destination::parse(None), Destination::Stderr);
        assert_eq!(Destination::parse(Some("stderr")), Destination::Stderr);
        assert_eq!(Destination::parse(Some("-")), Destination::Stderr);
        assert_eq!(Destination::parse(Some("stdout")), Destination::Stdout);
        assert_eq!(
            Destination::parse(Some("/tmp/x.log")),
            Destination::File(PathBuf::from("/tmp/x.log"))
        );
    }

    #[test]
    fn file_lines_are_appended_without_colours() {
        let path = std::env::temp_dir().join(format!("extism-log-test-{}.log", std::process::id()));
        std::fs::write(&path, "existing\n").unwrap();
        with_default(subscriber("debug", false, open_log_file(&path).unwrap()), || {
            tracing::debug!(target: "extism::pdk", plugin = "abc", "to the file");
        });
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(text.starts_with("existing\n"), "{text}");
        assert!(
            text.contains("DEBUG extism::pdk: to the file plugin=\"abc\"\n"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "no ANSI escapes in files: {text:?}");
    }

    #[test]
    fn an_unopenable_log_file_is_an_error() {
        let e = open_log_file(Path::new("/nonexistent-dir/x.log")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("unable to open log file /nonexistent-dir/x.log"),
            "{e}"
        );
    }
}
