//! Limits: per-call timeout, cancel from another thread (only the targeted plug-in), fuel, memory budget. After each,
//! the plug-in stays usable.

use std::time::{Duration, Instant};

use crate::common::{cancel_of, root_cause, wasm};
use crate::deadline::{Canceller, cancelling, with_deadline};
use extism::{Manifest, PluginBuilder, Wasm};

fn kitchen(backend: extism::Backend, manifest: Manifest) -> PluginBuilder<'static> {
    PluginBuilder::new(manifest.with_wasm(Wasm::data(wasm("kitchen")))).with_backend(backend)
}

backend_test! {
    fn timeout_stops_an_infinite_loop(backend) {
        with_deadline(Duration::from_secs(120), move || {
            let manifest = Manifest::default().with_timeout(Duration::from_millis(200));
            let mut p = kitchen(backend, manifest).build().unwrap();
            let started = Instant::now();
            let (err, rc) = p.call_get_error_code::<&str, &[u8]>("loop_forever", "").unwrap_err();
            assert_eq!(root_cause(&err), "timeout");
            assert_eq!(rc, 134);
            assert!(started.elapsed() < Duration::from_secs(10));
            // Usable afterwards, and the next call gets its own full timeout.
            let out: String = p.call("counter", "").unwrap();
            assert_eq!(out, "1");
            let (err, _) = p.call_get_error_code::<&str, &[u8]>("loop_forever", "").unwrap_err();
            assert_eq!(root_cause(&err), "timeout");
        });
    }
}

backend_test! {
    /// Cancel from another thread, five times on the same plug-in; a cancel while idle is forgotten.
    fn cancel_from_another_thread(backend) {
        with_deadline(Duration::from_secs(120), move || {
            let mut p = kitchen(backend, Manifest::default()).build().unwrap();
            let handle = p.cancel_handle();
            assert_eq!(handle.id, p.id);
            handle.cancel().unwrap(); // idle: dropped, not remembered
            let out: String = p.call("counter", "").unwrap();
            assert_eq!(out, "1");
            for _ in 0..5 {
                let cancel = cancel_of(handle.clone());
                let call = || p.call::<&str, &[u8]>("loop_forever", "").map(|_| ());
                let err = cancelling(Duration::from_millis(100), cancel, call).unwrap_err();
                assert_eq!(root_cause(&err), "timeout");
            }
            let out: String = p.call("counter", "").unwrap();
            assert_eq!(out, "2");
        });
    }
}

backend_test! {
    /// Two plug-ins from one compiled plug-in (on wasmtime they share an engine and its epoch counter): cancelling
    /// one leaves the other running, and a timeout of one does not stop the other.
    fn cancel_and_timeout_stop_only_their_plugin(backend) {
        with_deadline(Duration::from_secs(120), move || {
            let compiled = kitchen(backend, Manifest::default()).compile().unwrap();
            let mut a = extism::Plugin::new_from_compiled(&compiled).unwrap();
            let mut b = extism::Plugin::new_from_compiled(&compiled).unwrap();
            let (cancel_a, cancel_b) = (a.cancel_handle(), b.cancel_handle());
            let run_b = std::thread::spawn(move || {
                let started = Instant::now();
                let err = b.call::<&str, &[u8]>("loop_forever", "").unwrap_err();
                (root_cause(&err), started.elapsed())
            });
            let run_a = std::thread::spawn(move || a.call::<&str, &[u8]>("loop_forever", "").map(|_| ()).map_err(|e| root_cause(&e)));
            let canceller = Canceller::start(Duration::from_millis(200), cancel_of(cancel_a));
            assert_eq!(run_a.join().unwrap(), Err("timeout".to_string()));
            canceller.stop();
            std::thread::sleep(Duration::from_millis(300));
            assert!(!run_b.is_finished(), "cancelling a stopped its sibling b");
            let canceller = Canceller::start(Duration::ZERO, cancel_of(cancel_b));
            let (cause, elapsed) = run_b.join().unwrap();
            canceller.stop();
            assert_eq!(cause, "timeout");
            assert!(elapsed >= Duration::from_millis(450), "b ran until it was cancelled itself");

            // A short timeout on one plug-in while a sibling without one keeps running.
            let manifest = Manifest::default().with_timeout(Duration::from_millis(100));
            let timed = kitchen(backend, manifest).compile().unwrap();
            let mut short = extism::Plugin::new_from_compiled(&timed).unwrap();
            let mut free = extism::Plugin::new_from_compiled(&compiled).unwrap();
            let cancel_free = free.cancel_handle();
            let run_free = std::thread::spawn(move || free.call::<&str, &[u8]>("loop_forever", "").map(|_| ()).map_err(|e| root_cause(&e)));
            let err = short.call::<&str, &[u8]>("loop_forever", "").unwrap_err();
            assert_eq!(root_cause(&err), "timeout");
            std::thread::sleep(Duration::from_millis(200));
            assert!(!run_free.is_finished(), "a sibling's timeout stopped a plug-in without one");
            let canceller = Canceller::start(Duration::ZERO, cancel_of(cancel_free));
            assert_eq!(run_free.join().unwrap(), Err("timeout".to_string()));
            canceller.stop();
        });
    }
}

backend_test! {
    fn fuel_limit(backend) {
        with_deadline(Duration::from_secs(120), move || {
            // Too little fuel for anything: every call fails, and keeps failing the same way.
            let mut p = kitchen(backend, Manifest::default()).with_fuel_limit(1).build().unwrap();
            for _ in 0..20 {
                let (err, rc) = p.call_get_error_code::<&str, &[u8]>("counter", "").unwrap_err();
                assert!(root_cause(&err).contains("fuel"), "{err:#}");
                assert_eq!(rc, -1);
            }
            // An infinite loop runs dry.
            let mut p = kitchen(backend, Manifest::default()).with_fuel_limit(10_000).build().unwrap();
            let err = p.call::<&str, &[u8]>("loop_forever", "").unwrap_err();
            assert_eq!(root_cause(&err), "plugin ran out of fuel");
            assert!(p.fuel_consumed().unwrap() > 0);
            // Fuel is refilled for every call: many cheap calls in a row all succeed.
            let mut p = kitchen(backend, Manifest::default()).with_fuel_limit(5_000_000).build().unwrap();
            for i in 1..=50 {
                let out: String = p.call("counter", "").unwrap();
                assert_eq!(out, i.to_string());
            }
            let used = p.fuel_consumed().unwrap();
            assert!(used > 0 && used < 5_000_000, "{used}");
            let unlimited = kitchen(backend, Manifest::default()).build().unwrap();
            assert_eq!(unlimited.fuel_consumed(), None);
        });
    }
}

/// A module whose own memory starts at `pages` pages and can grow on request.
fn memory_module(pages: u32) -> Vec<u8> {
    format!(
        r#"(module
            (memory (export "memory") {pages})
            (func (export "grow_one") (result i32)
                (if (i32.lt_s (memory.grow (i32.const 1)) (i32.const 0)) (then (return (i32.const 1))))
                i32.const 0)
            (func (export "noop")))"#
    )
    .into_bytes()
}

backend_test! {
    /// The budget covers the main module's initial memory, then allows that much growth again (as upstream, which
    /// refills the budget after instantiating the main module).
    fn memory_budget(backend) {
        let build = |max: Option<u32>| {
            let mut manifest = Manifest::new([Wasm::data(memory_module(3))]);
            if let Some(max) = max {
                manifest = manifest.with_memory_max(max);
            }
            PluginBuilder::new(manifest).with_backend(backend).build().unwrap()
        };
        let mut too_small = build(Some(2));
        let (err, rc) = too_small.call_get_error_code::<&str, &[u8]>("noop", "").unwrap_err();
        assert_eq!(root_cause(&err), "oom", "{err:#}");
        assert_eq!(rc, -1);
        build(None).call::<&str, &[u8]>("noop", "").unwrap();

        let mut exact = build(Some(3));
        exact.call::<&str, &[u8]>("noop", "").unwrap();
        for _ in 0..3 {
            exact.call::<&str, &[u8]>("grow_one", "").unwrap();
        }
        let (err, rc) = exact.call_get_error_code::<&str, &[u8]>("grow_one", "").unwrap_err();
        assert_eq!(root_cause(&err), "oom");
        assert_eq!(rc, -1);
        // Still usable for calls that need no memory.
        exact.call::<&str, &[u8]>("noop", "").unwrap();
    }
}

backend_test! {
    /// Kernel allocations count against the budget too: a guest that allocates without end gets "oom", not a hang
    /// or a crash, and the plug-in answers the next call.
    fn allocation_bomb_is_stopped(backend) {
        let manifest = Manifest::default().with_memory_max(64);
        let mut p = kitchen(backend, manifest).build().unwrap();
        let err = p.call::<&str, &[u8]>("alloc_bomb", "").unwrap_err();
        assert_eq!(root_cause(&err), "oom", "{err:#}");
        let out: String = p.call("input_length", "abc").unwrap();
        assert_eq!(out, "3");
    }
}

backend_test! {
    /// A fuel limit on a plug-in of several wasm modules: one limit covers them all on engines that can meter them
    /// together; an engine that meters per module instance (wasmer) declares it cannot, and the plug-in is refused
    /// when it is built, with an error that names the engine and the capability.
    fn fuel_limit_on_a_multi_module_plugin(backend) {
        let lib = r#"(module
            (func (export "burn") (local $i i32)
                (local.set $i (i32.const 100000))
                (loop $l (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $l (local.get $i)))))"#;
        let main = r#"(module
            (import "lib" "burn" (func $burn))
            (func (export "run") (result i32) (call $burn) (call $burn) (i32.const 0)))"#;
        let build = |fuel: u64| {
            let manifest = Manifest::new([
                Wasm::data(lib.as_bytes().to_vec()).with_name("lib"),
                Wasm::data(main.as_bytes().to_vec()).with_name("main"),
            ]);
            PluginBuilder::new(manifest).with_backend(backend).with_fuel_limit(fuel).build()
        };
        if backend.capabilities().fuel_with_linked_modules {
            // Two burns of the linked module need far more than 100,000 units: the limit covers the linked module.
            let mut p = build(100_000).unwrap();
            let err = p.call::<&str, &[u8]>("run", "").unwrap_err();
            assert_eq!(root_cause(&err), "plugin ran out of fuel", "{backend}");
            let mut p = build(100_000_000).unwrap();
            p.call::<&str, &[u8]>("run", "").unwrap();
            let used = p.fuel_consumed().unwrap();
            assert!(used > 200_000, "{backend}: both burns are charged, used {used}");
        } else {
            let Err(err) = build(100_000_000) else { panic!("{backend}: a multi-module plug-in with fuel was built") };
            let text = format!("{err:#}");
            assert!(
                text.contains(&format!("the {backend} backend does not support fuel limits for plug-ins made of more than one wasm module")),
                "{text}"
            );
        }
    }
}
