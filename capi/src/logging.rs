//! Where the runtime's log events go when a C program asks: a file, stdout or stderr, or an in-memory buffer that
//! `extism_log_drain` empties.
//!
//! The interface (`set_log_file`, `set_log_buffer`, `drain_logs`, `LogLine`) is the one the runtime's own logging
//! module offers, so that this file can give way to it without touching the C entry points in `log.rs`.
//!
//! Filters follow upstream: a bare level name (`"info"`) means that level for the runtime's events only (the
//! directive `extism=info`); anything else is a list of `EnvFilter` directives; the default is errors only.
//! `RUST_LOG` is not read. There is one global subscriber per process, so each setup fails if one already exists.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::Write;
use std::str::FromStr;
use std::sync::Mutex;

use anyhow::{Error, anyhow};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The filter used when none is given: errors only.
pub(crate) const DEFAULT_LOG_FILTER: &str = "error";

/// Write log lines to `destination`: `None`, `"stderr"` or `"-"` for stderr, `"stdout"` for stdout (both with ANSI
/// colours), anything else names a file that is created if needed and appended to (without colours).
pub(crate) fn set_log_file(destination: Option<&str>, filter: Option<&str>) -> Result<(), Error> {
    let filter = filter.unwrap_or(DEFAULT_LOG_FILTER);
    match destination.unwrap_or("stderr") {
        "stderr" | "-" => install(filter, true, std::io::stderr),
        "stdout" => install(filter, true, std::io::stdout),
        path => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow!("unable to open log file {path}: {e}"))?;
            install(filter, false, Mutex::new(file))
        }
    }
}

/// Keep log lines in memory until [`drain_logs`] hands them out. Lines accumulate without bound until drained.
pub(crate) fn set_log_buffer(filter: Option<&str>) -> Result<(), Error> {
    install(filter.unwrap_or(DEFAULT_LOG_FILTER), false, || BufferWriter)
}

/// Hand every line buffered since the last drain to `handler`, oldest first, and empty the buffer. The buffer is
/// not locked while `handler` runs, so a handler that logs does not deadlock (its lines wait for the next drain).
pub(crate) fn drain_logs(mut handler: impl FnMut(&LogLine)) {
    let lines = std::mem::take(&mut *BUFFER.lock().unwrap_or_else(|p| p.into_inner()));
    for line in &lines {
        handler(line);
    }
}

/// One formatted log line (with its trailing newline), stored with a terminating NUL so that C can read it in place.
pub(crate) struct LogLine {
    bytes: Box<[u8]>,
}

impl LogLine {
    fn new(text: &[u8]) -> LogLine {
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text);
        bytes.push(0);
        LogLine { bytes: bytes.into() }
    }

    /// The text followed by a NUL byte.
    pub(crate) fn as_bytes_with_nul(&self) -> &[u8] {
        &self.bytes
    }

    /// Length of the text in bytes, without the NUL.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len() - 1
    }
}

/// Lines waiting for `extism_log_drain`.
static BUFFER: Mutex<VecDeque<LogLine>> = Mutex::new(VecDeque::new());

/// Appends each formatted event (the formatter writes one event per `write`) to [`BUFFER`] as one line.
struct BufferWriter;

impl Write for BufferWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        BUFFER
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(LogLine::new(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The filter for a user's filter text (see the module docs).
fn env_filter(filter: &str) -> EnvFilter {
    let builder = EnvFilter::builder().with_default_directive(tracing::Level::ERROR.into());
    if tracing::Level::from_str(filter).is_ok() {
        builder.parse_lossy(format!("extism={filter}"))
    } else {
        builder.parse_lossy(filter)
    }
}

/// Install the global subscriber: one formatted line per event, through `writer`.
fn install<W>(filter: &str, ansi: bool, writer: W) -> Result<(), Error>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(env_filter(filter))
        .with_ansi(ansi)
        .with_writer(writer)
        .finish();
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| anyhow!("unable to install the log subscriber: {e}"))
}
