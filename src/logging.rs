//! Sending the runtime's log events somewhere, for applications without a `tracing` subscriber of their own.
//!
//! Plug-in logs are `tracing` events with target `extism::pdk` and the plug-in's id in the field `plugin`; the
//! runtime's own events use targets under `extism`. An application that installs its own subscriber sees them like
//! any other events. Otherwise, install one of the sinks here, once per process:
//!
//! - [`set_log_callback`]: each formatted line to a function;
//! - [`set_log_file`]: to a file, stdout or stderr;
//! - [`set_log_buffer`] and [`drain_logs`]: kept in memory until the application collects them.
//!
//! Filters: a bare level name (`"info"`) selects that level for the runtime's events only (`extism=info`); anything
//! else is a list of `EnvFilter` directives (`"extism=debug,my_app=info"`). The default is errors only.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//!
//! let lines = Arc::new(Mutex::new(Vec::new()));
//! let sink = Arc::clone(&lines);
//! extism::set_log_callback(move |line: &str| sink.lock().unwrap().push(line.to_string()), "info")?;
//! // Plug-ins that log at INFO or above now reach `lines`, and `get_log_level` tells them INFO.
//! # Ok::<(), extism::Error>(())
//! ```

pub use extism_core::logging::{DEFAULT_LOG_FILTER, LogLine, drain_logs, set_log_buffer, set_log_file};

use crate::Error;

/// Send each formatted log line (with its trailing newline, without colours) to `func`.
///
/// Installs the process-wide `tracing` subscriber, filtered by `filter`: a bare level name means that level for the
/// runtime's events (`extism=<level>`), anything else is a list of `EnvFilter` directives, and an empty filter means
/// errors only. Fails if a global subscriber is already installed.
///
/// Unlike upstream, `func` must be `Send + Sync`: lines arrive on whichever thread logged them. It need not be
/// `Clone`.
pub fn set_log_callback<F>(func: F, filter: impl AsRef<str>) -> Result<(), Error>
where
    F: Fn(&str) + Send + Sync + 'static,
{
    extism_core::logging::set_log_callback(func, filter.as_ref())
}
