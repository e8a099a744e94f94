//! Failures: guest errors, traps, unknown functions, host-function errors. After each, the plug-in stays usable.

use crate::common::{plugin, root_cause};
use extism::PluginBuilder;

backend_test! {
    /// The guest's error message comes back exactly, as the root cause.
    fn guest_error_message_is_exact(backend) {
        let mut p = plugin(backend, "kitchen");
        for message in ["something went wrong", "ünïcödé ✓", "multi\nline"] {
            let err = p.call::<&str, &[u8]>("fail", message).unwrap_err();
            assert_eq!(root_cause(&err), message);
            let (err, rc) = p.call_get_error_code::<&str, &[u8]>("fail", message).unwrap_err();
            assert_eq!(root_cause(&err), message);
            assert_eq!(rc, FAIL_RETURN_CODE);
        }
        // The error does not stick to the next call.
        let out: String = p.call("counter", "").unwrap();
        assert_eq!(out, "1");
    }
}

/// What the kitchen plug-in's `fail` export returns along with its error: the PDK turns a plain `Err` into code -1.
const FAIL_RETURN_CODE: i32 = -1;

backend_test! {
    /// A trap fails the call with return code 134 and leaves the instance usable, globals and vars intact.
    fn trap_then_success_on_same_plugin(backend) {
        let mut p = plugin(backend, "kitchen");
        let out: String = p.call("counter", "").unwrap();
        assert_eq!(out, "1");
        let (err, rc) = p.call_get_error_code::<&str, &[u8]>("trap", "").unwrap_err();
        assert_eq!(rc, 134);
        assert!(err.to_string().contains("unreachable"), "the error mentions the trap: {err:#}");
        let out: String = p.call("counter", "").unwrap();
        assert_eq!(out, "2");
        let out: String = p.call("input_length", "four").unwrap();
        assert_eq!(out, "4");
    }
}

backend_test! {
    fn unknown_function(backend) {
        let mut p = plugin(backend, "echo");
        let (err, rc) = p.call_get_error_code::<&str, &[u8]>("does_not_exist", "x").unwrap_err();
        assert_eq!(err.to_string(), "Function not found: does_not_exist");
        assert_eq!(rc, -1);
        let out: String = p.call("echo", "still works").unwrap();
        assert_eq!(out, "still works");
    }
}

backend_test! {
    /// Exports Extism cannot call are reported, not passed to the engine to fail obscurely.
    fn uncallable_exports(backend) {
        let wat = r#"(module
            (memory (export "mem") 1)
            (func (export "takes_args") (param i32))
            (func (export "returns_i64") (result i64) i64.const 1))"#;
        let mut p = PluginBuilder::new(wat).with_backend(backend).build().unwrap();
        let err = p.call::<&str, &[u8]>("mem", "").unwrap_err();
        assert_eq!(err.to_string(), "Function not found: mem");
        let err = p.call::<&str, &[u8]>("takes_args", "").unwrap_err();
        assert!(err.to_string().contains("takes 1 parameters"), "{err}");
        let err = p.call::<&str, &[u8]>("returns_i64", "").unwrap_err();
        assert!(err.to_string().contains("expected i32 or nothing"), "{err}");
    }
}

backend_test! {
    /// A guest that hands back an output region outside kernel memory gets an error, never an out-of-bounds read;
    /// the kernel itself refuses regions outside its heap, which leaves the output empty.
    fn bogus_output_region_is_rejected(backend) {
        let wat = r#"(module
            (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
            (func (export "huge") (result i32)
                (call $output_set (i64.const 64) (i64.const 0x7fffffffffffffff)) i32.const 0)
            (func (export "beyond") (result i32)
                (call $output_set (i64.const 0xfffffffffff0) (i64.const 8)) i32.const 0))"#;
        let mut p = PluginBuilder::new(wat).with_backend(backend).build().unwrap();
        for name in ["huge", "beyond"] {
            let out: &[u8] = p.call(name, "").unwrap();
            assert!(out.is_empty(), "{name}");
        }
    }
}

backend_test! {
    /// Start-function traps surface on the first call (instantiation is lazy) and repeat on later calls.
    fn start_function_trap(backend) {
        let wat = r#"(module (func $start unreachable) (start $start) (func (export "f")))"#;
        let mut p = PluginBuilder::new(wat).with_backend(backend).build().unwrap();
        let err = p.call::<&str, &[u8]>("f", "").unwrap_err();
        assert!(format!("{err:#}").contains("unreachable"), "{err:#}");
        assert!(p.call::<&str, &[u8]>("f", "").is_err());
    }
}

backend_test! {
    /// Unbounded recursion is a trap (not a crash of the host), and the plug-in stays usable.
    fn stack_overflow_is_a_trap(backend) {
        let wat = r#"(module
            (func $down (param i64) (result i64) (i64.add (call $down (local.get 0)) (i64.const 1)))
            (func (export "recurse") (drop (call $down (i64.const 0))))
            (func (export "fine")))"#;
        let mut p = PluginBuilder::new(wat).with_backend(backend).build().unwrap();
        let (err, rc) = p.call_get_error_code::<&str, &[u8]>("recurse", "").unwrap_err();
        assert_eq!(rc, 134);
        assert!(err.to_string().contains("stack"), "the error mentions the trap: {err:#}");
        let _: &[u8] = p.call("fine", "").unwrap();
    }
}
