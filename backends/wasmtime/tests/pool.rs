//! Which stores come from wasmtime's instance pool, driven through the engine seam.
//!
//! wasmtime-only on purpose: the pool is this backend's optimisation for instantiation, and behaviour must not depend
//! on it (the conformance suite runs the same plug-ins on every engine, pooled or not, including more live
//! instances than the pool holds). This binary has one test because the pool is process-wide.

use extism_core::backend::{EngineApi, EngineOptions, LinkingInputs, PluginStore};
use extism_core::kernel::KERNEL_WASM;
use extism_core::{Manifest, PluginState, Uuid};
use extism_wasmtime::{POOL_UNITS, Wasmtime, WasmtimeEngine, WasmtimeModule, WasmtimeStore};

fn compile(engine: &WasmtimeEngine, wat: &str) -> WasmtimeModule {
    Wasmtime::compile(engine, &wat::parse_str(wat).unwrap()).unwrap()
}

fn stores(engine: &WasmtimeEngine, modules: &[&WasmtimeModule], count: usize) -> Vec<WasmtimeStore<PluginState>> {
    let kernel = Wasmtime::compile(engine, KERNEL_WASM).unwrap();
    let prepared =
        Wasmtime::prepare_functions(engine, &LinkingInputs::kernel_only(&kernel).with_modules(modules)).unwrap();
    (0..count)
        .map(|_| {
            let state = PluginState::new(Uuid::new_v4(), &Manifest::default());
            let mut store = Wasmtime::new_store(engine, &kernel, &prepared, state).unwrap();
            for module in modules {
                PluginStore::<Wasmtime, _>::instantiate(&mut store, module).unwrap();
            }
            store
        })
        .collect()
}

#[test]
fn stores_use_the_pool_while_it_has_room_and_fall_back_to_on_demand() {
    let engine = Wasmtime::new_engine(&EngineOptions::default()).unwrap();
    assert!(engine.is_pooled(), "the pool is available on this machine");
    let plain = compile(&engine, r#"(module (memory (export "memory") 1) (func (export "f")))"#);

    // Kernel + one module: two units per store.
    let per_store = 2;
    let capacity = (POOL_UNITS / per_store) as usize;
    let mut live = stores(&engine, &[&plain], capacity + 3);
    let pooled = live.iter().filter(|s| s.is_pooled()).count();
    assert_eq!(
        pooled, capacity,
        "the first stores take the whole pool, the rest are on demand"
    );
    assert!(live.iter().skip(capacity).all(|s| !s.is_pooled()));

    // Dropping pooled stores gives their capacity back.
    live.drain(..2);
    let again = stores(&engine, &[&plain], 1);
    assert!(again[0].is_pooled());
    drop(again);
    drop(live);

    // Modules the pool cannot hold, and linked command modules (which instantiate on every call into them), never
    // use it. A main module exporting `_start` is no command module: it is pooled.
    let big_table = compile(&engine, r#"(module (table 2000000 funcref) (func (export "f")))"#);
    let command = compile(&engine, r#"(module (func (export "_start")))"#);
    assert!(!stores(&engine, &[&big_table], 1)[0].is_pooled());
    let kernel = Wasmtime::compile(&engine, KERNEL_WASM).unwrap();
    let linked_command = Wasmtime::prepare_functions(
        &engine,
        &LinkingInputs::kernel_only(&kernel)
            .with_modules(&[&plain])
            .with_commands(&[&command]),
    )
    .unwrap();
    let state = PluginState::new(Uuid::new_v4(), &Manifest::default());
    assert!(
        !Wasmtime::new_store(&engine, &kernel, &linked_command, state)
            .unwrap()
            .is_pooled()
    );
    assert!(stores(&engine, &[&command], 1)[0].is_pooled());
    // With nothing else alive, a poolable plug-in is pooled again.
    assert!(stores(&engine, &[&plain], 1)[0].is_pooled());
    // A plug-in whose table limit is above what a pooled table can hold is not pooled (its tables could not grow
    // to the limit).
    let mut options = EngineOptions::default();
    options.max_table_elements = extism_core::DEFAULT_MAX_TABLE_ELEMENTS + 1;
    let large_limit = Wasmtime::new_engine(&options).unwrap();
    assert!(!stores(&large_limit, &[&plain], 1)[0].is_pooled());
}
