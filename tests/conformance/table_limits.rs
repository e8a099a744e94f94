//! Tables are bounded like memory: no table of a plug-in holds more than its table limit (default
//! `DEFAULT_MAX_TABLE_ELEMENTS`), `table.grow` past it returns -1, and a table that starts larger fails the
//! instantiation, on every engine.

use extism::{DEFAULT_MAX_TABLE_ELEMENTS, PluginBuilder};

/// `grow(step)`: grows the table by `step` elements until `table.grow` returns -1 or 256 times, then returns the
/// table's size. 256 growths of 65536 elements would be 16 Mi elements (hundreds of MiB): enough to see the limit
/// missing, bounded so that a regression fails instead of exhausting memory.
fn grower(table: &str) -> String {
    format!(
        r#"(module
            (table $t {table} funcref)
            (func $grow (param $step i32) (result i32)
                (local $n i32)
                (block $done
                    (loop $next
                        (br_if $done (i32.eq (table.grow $t (ref.null func) (local.get $step)) (i32.const -1)))
                        (local.set $n (i32.add (local.get $n) (i32.const 1)))
                        (br_if $next (i32.lt_u (local.get $n) (i32.const 256)))))
                (table.size $t))
            (func (export "grow_65536") (result i32) (call $grow (i32.const 65536)))
            (func (export "grow_1") (result i32) (call $grow (i32.const 1))))"#
    )
}

/// The return code of `export`: the table's size after it grew.
fn size_after(plugin: &mut extism::Plugin, export: &str) -> i32 {
    plugin.raw_call(export, b"", None).map_err(|(e, _)| e).unwrap()
}

backend_test! {
    /// Before the fix, wasmer and wasmi grew the table without end (gigabytes of host memory).
    fn table_growth_stops_at_the_default_limit(backend) {
        let mut plugin = PluginBuilder::new(grower("0")).with_backend(backend).build().unwrap();
        assert_eq!(size_after(&mut plugin, "grow_65536"), DEFAULT_MAX_TABLE_ELEMENTS as i32);
        // Growth keeps failing, and the plug-in keeps working.
        assert_eq!(size_after(&mut plugin, "grow_1"), DEFAULT_MAX_TABLE_ELEMENTS as i32);
    }
}

backend_test! {
    /// A limit set by the user, below a declared maximum or without one; a declared maximum below the limit still
    /// applies.
    fn table_growth_stops_at_a_user_limit(backend) {
        for (table, expected) in [("10", 1000), ("10 100000", 1000), ("10 500", 500)] {
            let mut plugin = PluginBuilder::new(grower(table))
                .with_backend(backend)
                .with_max_table_elements(1000)
                .build()
                .unwrap();
            // Step 1, up to 256 times from 10: within the limit; then step 65536: refused at once.
            assert_eq!(size_after(&mut plugin, "grow_1"), 266.min(expected), "table {table}");
            assert_eq!(size_after(&mut plugin, "grow_1"), 522.min(expected), "table {table}");
            assert_eq!(size_after(&mut plugin, "grow_65536"), 522.min(expected), "table {table}");
            for _ in 0..3 {
                size_after(&mut plugin, "grow_1");
            }
            assert_eq!(size_after(&mut plugin, "grow_1"), expected, "table {table}");
        }
    }
}

backend_test! {
    /// A table that starts above the limit fails when the module is instantiated (at the first call), with an error
    /// that says so; the same module runs under a larger limit.
    fn table_starting_above_the_limit_is_refused(backend) {
        let mut plugin = PluginBuilder::new(grower("300000"))
            .with_backend(backend)
            .with_max_table_elements(1000)
            .build()
            .unwrap();
        let error = plugin.raw_call("grow_1", b"", None).map(|_| ()).unwrap_err().0;
        let text = format!("{error:#}");
        // Each runtime words the refusal its own way, and no wording is shared but "table": the refusal must be in
        // one of the wordings known to mean "the table limit refused it" (wasmtime's, which Pulley shares, wasmer
        // backend's own, wasmi's). An engine that words it otherwise adds its wording here.
        const LIMIT_WORDINGS: [&str; 3] = [
            "table minimum size of 300000 elements exceeds table limits",
            "a table of 300000 elements exceeds the plug-in's limit of 1000 table elements",
            "a resource limiter denied to allocate or grow the table",
        ];
        assert!(LIMIT_WORDINGS.iter().any(|w| text.contains(w)), "{backend}: {text}");
        let mut plugin = PluginBuilder::new(grower("300000")).with_backend(backend).build().unwrap();
        assert_eq!(size_after(&mut plugin, "grow_1"), 300_256);
    }
}
