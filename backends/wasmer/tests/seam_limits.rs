//! The wasmer backend's limits, driven directly through the engine seam: interrupts from another thread, the memory
//! budget, fuel, and modules singlepass cannot compile.
//!
//! These tests are wasmer-only because they test this backend's implementation of the seam (`PluginStore`) before
//! the core's call path uses it; how limits behave for users (timeouts, cancel handles, `max_pages`, fuel per call)
//! is covered on every backend by the conformance suite.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use extism_core::backend::{
    CallError, EngineApi, EngineOptions, ExportShape, KernelAccess, LinkingInputs, PluginStore,
};
use extism_core::kernel::{KERNEL_WASM, KernelFn};
use extism_core::{Interrupt, Manifest, PluginState, Uuid};
use extism_wasmer::{Wasmer, WasmerEngine, WasmerInstance, WasmerStore};

/// The conformance suite's deadline helper, shared by path: a test that waits on an interrupt fails instead of
/// hanging when the interrupt never comes.
#[allow(dead_code)]
#[path = "../../../tests/conformance/deadline.rs"]
mod deadline;
use deadline::{Canceller, with_deadline};

const PAGE: u64 = 65536;

fn engine(fuel: bool) -> WasmerEngine {
    let mut options = EngineOptions::default();
    options.fuel = fuel;
    Wasmer::new_engine(&options).unwrap()
}

fn compile(engine: &WasmerEngine, wat: &str) -> wasmer::Module {
    Wasmer::compile(engine, &wat::parse_str(wat).unwrap()).unwrap()
}

fn store(engine: &WasmerEngine) -> WasmerStore {
    let kernel = Wasmer::compile(engine, KERNEL_WASM).unwrap();
    Wasmer::new_store(
        engine,
        &kernel,
        &Wasmer::prepare_functions(engine, &LinkingInputs::kernel_only(&kernel)).unwrap(),
        PluginState::new(Uuid::new_v4(), &Manifest::default()),
    )
    .unwrap()
}

/// A store with `wat` instantiated in it.
fn plugin(engine: &WasmerEngine, wat: &str) -> (WasmerStore, WasmerInstance) {
    let module = compile(engine, wat);
    let mut store = store(engine);
    let instance = store.instantiate(&module).unwrap();
    (store, instance)
}

fn call(store: &mut WasmerStore, instance: &WasmerInstance, name: &str) -> Result<i32, CallError> {
    let shape = if name.starts_with("i32_") {
        ExportShape::I32Result
    } else {
        ExportShape::NoResult
    };
    let export = store.export(instance, name, shape).expect("export");
    store.call(&export)
}

/// The kernel still answers, and a plain export still runs.
fn assert_usable(store: &mut WasmerStore, instance: &WasmerInstance) {
    let input = store.call_kernel(KernelFn::CallBegin, 10).unwrap();
    assert_ne!(input, 0, "the kernel allocates");
    store.call_kernel(KernelFn::CallEnd, 0).unwrap();
    assert_eq!(call(store, instance, "i32_answer").unwrap(), 42);
}

const SPIN: &str = r#"(module
    (memory (export "memory") 1)
    (global $n (mut i64) (i64.const 0))
    (func (export "spin") (loop (global.set $n (i64.add (global.get $n) (i64.const 1))) (br 0)))
    (func $deep (call $deep))
    (func (export "recurse") (call $deep))
    (func (export "i32_answer") (result i32) i32.const 42))"#;

#[test]
fn interrupt_from_another_thread_stops_only_that_store() {
    with_deadline(Duration::from_secs(60), move || {
        let engine = engine(false);
        let (mut a, a_instance) = plugin(&engine, SPIN);
        let (mut b, b_instance) = plugin(&engine, SPIN);
        let a_interrupt = Arc::new(Interrupt::default());
        let b_interrupt = Arc::new(Interrupt::default());
        a.enable_interrupts(a_interrupt.clone()).unwrap();
        b.enable_interrupts(b_interrupt.clone()).unwrap();

        let b_done = Arc::new(AtomicBool::new(false));
        let b_thread = {
            let (b_interrupt, b_done) = (b_interrupt.clone(), b_done.clone());
            thread::spawn(move || {
                b_interrupt.enter_call();
                let result = call(&mut b, &b_instance, "spin");
                b_interrupt.leave_call();
                b_done.store(true, Ordering::SeqCst);
                (result, b, b_instance)
            })
        };

        // Requested again until the call stops: a request before `enter_call` is dropped.
        let requester = {
            let a_interrupt = a_interrupt.clone();
            Canceller::start(Duration::from_millis(50), move || a_interrupt.request())
        };
        a_interrupt.enter_call();
        let result = call(&mut a, &a_instance, "spin");
        let stopped = Instant::now();
        a_interrupt.leave_call();
        let requested = requester.stop().expect("a request reached a's running call");
        assert!(matches!(result, Err(CallError::Interrupted)), "{result:?}");
        let latency = stopped.saturating_duration_since(requested);
        // Promptly, not at some distant safepoint; generous, because a loaded machine may preempt the spinning thread.
        assert!(
            latency < Duration::from_secs(1),
            "stopped {latency:?} after the request"
        );

        // The sibling store on the same engine kept running; now stop it too.
        thread::sleep(Duration::from_millis(20));
        assert!(!b_done.load(Ordering::SeqCst), "interrupting one store stopped another");
        let requester = {
            let b_interrupt = b_interrupt.clone();
            Canceller::start(Duration::ZERO, move || b_interrupt.request())
        };
        let (result, mut b, b_instance) = b_thread.join().unwrap();
        requester.stop().expect("a request reached b's running call");
        assert!(matches!(result, Err(CallError::Interrupted)), "{result:?}");

        // Both stores stay usable, and an interrupt outside a call is not remembered.
        assert!(!a_interrupt.request(), "no call is running");
        assert_usable(&mut a, &a_instance);
        assert_usable(&mut b, &b_instance);
    });
}

#[test]
fn interrupt_requested_before_the_engine_call_still_stops_it() {
    with_deadline(Duration::from_secs(60), move || {
        let engine = engine(false);
        let (mut store, instance) = plugin(&engine, SPIN);
        let interrupt = Arc::new(Interrupt::default());
        store.enable_interrupts(interrupt.clone()).unwrap();
        interrupt.enter_call();
        assert!(interrupt.request());
        let result = call(&mut store, &instance, "spin");
        interrupt.leave_call();
        assert!(matches!(result, Err(CallError::Interrupted)), "{result:?}");
        assert_usable(&mut store, &instance);
    });
}

#[test]
fn traps_are_traps_and_leave_the_store_usable() {
    let engine = engine(false);
    let (mut store, instance) = plugin(&engine, SPIN);
    store.enable_interrupts(Arc::new(Interrupt::default())).unwrap();
    match call(&mut store, &instance, "recurse") {
        Err(CallError::Trap(message)) => assert!(message.contains("stack"), "{message}"),
        other => panic!("expected a stack overflow trap, got {other:?}"),
    }
    assert_usable(&mut store, &instance);
}

const GROW: &str = r#"(module
    (memory (export "memory") 1)
    (func (export "grow_until_refused")
        (loop (br_if 0 (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))))
    (func (export "i32_grow_4") (result i32) (memory.grow (i32.const 4)))
    (func (export "i32_answer") (result i32) i32.const 42))"#;

#[test]
fn memory_budget_fails_the_call_even_if_the_guest_carries_on() {
    let engine = engine(false);
    let (mut store, instance) = plugin(&engine, GROW);
    store.set_memory_budget(Some(3 * PAGE)).unwrap();
    // The guest gets -1 and would return normally: the call fails all the same.
    assert!(matches!(
        call(&mut store, &instance, "i32_grow_4"),
        Err(CallError::MemoryLimit)
    ));
    // A loop that keeps growing until refused is stopped at its next check, after 3 pages.
    let result = call(&mut store, &instance, "grow_until_refused");
    assert!(matches!(result, Err(CallError::MemoryLimit)), "{result:?}");
    assert_usable(&mut store, &instance);
    // The budget is spent; lifting it lets memory grow again.
    assert!(matches!(
        call(&mut store, &instance, "i32_grow_4"),
        Err(CallError::MemoryLimit)
    ));
    store.set_memory_budget(None).unwrap();
    assert_eq!(
        call(&mut store, &instance, "i32_grow_4").unwrap(),
        4,
        "the old size in pages"
    );
}

#[test]
fn memory_budget_counts_every_memory_of_the_store_including_creation() {
    let engine = engine(false);
    let big = compile(
        &engine,
        r#"(module (memory (export "memory") 17) (func (export "i32_answer") (result i32) i32.const 42))"#,
    );
    let mut store = store(&engine);
    // Creating the memory counts from 0 to its 17 initial pages.
    store.set_memory_budget(Some(16 * PAGE)).unwrap();
    assert!(matches!(store.instantiate(&big), Err(CallError::MemoryLimit)));
    store.set_memory_budget(Some(17 * PAGE)).unwrap();
    let instance = store.instantiate(&big).unwrap();
    // The budget is now spent: kernel memory cannot grow either (its first 16 pages were never counted).
    assert!(matches!(
        store.call_kernel(KernelFn::CallBegin, 2 * 1024 * 1024),
        Err(CallError::MemoryLimit)
    ));
    store.set_memory_budget(Some(64 * PAGE)).unwrap();
    assert_ne!(
        store.call_kernel(KernelFn::CallBegin, 2 * 1024 * 1024).unwrap(),
        0,
        "kernel memory grew within the new budget"
    );
    store.call_kernel(KernelFn::CallEnd, 0).unwrap();
    assert_eq!(call(&mut store, &instance, "i32_answer").unwrap(), 42);
}

#[test]
fn fuel_runs_out_and_refills() {
    with_deadline(Duration::from_secs(60), move || {
        let engine = engine(true);
        let (mut store, instance) = plugin(&engine, SPIN);
        store.set_fuel(10_000).unwrap();
        assert!(matches!(call(&mut store, &instance, "spin"), Err(CallError::OutOfFuel)));
        assert_eq!(store.fuel_remaining(), Some(0));

        store.set_fuel(10_000).unwrap();
        assert_eq!(call(&mut store, &instance, "i32_answer").unwrap(), 42);
        let left = store.fuel_remaining().unwrap();
        assert!(
            left < 10_000 && left > 9_000,
            "a tiny export used a little fuel: {left} left"
        );

        // Host-side kernel calls are not metered, so the store stays usable with no fuel at all.
        store.set_fuel(0).unwrap();
        assert!(matches!(
            call(&mut store, &instance, "i32_answer"),
            Err(CallError::OutOfFuel)
        ));
        store.set_fuel(100).unwrap();
        assert_usable(&mut store, &instance);
    });
}

#[test]
fn fuel_covers_start_functions() {
    // Only fuel stops the loop: the deadline makes a regression fail instead of hanging.
    with_deadline(Duration::from_secs(60), move || {
        let engine = engine(true);
        let module = compile(&engine, r#"(module (func $start (loop (br 0))) (start $start))"#);
        let mut store = store(&engine);
        store.set_fuel(1_000).unwrap();
        assert!(matches!(store.instantiate(&module), Err(CallError::OutOfFuel)));
    });
}

#[test]
fn fuel_start_trap_then_retry_is_still_one_module() {
    let engine = engine(true);
    let module = compile(&engine, r#"(module (func $start unreachable) (start $start))"#);
    let mut store = store(&engine);
    store.set_fuel(1_000).unwrap();
    for _ in 0..2 {
        match store.instantiate(&module) {
            Err(CallError::Trap(message)) => assert!(message.contains("unreachable"), "{message}"),
            other => panic!("expected the start function's trap, got {other:?}"),
        }
    }
}

#[test]
fn fuel_with_two_plugin_modules_is_a_capability_error() {
    let engine = engine(true);
    let first = compile(&engine, r#"(module (func (export "f")))"#);
    let second = compile(&engine, r#"(module (func (export "g")))"#);
    let mut store = store(&engine);
    store.instantiate(&first).unwrap();
    let err = store.instantiate(&second).unwrap_err().into_error().to_string();
    assert!(
        err.contains("wasmer") && err.contains("fuel") && err.contains("more than one wasm module"),
        "{err}"
    );
}

#[test]
fn fuel_needs_an_engine_that_meters_it() {
    let engine = engine(false);
    let (mut store, _) = plugin(&engine, SPIN);
    let err = store.set_fuel(10).unwrap_err().to_string();
    assert!(err.contains("wasmer") && err.contains("fuel"), "{err}");
    assert_eq!(store.fuel_remaining(), None);
}

#[test]
fn unsupported_proposals_are_named_at_compile_time() {
    let engine = engine(false);
    for (wat, proposal) in [
        (
            r#"(module (func (export "f") (result i32) (i32x4.extract_lane 0 (v128.const i32x4 1 2 3 4))))"#,
            "SIMD",
        ),
        (
            r#"(module (func $g) (func (export "f") (return_call $g)))"#,
            "tail calls",
        ),
        (r#"(module (memory i64 1))"#, "memory64"),
    ] {
        let wasm = wat::parse_str(wat).unwrap();
        let err = Wasmer::compile(&engine, &wasm).unwrap_err().to_string();
        assert!(
            err.contains(proposal) && err.contains("singlepass"),
            "{proposal}: {err}"
        );
    }
    // A module that is simply invalid is not blamed on a proposal.
    let err = Wasmer::compile(&engine, &wat::parse_str(r#"(module (func (result i32)))"#).unwrap())
        .unwrap_err()
        .to_string();
    assert!(!err.contains("SIMD"), "{err}");
}
