//! Bytes in, bytes out: echo, JSON output, persistence of the instance across calls.

use crate::common::{plugin, wasm};
use extism::{Manifest, Plugin, PluginBuilder, Wasm};

backend_test! {
    /// Every byte value survives the round trip, in every position modulo 8 (the PDK copies in 8-byte words).
    fn echo_every_byte_value(backend) {
        let mut p = plugin(backend, "echo");
        let input: Vec<u8> = (0..=255u8).cycle().take(256 * 9 + 7).collect();
        let output: Vec<u8> = p.call("echo", &input[..]).unwrap();
        assert_eq!(output, input);
        for len in 0..17 {
            let output: Vec<u8> = p.call("echo", &input[..len]).unwrap();
            assert_eq!(output, &input[..len], "length {len}");
        }
    }
}

backend_test! {
    fn echo_empty_input_gives_empty_output(backend) {
        let mut p = plugin(backend, "echo");
        let output: &[u8] = p.call("echo", "").unwrap();
        assert!(output.is_empty());
        // And again after a non-empty call: nothing leaks from the previous call.
        let _: &[u8] = p.call("echo", "abc").unwrap();
        let output: &[u8] = p.call("echo", "").unwrap();
        assert!(output.is_empty());
    }
}

backend_test! {
    fn echo_16_mib(backend) {
        let mut p = plugin(backend, "echo");
        let input: Vec<u8> = (0..16u32 * 1024 * 1024).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
        let output: &[u8] = p.call("echo", &input[..]).unwrap();
        assert_eq!(output.len(), input.len());
        assert!(output == &input[..]);
        // A small call after the big one still works and sees only its own input.
        let output: String = p.call("echo", "small").unwrap();
        assert_eq!(output, "small");
    }
}

backend_test! {
    fn noop_returns_nothing(backend) {
        let mut p = plugin(backend, "echo");
        for _ in 0..3 {
            let output: &[u8] = p.call("noop", "ignored input").unwrap();
            assert!(output.is_empty());
        }
    }
}

backend_test! {
    /// count_vowels reads config `vowels` and keeps a running total in a var across calls.
    fn count_vowels_json(backend) {
        let mut p = plugin(backend, "count_vowels");
        let out: serde_json::Value = p.call("count_vowels", "Hello, World!").unwrap();
        assert_eq!(out, serde_json::json!({"count": 3, "total": 3, "vowels": "aeiouAEIOU"}));
        let out: serde_json::Value = p.call("count_vowels", "AEIOU and y").unwrap();
        assert_eq!(out, serde_json::json!({"count": 6, "total": 9, "vowels": "aeiouAEIOU"}));
        // The exact bytes are compact JSON in field order.
        let text: String = p.call("count_vowels", "").unwrap();
        assert_eq!(text, r#"{"count":0,"total":9,"vowels":"aeiouAEIOU"}"#);

        let manifest = Manifest::new([Wasm::data(wasm("count_vowels"))]).with_config_key("vowels", "xyz");
        let mut p = PluginBuilder::new(manifest).with_backend(backend).build().unwrap();
        let out: serde_json::Value = p.call("count_vowels", "xylophone").unwrap();
        assert_eq!(out["count"], 2);
        assert_eq!(out["vowels"], "xyz");
    }
}

backend_test! {
    /// Two instances of one plug-in keep separate state.
    fn instances_are_independent(backend) {
        let mut a = plugin(backend, "kitchen");
        let mut b = plugin(backend, "kitchen");
        assert_ne!(a.id, b.id);
        for expected in ["1", "2", "3"] {
            let out: String = a.call("counter", "").unwrap();
            assert_eq!(out, expected);
        }
        let out: String = b.call("counter", "").unwrap();
        assert_eq!(out, "1");
    }
}

backend_test! {
    fn function_exists_checks_callable_exports(backend) {
        let p = plugin(backend, "echo");
        assert!(p.function_exists("echo"));
        assert!(p.function_exists("noop"));
        assert!(!p.function_exists("missing"));
        assert!(!p.function_exists("memory"), "a memory is not a function");
        let wat = r#"(module (func (export "takes_args") (param i32)) (func (export "two") (result i32 i32) i32.const 1 i32.const 2))"#;
        let p = PluginBuilder::new(wat).with_backend(backend).build().unwrap();
        assert!(!p.function_exists("takes_args"));
        assert!(!p.function_exists("two"));
        assert_eq!(p.backend(), backend);
    }
}

backend_test! {
    /// An export's i32 result is the return code; a non-zero code without an error fails `call` but not
    /// `call_get_error_code`.
    fn return_codes(backend) {
        let wat = r#"(module
            (func (export "seven") (result i32) i32.const 7)
            (func (export "zero") (result i32) i32.const 0)
            (func (export "unit")))"#;
        let mut p = PluginBuilder::new(wat).with_backend(backend).build().unwrap();
        let err = p.call::<&str, &[u8]>("seven", "").unwrap_err();
        assert_eq!(err.to_string(), "Returned non-zero exit code: 7");
        let ok: Result<&[u8], _> = p.call_get_error_code("seven", "");
        assert!(ok.is_ok());
        let _: &[u8] = p.call("zero", "").unwrap();
        let _: &[u8] = p.call("unit", "").unwrap();
    }
}

backend_test! {
    /// Plug-ins move between threads.
    fn plugin_is_send(backend) {
        let mut p: Plugin = plugin(backend, "echo");
        let handle = std::thread::spawn(move || {
            let out: String = p.call("echo", "from a thread").unwrap();
            out
        });
        assert_eq!(handle.join().unwrap(), "from a thread");
    }
}

backend_test! {
    /// SIMD instructions (emitted by real toolchains) run on every engine that has them; wasmer's singlepass
    /// compiler has none, so there the plug-in fails at creation with an error that names SIMD.
    fn simd_plugin_runs(backend) {
        let wat = r#"(module
            (func (export "run") (result i32)
                (i32x4.extract_lane 3 (i32x4.add (i32x4.splat (i32.const 40)) (v128.const i32x4 0 0 0 2)))))"#;
        let built = PluginBuilder::new(wat).with_backend(backend).build();
        if backend.name() == "wasmer" {
            let err = built.expect_err("singlepass cannot compile SIMD");
            assert!(format!("{err:#}").to_lowercase().contains("simd"), "{err:#}");
            return;
        }
        let mut p = built.unwrap();
        let err = p.call::<&str, &[u8]>("run", "").unwrap_err();
        assert_eq!(err.to_string(), "Returned non-zero exit code: 42");
    }
}
