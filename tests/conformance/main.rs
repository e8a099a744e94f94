//! The conformance suite: every test runs once per compiled backend (see `backend_test!`).

#[macro_use]
mod common;

mod calls;
mod config_vars;
mod errors;
mod host_functions;
mod kernel;
mod manifest;
mod threads;
