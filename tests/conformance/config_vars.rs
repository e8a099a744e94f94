//! Config (read-only, from the manifest) and vars (per-instance, persistent across calls, size-limited).

use crate::common::{plugin, root_cause, wasm};
use extism::{Manifest, MemoryOptions, Plugin, PluginBuilder, Wasm};

fn kitchen_with(backend: extism::Backend, manifest: Manifest) -> Plugin {
    PluginBuilder::new(manifest.with_wasm(Wasm::data(wasm("kitchen"))))
        .with_backend(backend)
        .build()
        .unwrap()
}

backend_test! {
    fn config_present_missing_and_empty(backend) {
        let manifest = Manifest::default().with_config_key("greeting", "hello").with_config_key("empty", "");
        let mut p = kitchen_with(backend, manifest);
        let out: serde_json::Value = p.call("config_get", "greeting").unwrap();
        assert_eq!(out, serde_json::json!({"value": "hello"}));
        let out: serde_json::Value = p.call("config_get", "absent").unwrap();
        assert_eq!(out, serde_json::json!({"value": null}));
        // An empty value travels as handle 0, which the PDK reads as "missing" (upstream behaves the same).
        let out: serde_json::Value = p.call("config_get", "empty").unwrap();
        assert_eq!(out, serde_json::json!({"value": null}));
    }
}

backend_test! {
    fn vars_persist_across_calls_and_can_be_removed(backend) {
        let mut p = plugin(backend, "kitchen");
        let _: &[u8] = p.call("var_set", "colour=blue").unwrap();
        let out: String = p.call("var_get", "colour").unwrap();
        assert_eq!(out, "blue");
        // Overwrite, then read again in a later call.
        let _: &[u8] = p.call("var_set", "colour=green=ish").unwrap();
        let out: String = p.call("var_get", "colour").unwrap();
        assert_eq!(out, "green=ish");
        let _: &[u8] = p.call("var_remove", "colour").unwrap();
        let out: &[u8] = p.call("var_get", "colour").unwrap();
        assert!(out.is_empty());
        let out: &[u8] = p.call("var_get", "never-set").unwrap();
        assert!(out.is_empty());
    }
}

backend_test! {
    /// Entries cost key + value + 48 bytes; the total may not exceed `max_var_bytes` (1 MiB by default). A failed
    /// set leaves the store as it was and the plug-in usable.
    fn var_store_size_limit(backend) {
        let manifest = Manifest::default().with_memory_options(MemoryOptions::new().with_max_var_bytes(1000));
        let mut p = kitchen_with(backend, manifest);
        // 1 + 900 + 48 = 949 bytes: fits.
        let big = format!("a={}", "x".repeat(900));
        let _: &[u8] = p.call("var_set", big.as_str()).unwrap();
        // Replacing it with the same size still fits (the replaced entry is not counted twice).
        let _: &[u8] = p.call("var_set", big.as_str()).unwrap();
        // A second entry of 1 + 10 + 48 = 59 bytes does not: 949 + 59 > 1000.
        let err = p.call::<&str, &[u8]>("var_set", "b=0123456789").unwrap_err();
        assert_eq!(root_cause(&err), "Variable store is full");
        let out: &[u8] = p.call("var_get", "b").unwrap();
        assert!(out.is_empty());
        let out: String = p.call("var_get", "a").unwrap();
        assert_eq!(out.len(), 900);

        // The default budget is 1 MiB.
        let mut p = plugin(backend, "kitchen");
        let too_big = format!("k={}", "y".repeat(1024 * 1024));
        let err = p.call::<&str, &[u8]>("var_set", too_big.as_str()).unwrap_err();
        assert_eq!(root_cause(&err), "Variable store is full");
        let fits = format!("k={}", "y".repeat(1024 * 1024 - 100));
        let _: &[u8] = p.call("var_set", fits.as_str()).unwrap();
    }
}

backend_test! {
    fn vars_disabled_by_zero_budget(backend) {
        let manifest = Manifest::default().with_memory_options(MemoryOptions::new().with_max_var_bytes(0));
        let mut p = kitchen_with(backend, manifest);
        let err = p.call::<&str, &[u8]>("var_set", "a=b").unwrap_err();
        assert_eq!(root_cause(&err), "Vars are disabled by this host");
        let err = p.call::<&str, &[u8]>("counter", "").unwrap_err();
        assert_eq!(root_cause(&err), "Vars are disabled by this host");
    }
}

/// The Haskell PDK's access pattern: the guest frees the key handle itself after `config_get` / `var_get` return
/// (the host has freed it already), then reads the value with `length` and `load_u8`.
const FREES_ITS_KEYS: &str = r#"
(module
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "free" (func $free (param i64)))
  (import "extism:host/env" "length" (func $length (param i64) (result i64)))
  (import "extism:host/env" "load_u8" (func $load_u8 (param i64) (result i32)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "config_get" (func $config_get (param i64) (result i64)))
  (import "extism:host/env" "var_get" (func $var_get (param i64) (result i64)))
  (import "extism:host/env" "var_set" (func $var_set (param i64 i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  ;; A new block holding "greeting" (one little-endian u64).
  (func $key (result i64)
    (local $key i64)
    (local.set $key (call $alloc (i64.const 8)))
    (call $store_u64 (local.get $key) (i64.const 0x676e697465657267))
    (local.get $key))
  ;; Copy `value` byte by byte into a new block and make it the output.
  (func $output_copy (param $value i64)
    (local $len i64) (local $out i64) (local $i i64)
    (local.set $len (call $length (local.get $value)))
    (local.set $out (call $alloc (local.get $len)))
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $i) (local.get $len)))
        (call $store_u8 (i64.add (local.get $out) (local.get $i))
          (call $load_u8 (i64.add (local.get $value) (local.get $i))))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $next)))
    (call $output_set (local.get $out) (local.get $len)))
  (func (export "greeting") (result i32)
    (local $key i64) (local $value i64)
    (local.set $key (call $key))
    (local.set $value (call $config_get (local.get $key)))
    (call $free (local.get $key))
    (call $output_copy (local.get $value))
    (i32.const 0))
  (func (export "greeting_via_var") (result i32)
    (local $key i64) (local $value i64)
    (local.set $key (call $key))
    (local.set $value (call $config_get (local.get $key)))
    (call $free (local.get $key))
    (call $var_set (call $key) (local.get $value))
    (local.set $key (call $key))
    (local.set $value (call $var_get (local.get $key)))
    (call $free (local.get $key))
    (call $output_copy (local.get $value))
    (i32.const 0)))
"#;

backend_test! {
    /// Before the fix the host freed the key and then allocated the value in its place, so the guest's own `free`
    /// of the key freed the value: the Haskell PDK's hello plug-in read its greeting as empty (", John").
    fn config_and_var_values_survive_the_guest_freeing_its_key(backend) {
        let manifest =
            Manifest::new([Wasm::data(FREES_ITS_KEYS.as_bytes().to_vec())]).with_config_key("greeting", "Howdy");
        let mut plugin = PluginBuilder::new(manifest).with_backend(backend).build().unwrap();
        for _ in 0..2 {
            let out: String = plugin.call("greeting", "").unwrap();
            assert_eq!(out, "Howdy");
            let out: String = plugin.call("greeting_via_var", "").unwrap();
            assert_eq!(out, "Howdy");
        }
    }
}
