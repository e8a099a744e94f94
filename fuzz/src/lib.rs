//! Shared by the fuzz targets: the engines compiled in, the limits every fuzzed plug-in runs under, and the driver that
//! creates a plug-in and calls its exports.
//!
//! A target fails (a finding) only on a panic, an abort, a hang past libFuzzer's `-timeout` or memory past
//! `-rss_limit_mb`; an error result from the runtime is the expected answer to bad input.

use std::time::Duration;

use extism::{Backend, Manifest, Plugin, PluginBuilder, Wasm};

/// Every engine compiled into this build.
pub const ENGINES: &[Backend] = &[
    #[cfg(feature = "wasmtime")]
    Backend::Wasmtime,
    #[cfg(feature = "wasmer")]
    Backend::Wasmer,
    #[cfg(feature = "wasmi")]
    Backend::Wasmi,
];

/// Fuel for plug-in creation (start functions, `_initialize`) and for each call: ends generated infinite loops well
/// within libFuzzer's timeout. Start functions ignore the timeout until issue 11 row 10 is fixed, so fuel is what
/// bounds them here.
pub const FUEL: u64 = 2_000_000;

/// The plug-in timeout: a second line of defence behind fuel (host functions do not burn fuel).
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// Memory budget of a fuzzed plug-in, in 64 KiB pages (16 MiB).
pub const MAX_PAGES: u32 = 256;

/// Calls made per created plug-in, at most (generated modules may export many functions).
pub const MAX_CALLS: usize = 16;

/// The engine a fuzz input picks with its first byte.
pub fn pick_engine(selector: u8) -> Backend {
    ENGINES[selector as usize % ENGINES.len()]
}

/// A manifest for fuzzed wasm: bounded in time, fuel (set by [`build`]) and memory, and with no HTTP host allowed, so
/// that a guest's `http_request` never leaves the machine.
pub fn manifest(wasm: Vec<u8>) -> Manifest {
    Manifest::new([Wasm::data(wasm)])
        .with_timeout(TIMEOUT)
        .with_memory_max(MAX_PAGES)
        .disallow_all_hosts()
}

/// Create a plug-in from `manifest` on `backend`, with fuel.
pub fn build(backend: Backend, manifest: Manifest) -> Result<Plugin, extism::Error> {
    PluginBuilder::new(manifest)
        .with_backend(backend)
        .with_fuel_limit(FUEL)
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

/// True if `wasm` defines or imports a table without a maximum size.
///
/// On wasmer and wasmi, `table.grow` on such a table is not bounded by the plug-in's memory budget yet (issue 11
/// row 3, being fixed): one instruction can make the host allocate gigabytes. The targets skip these modules on
/// those engines until the bound lands; on wasmtime they run.
pub fn has_unbounded_table(wasm: &[u8]) -> bool {
    let Ok(binary) = wat::parse_bytes(wasm) else {
        return false;
    };
    for payload in wasmparser::Parser::new(0).parse_all(&binary) {
        match payload {
            Ok(wasmparser::Payload::TableSection(reader)) => {
                if reader.into_iter().flatten().any(|t| t.ty.maximum.is_none()) {
                    return true;
                }
            }
            Ok(wasmparser::Payload::ImportSection(reader)) => {
                for imports in reader.into_iter().flatten() {
                    for (_, import) in imports.into_iter().flatten() {
                        if let wasmparser::TypeRef::Table(t) = import.ty
                            && t.maximum.is_none()
                        {
                            return true;
                        }
                    }
                }
            }
            Ok(_) => {}
            // A module that does not parse fails to load: nothing to skip.
            Err(_) => return false,
        }
    }
    false
}

/// Whether `wasm` may run on `backend` in a fuzz target today (see [`has_unbounded_table`]).
pub fn runnable(backend: Backend, wasm: &[u8]) -> bool {
    match backend {
        #[cfg(feature = "wasmtime")]
        Backend::Wasmtime => true,
        #[allow(unreachable_patterns)]
        _ => !has_unbounded_table(wasm),
    }
}

/// Create a plug-in from `wasm` on `backend` and call each of its exported functions with `input`, then check that
/// the plug-in is still usable. Errors are fine; panics propagate to libFuzzer as findings.
pub fn exercise(backend: Backend, wasm: Vec<u8>, input: &[u8]) {
    if !runnable(backend, &wasm) {
        return;
    }
    let exports = exported_functions(&wasm);
    let Ok(mut plugin) = build(backend, manifest(wasm)) else {
        return;
    };
    assert_eq!(plugin.backend(), backend);
    for name in exports.iter().take(MAX_CALLS) {
        let exists = plugin.function_exists(name);
        let result = plugin.raw_call(name, input, None);
        if let Ok(rc) = result {
            assert!(
                exists,
                "`{name}` ran (rc {rc}) but function_exists said it is not callable"
            );
            // The output lies inside kernel memory (the runtime checked it): reading it must not fault.
            std::hint::black_box(plugin.last_output().iter().map(|b| *b as u64).sum::<u64>());
        }
        // A failed call leaves the plug-in usable: resetting it works.
        plugin.reset().expect("reset after a call");
    }
    // Not an export: a clean error.
    assert!(plugin.raw_call("\u{0}no such export", input, None).is_err());
}

/// The Extism host functions a generated module may import (the kernel's guest ABI and the built-in host functions,
/// `http_request` included: [`manifest`] allows no host).
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
/// memories and tables with a maximum, and the Extism imports and exports above. `simd` and `tail_calls` widen it
/// for engines that have them.
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
        table_max_size_required: true,
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
