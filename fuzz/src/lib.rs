//! Shared by the fuzz targets: the choice of engine, the limits every fuzzed plug-in runs under, and the driver that
//! creates a plug-in and calls its exports.
//!
//! A target fails (a finding) only on a panic, an abort, a hang past libFuzzer's `-timeout` or memory past
//! `-rss_limit_mb`; an error result from the runtime is the expected answer to bad input.

use std::time::Duration;

pub mod accessor_program;
pub mod differential;

use extism::{Backend, Manifest, Plugin, PluginBuilder, Wasm};

/// Fuel for plug-in creation (start functions, `_initialize`) and for each call: ends generated infinite loops well
/// within libFuzzer's timeout.
pub const FUEL: u64 = 2_000_000;

/// The plug-in timeout: a second line of defence behind fuel (host functions and WASI sleeps do not burn fuel).
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// Memory budget of a fuzzed plug-in, in 64 KiB pages (16 MiB).
pub const MAX_PAGES: u32 = 256;

/// Calls made per created plug-in, at most (generated modules may export many functions).
pub const MAX_CALLS: usize = 16;

/// The engine a fuzz input picks with its first byte, among those compiled in.
pub fn pick_engine(selector: u8) -> Backend {
    Backend::ALL[selector as usize % Backend::ALL.len()]
}

/// A manifest for fuzzed wasm: bounded in time, fuel (set by [`build`]) and memory (tables are bounded by the
/// default table limit), and with no HTTP host allowed, so that a guest's `http_request` never leaves the machine.
pub fn manifest(wasm: Vec<u8>) -> Manifest {
    Manifest::new([Wasm::data(wasm)])
        .with_timeout(TIMEOUT)
        .with_memory_max(MAX_PAGES)
        .disallow_all_hosts()
}

/// Create a plug-in from `manifest` on `backend`, with fuel and WASI (no preopens, stdio to nowhere: the guest's
/// WASI calls are fuzzed, its sleeps end with the timeout).
pub fn build(backend: Backend, manifest: Manifest) -> Result<Plugin, extism::Error> {
    PluginBuilder::new(manifest)
        .with_backend(backend)
        .with_fuel_limit(FUEL)
        .with_wasi(true)
        .build()
}

/// The names of the functions `wasm` exports (binary or WAT), in order; empty if it does not parse.
pub fn exported_functions(wasm: &[u8]) -> Vec<String> {
    let Ok(binary) = wat::parse_bytes(wasm) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&binary) {
        match payload {
            Ok(wasmparser::Payload::ExportSection(reader)) => {
                for export in reader.into_iter().flatten() {
                    if export.kind == wasmparser::ExternalKind::Func {
                        names.push(export.name.to_string());
                    }
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    names
}

/// Create a plug-in from `wasm` on `backend` and call each of its exported functions with `input`, then check that
/// the plug-in is still usable. Errors are fine; panics propagate to libFuzzer as findings.
pub fn exercise(backend: Backend, wasm: Vec<u8>, input: &[u8]) {
    let exports = exported_functions(&wasm);
    let Ok(mut plugin) = build(backend, manifest(wasm)) else {
        return;
    };
    assert_eq!(plugin.backend(), backend);
    for name in exports.iter().take(MAX_CALLS) {
        let exists = plugin.function_exists(name);
        let result = plugin.raw_call(name, input, None);
        let timed_out = match &result {
            Ok(rc) => {
                assert!(
                    exists,
                    "`{name}` ran (rc {rc}) but function_exists said it is not callable"
                );
                // The output lies inside kernel memory (the runtime checked it): reading it must not fault.
                std::hint::black_box(plugin.last_output().iter().map(|b| *b as u64).sum::<u64>());
                false
            }
            Err((e, _)) => e.root_cause().to_string() == "timeout",
        };
        // A failed call leaves the plug-in usable: resetting it works.
        plugin.reset().expect("reset after a call");
        // Sleeps burn no fuel: after one call that ran into the timeout, stop, so that an input takes a few
        // timeouts at most, well within libFuzzer's `-timeout`.
        if timed_out {
            break;
        }
    }
    // Not an export: a clean error.
    assert!(plugin.raw_call("\u{0}no such export", input, None).is_err());
}

/// The host functions a generated module may import: the kernel's guest ABI and the built-in host functions
/// (`http_request` included: [`manifest`] allows no host), and WASI functions that open, close and renumber
/// descriptors, sleep, read the clock and exit.
pub const EXTISM_IMPORTS: &str = r#"(module
  (import "extism:host/env" "alloc" (func (param i64) (result i64)))
  (import "extism:host/env" "free" (func (param i64)))
  (import "extism:host/env" "length" (func (param i64) (result i64)))
  (import "extism:host/env" "length_unsafe" (func (param i64) (result i64)))
  (import "extism:host/env" "load_u8" (func (param i64) (result i32)))
  (import "extism:host/env" "load_u64" (func (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func (param i64 i32)))
  (import "extism:host/env" "store_u64" (func (param i64 i64)))
  (import "extism:host/env" "input_set" (func (param i64 i64)))
  (import "extism:host/env" "input_length" (func (result i64)))
  (import "extism:host/env" "input_offset" (func (result i64)))
  (import "extism:host/env" "input_load_u8" (func (param i64) (result i32)))
  (import "extism:host/env" "input_load_u64" (func (param i64) (result i64)))
  (import "extism:host/env" "output_set" (func (param i64 i64)))
  (import "extism:host/env" "output_length" (func (result i64)))
  (import "extism:host/env" "output_offset" (func (result i64)))
  (import "extism:host/env" "error_set" (func (param i64)))
  (import "extism:host/env" "error_get" (func (result i64)))
  (import "extism:host/env" "reset" (func))
  (import "extism:host/env" "memory_bytes" (func (result i64)))
  (import "extism:host/env" "config_get" (func (param i64) (result i64)))
  (import "extism:host/env" "var_get" (func (param i64) (result i64)))
  (import "extism:host/env" "var_set" (func (param i64 i64)))
  (import "extism:host/env" "get_log_level" (func (result i32)))
  (import "extism:host/env" "log_info" (func (param i64)))
  (import "extism:host/env" "log_error" (func (param i64)))
  (import "extism:host/env" "http_request" (func (param i64 i64) (result i64)))
  (import "extism:host/env" "http_status_code" (func (result i32)))
  (import "extism:host/env" "http_headers" (func (result i64)))
  (import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_renumber" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
)"#;

/// The exports every generated module has: Extism-callable functions (one returning a code, one not), `_initialize`
/// (run when the plug-in is created), one that is not callable, and a memory.
pub const SMITH_EXPORTS: &str = r#"(module
  (func (export "run") (result i32) unreachable)
  (func (export "go") unreachable)
  (func (export "_initialize") unreachable)
  (func (export "not_callable") (param i32) (result i64) unreachable)
  (memory (export "memory") 1 64)
)"#;

/// A wasm-smith configuration for modules every engine can run: the proposals all three support (no SIMD, tail
/// calls, memory64, threads, exceptions, GC, wide arithmetic), NaNs canonicalised (so results are deterministic),
/// memories with a maximum, tables with or without one (the plug-in's table limit bounds them), and the imports and
/// exports above. `simd` and `tail_calls` widen it for engines that have them.
pub fn smith_config(simd: bool, tail_calls: bool) -> wasm_smith::Config {
    wasm_smith::Config {
        available_imports: Some(wat::parse_str(EXTISM_IMPORTS).expect("the import list is valid WAT")),
        exports: Some(wat::parse_str(SMITH_EXPORTS).expect("the export list is valid WAT")),
        max_imports: 10,
        max_funcs: 8,
        max_instructions: 200,
        max_memories: 1,
        max_memory32_bytes: 64 * 65536,
        memory_max_size_required: true,
        max_tables: 2,
        max_table_elements: 10_000,
        table_max_size_required: false,
        max_data_segments: 8,
        max_element_segments: 8,
        canonicalize_nans: true,
        compact_imports_enabled: false,
        memory64_enabled: false,
        threads_enabled: false,
        exceptions_enabled: false,
        gc_enabled: false,
        wide_arithmetic_enabled: false,
        relaxed_simd_enabled: false,
        simd_enabled: simd,
        tail_call_enabled: tail_calls,
        ..wasm_smith::Config::default()
    }
}
