//! Creating plug-ins from the different inputs: wasm, WAT, JSON and TOML manifests, files, hashes, bad input.

use crate::common::wasm;
use extism::{Manifest, PluginBuilder, Wasm};

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

backend_test! {
    fn wat_input(backend) {
        let wat = r#"(module
            (import "extism:host/env" "input_offset" (func $off (result i64)))
            (import "extism:host/env" "input_length" (func $len (result i64)))
            (import "extism:host/env" "output_set" (func $out (param i64 i64)))
            (func (export "echo") (result i32) (call $out (call $off) (call $len)) i32.const 0))"#;
        for source in [wat.to_string(), format!(";; a comment first\n{wat}"), format!("  \n{wat}")] {
            let mut p = PluginBuilder::new(source.as_str()).with_backend(backend).build().unwrap();
            let out: String = p.call("echo", "wat works").unwrap();
            assert_eq!(out, "wat works");
        }
        let err = PluginBuilder::new("(module (func (export \"f\") bogus))").with_backend(backend).build().unwrap_err();
        assert!(format!("{err:#}").contains("invalid WAT"), "{err:#}");
    }
}

backend_test! {
    fn manifest_hash_is_checked(backend) {
        let bytes = wasm("echo");
        let hash = sha256_hex(&bytes);
        let good = Manifest::new([Wasm::data(bytes.clone()).with_hash(hash.clone())]);
        let mut p = PluginBuilder::new(good).with_backend(backend).build().unwrap();
        let out: String = p.call("echo", "ok").unwrap();
        assert_eq!(out, "ok");

        let wrong = "0".repeat(64);
        let bad = Manifest::new([Wasm::data(bytes).with_hash(wrong.clone())]);
        let err = PluginBuilder::new(bad).with_backend(backend).build().unwrap_err();
        assert_eq!(err.to_string(), format!("Hash mismatch, found {hash} but expected {wrong}"));
    }
}

backend_test! {
    /// A JSON manifest given as bytes, with a file module, config and an upper-case hash (hashes compare exactly).
    fn json_manifest_with_file_module(backend) {
        let path = format!("{}/tests/wasm/count_vowels.wasm", env!("CARGO_MANIFEST_DIR"));
        let json = serde_json::json!({
            "wasm": [{"path": path, "name": "ignored-for-a-single-module"}],
            "config": {"vowels": "o"},
            "memory": {"max_var_bytes": 4096},
        });
        let mut p = PluginBuilder::new(json.to_string().as_bytes()).with_backend(backend).build().unwrap();
        let out: serde_json::Value = p.call("count_vowels", "foo boo").unwrap();
        assert_eq!(out["count"], 4);

        let upper = sha256_hex(&wasm("count_vowels")).to_uppercase();
        let json = serde_json::json!({"wasm": [{"path": path, "hash": upper}]});
        assert!(PluginBuilder::new(json.to_string().as_bytes()).with_backend(backend).build().is_err());
    }
}

backend_test! {
    fn toml_manifest(backend) {
        let path = format!("{}/tests/wasm/kitchen.wasm", env!("CARGO_MANIFEST_DIR"));
        let toml = format!("timeout_ms = 60000\n\n[config]\nkey = \"from toml\"\n\n[[wasm]]\npath = {path:?}\n");
        let mut p = PluginBuilder::new(toml.as_bytes()).with_backend(backend).build().unwrap();
        let out: serde_json::Value = p.call("config_get", "key").unwrap();
        assert_eq!(out["value"], "from toml");
    }
}

backend_test! {
    /// Bad input of every kind is an error, never a panic.
    fn bad_input_gives_errors(backend) {
        let cases: &[(&[u8], &str)] = &[
            (b"", "Unknown manifest format"),
            (b"   \n", "Unknown manifest format"),
            (b"\x00\x01\x02garbage\xff\xfe", "garbage"),
            (b"this is not a plug-in", "Unknown manifest format"),
            (b"{\"wasm\": [", "Unknown manifest format"),
            (b"{\"wasm\": [], \"unknown_field\": 1}", "Unknown manifest format"),
            (b"{\"wasm\": []}", "No wasm files specified in Extism manifest"),
            (b"{\"wasm\": [{\"data\": \"not base64!\"}]}", "Unknown manifest format"),
            (b"\0asm\x01\0\0\0\x01", "WebAssembly"),
            (b"\0asm", "WebAssembly"),
        ];
        for (input, expected) in cases {
            let result = PluginBuilder::new(*input).with_backend(backend).build();
            let err = result.err().unwrap_or_else(|| panic!("{:?} was accepted", String::from_utf8_lossy(input)));
            let text = format!("{err:#}");
            if *expected != "garbage" {
                assert!(text.contains(expected), "{:?}: {text}", String::from_utf8_lossy(input));
            }
        }
        let err = PluginBuilder::new(Manifest::new([Wasm::file("/no/such/file.wasm")])).with_backend(backend).build().unwrap_err();
        assert_eq!(err.to_string(), "Unable to load Wasm file \"/no/such/file.wasm\": entity not found");
    }
}

backend_test! {
    /// Several modules: names, the main module, and duplicate names.
    fn module_names(backend) {
        let helper = r#"(module (func (export "forty_two") (result i32) i32.const 42))"#;
        let main = r#"(module (import "helper" "forty_two" (func $h (result i32))) (func (export "run") (result i32) (call $h)))"#;
        let manifest = Manifest::new([
            Wasm::data(helper.as_bytes().to_vec()).with_name("helper"),
            Wasm::data(main.as_bytes().to_vec()),
        ]);
        let mut p = PluginBuilder::new(&manifest).with_backend(backend).build().unwrap();
        let err = p.call::<&str, &[u8]>("run", "").unwrap_err();
        assert_eq!(err.to_string(), "Returned non-zero exit code: 42");

        let dup = Manifest::new([Wasm::data(helper.as_bytes().to_vec()), Wasm::data(main.as_bytes().to_vec())]);
        let err = PluginBuilder::new(dup).with_backend(backend).build().unwrap_err();
        assert_eq!(err.to_string(), "Duplicate module name found in Extism manifest: main");
    }
}
