//! The conformance suite: every test runs once per compiled backend (see `backend_test!`).

#[macro_use]
mod common;

mod api;
mod calls;
mod config_vars;
mod differential;
mod errors;
mod host_functions;
#[cfg(feature = "http")]
mod http;
#[cfg(not(feature = "http"))]
mod http_disabled;
mod http_server;
mod kernel;
mod lifecycle;
mod limits;
mod logging;
mod manifest;
mod threads;
mod wasi;
