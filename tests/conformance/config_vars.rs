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
