//! Interrupts ([`PluginStore::enable_interrupts`]): a request from another thread stops the running call of its own
//! store, promptly, wherever the guest is (a loop, a loop of host calls, a start function), and leaves the store
//! usable; a request between calls is dropped.
//!
//! Every test runs under a deadline, so that an interrupt that never lands fails the test instead of hanging it.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use extism_core::Interrupt;
use extism_core::backend::{EngineApi, PluginStore};

use crate::deadline::{Canceller, with_deadline};
use crate::guests::{BUSY, ENDLESS_START, host_functions};
use crate::plugin::{Plugin, assert_interrupted};
use crate::setup::{Setup, begin_call};

/// How long a test may take before it counts as hanging.
const DEADLINE: Duration = Duration::from_secs(60);

/// How soon after the request a call must stop: promptly, not at some distant safe point, with room for a loaded
/// machine that preempts the spinning thread.
const PROMPTLY: Duration = Duration::from_secs(1);

/// Requests on `interrupt`, for a [`Canceller`]: each says whether it reached a running call.
fn requests(interrupt: &Arc<Interrupt>) -> impl FnMut() -> bool + Send + 'static {
    let interrupt = interrupt.clone();
    move || interrupt.request()
}

/// Call `name` and interrupt it from another thread after `after` (and again until it stops: a request before the
/// call has begun is dropped); returns how long the call took to stop after the first request that reached it.
fn interrupt_after<B: EngineApi>(
    p: &mut Plugin<B>,
    interrupt: &Arc<Interrupt>,
    name: &str,
    after: Duration,
) -> Duration {
    let canceller = Canceller::start(after, requests(interrupt));
    let result = p.call_interruptible(interrupt, name);
    let stopped = Instant::now();
    let requested = canceller.stop().expect("a request reached the running call");
    assert_interrupted::<B, _>(result);
    stopped.saturating_duration_since(requested)
}

/// An endless loop stops, promptly, every time; the store stays usable; a request outside a call is dropped.
pub fn stop_a_spinning_call_and_leave_the_store_usable<B: EngineApi>() {
    with_deadline(DEADLINE, || {
        let setup = Setup::<B>::new();
        let mut p = Plugin::new(&setup, BUSY, &host_functions());
        let interrupt = p.enable_interrupts();
        for _ in 0..3 {
            let latency = interrupt_after(&mut p, &interrupt, "spin", Duration::from_millis(50));
            assert!(latency < PROMPTLY, "{}: stopped {latency:?} after the request", B::NAME);
            p.assert_usable();
        }
        assert!(!interrupt.request(), "no call is running");
        assert_eq!(
            p.call_interruptible(&interrupt, "answer").ok(),
            Some(42),
            "the next call runs to completion"
        );
    });
}

/// A guest that spends its time calling the host stops too.
pub fn stop_a_guest_that_keeps_calling_the_host<B: EngineApi>() {
    with_deadline(DEADLINE, || {
        let setup = Setup::<B>::new();
        let mut p = Plugin::new(&setup, BUSY, &host_functions());
        let interrupt = p.enable_interrupts();
        let latency = interrupt_after(&mut p, &interrupt, "ticks_forever", Duration::from_millis(50));
        assert!(latency < PROMPTLY, "{}: stopped {latency:?} after the request", B::NAME);
        p.assert_usable();
    });
}

/// Two stores of one engine: interrupting one leaves the other running (even where the engine's mechanism, such as
/// a wasmtime epoch, reaches every store of the engine), until it is interrupted in turn.
pub fn stop_only_their_own_store<B: EngineApi>() {
    with_deadline(DEADLINE, || {
        let setup = Setup::<B>::new();
        let mut a = Plugin::new(&setup, BUSY, &host_functions());
        let mut b = Plugin::new(&setup, BUSY, &host_functions());
        let interrupt_a = a.enable_interrupts();
        let interrupt_b = b.enable_interrupts();
        let b_thread = {
            let interrupt_b = interrupt_b.clone();
            thread::spawn(move || {
                let result = b.call_interruptible(&interrupt_b, "spin");
                (result, b)
            })
        };
        thread::sleep(Duration::from_millis(20));
        let latency = interrupt_after(&mut a, &interrupt_a, "spin", Duration::from_millis(20));
        assert!(latency < PROMPTLY, "{}: stopped {latency:?} after the request", B::NAME);
        thread::sleep(Duration::from_millis(50));
        assert!(
            !b_thread.is_finished(),
            "{}: interrupting one store stopped another",
            B::NAME
        );

        let canceller = Canceller::start(Duration::ZERO, requests(&interrupt_b));
        let (result, mut b) = b_thread.join().unwrap();
        canceller.stop().expect("a request reached b's running call");
        assert_interrupted::<B, _>(result);
        a.assert_usable();
        b.assert_usable();
    });
}

/// A request made after the core entered the call but before the engine runs guest code still stops it.
pub fn requested_before_the_engine_call_still_stop_it<B: EngineApi>() {
    with_deadline(DEADLINE, || {
        let setup = Setup::<B>::new();
        let mut p = Plugin::new(&setup, BUSY, &host_functions());
        let interrupt = p.enable_interrupts();
        interrupt.enter_call();
        assert!(interrupt.request());
        let result = p.call("spin");
        interrupt.leave_call();
        assert_interrupted::<B, _>(result);
        p.assert_usable();
    });
}

/// A start function that never returns stops when interrupted: instantiating runs guest code too.
pub fn stop_a_start_function<B: EngineApi>() {
    with_deadline(DEADLINE, || {
        let setup = Setup::<B>::new();
        let module = setup.compile(ENDLESS_START);
        let mut store = setup.store(&[&module], &[]);
        let interrupt = Arc::new(Interrupt::default());
        store.enable_interrupts(interrupt.clone()).unwrap();
        let canceller = Canceller::start(Duration::from_millis(50), requests(&interrupt));
        interrupt.enter_call();
        let result = store.instantiate(&module);
        interrupt.leave_call();
        canceller.stop().expect("a request reached the start function");
        assert_interrupted::<B, _>(result);
        // The kernel still answers.
        assert_ne!(begin_call::<B>(&mut store, 10).unwrap(), 0);
    });
}
