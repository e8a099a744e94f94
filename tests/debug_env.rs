//! `EXTISM_COREDUMP`, `EXTISM_PROFILE` and `EXTISM_DEBUG`: upstream's debugging environment variables, on every
//! compiled engine.
//!
//! A test binary of its own, with a single test, because it changes the process environment: no other test can run
//! concurrently and see (or race with) the changes.

use extism::{Backend, DebugOptions, PluginBuilder};

const TRAPPING: &str = r#"(module
    (memory (export "memory") 1)
    (data (i32.const 64) "env-guest-marker")
    (func (export "ok") (result i32) (i32.const 0))
    (func (export "boom") (result i32) unreachable))"#;

fn set(name: &str, value: Option<&std::ffi::OsStr>) {
    // SAFETY: this binary has a single test, so no other thread reads or writes the environment meanwhile.
    unsafe {
        match value {
            Some(v) => std::env::set_var(name, v),
            None => std::env::remove_var(name),
        }
    }
}

/// True if `bytes` is a wasm module whose first section is the `core` custom section and that holds `needle`.
fn is_core_dump_with(bytes: &[u8], needle: &[u8]) -> bool {
    let mut first_custom = None;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let wasmparser::Payload::CustomSection(c) = payload.expect("the core dump parses") {
            first_custom.get_or_insert_with(|| c.name().to_string());
        }
    }
    first_custom.as_deref() == Some("core") && bytes.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn debugging_environment_variables() {
    let dir = std::env::temp_dir().join(format!("extism-debug-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for &backend in Backend::ALL {
        let path = dir.join(format!("{backend}.core.wasm"));
        set("EXTISM_COREDUMP", Some(path.as_os_str()));
        // Engines without a profiler or debug info ignore these (logged), as the environment covers every plug-in.
        set("EXTISM_PROFILE", Some("perf".as_ref()));
        set("EXTISM_DEBUG", Some("1".as_ref()));
        let mut plugin = PluginBuilder::new(TRAPPING)
            .with_backend(backend)
            .build()
            .unwrap_or_else(|e| panic!("{backend}: {e:#}"));
        // `DebugOptions::default()` reads the same variables; handed to the builder unchanged, they are the
        // environment's requests still (ignored where unsupported), not explicit ones that fail the build.
        PluginBuilder::new(TRAPPING)
            .with_backend(backend)
            .with_debug_options(DebugOptions::default())
            .build()
            .unwrap_or_else(|e| panic!("{backend}: default debug options under the environment: {e:#}"));
        // Read when the plug-in is built: changing it afterwards changes nothing.
        set("EXTISM_COREDUMP", None);
        set("EXTISM_PROFILE", None);
        set("EXTISM_DEBUG", None);
        plugin.call::<&str, &[u8]>("ok", "").unwrap();
        assert!(!path.exists(), "{backend}: no dump without a trap");
        plugin.call::<&str, &[u8]>("boom", "").unwrap_err();
        let dump =
            std::fs::read(&path).unwrap_or_else(|e| panic!("{backend}: no core dump at {}: {e}", path.display()));
        assert!(
            is_core_dump_with(&dump, b"env-guest-marker"),
            "{backend}: not a core dump of the plug-in"
        );

        // Unset: no dump.
        std::fs::remove_file(&path).unwrap();
        let mut plugin = PluginBuilder::new(TRAPPING).with_backend(backend).build().unwrap();
        plugin.call::<&str, &[u8]>("boom", "").unwrap_err();
        assert!(!path.exists(), "{backend}: a dump without EXTISM_COREDUMP");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
