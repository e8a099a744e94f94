//! Panic payloads a host function can throw: one that is not text, and one whose destructor panics too. Neither may
//! unwind through the engine (which aborts the process on some engines) nor out of the call.

use std::time::Duration;

use extism::{Backend, Function, PluginBuilder, UserData};

use crate::common::root_cause;
use crate::deadline::in_child_process;

const GUEST: &str = r#"
(module
  (import "extism:host/user" "boom" (func $boom))
  (func (export "call") (result i32) (call $boom) (i32.const 0)))
"#;

/// A panic payload whose destructor panics.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("the payload's destructor panicked");
    }
}

fn case(backend: Backend) {
    for (payload, label) in [(0u8, "non-text payload"), (1, "payload with a panicking destructor")] {
        let mut plugin = PluginBuilder::new(GUEST)
            .with_backend(backend)
            .with_functions([Function::new(
                "boom",
                [],
                [],
                UserData::new(payload),
                |_, _, _, kind| {
                    if *kind.get()?.lock().unwrap() == 0 {
                        std::panic::panic_any(7u8);
                    }
                    std::panic::panic_any(PanicsOnDrop)
                },
            )])
            .build()
            .unwrap();
        for _ in 0..3 {
            let error = plugin.call::<&str, &[u8]>("call", "").unwrap_err();
            assert_eq!(
                root_cause(&error),
                "host function `extism:host/user::boom` panicked: a panic payload that is not text",
                "{label} on {backend}"
            );
        }
    }
}

backend_test! {
    /// In a child process: a regression aborts it (wasmi) or unwinds into the test.
    fn panic_payloads_that_are_not_text_or_panic_on_drop_are_call_errors(backend) {
        in_child_process(Duration::from_secs(120), || case(backend));
    }
}
