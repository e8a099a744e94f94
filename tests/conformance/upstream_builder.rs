//! Code written against upstream extism 1.x's `PluginBuilder` compiles here unchanged: every builder method and type
//! upstream has (the compilation cache's aside), used as upstream's users write them. `use extism::wasmtime` stands
//! for the application's own `wasmtime` dependency, which upstream's `with_wasmtime_config` and `DebugOptions` take
//! types from.

#![cfg(feature = "wasmtime")]

use extism::wasmtime;
use extism::{CurrentPlugin, DebugOptions, Error, Manifest, Plugin, PluginBuilder, UserData, Val, ValType, Wasm};

use crate::common::TempDir;

/// As upstream's users write it: a host function, and every debugging and engine option.
fn build_like_upstream(wasm: &[u8], dir: &std::path::Path) -> Result<Plugin, Error> {
    fn hello(_: &mut CurrentPlugin, _: &[Val], outputs: &mut [Val], _: UserData<()>) -> Result<(), Error> {
        outputs[0] = Val::I64(1);
        Ok(())
    }
    let mut config = wasmtime::Config::new();
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    let options = DebugOptions {
        profiling_strategy: wasmtime::ProfilingStrategy::None,
        coredump: Some(dir.join("options-core.wasm")),
        ..Default::default()
    };
    PluginBuilder::new(Manifest::new([Wasm::data(wasm.to_vec())]))
        .with_wasi(true)
        .with_function("hello", [ValType::I64], [ValType::I64], UserData::default(), hello)
        .with_debug_options(options.clone())
        .with_profiling_strategy(wasmtime::ProfilingStrategy::PerfMap)
        .with_coredump(dir.join("core.wasm"))
        .with_memdump(dir.join("memory.bin"))
        .with_debug_info()
        .with_fuel_limit(10_000_000)
        .with_http_response_headers(false)
        .with_wasmtime_config(config)
        .build()
}

#[test]
fn upstream_builder_code_compiles_and_runs() {
    let wat = r#"(module
        (import "extism:host/user" "hello" (func $hello (param i64) (result i64)))
        (func (export "run") (result i32) (i32.wrap_i64 (call $hello (i64.const 0))))
        (func (export "boom") (result i32) unreachable))"#;
    let dir = TempDir::new("upstream-builder");
    let backend = extism::Backend::from_env().unwrap();
    let built = build_like_upstream(wat.as_bytes(), dir.path());
    if backend.name() != "wasmtime" {
        // Upstream's options are wasmtime's: another default engine refuses them by name.
        let err = built.expect_err("a wasmtime-only option was accepted");
        assert!(
            err.to_string()
                .contains(&format!("the {backend} backend does not support")),
            "{err}"
        );
        return;
    }
    let mut plugin = built.unwrap();
    let err = plugin.call::<&str, &[u8]>("run", "").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Returned non-zero exit code: 1",
        "the host function ran"
    );
    plugin.call::<&str, &[u8]>("boom", "").unwrap_err();
    // `with_coredump` after `with_debug_options` wins, as upstream's builder fields do.
    let dump = std::fs::read(dir.path().join("core.wasm")).unwrap();
    crate::debug::parse_dump(&dump);
    assert!(!dir.path().join("options-core.wasm").exists());
    assert!(dir.path().join("memory.bin").exists());
}
