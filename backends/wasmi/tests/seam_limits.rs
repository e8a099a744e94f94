//! The wasmi backend's limits, driven directly through the engine seam: interrupts (fuel slices and resumable calls),
//! fuel, and the store-wide memory budget.
//!
//! These tests are wasmi-only on purpose: they check this backend's implementation of the seam methods
//! (`enable_interrupts`, `set_fuel`/`fuel_remaining`, `set_memory_budget`) on a store built by hand, including the
//! bookkeeping that only exists here (user fuel kept apart from slice fuel, violations recorded by the limiter). The
//! conformance suite (`tests/conformance/`) covers the user-visible behaviour of limits on every backend alike.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use extism_core::backend::{
    CallError, EngineApi, EngineOptions, ExportShape, KernelAccess, LinkingInputs, PluginStore,
};
use extism_core::kernel::{KERNEL_WASM, KernelFn};
use extism_core::{CurrentPlugin, Function, Interrupt, Manifest, PluginState, UserData, Uuid, Val};
use extism_wasmi::{Wasmi, WasmiExport, WasmiStore};

/// The conformance suite's deadline helper, shared by path: a test that waits on an interrupt fails instead of
/// hanging when the interrupt never comes.
#[allow(dead_code)]
#[path = "../../../tests/conformance/deadline.rs"]
mod deadline;
use deadline::{Canceller, with_deadline};

type Engine = <Wasmi as EngineApi>::Engine;
type Module = <Wasmi as EngineApi>::Module;
type Instance = <Wasmi as EngineApi>::Instance;

const PAGE: u64 = 65_536;

/// A guest that spins, burns a known amount of fuel, grows its memory, and calls a host function.
const GUEST: &str = r#"
(module
  (import "host" "tick" (func $tick))
  (import "host" "alloc_many" (func $alloc_many))
  (import "host" "alloc_big" (func $alloc_big))
  (memory (export "memory") 1)
  (func (export "spin") (loop $l (br $l)))
  (func (export "answer") (result i32) (i32.const 42))
  (func (export "burn") (local $i i32)
    (local.set $i (i32.const 1000000))
    (loop $l (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $l (local.get $i))))
  (func (export "grow_forever") (result i32)
    (loop $l
      (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then (return (i32.const -1))))
      (br $l))
    (i32.const 0))
  (func (export "grow_once") (result i32) (memory.grow (i32.const 1)))
  (func (export "pages") (result i32) (memory.size))
  (func (export "ticks") (local $i i32)
    (local.set $i (i32.const 20000))
    (loop $l (call $tick) (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $l (local.get $i))))
  (func (export "ticks_forever") (loop $l (call $tick) (br $l)))
  (func (export "alloc_many") (call $alloc_many))
  (func (export "alloc_big") (call $alloc_big)))
"#;

/// Host functions the guest imports; each goes through the kernel from inside the host call.
fn host_functions() -> Vec<Function> {
    let tick = Function::new(
        "tick",
        [],
        [],
        UserData::new(()),
        |plugin: &mut CurrentPlugin, _, _, _| {
            let handle = plugin.memory_alloc(16)?;
            plugin.memory_free(handle)
        },
    );
    let alloc_many = Function::new(
        "alloc_many",
        [],
        [],
        UserData::new(()),
        |plugin: &mut CurrentPlugin, _, _, _| {
            for _ in 0..10_000 {
                let handle = plugin.memory_alloc(64)?;
                plugin.memory_free(handle)?;
            }
            Ok(())
        },
    );
    let alloc_big = Function::new(
        "alloc_big",
        [],
        [],
        UserData::new(()),
        |plugin: &mut CurrentPlugin, _, _, _| plugin.memory_alloc(4 << 20).map(|_| ()),
    );
    [tick, alloc_many, alloc_big]
        .into_iter()
        .map(|f| f.with_namespace("host"))
        .collect()
}

struct Fixture {
    engine: Engine,
    kernel: Module,
    guest: Module,
}

impl Fixture {
    fn new() -> Fixture {
        let engine = Wasmi::new_engine(&EngineOptions::default()).unwrap();
        let kernel = Wasmi::compile(&engine, KERNEL_WASM).unwrap();
        let guest = Wasmi::compile(&engine, &wat::parse_str(GUEST).unwrap()).unwrap();
        Fixture { engine, kernel, guest }
    }

    /// A store with the host functions defined and nothing instantiated yet.
    fn empty_store(&self) -> WasmiStore {
        let state = PluginState::new(Uuid::new_v4(), &Manifest::default());
        let mut store = Wasmi::new_store(
            &self.engine,
            &self.kernel,
            &Wasmi::prepare_functions(&self.engine, &LinkingInputs::kernel_only(&self.kernel)).unwrap(),
            state,
        )
        .unwrap();
        for f in host_functions() {
            store.define_function("host", f.name(), &f).unwrap();
        }
        store
    }

    /// A store with the guest instantiated.
    fn store(&self) -> Plugin {
        let mut store = self.empty_store();
        let instance = store.instantiate(&self.guest).unwrap_or_else(|e| panic!("{e}"));
        Plugin { store, instance }
    }
}

struct Plugin {
    store: WasmiStore,
    instance: Instance,
}

impl Plugin {
    fn export(&mut self, name: &str, shape: ExportShape) -> WasmiExport {
        self.store
            .export(&self.instance, name, shape)
            .unwrap_or_else(|| panic!("no export {name}"))
    }

    fn call(&mut self, name: &str) -> Result<i32, CallError> {
        let shape = match name {
            "answer" | "grow_forever" | "grow_once" | "pages" => ExportShape::I32Result,
            _ => ExportShape::NoResult,
        };
        let export = self.export(name, shape);
        self.store.call(&export)
    }

    /// Call `name` as the core does under a timeout: inside `enter_call`/`leave_call` of `interrupt`.
    fn call_interruptible(&mut self, interrupt: &Interrupt, name: &str) -> Result<i32, CallError> {
        interrupt.enter_call();
        let result = self.call(name);
        interrupt.leave_call();
        result
    }

    fn with_interrupts(mut self) -> (Plugin, Arc<Interrupt>) {
        let interrupt = Arc::new(Interrupt::default());
        self.store.enable_interrupts(interrupt.clone()).unwrap();
        (self, interrupt)
    }

    /// Fuel used by one call of `name` under a large limit.
    fn fuel_used_by(&mut self, name: &str) -> u64 {
        let limit = 1_000_000_000;
        self.store.set_fuel(limit).unwrap();
        self.call(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        limit - self.store.fuel_remaining().expect("fuel is limited")
    }
}

fn assert_usable(p: &mut Plugin) {
    assert_eq!(p.call("answer").unwrap(), 42, "the store stays usable");
}

#[track_caller]
fn assert_err(result: Result<i32, CallError>, expected: fn(&CallError) -> bool, what: &str) {
    match result {
        Err(e) if expected(&e) => {}
        Err(e) => panic!("expected {what}, got the error {e:?}"),
        Ok(rc) => panic!("expected {what}, got success ({rc})"),
    }
}

fn interrupted(e: &CallError) -> bool {
    matches!(e, CallError::Interrupted)
}

fn out_of_fuel(e: &CallError) -> bool {
    matches!(e, CallError::OutOfFuel)
}

fn memory_limit(e: &CallError) -> bool {
    matches!(e, CallError::MemoryLimit)
}

/// Requests on `interrupt`, for a [`Canceller`]: each says whether it reached a running call.
fn requests(interrupt: &Arc<Interrupt>) -> impl FnMut() -> bool + Send + 'static {
    let interrupt = interrupt.clone();
    move || interrupt.request()
}

/// Stop `p`'s running call from another thread after `after` (and again until it stops: a request before the call
/// has begun is dropped); returns how long the call took to stop after the first request that reached it.
fn interrupt_after(p: &mut Plugin, interrupt: &Arc<Interrupt>, name: &str, after: Duration) -> Duration {
    let canceller = Canceller::start(after, requests(interrupt));
    let result = p.call_interruptible(interrupt, name);
    let stopped = Instant::now();
    let requested = canceller.stop().expect("a request reached the running call");
    assert_err(result, interrupted, "an interrupt");
    stopped.saturating_duration_since(requested)
}

#[test]
fn interrupt_stops_an_infinite_loop_and_the_store_stays_usable() {
    with_deadline(Duration::from_secs(60), move || {
        let fixture = Fixture::new();
        let (mut p, interrupt) = fixture.store().with_interrupts();
        let mut latencies = Vec::new();
        for _ in 0..5 {
            latencies.push(interrupt_after(&mut p, &interrupt, "spin", Duration::from_millis(50)));
            assert_usable(&mut p);
        }
        eprintln!("cancel latency (spin), 5 runs: {latencies:?}");
        // A request outside a call is dropped, so the next call runs to completion.
        assert!(!interrupt.request());
        assert_eq!(p.call_interruptible(&interrupt, "answer").unwrap(), 42);
    });
}

#[test]
fn interrupt_stops_a_guest_that_keeps_calling_the_host() {
    with_deadline(Duration::from_secs(60), move || {
        let fixture = Fixture::new();
        let (mut p, interrupt) = fixture.store().with_interrupts();
        let latency = interrupt_after(&mut p, &interrupt, "ticks_forever", Duration::from_millis(50));
        eprintln!("cancel latency (host calls in a loop): {latency:?}");
        assert_usable(&mut p);
    });
}

#[test]
fn interrupt_stops_only_its_own_plugin() {
    with_deadline(Duration::from_secs(60), move || {
        let fixture = Fixture::new();
        let (mut a, interrupt_a) = fixture.store().with_interrupts();
        let (mut b, interrupt_b) = fixture.store().with_interrupts();
        let b_thread = {
            let interrupt_b = interrupt_b.clone();
            thread::spawn(move || {
                let result = b.call_interruptible(&interrupt_b, "spin");
                (Instant::now(), result)
            })
        };
        thread::sleep(Duration::from_millis(20));
        interrupt_after(&mut a, &interrupt_a, "spin", Duration::from_millis(20));
        let a_stopped = Instant::now();
        thread::sleep(Duration::from_millis(50));
        assert!(!b_thread.is_finished(), "interrupting one plug-in stopped another");
        let canceller = Canceller::start(Duration::ZERO, requests(&interrupt_b));
        let (b_stopped, result) = b_thread.join().unwrap();
        canceller.stop().expect("a request reached b's running call");
        assert_err(result, interrupted, "an interrupt");
        assert!(b_stopped > a_stopped);
    });
}

#[test]
fn fuel_limit_stops_a_loop_and_reports_zero_remaining() {
    with_deadline(Duration::from_secs(60), move || {
        let fixture = Fixture::new();
        for interrupts in [false, true] {
            let mut p = fixture.store();
            if interrupts {
                p = p.with_interrupts().0;
            }
            // Below one slice and above several: the user's limit holds either way.
            for limit in [10_000, 3_500_000] {
                p.store.set_fuel(limit).unwrap();
                assert_err(p.call("spin"), out_of_fuel, "running out of fuel");
                assert_eq!(
                    p.store.fuel_remaining(),
                    Some(0),
                    "interrupts: {interrupts}, limit {limit}"
                );
            }
            p.store.set_fuel(1_000_000).unwrap();
            assert_usable(&mut p);
            let left = p.store.fuel_remaining().unwrap();
            assert!(left > 0 && left < 1_000_000, "{left}");
        }
    });
}

#[test]
fn fuel_means_the_same_with_and_without_slices() {
    let fixture = Fixture::new();
    let mut plain = fixture.store();
    let (mut sliced, _interrupt) = fixture.store().with_interrupts();
    for name in ["burn", "ticks", "alloc_many"] {
        // The first call costs more: it translates the function (lazily, once per engine), and the first kernel
        // allocation of a store sets up its heap.
        plain.fuel_used_by(name);
        sliced.fuel_used_by(name);
        let expected = plain.fuel_used_by(name);
        assert!(expected > 0, "{name} uses fuel");
        assert_eq!(sliced.fuel_used_by(name), expected, "{name}: fuel used in slices");
    }
    let burn = plain.fuel_used_by("burn");
    assert!(burn > 2_000_000, "burn spans several slices ({burn})");
}

#[test]
fn no_fuel_limit_means_none_remaining() {
    let fixture = Fixture::new();
    let mut p = fixture.store();
    assert_eq!(p.store.fuel_remaining(), None);
    p.call("burn").unwrap();
    assert_eq!(p.store.fuel_remaining(), None);
}

#[test]
fn running_out_of_fuel_inside_a_host_function_is_running_out_of_fuel() {
    let fixture = Fixture::new();
    for interrupts in [false, true] {
        let mut p = fixture.store();
        if interrupts {
            p = p.with_interrupts().0;
        }
        // The host function makes 20,000 kernel calls: the limit runs out in one of them.
        p.store.set_fuel(50_000).unwrap();
        assert_err(p.call("alloc_many"), out_of_fuel, "running out of fuel");
        assert_eq!(p.store.fuel_remaining(), Some(0));
        p.store.set_fuel(100_000_000).unwrap();
        p.call("alloc_many").unwrap();
        assert_usable(&mut p);
    }
}

#[test]
fn memory_budget_makes_growth_past_it_fail_the_call() {
    let fixture = Fixture::new();
    for interrupts in [false, true] {
        let mut p = fixture.store();
        if interrupts {
            p = p.with_interrupts().0;
        }
        p.store.set_memory_budget(Some(4 * PAGE)).unwrap();
        // A hard error, not `memory.grow = -1` (which would make the export return -1).
        assert_err(p.call("grow_forever"), memory_limit, "the memory limit");
        assert_eq!(p.call("pages").unwrap(), 5, "1 initial page + the 4-page budget");
        assert_err(p.call("grow_once"), memory_limit, "the memory limit");
        assert_usable(&mut p);
        p.store.set_memory_budget(None).unwrap();
        assert_eq!(p.call("grow_once").unwrap(), 5);
        assert_eq!(p.call("pages").unwrap(), 6);
    }
}

#[test]
fn memory_budget_counts_new_memories_from_zero() {
    let fixture = Fixture::new();
    let mut store = fixture.empty_store();
    store.set_memory_budget(Some(PAGE)).unwrap();
    let two_pages = Wasmi::compile(&fixture.engine, &wat::parse_str("(module (memory 2))").unwrap()).unwrap();
    match store.instantiate(&two_pages) {
        Err(CallError::MemoryLimit) => {}
        Err(e) => panic!("expected the memory limit, got {e:?}"),
        Ok(_) => panic!("a 2-page memory fit a 1-page budget"),
    }
    // The guest's single page uses up the budget exactly.
    let instance = store.instantiate(&fixture.guest).unwrap();
    let mut p = Plugin { store, instance };
    assert_err(p.call("grow_once"), memory_limit, "the memory limit");
    assert_usable(&mut p);
}

#[test]
fn memory_budget_covers_the_kernel() {
    let fixture = Fixture::new();
    let mut p = fixture.store();
    p.store.set_memory_budget(Some(0)).unwrap();
    // From the host between calls: the input does not fit.
    match p.store.call_kernel(KernelFn::CallBegin, 2 << 20) {
        Err(CallError::MemoryLimit) => {}
        other => panic!("expected the memory limit, got {other:?}"),
    }
    // From a host function inside a call: the kernel's growth fails the call, not just the host function.
    assert_err(p.call("alloc_big"), memory_limit, "the memory limit");
    p.store.set_memory_budget(None).unwrap();
    assert_ne!(p.store.call_kernel(KernelFn::CallBegin, 2 << 20).unwrap(), 0);
    p.call("alloc_big").unwrap();
    assert_ne!(p.store.call_kernel(KernelFn::Alloc, 16).unwrap(), 0);
}

#[test]
fn seam_reports_the_guest_values() {
    // call_function, the slow general path, converts values both ways.
    let fixture = Fixture::new();
    let mut p = fixture.store();
    let instance = p.instance;
    assert_eq!(p.store.call_function(&instance, "answer", &[]).unwrap(), [Val::I32(42)]);
    let kernel = p.store.kernel_instance();
    let handle = p.store.call_function(&kernel, "alloc", &[Val::I64(10)]).unwrap();
    let length = p.store.call_function(&kernel, "length", &handle).unwrap();
    assert_eq!(length, [Val::I64(10)]);
}
