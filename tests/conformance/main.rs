//! The conformance suite: every test runs once per compiled backend (see `backend_test!`).

#[macro_use]
mod common;

mod api;
mod calls;
mod config_vars;
mod errors;
mod host_functions;
mod kernel;
mod lifecycle;
mod limits;
mod manifest;
mod wasi;
