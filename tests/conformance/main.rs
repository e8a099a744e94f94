//! The conformance suite: every test runs once per compiled backend (see `backend_test!`).

#[macro_use]
mod common;

mod api;
mod cache;
mod calls;
mod command_instances;
mod config_vars;
mod deadline;
mod debug;
mod differential;
mod errors;
mod host_functions;
mod host_panics;
#[cfg(feature = "http")]
mod http;
#[cfg(not(feature = "http"))]
mod http_disabled;
mod http_server;
mod interrupts;
mod kernel;
mod lifecycle;
mod limits;
mod logging;
mod manifest;
mod manifest_files;
mod memory_rewrite;
mod panic_payloads;
mod table_limits;
mod threads;
mod upstream_builder;
mod wasi;
mod wasi_fds;
