//! Fuel ([`PluginStore::set_fuel`], [`PluginStore::fuel_remaining`]): a limit stops guest code wherever it runs (loops,
//! start functions, loops of host calls), is spent to 0 when it runs out, refills, means the same with interrupts
//! enabled, and covers every module of a store, or the engine says it cannot.
//!
//! Tests whose guest only fuel stops run under a deadline, so that a limit that does not hold fails instead of hanging.

use std::time::Duration;

use extism_core::PluginState;
use extism_core::backend::{EngineApi, PluginStore};

use crate::capabilities::{Capability, assert_refusal, supports};
use crate::deadline::with_deadline;
use crate::guests::{BUSY, ENDLESS_START, host_functions};
use crate::plugin::{Plugin, assert_out_of_fuel, assert_trap, call};
use crate::setup::Setup;

/// How long a test may take before it counts as hanging.
const DEADLINE: Duration = Duration::from_secs(60);

/// Running out stops an endless loop and leaves 0, with or without interrupts enabled and whatever the limit (below
/// and above the slices of an engine that meters in slices, such as wasmi); a refill lets calls run again, and a
/// call uses a little of it.
pub fn runs_out_and_refills<B: EngineApi>() {
    with_deadline(DEADLINE, || {
        let setup = Setup::<B>::metering_fuel();
        for interrupts in [false, true] {
            let mut p = Plugin::new(&setup, BUSY, &host_functions());
            if interrupts {
                p.enable_interrupts();
            }
            for limit in [10_000, 1_500_000] {
                p.store.set_fuel(limit).unwrap();
                assert_out_of_fuel::<B, _>(p.call("spin"));
                assert_eq!(
                    p.store.fuel_remaining(),
                    Some(0),
                    "{}: interrupts {interrupts}, limit {limit}",
                    B::NAME
                );
            }
            p.store.set_fuel(10_000).unwrap();
            assert_eq!(p.call("answer").ok(), Some(42));
            let left = p.store.fuel_remaining().unwrap();
            assert!(
                left > 9_000 && left < 10_000,
                "{}: a tiny export used a little fuel: {left} left",
                B::NAME
            );
            p.store.set_fuel(0).unwrap();
            assert_out_of_fuel::<B, _>(p.call("answer"));
            p.store.set_fuel(1_000_000).unwrap();
            p.assert_usable();
        }
    });
}

/// A call uses the same fuel with interrupts enabled as without (engines that slice calls to check for interrupts
/// keep the user's fuel apart from the slices), in guest code, across host calls and inside one; `burn` uses well
/// over a million units, enough to span more than one of wasmi's slices.
pub fn is_the_same_with_interrupts_enabled<B: EngineApi>() {
    let setup = Setup::<B>::metering_fuel();
    let mut plain = Plugin::new(&setup, BUSY, &host_functions());
    let mut sliced = Plugin::new(&setup, BUSY, &host_functions());
    sliced.enable_interrupts();
    for name in ["burn", "ticks", "alloc_many"] {
        // The first call may cost more: lazy translation of the function, the first kernel allocation of a store.
        plain.fuel_used_by(name);
        sliced.fuel_used_by(name);
        let expected = plain.fuel_used_by(name);
        assert!(expected > 0, "{}: {name} uses fuel", B::NAME);
        assert_eq!(
            sliced.fuel_used_by(name),
            expected,
            "{}: {name} with interrupts enabled",
            B::NAME
        );
        if name == "burn" {
            assert!(
                expected > 1_500_000,
                "{}: burn uses over a million units ({expected})",
                B::NAME
            );
        }
    }
}

/// On an engine made without fuel, no fuel is reported, before or after a call.
pub fn remaining_is_none_without_metering<B: EngineApi>() {
    let setup = Setup::<B>::new();
    let mut p = Plugin::new(&setup, BUSY, &host_functions());
    assert_eq!(p.store.fuel_remaining(), None, "{}", B::NAME);
    p.call("burn").unwrap();
    assert_eq!(p.store.fuel_remaining(), None, "{}", B::NAME);
}

/// Setting fuel on an engine made without fuel is refused with an error that says so, or honoured: never ignored.
pub fn without_metering_is_refused_or_honoured<B: EngineApi>() {
    with_deadline(DEADLINE, || {
        let setup = Setup::<B>::new();
        let mut p = Plugin::new(&setup, BUSY, &host_functions());
        match p.store.set_fuel(10_000) {
            Err(e) => {
                assert!(
                    !supports::<B>(Capability::FuelWithoutMetering),
                    "{}: refused fuel: {e:#}",
                    B::NAME
                );
                assert_refusal::<B>(&format!("{e:#}"), Capability::FuelWithoutMetering);
                assert_eq!(p.store.fuel_remaining(), None);
                p.assert_usable();
            }
            Ok(()) => {
                assert!(
                    supports::<B>(Capability::FuelWithoutMetering),
                    "{}: accepted fuel it does not meter",
                    B::NAME
                );
                assert_out_of_fuel::<B, _>(p.call("spin"));
                assert_eq!(p.store.fuel_remaining(), Some(0));
            }
        }
    });
}

/// Start functions run on the plug-in's fuel: an endless one runs out.
pub fn covers_start_functions<B: EngineApi>() {
    with_deadline(DEADLINE, || {
        let setup = Setup::<B>::metering_fuel();
        let module = setup.compile(ENDLESS_START);
        let mut store = setup.store(&[&module], &[]);
        store.set_fuel(1_000).unwrap();
        // (What `fuel_remaining` says after a failed instantiation is not the seam's business: the core reads it after
        // export calls only.)
        assert_out_of_fuel::<B, _>(store.instantiate(&module));
    });
}

/// A start function that traps traps again when the module is instantiated again (as the core retries on the next
/// call): the failed instance does not count as another module of the store.
pub fn start_trap_then_retry_traps_again<B: EngineApi>() {
    let setup = Setup::<B>::metering_fuel();
    let module = setup.compile(r#"(module (func $start unreachable) (start $start))"#);
    let mut store = setup.store(&[&module], &[]);
    store.set_fuel(1_000).unwrap();
    for _ in 0..2 {
        assert_trap::<B, _>(store.instantiate(&module), &["unreachable"]);
    }
}

/// A module that burns fuel in a loop (and, with `_start`, can be a command module).
const BURNER: &str = r#"
(module
  (func (export "_start"))
  (func (export "answer") (result i32) (i32.const 42))
  (func (export "burn") (local $i i32)
    (local.set $i (i32.const 100000))
    (loop $l (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $l (local.get $i)))))
"#;

/// A module that calls the burner linked as a command module.
const BURNER_CALLER: &str = r#"
(module
  (import "burner" "burn" (func $burn))
  (func (export "burn_twice") (call $burn) (call $burn)))
"#;

/// One limit covers every module instance of a store: a second module draws on what the first left, and so do the
/// instances of a linked command module. An engine that meters per module instance declares so
/// ([`extism_core::backend::Capabilities::fuel_with_linked_modules`]); the core then refuses such plug-ins when they
/// are compiled (the conformance suite's `limits::fuel_limit_on_a_multi_module_plugin` checks the refusal), so the
/// seam is never asked and there is nothing to check here.
pub fn covers_every_module_of_a_store<B: EngineApi>() {
    if !B::CAPABILITIES.fuel_with_linked_modules {
        return;
    }
    with_deadline(DEADLINE, || {
        let setup = Setup::<B>::metering_fuel();
        let (first, second) = (setup.compile(BURNER), setup.compile(BURNER));
        let mut store = setup.store(&[&first, &second], &[]);
        store.set_fuel(1_000_000_000).unwrap();
        let a = store.instantiate(&first).unwrap();
        let b = store
            .instantiate(&second)
            .unwrap_or_else(|e| panic!("{}: a second module with fuel: {e}", B::NAME));
        fn used_by<B: EngineApi>(store: &mut B::Store<PluginState>, module: &B::Module, instance: &B::Instance) -> u64 {
            store.set_fuel(1_000_000_000).unwrap();
            call::<B>(store, module, instance, "burn").unwrap();
            1_000_000_000 - store.fuel_remaining().unwrap()
        }
        // Warm both up (the first call may cost more), then measure.
        used_by::<B>(&mut store, &first, &a);
        used_by::<B>(&mut store, &second, &b);
        let cost = used_by::<B>(&mut store, &first, &a).max(used_by::<B>(&mut store, &second, &b));
        // Enough for one burn and a half: the first module's call leaves too little for the second's.
        store.set_fuel(cost + cost / 2).unwrap();
        call::<B>(&mut store, &first, &a, "burn").unwrap();
        assert_out_of_fuel::<B, _>(call::<B>(&mut store, &second, &b, "burn"));
        assert_eq!(store.fuel_remaining(), Some(0), "{}", B::NAME);

        // Command module instances run on the same fuel.
        let burner = setup.compile(BURNER);
        let caller = setup.compile(BURNER_CALLER);
        let mut store = setup.store_with_commands(&[&caller], &[&burner], &[]);
        store.register_command("burner", &burner).unwrap();
        store.set_fuel(1_000_000_000).unwrap();
        let instance = store.instantiate(&caller).unwrap();
        store.set_fuel(cost + cost / 2).unwrap();
        assert_out_of_fuel::<B, _>(call::<B>(&mut store, &caller, &instance, "burn_twice"));
    });
}

/// A guest that keeps calling the host runs out too (in its own code or in a kernel call a host function makes);
/// the limit is spent, and the store works again once refilled.
pub fn runs_out_in_a_guest_that_keeps_calling_the_host<B: EngineApi>() {
    with_deadline(DEADLINE, || {
        let setup = Setup::<B>::metering_fuel();
        for interrupts in [false, true] {
            let mut p = Plugin::new(&setup, BUSY, &host_functions());
            if interrupts {
                p.enable_interrupts();
            }
            p.store.set_fuel(100_000).unwrap();
            assert_out_of_fuel::<B, _>(p.call("ticks_forever"));
            assert_eq!(
                p.store.fuel_remaining(),
                Some(0),
                "{}: interrupts {interrupts}",
                B::NAME
            );
            p.store.set_fuel(100_000_000).unwrap();
            p.call("ticks").unwrap();
            p.assert_usable();
        }
    });
}
