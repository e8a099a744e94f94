//! The conformance suite: every test runs once per compiled backend (see `backend_test!`).

#[macro_use]
mod common;

mod calls;
mod config_vars;
mod errors;
mod host_functions;
#[cfg(feature = "http")]
mod http;
#[cfg(not(feature = "http"))]
mod http_disabled;
mod http_server;
mod kernel;
mod logging;
mod manifest;
