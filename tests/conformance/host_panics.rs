//! A host function that panics fails the call with an error naming it, on every engine, through both the engines'
//! typed (all-`i64`) and dynamic host-call paths, and the plug-in stays usable.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use extism::{Backend, Function, PluginBuilder, UserData, ValType};

use crate::common::root_cause;
use crate::deadline::in_child_process;

const GUEST: &str = r#"
(module
  (import "extism:host/user" "typed" (func $typed (param i64) (result i64)))
  (import "extism:host/user" "dynamic" (func $dynamic (param i32 f32)))
  (import "extism:host/user" "opaque" (func $opaque (param i64)))
  (func (export "call_typed") (result i32) (drop (call $typed (i64.const 1))) (i32.const 0))
  (func (export "call_dynamic") (result i32) (call $dynamic (i32.const 1) (f32.const 2)) (i32.const 0))
  (func (export "call_opaque") (result i32) (call $opaque (i64.const 3)) (i32.const 0)))
"#;

/// A host function that panics while `armed` is set, with a `String` payload (`typed`), a `&str` one (`dynamic`) or
/// one that is not text (`opaque`, a `u8`).
fn panicking(name: &str, params: Vec<ValType>, results: Vec<ValType>, armed: Arc<AtomicBool>) -> Function {
    let name_owned = name.to_string();
    Function::new(name, params, results, UserData::new(()), move |_, _, _, _| {
        if armed.load(Ordering::SeqCst) {
            match name_owned.as_str() {
                "typed" => panic!("kaboom number {}", 42),
                "dynamic" => panic!("static kaboom"),
                _ => std::panic::panic_any(7u8),
            }
        }
        Ok(())
    })
}

/// Run in a child process: a regression aborts the process on wasmi.
fn host_function_panics(backend: Backend) {
    let armed = Arc::new(AtomicBool::new(true));
    let mut plugin = PluginBuilder::new(GUEST)
        .with_backend(backend)
        .with_functions([
            panicking("typed", vec![ValType::I64], vec![ValType::I64], armed.clone()),
            panicking("dynamic", vec![ValType::I32, ValType::F32], vec![], armed.clone()),
            panicking("opaque", vec![ValType::I64], vec![], armed.clone()),
        ])
        .build()
        .unwrap();
    for (export, message) in [
        (
            "call_typed",
            "host function `extism:host/user::typed` panicked: kaboom number 42",
        ),
        (
            "call_dynamic",
            "host function `extism:host/user::dynamic` panicked: static kaboom",
        ),
        (
            "call_opaque",
            "host function `extism:host/user::opaque` panicked: a panic payload that is not text",
        ),
    ] {
        let error = plugin.call::<&str, &[u8]>(export, "").unwrap_err();
        assert_eq!(root_cause(&error), message, "{export} on {backend}");
    }
    // The plug-in goes on working, through both paths.
    armed.store(false, Ordering::SeqCst);
    for export in ["call_typed", "call_dynamic", "call_opaque", "call_typed"] {
        plugin.call::<&str, &[u8]>(export, "").unwrap();
    }
}

backend_test! {
    /// Before the fix, wasmi aborted the process and wasmtime and wasmer unwound the panic into the caller.
    fn host_function_panics_become_call_errors(backend) {
        in_child_process(Duration::from_secs(120), || host_function_panics(backend));
    }
}
