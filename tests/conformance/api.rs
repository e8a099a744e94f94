//! The rest of the Rust API: `host_fn!`, `typed_plugin!`, `Pool`, multi-module manifests, guest initialisers,
//! memory dumps.

use std::time::Duration;

use crate::common::{root_cause, wasm};
use extism::convert::Json;
use extism::{
    Function, Manifest, PTR, Plugin, PluginBuilder, Pool, PoolBuilder, UserData, Wasm, host_fn, typed_plugin,
};

host_fn!(greet_upper(prefix: String; name: String) -> String {
    let prefix = prefix.get()?.lock().unwrap().clone();
    Ok(format!("{prefix}{}", name.to_uppercase()))
});

host_fn!(greet_plain(name: String) -> String { Ok(format!("plain {name}")) });

typed_plugin!(Greeter {
    greet_both(&str) -> String;
    greet_user<T: extism::FromBytes<'a>>(&str) -> T;
});

typed_plugin!(pub Counter {
    count_vowels(&str) -> Json<serde_json::Value>;
});

backend_test! {
    fn host_fn_and_typed_plugin_macros(backend) {
        let plugin = PluginBuilder::new(wasm("host_functions"))
            .with_backend(backend)
            .with_functions([
                Function::new("greet", [PTR], [PTR], UserData::new("Hi ".to_string()), greet_upper),
                Function::new("greet", [PTR], [PTR], UserData::new(()), greet_plain).with_namespace("my:ns"),
            ])
            .build()
            .unwrap();
        let mut greeter = Greeter::try_from(plugin).unwrap();
        assert_eq!(greeter.greet_both("ada").unwrap(), "Hi ADA|plain ada");
        let borrowed: &str = greeter.greet_user("bo").unwrap();
        assert_eq!(borrowed, "Hi BO");
        let plugin: Plugin = greeter.into();

        // A plug-in that lacks a listed export is refused.
        let err = Counter::try_from(plugin).err().expect("no count_vowels export");
        assert_eq!(err.to_string(), "Invalid function: count_vowels");
        let mut counter = Counter::try_from(crate::common::plugin(backend, "count_vowels")).unwrap();
        let Json(out) = counter.count_vowels("aaa").unwrap();
        assert_eq!(out["count"], 3);
    }
}

backend_test! {
    /// Eight threads share a pool of at most three instances; every call gets an instance, none is shared by two
    /// threads at once, and the pool never creates more than its maximum.
    fn pool_across_threads(backend) {
        let bytes = wasm("kitchen");
        let pool: Pool = PoolBuilder::new()
            .with_max_instances(3)
            .build(move || PluginBuilder::new(bytes.clone()).with_backend(backend).build());
        assert!(pool.function_exists("counter", Duration::from_secs(5)).unwrap());
        assert!(!pool.function_exists("nope", Duration::from_secs(5)).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    for j in 0..10 {
                        let plugin = pool.get(Duration::from_secs(30)).unwrap().expect("an instance within 30 s");
                        let key = format!("thread-{i}-{j}");
                        // Vars are per instance: a set and a get in one checkout see each other.
                        let _: () = plugin.call("var_set", format!("{key}=x").as_str()).unwrap();
                        let value: String = plugin.call("var_get", key.as_str()).unwrap();
                        assert_eq!(value, "x");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(pool.count() <= 3 && pool.count() >= 1, "{}", pool.count());

        // All checked out: a get times out with None.
        let held: Vec<_> = (0..3).map(|_| pool.get(Duration::from_secs(5)).unwrap().unwrap()).collect();
        assert!(pool.get(Duration::from_millis(50)).unwrap().is_none());
        drop(held);
        let total: u32 = pool
            .with_plugin(Duration::from_secs(5), |p| Ok(p.call::<&str, &str>("counter", "")?.parse::<u32>()?))
            .unwrap()
            .unwrap();
        assert!(total >= 1);
    }
}

backend_test! {
    /// A module named `extism:host/user` supplies "host functions" written in wasm; modules are linked by name.
    fn wasm_module_as_host_functions(backend) {
        let user = r#"(module
            (import "extism:host/env" "length" (func $length (param i64) (result i64)))
            (func (export "greet") (param $h i64) (result i64) (local.get $h))
            (func (export "double") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2))))"#;
        let main = r#"(module
            (import "extism:host/user" "double" (func $double (param i32) (result i32)))
            (func (export "twenty_one") (result i32) (call $double (i32.const 21))))"#;
        let manifest = Manifest::new([
            Wasm::data(user.as_bytes().to_vec()).with_name("extism:host/user"),
            Wasm::data(main.as_bytes().to_vec()).with_name("main"),
        ]);
        let mut p = PluginBuilder::new(manifest).with_backend(backend).build().unwrap();
        let err = p.call::<&str, &[u8]>("twenty_one", "").unwrap_err();
        assert_eq!(err.to_string(), "Returned non-zero exit code: 42");

        // The PDK plug-in's `greet` imports resolve to wasm modules too. Returned handles belong to the guest (the
        // PDK frees the argument after the call), so the wasm "host function" allocates its answer: "ok".
        let answer_ok = r#"(module
            (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
            (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
            (func (export "greet") (param i64) (result i64) (local $h i64)
                (local.set $h (call $alloc (i64.const 2)))
                (call $store_u8 (local.get $h) (i32.const 111))
                (call $store_u8 (i64.add (local.get $h) (i64.const 1)) (i32.const 107))
                (local.get $h)))"#;
        let manifest = Manifest::new([
            Wasm::data(answer_ok.as_bytes().to_vec()).with_name("extism:host/user"),
            Wasm::data(answer_ok.as_bytes().to_vec()).with_name("my:ns"),
            Wasm::data(wasm("host_functions")).with_name("main"),
        ]);
        let mut p = PluginBuilder::new(manifest).with_backend(backend).build().unwrap();
        let out: String = p.call("greet_both", "anyone").unwrap();
        assert_eq!(out, "ok|ok");
    }
}

backend_test! {
    /// Guest runtime initialisers run once per instance, before the first call.
    fn guest_initialisers_run_once(backend) {
        for init in ["_initialize", "__wasm_call_ctors"] {
            let wat = format!(r#"(module
                (global $n (mut i32) (i32.const 0))
                (func (export "{init}") (global.set $n (i32.add (global.get $n) (i32.const 1))))
                (func (export "count") (result i32) (global.get $n)))"#);
            let mut p = PluginBuilder::new(wat.as_str()).with_backend(backend).build().unwrap();
            for _ in 0..3 {
                let err = p.call::<&str, &[u8]>("count", "").unwrap_err();
                assert_eq!(err.to_string(), "Returned non-zero exit code: 1", "{init} ran exactly once");
            }
        }
    }
}

backend_test! {
    /// `with_memdump` writes the kernel's memory when a call fails.
    fn memdump_on_failure(backend) {
        let path = std::env::temp_dir().join(format!("extism-memdump-{}-{}", backend, std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut p = PluginBuilder::new(wasm("kitchen")).with_backend(backend).with_memdump(&path).build().unwrap();
        let _: String = p.call("counter", "").unwrap();
        assert!(!path.exists(), "no dump after a successful call");
        let err = p.call::<&str, &[u8]>("fail", "dump me").unwrap_err();
        assert_eq!(root_cause(&err), "dump me");
        let dump = std::fs::read(&path).unwrap();
        assert!(dump.windows(7).any(|w| w == b"dump me"), "the dump holds the guest's error message");
        std::fs::remove_file(&path).unwrap();
    }
}

backend_test! {
    /// Reactor modules keep one instance; a command module (it exports `_start`) gets a fresh instance for every
    /// call into it from another module (wasmtime's linker semantics, which upstream relies on).
    fn command_and_reactor_modules(backend) {
        let counter = |command: bool| {
            let start = if command { r#"(func (export "_start"))"# } else { "" };
            format!(r#"(module (global $n (mut i32) (i32.const 0)) {start}
                (func (export "bump") (result i32)
                    (global.set $n (i32.add (global.get $n) (i32.const 1))) (global.get $n)))"#)
        };
        let main = r#"(module (import "counter" "bump" (func $bump (result i32)))
            (func (export "twice") (result i32) (i32.add (i32.mul (call $bump) (i32.const 10)) (call $bump))))"#;
        for (command, expected) in [(false, 12), (true, 11)] {
            let manifest = Manifest::new([
                Wasm::data(counter(command).into_bytes()).with_name("counter"),
                Wasm::data(main.as_bytes().to_vec()).with_name("main"),
            ]);
            let built = PluginBuilder::new(manifest).with_backend(backend).build();
            let mut p = built.unwrap();
            let err = p.call::<&str, &[u8]>("twice", "").unwrap_err();
            assert_eq!(err.to_string(), format!("Returned non-zero exit code: {expected}"), "command={command}");
        }
    }
}
