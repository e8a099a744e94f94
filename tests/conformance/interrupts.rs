//! Interrupts and limits at the edges of a call: a cancel racing with the end of a call, limits hit inside built-in
//! host functions, HTTP bodies that stall, `memory.grow` past the budget, guest code that runs outside the export
//! (start functions, initialisers, command modules), WASI sleeps, and the fuel an exhausted call reports. Every test
//! that waits on a timeout or a cancel has its own deadline (`deadline.rs`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use extism::{Manifest, MemoryOptions, Plugin, PluginBuilder, UserData, Wasm};

use crate::common::{cancel_of, root_cause};
use crate::deadline::{cancelling, in_child_process, with_deadline};

/// A plug-in made of one WAT module.
fn wat(backend: extism::Backend, source: &str, manifest: Manifest) -> PluginBuilder<'static> {
    PluginBuilder::new(manifest.with_wasm(Wasm::data(source.as_bytes().to_vec()))).with_backend(backend)
}

/// A quick call that still spends a little time in a loop, where every engine checks for a cancel.
const QUICK: &str = r#"(module
    (func (export "quick") (result i32)
        (local $i i32)
        (local.set $i (i32.const 2000))
        (loop $l (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $l (local.get $i)))
        (i32.const 0)))"#;

/// How long the cancel race runs on each engine.
const RACE_FOR: Duration = Duration::from_secs(1);
/// The race goes on past [`RACE_FOR`] until this many calls were cancelled...
const RACE_MIN_CANCELLED: usize = 10;
/// ...but not past this.
const RACE_AT_MOST: Duration = Duration::from_secs(30);
/// Threads cancelling in the race: two, so that on a machine with two cores one is often preempted in the middle of
/// a cancel, which is what lets it land after the call it saw has ended.
const RACE_CANCELLERS: usize = 2;
/// Quick calls per round of the race; every round ends with a call that no cancel may reach.
const RACE_CALLS_PER_ROUND: usize = 10;

backend_test! {
    /// A cancel from another thread that lands just as a call ends (or between calls) is dropped: it never stops,
    /// let alone bricks, a later call. For about a second, rounds of quick calls race with threads cancelling in a
    /// tight loop (a call may then fail with "timeout": the cancel reached it while it ran); after each round the
    /// cancellers pause, and once none is inside a cancel the next call must succeed. Many rounds, so that many
    /// times a cancel that saw the round's last call running is still in flight when that call ends.
    fn a_cancel_racing_with_the_end_of_a_call_never_poisons_later_calls(backend) {
        with_deadline(Duration::from_secs(120), move || {
            let mut p = wat(backend, QUICK, Manifest::default()).build().unwrap();
            let handle = p.cancel_handle();
            let (racing, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
            // Cancellers that have started cancelling in this round.
            let spinning = Arc::new(AtomicUsize::new(0));
            // Passed at the start and at the end of every round, by the caller and every canceller.
            let barrier = Arc::new(Barrier::new(RACE_CANCELLERS + 1));
            let cancellers: Vec<_> = (0..RACE_CANCELLERS)
                .map(|_| {
                    let (racing, stop, barrier, handle) = (racing.clone(), stop.clone(), barrier.clone(), handle.clone());
                    let spinning = spinning.clone();
                    thread::spawn(move || loop {
                        barrier.wait();
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        spinning.fetch_add(1, Ordering::SeqCst);
                        while racing.load(Ordering::Relaxed) {
                            handle.cancel().unwrap();
                        }
                        barrier.wait();
                    })
                })
                .collect();
            let (mut calls, mut cancelled, mut rounds) = (0, 0, 0);
            let started = Instant::now();
            // At least `RACE_FOR`, and on until some cancels reached a call (a loaded machine may keep the cancellers
            // from running while calls do), but no longer than `RACE_AT_MOST`.
            while started.elapsed() < RACE_FOR || (cancelled < RACE_MIN_CANCELLED && started.elapsed() < RACE_AT_MOST) {
                racing.store(true, Ordering::SeqCst);
                // Every canceller waits at the barrier: none has counted itself for this round yet.
                spinning.store(0, Ordering::SeqCst);
                barrier.wait();
                // Calls start only once every canceller is cancelling: on a loaded machine a canceller woken by the
                // barrier may otherwise first run after the round's calls (quick on a JIT), and nothing races.
                while spinning.load(Ordering::SeqCst) < RACE_CANCELLERS {
                    thread::yield_now();
                }
                for _ in 0..RACE_CALLS_PER_ROUND {
                    calls += 1;
                    if let Err(e) = p.call::<&str, &[u8]>("quick", "") {
                        assert_eq!(root_cause(&e), "timeout", "{e:#}");
                        cancelled += 1;
                    }
                }
                racing.store(false, Ordering::SeqCst);
                barrier.wait();
                // No cancel is running now: a failure here is a cancel kept from the round.
                rounds += 1;
                p.call::<&str, &[u8]>("quick", "")
                    .unwrap_or_else(|e| panic!("the clean call after round {rounds} failed ({cancelled} of {calls} calls cancelled): {e:#}"));
            }
            stop.store(true, Ordering::SeqCst);
            barrier.wait();
            for canceller in cancellers {
                canceller.join().unwrap();
            }
            eprintln!("{backend}: {rounds} rounds, {cancelled} of {calls} racing calls cancelled");
            // Otherwise the cancels (almost) never reached a call, and nothing raced.
            assert!(cancelled >= RACE_MIN_CANCELLED, "only {cancelled} of {calls} calls were cancelled in {RACE_AT_MOST:?}");
        });
    }
}

/// Calls `config_get` in a loop: most of the time is spent in the host function and the kernel calls it makes.
const CONFIG_GET_LOOP: &str = r#"(module
    (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
    (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
    (import "extism:host/env" "config_get" (func $config_get (param i64) (result i64)))
    (func (export "spin") (result i32)
        (local $key i64)
        (loop $again
            (local.set $key (call $alloc (i64.const 1)))
            (call $store_u8 (local.get $key) (i32.const 107))
            (drop (call $config_get (local.get $key)))
            (br $again))
        (i32.const 0)))"#;

backend_test! {
    /// Fuel running out inside a built-in host function (in one of the kernel calls it makes) is "out of fuel", not
    /// the host function's own error about the handle it could not read. Every fuel limit in a range is tried, so
    /// that some run dry inside the host function on engines whose kernel is metered.
    fn fuel_running_out_inside_a_builtin_host_function_is_out_of_fuel(backend) {
        // Only fuel stops the loop: the deadline makes a regression fail instead of hanging.
        with_deadline(Duration::from_secs(120), move || {
            let manifest = Manifest::default().with_config_key("k", "value");
            for fuel in (300..1300).step_by(7) {
                let mut p = wat(backend, CONFIG_GET_LOOP, manifest.clone()).with_fuel_limit(fuel).build().unwrap();
                let (e, rc) = p.call_get_error_code::<&str, &[u8]>("spin", "").unwrap_err();
                assert_eq!(format!("{e:#}"), "plugin ran out of fuel", "fuel limit {fuel}");
                assert_eq!(rc, -1);
            }
        });
    }
}

backend_test! {
    /// The timeout passing while a built-in host function runs is "timeout" (return code 134), like any timeout.
    fn a_timeout_inside_a_builtin_host_function_is_a_timeout(backend) {
        with_deadline(Duration::from_secs(120), move || {
            let manifest = Manifest::default().with_config_key("k", "value").with_timeout(Duration::from_millis(30));
            let mut p = wat(backend, CONFIG_GET_LOOP, manifest).build().unwrap();
            for _ in 0..40 {
                let (e, rc) = p.call_get_error_code::<&str, &[u8]>("spin", "").unwrap_err();
                assert_eq!(format!("{e:#}"), "timeout");
                assert_eq!(rc, 134);
            }
        });
    }
}

backend_test! {
    /// An HTTP response whose body stalls past the call's timeout fails the call with the plain timeout error: the
    /// same text and return code as any timeout.
    #[cfg(feature = "http")]
    fn an_http_body_that_stalls_past_the_timeout_is_a_timeout(backend) {
        with_deadline(Duration::from_secs(60), move || {
            let server = crate::http_server::TestServer::start();
            let manifest = Manifest::default()
                .with_allowed_host("127.0.0.1")
                .with_timeout(Duration::from_millis(500))
                .with_wasm(Wasm::data(crate::common::wasm("http_client")));
            let mut p = PluginBuilder::new(manifest).with_backend(backend).build().unwrap();
            let request = serde_json::json!({"url": server.url("/stall-body/3000")}).to_string();
            let started = Instant::now();
            let (e, rc) = p.call_get_error_code::<&str, &[u8]>("request", &request).unwrap_err();
            assert_eq!(format!("{e:#}"), "timeout");
            assert_eq!(rc, 134);
            assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
        });
    }
}

backend_test! {
    /// A `memory.grow` refused by the manifest's memory budget stops the call at the grow ("oom"): the guest never
    /// sees -1 and never runs on into a host call.
    fn memory_grow_past_the_budget_stops_at_the_grow(backend) {
        const GUEST: &str = r#"(module
            (import "extism:host/user" "witness" (func $witness))
            (memory (export "memory") 1)
            (func (export "grow") (result i32)
                (drop (memory.grow (i32.const 100)))
                (call $witness)
                (i32.const 0)))"#;
        let witnessed = Arc::new(AtomicUsize::new(0));
        let seen = witnessed.clone();
        let manifest = Manifest::default().with_memory_options(MemoryOptions::new().with_max_pages(4));
        let mut p = wat(backend, GUEST, manifest)
            .with_function("witness", [], [], UserData::new(()), move |_, _, _, _| {
                seen.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .build()
            .unwrap();
        let e = p.call::<&str, &[u8]>("grow", "").unwrap_err();
        assert_eq!(root_cause(&e), "oom");
        assert_eq!(witnessed.load(Ordering::SeqCst), 0, "the guest ran on after the refused grow");
    }
}

/// How long a child process may take for a test of guest code that loops outside the export.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

/// The manifest of a plug-in that must be stopped by a 300 ms timeout.
fn timing_out() -> Manifest {
    Manifest::default().with_timeout(Duration::from_millis(300))
}

/// Guest code that never returns, in every place the runtime runs guest code besides the export: a start function,
/// a reactor's `_initialize`, Haskell's `hs_init`, `__wasm_call_ctors`.
const MAIN_START_LOOP: &str = r#"(module
    (func $forever (loop $l (br $l)))
    (start $forever)
    (func (export "run") (result i32) (i32.const 0)))"#;
const INITIALIZE_LOOP: &str = r#"(module
    (memory (export "memory") 1)
    (func (export "_initialize") (loop $l (br $l)))
    (func (export "run") (result i32) (i32.const 0)))"#;
const HS_INIT_LOOP: &str = r#"(module
    (memory (export "memory") 1)
    (func (export "hs_init") (param i32 i32) (loop $l (br $l)))
    (func (export "run") (result i32) (i32.const 0)))"#;
const CTORS_LOOP: &str = r#"(module
    (memory (export "memory") 1)
    (func (export "__wasm_call_ctors") (loop $l (br $l)))
    (func (export "run") (result i32) (i32.const 0)))"#;

backend_test! {
    /// The main module's start function and guest-runtime initialisers run in the first call, under its timeout.
    fn main_module_initialisers_that_loop_time_out(backend) {
        in_child_process(CHILD_DEADLINE, || {
            for (what, source) in [
                ("start function", MAIN_START_LOOP),
                ("_initialize", INITIALIZE_LOOP),
                ("hs_init", HS_INIT_LOOP),
                ("__wasm_call_ctors", CTORS_LOOP),
            ] {
                let mut p = wat(backend, source, timing_out()).build().unwrap();
                let (e, rc) = p.call_get_error_code::<&str, &[u8]>("run", "").unwrap_err();
                assert_eq!(root_cause(&e), "timeout", "{what}: {e:#}");
                assert_eq!(rc, 134, "{what}");
                // And again: the next call instantiates again, and times out again.
                let e = p.call::<&str, &[u8]>("run", "").unwrap_err();
                assert_eq!(root_cause(&e), "timeout", "{what}, second call: {e:#}");
            }
        });
    }
}

backend_test! {
    /// The same initialisers, without a timeout, stop for a cancel from another thread.
    fn main_module_initialisers_that_loop_stop_for_cancel(backend) {
        in_child_process(CHILD_DEADLINE, || {
            for (what, source) in [("start function", MAIN_START_LOOP), ("_initialize", INITIALIZE_LOOP), ("hs_init", HS_INIT_LOOP)] {
                let mut p = wat(backend, source, Manifest::default()).build().unwrap();
                let cancel = cancel_of(p.cancel_handle());
                let e = cancelling(Duration::from_millis(300), cancel, || p.call::<&str, &[u8]>("run", "")).unwrap_err();
                assert_eq!(root_cause(&e), "timeout", "{what}: {e:#}");
            }
        });
    }
}

/// Call `export` of `p`, which loops: under its manifest's timeout if `timeout`, else cancelled from another thread
/// after 300 ms (and again until the call returns).
fn call_timing_out_or_cancelled(p: &mut Plugin, export: &str, timeout: bool) -> Result<Vec<u8>, extism::Error> {
    let cancel = cancel_of(p.cancel_handle());
    let mut call = || p.call::<&str, &[u8]>(export, "").map(<[u8]>::to_vec);
    if timeout {
        call()
    } else {
        cancelling(Duration::from_millis(300), cancel, call)
    }
}

backend_test! {
    /// The same initialisers, without a timeout but with a fuel limit, run out of fuel, in every call.
    fn main_module_initialisers_that_loop_run_out_of_fuel(backend) {
        in_child_process(CHILD_DEADLINE, || {
            for (what, source) in [
                ("start function", MAIN_START_LOOP),
                ("_initialize", INITIALIZE_LOOP),
                ("hs_init", HS_INIT_LOOP),
                ("__wasm_call_ctors", CTORS_LOOP),
            ] {
                let mut p = wat(backend, source, Manifest::default()).with_fuel_limit(100_000).build().unwrap();
                for call in ["first", "second"] {
                    let (e, rc) = p.call_get_error_code::<&str, &[u8]>("run", "").unwrap_err();
                    assert_eq!(root_cause(&e), "plugin ran out of fuel", "{what}, {call} call: {e:#}");
                    assert_eq!(rc, -1, "{what}, {call} call");
                }
            }
        });
    }
}

/// A linked module whose start function loops, and a main module that imports from it.
fn linked_start_loop(manifest: Manifest) -> Manifest {
    const LIB: &str = r#"(module
        (func $forever (loop $l (br $l)))
        (start $forever)
        (func (export "seven") (result i32) (i32.const 7)))"#;
    const MAIN: &str = r#"(module
        (import "lib" "seven" (func $seven (result i32)))
        (func (export "run") (result i32) (call $seven)))"#;
    manifest
        .with_wasm(Wasm::data(LIB.as_bytes().to_vec()).with_name("lib"))
        .with_wasm(Wasm::data(MAIN.as_bytes().to_vec()))
}

backend_test! {
    /// Creating a plug-in runs the start functions of its linked modules, under the manifest's timeout: one that
    /// loops makes creation fail with "timeout" instead of hanging.
    fn a_linked_start_function_that_loops_fails_creation_with_timeout(backend) {
        in_child_process(CHILD_DEADLINE, || {
            let manifest = linked_start_loop(timing_out());
            let Err(e) = PluginBuilder::new(manifest).with_backend(backend).build() else {
                panic!("creating a plug-in whose linked start function never returns must fail");
            };
            assert_eq!(root_cause(&e), "timeout", "{e:#}");
        });
    }
}

backend_test! {
    /// After a call to `_start` the next call rebuilds the store, running the linked modules' start functions again,
    /// inside that call: under its timeout and cancel. Here a linked module's start function loops from its second
    /// run on (it asks a host function which run it is).
    fn start_functions_rerun_after_start_stop_for_timeout_and_cancel(backend) {
        in_child_process(CHILD_DEADLINE, || {
            const LIB: &str = r#"(module
                (import "extism:host/user" "runs" (func $runs (result i32)))
                (func $start (if (i32.gt_u (call $runs) (i32.const 1)) (then (loop $l (br $l)))))
                (start $start)
                (func (export "seven") (result i32) (i32.const 7)))"#;
            const MAIN: &str = r#"(module
                (import "lib" "seven" (func $seven (result i32)))
                (func (export "_start"))
                (func (export "run") (result i32) (drop (call $seven)) (i32.const 0)))"#;
            for timeout in [true, false] {
                let runs = Arc::new(AtomicUsize::new(0));
                let counter = runs.clone();
                let manifest = if timeout { timing_out() } else { Manifest::default() }
                    .with_wasm(Wasm::data(LIB.as_bytes().to_vec()).with_name("lib"))
                    .with_wasm(Wasm::data(MAIN.as_bytes().to_vec()));
                let mut p = PluginBuilder::new(manifest)
                    .with_backend(backend)
                    .with_function("runs", [], [extism::ValType::I32], UserData::new(()), move |_, _, out, _| {
                        out[0] = extism::Val::I32(counter.fetch_add(1, Ordering::SeqCst) as i32 + 1);
                        Ok(())
                    })
                    .build()
                    .unwrap();
                p.call::<&str, &[u8]>("_start", "").unwrap();
                let e = call_timing_out_or_cancelled(&mut p, "run", timeout).unwrap_err();
                assert_eq!(root_cause(&e), "timeout", "timeout {timeout}: {e:#}");
                assert!(runs.load(Ordering::SeqCst) >= 2);
            }
        });
    }
}

backend_test! {
    /// A linked command module runs on a fresh instance for every call into it; a loop there, in its start function
    /// or in the called export, stops for the timeout and for cancel.
    fn a_linked_command_module_that_loops_stops_for_timeout_and_cancel(backend) {
        in_child_process(CHILD_DEADLINE, || {
            // The start function loops once the host arms it: not while the plug-in is created (which may
            // instantiate the module to link it), only in calls.
            const COMMAND_START_LOOP: &str = r#"(module
                (import "extism:host/user" "armed" (func $armed (result i32)))
                (memory (export "memory") 1)
                (func $start (if (call $armed) (then (loop $l (br $l)))))
                (start $start)
                (func (export "_start"))
                (func (export "spin") (result i32) (i32.const 0)))"#;
            const COMMAND_EXPORT_LOOP: &str = r#"(module
                (import "extism:host/user" "armed" (func $armed (result i32)))
                (memory (export "memory") 1)
                (func (export "_start"))
                (func (export "spin") (result i32) (if (call $armed) (then (loop $l (br $l)))) (i32.const 0)))"#;
            const MAIN: &str = r#"(module
                (import "cmd" "spin" (func $spin (result i32)))
                (func (export "run") (result i32) (call $spin)))"#;
            for (what, command) in [("start function", COMMAND_START_LOOP), ("export", COMMAND_EXPORT_LOOP)] {
                for timeout in [true, false] {
                    let armed = Arc::new(AtomicBool::new(false));
                    let is_armed = armed.clone();
                    let manifest = if timeout { timing_out() } else { Manifest::default() }
                        .with_wasm(Wasm::data(command.as_bytes().to_vec()).with_name("cmd"))
                        .with_wasm(Wasm::data(MAIN.as_bytes().to_vec()));
                    let mut p = PluginBuilder::new(manifest)
                        .with_backend(backend)
                        .with_function("armed", [], [extism::ValType::I32], UserData::new(()), move |_, _, out, _| {
                            out[0] = extism::Val::I32(is_armed.load(Ordering::SeqCst).into());
                            Ok(())
                        })
                        .build()
                        .unwrap_or_else(|e| panic!("{what}: {e:#}"));
                    // Unarmed, the command runs through: the loop, not anything else, is what stops.
                    p.call::<&str, &[u8]>("run", "").unwrap_or_else(|e| panic!("{what}, unarmed: {e:#}"));
                    armed.store(true, Ordering::SeqCst);
                    let e = call_timing_out_or_cancelled(&mut p, "run", timeout).unwrap_err();
                    assert_eq!(root_cause(&e), "timeout", "{what}, timeout {timeout}: {e:#}");
                }
            }
        });
    }
}

/// Sleeps 60 s with `poll_oneoff`: one relative clock subscription (what WASI libc's `sleep` makes), or two.
fn sleeper(subscriptions: u32) -> String {
    format!(
        r#"(module
            (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1)
            (func $clock (param $at i32) (param $seconds i64)
                (i64.store (local.get $at) (i64.const 7))
                (i32.store8 (i32.add (local.get $at) (i32.const 8)) (i32.const 0))
                (i32.store (i32.add (local.get $at) (i32.const 16)) (i32.const 1))
                (i64.store (i32.add (local.get $at) (i32.const 24)) (i64.mul (local.get $seconds) (i64.const 1000000000)))
                (i64.store (i32.add (local.get $at) (i32.const 32)) (i64.const 0))
                (i32.store16 (i32.add (local.get $at) (i32.const 40)) (i32.const 0)))
            (func (export "sleep") (result i32)
                (call $clock (i32.const 0) (i64.const 60))
                (call $clock (i32.const 48) (i64.const 61))
                (call $poll (i32.const 0) (i32.const 1024) (i32.const {subscriptions}) (i32.const 2048))))"#
    )
}

backend_test! {
    /// A WASI sleep of 60 s wakes for the plug-in's 500 ms timeout, and for cancel.
    fn wasi_sleep_wakes_for_timeout_and_cancel(backend) {
        with_deadline(Duration::from_secs(60), move || {
            for subscriptions in [1, 2] {
                for timeout in [true, false] {
                    let manifest = if timeout {
                        Manifest::default().with_timeout(Duration::from_millis(500))
                    } else {
                        Manifest::default()
                    };
                    let mut p = wat(backend, &sleeper(subscriptions), manifest).with_wasi(true).build().unwrap();
                    let started = Instant::now();
                    let call = |p: &mut Plugin| p.call_get_error_code::<&str, &[u8]>("sleep", "").map(|_| ());
                    let (e, rc) = if timeout {
                        call(&mut p)
                    } else {
                        let cancel = cancel_of(p.cancel_handle());
                        cancelling(Duration::from_millis(500), cancel, || call(&mut p))
                    }
                    .unwrap_err();
                    assert_eq!(format!("{e:#}"), "timeout", "{subscriptions} subscriptions, timeout {timeout}");
                    assert_eq!(rc, 134);
                    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
                }
            }
        });
    }
}

backend_test! {
    /// After a call runs out of fuel, `fuel_consumed` reports what the export used (all of it), whatever the limit:
    /// fuel limits charge the export only, not the kernel's work around it.
    fn fuel_consumed_is_reported_after_running_out(backend) {
        const LOOP: &str = r#"(module (func (export "spin") (result i32) (loop $l (br $l)) (i32.const 0)))"#;
        // Only fuel stops the loop: the deadline makes a regression fail instead of hanging.
        with_deadline(Duration::from_secs(120), move || {
            for limit in [1, 10, 100, 1_000, 100_000] {
                let mut p: Plugin = wat(backend, LOOP, Manifest::default()).with_fuel_limit(limit).build().unwrap();
                let e = p.call::<&str, &[u8]>("spin", "").unwrap_err();
                assert_eq!(root_cause(&e), "plugin ran out of fuel", "limit {limit}");
                let used = p.fuel_consumed();
                assert!(matches!(used, Some(used) if used > 0 && used <= limit), "limit {limit}: {used:?}");
            }
        });
    }
}

/// A module whose `run` export calls, once, a function of `n` pairs of `i32.const 1` / `drop` (three bytes each).
fn large_function(n: usize) -> String {
    format!(
        r#"(module
            (func $large {}) 
            (func (export "run") (result i32) (call $large) (i32.const 0)))"#,
        "(drop (i32.const 1))".repeat(n)
    )
}

backend_test! {
    /// A function met for the first time under a timeout runs, whatever its size. wasmi translates functions when
    /// they first run and by default charges fuel for it (7 per byte); more than one interrupt slice's worth (1M) made
    /// the call fail as "out of fuel" without any fuel limit. 120,000 pairs: 360 KB of code, ~2.5M units.
    fn a_large_function_runs_for_the_first_time_under_a_timeout(backend) {
        with_deadline(Duration::from_secs(120), move || {
            let manifest = Manifest::default().with_timeout(Duration::from_secs(60));
            let mut plugin = wat(backend, &large_function(120_000), manifest).build().unwrap();
            let rc = plugin.call_get_error_code::<&str, &[u8]>("run", "").map(|_| 0).map_err(|(e, rc)| format!("{e:#} ({rc})"));
            assert_eq!(rc, Ok(0));
        });
    }
}
