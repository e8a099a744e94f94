//! Compiled plug-ins, host context, errors set by host functions.

use crate::common::{root_cause, wasm};
use extism::{CompiledPlugin, CurrentPlugin, Error, PTR, Plugin, PluginBuilder, UserData, Val};

backend_test! {
    /// One compilation, many independent instances.
    fn compiled_plugin_makes_independent_instances(backend) {
        let compiled = PluginBuilder::new(wasm("kitchen")).with_backend(backend).compile().unwrap();
        assert_eq!(compiled.backend(), backend);
        let mut plugins: Vec<Plugin> = (0..4).map(|_| Plugin::new_from_compiled(&compiled).unwrap()).collect();
        for (i, p) in plugins.iter_mut().enumerate() {
            for _ in 0..=i {
                let _: String = p.call("counter", "").unwrap();
            }
        }
        for (i, p) in plugins.iter_mut().enumerate() {
            let out: String = p.call("counter", "").unwrap();
            assert_eq!(out, (i + 2).to_string());
        }
        let ids: std::collections::HashSet<_> = plugins.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), 4);
        // Compiled plug-ins are shared across threads.
        let c2: CompiledPlugin = compiled.clone();
        std::thread::spawn(move || {
            let mut p = Plugin::new_from_compiled(&c2).unwrap();
            let out: String = p.call("counter", "").unwrap();
            assert_eq!(out, "1");
        })
        .join()
        .unwrap();
    }
}

fn greet_with_context(
    plugin: &mut CurrentPlugin,
    inputs: &[Val],
    outputs: &mut [Val],
    _: UserData<()>,
) -> Result<(), Error> {
    let name: String = plugin.memory_get_val(&inputs[0])?;
    let prefix = plugin.host_context::<String>()?.clone();
    plugin.host_context::<String>()?.push('!');
    plugin.memory_set_val(&mut outputs[0], format!("{prefix}{name}"))
}

backend_test! {
    fn host_context_is_per_call(backend) {
        let mut p = PluginBuilder::new(wasm("host_functions"))
            .with_backend(backend)
            .with_function("greet", [PTR], [PTR], UserData::new(()), greet_with_context)
            .with_function_in_namespace("my:ns", "greet", [PTR], [PTR], UserData::new(()), greet_with_context)
            .build()
            .unwrap();
        let out: String = p.call_with_host_context("greet_both", "Ada", "Dear ".to_string()).unwrap();
        assert_eq!(out, "Dear Ada|Dear !Ada");
        let out: String = p.call_with_host_context("greet_user", "Bo", "Hi ".to_string()).unwrap();
        assert_eq!(out, "Hi Bo");
        // Without a context, or with one of another type, the host function fails the call.
        let err = p.call::<&str, &[u8]>("greet_user", "x").unwrap_err();
        assert_eq!(root_cause(&err), "no host context was passed to this call");
        let err = p.call_with_host_context::<&str, &[u8], u32>("greet_user", "x", 5).unwrap_err();
        assert!(root_cause(&err).starts_with("the host context is not a"), "{err}");
    }
}

backend_test! {
    /// A host function's `set_error` becomes the call's error (root cause), even when it also returns an error.
    fn set_error_from_host_function_wins(backend) {
        let f = |also_fail: bool| {
            move |plugin: &mut CurrentPlugin, _: &[Val], outputs: &mut [Val], _: UserData<()>| -> Result<(), Error> {
                plugin.set_error("set by the host")?;
                assert_eq!(plugin.get_error(), Some("set by the host"));
                outputs[0] = Val::I64(0);
                if also_fail { anyhow::bail!("returned by the host") } else { Ok(()) }
            }
        };
        for also_fail in [false, true] {
            let mut p = PluginBuilder::new(wasm("host_functions"))
                .with_backend(backend)
                .with_function("greet", [PTR], [PTR], UserData::new(()), f(also_fail))
                .with_function_in_namespace("my:ns", "greet", [PTR], [PTR], UserData::new(()), f(also_fail))
                .build()
                .unwrap();
            let err = p.call::<&str, &[u8]>("greet_user", "x").unwrap_err();
            assert_eq!(root_cause(&err), "set by the host", "also_fail={also_fail}: {err:#}");
        }
    }
}

backend_test! {
    /// More live instances of one compiled plug-in than wasmtime's instance pool holds (`POOL_UNITS` memories, two
    /// per instance here): the ones beyond it are allocated on demand and behave the same; dropping instances gives
    /// their pool capacity back for new ones.
    fn more_live_instances_than_any_pool_holds(backend) {
        let compiled = PluginBuilder::new(wasm("kitchen")).with_backend(backend).compile().unwrap();
        let mut plugins: Vec<Plugin> = (0..40).map(|_| Plugin::new_from_compiled(&compiled).unwrap()).collect();
        for round in 1..=2 {
            for p in plugins.iter_mut() {
                let out: String = p.call("counter", "").unwrap();
                assert_eq!(out, round.to_string());
            }
        }
        plugins.truncate(5);
        for _ in 0..40 {
            let mut p = Plugin::new_from_compiled(&compiled).unwrap();
            let out: String = p.call("counter", "").unwrap();
            assert_eq!(out, "1");
        }
        for p in plugins.iter_mut() {
            let out: String = p.call("counter", "").unwrap();
            assert_eq!(out, "3");
        }
    }
}

backend_test! {
    /// A module with a large table (300,000 entries, within the default table limit) loads and runs.
    fn plugin_with_a_very_large_table_runs(backend) {
        let wat = r#"(module
            (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
            (table 300000 funcref)
            (memory (export "memory") 1)
            (func (export "run") (result i32)
                (call $output_set (i64.const 0) (i64.const 0))
                (i32.const 0)))"#;
        let compiled = PluginBuilder::new(wat).with_backend(backend).compile().unwrap();
        for _ in 0..3 {
            let mut p = Plugin::new_from_compiled(&compiled).unwrap();
            let out: &[u8] = p.call("run", "").unwrap();
            assert!(out.is_empty());
        }
    }
}

backend_test! {
    /// A main module whose `_initialize` traps fails every call the same way, with or without fuel, and a failed
    /// initialisation leaves nothing behind: each call retries in a fresh store (found by the differential test:
    /// retries used to add an instance to the same store, and on wasmer with fuel the second failed differently).
    fn a_trapping_initialiser_fails_every_call_alike(backend) {
        let wat = r#"(module
            (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
            (memory (export "memory") 1)
            (func (export "_initialize") unreachable)
            (func (export "run") (result i32) i32.const 0))"#;
        for fuel in [None, Some(1_000_000)] {
            let mut builder = PluginBuilder::new(wat.as_bytes()).with_backend(backend);
            if let Some(fuel) = fuel {
                builder = builder.with_fuel_limit(fuel);
            }
            let mut plugin = builder.build().unwrap();
            let first = format!("{:#}", plugin.call::<_, &[u8]>("run", "").unwrap_err());
            assert!(first.contains("unreachable"), "{backend}, fuel {fuel:?}: {first}");
            for attempt in 0..5 {
                let again = format!("{:#}", plugin.call::<_, &[u8]>("run", "").unwrap_err());
                assert_eq!(again, first, "{backend}, fuel {fuel:?}, attempt {attempt}");
            }
        }
    }
}
