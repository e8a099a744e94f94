//! The Pulley engine really interprets (its wasmtime engine targets Pulley, not the host), and keeps wasmtime's
//! instance pool. Everything else (calls, host functions, fuel, timeouts, cancel, memory and table limits, WASI) is
//! the conformance suite's, which runs on every engine, Pulley included.

use extism_core::backend::{EngineApi, EngineOptions, KernelAccess, LinkingInputs, PluginStore};
use extism_core::kernel::KernelFn;
use extism_core::{Manifest, PluginState, Uuid};
use extism_pulley::Pulley;

#[test]
fn compiles_to_pulley_and_instantiates_from_the_pool() {
    for fuel in [false, true] {
        let mut options = EngineOptions::default();
        options.fuel = fuel;
        let engine = Pulley::new_engine(&options).unwrap();
        assert!(engine.primary().is_pulley(), "fuel {fuel}: the engine targets Pulley");
        assert!(engine.is_pooled(), "fuel {fuel}: the pool is available on this machine");
        let kernel = Pulley::compile_kernel(&engine, |wasm| Pulley::compile(&engine, wasm)).unwrap();
        let prepared = Pulley::prepare_functions(&engine, &LinkingInputs::kernel_only(&kernel)).unwrap();
        let state = PluginState::new(Uuid::new_v4(), &Manifest::default());
        let mut store = Pulley::new_store(&engine, &kernel, &prepared, state).unwrap();
        assert!(store.is_pooled(), "fuel {fuel}: the store comes from the pool");
        if fuel {
            PluginStore::<Pulley, _>::set_fuel(&mut store, 1_000_000).unwrap();
        }
        let handle = store.call_kernel(KernelFn::CallBegin, 16).unwrap();
        assert_ne!(handle, 0, "the interpreted kernel ran");
    }
}

/// On hosts Cranelift generates code for; elsewhere wasmtime itself falls back to Pulley.
#[test]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    ignore = "wasmtime runs Pulley by default on this host"
)]
fn the_native_and_pulley_engines_are_distinct() {
    let options = EngineOptions::default();
    let pulley = Pulley::new_engine(&options).unwrap();
    let native = extism_wasmtime::Wasmtime::new_engine(&options).unwrap();
    assert!(pulley.primary().is_pulley());
    assert!(!native.primary().is_pulley());
}
