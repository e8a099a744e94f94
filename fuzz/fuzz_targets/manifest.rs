//! Manifest parsing from arbitrary bytes (TOML, JSON, or anything else), as `Plugin::new` and the C API read it.
//!
//! Checks: parsing never panics, and a manifest that parsed survives a round trip through JSON (and through TOML
//! when TOML can express it) unchanged, so that what a host writes back is what it read.

#![no_main]

use extism::{Manifest, WasmInput};
use libfuzzer_sys::fuzz_target;

/// The manifest with defaults made explicit: `max_var_bytes` absent and the default mean the same budget.
fn normalized(mut manifest: Manifest) -> Manifest {
    if manifest.memory.max_var_bytes.is_none() {
        manifest.memory.max_var_bytes = Some(extism_core::DEFAULT_MAX_VAR_BYTES);
    }
    manifest
}

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = WasmInput::from(data).into_manifest() else {
        return;
    };
    let manifest = normalized(manifest);
    let json = serde_json::to_string(&manifest).expect("a parsed manifest serializes to JSON");
    let back: Manifest = serde_json::from_str(&json).unwrap_or_else(|e| panic!("JSON round trip of {json}: {e}"));
    assert_eq!(normalized(back), manifest, "JSON round trip: {json}");
    // TOML cannot hold every value JSON can (integers above i64::MAX): only what it wrote must read back.
    if let Ok(text) = toml::to_string(&manifest) {
        let back: Manifest = toml::from_str(&text).unwrap_or_else(|e| panic!("TOML round trip of {text}: {e}"));
        assert_eq!(normalized(back), manifest, "TOML round trip: {text}");
    }
});
