//! Running out of fuel inside a host function, on wasmi.
//!
//! wasmi-only on purpose: it checks bookkeeping that exists only in this backend. wasmi meters the kernel's code with
//! the plug-in's fuel, so a host function's kernel calls can run out; the backend records that (`FuelAccount::exhausted`)
//! and reports the call as out of fuel itself, with the fuel spent, and in sliced calls (interrupts enabled) host calls
//! settle the slice reserve first (`src/limits.rs`, `src/host_call.rs`). wasmer does not meter the kernel, so the seam
//! kit (`tests/seam.rs`) cannot ask every engine for this; its fuel tests (limits, refills, slices, loops of host calls)
//! run here too.

use extism_core::backend::{CallError, PluginStore};
use extism_seam_kit::guests::{BUSY, host_functions};
use extism_seam_kit::plugin::Plugin;
use extism_seam_kit::setup::Setup;
use extism_wasmi::Wasmi;

#[test]
fn running_out_of_fuel_inside_a_host_function_is_running_out_of_fuel() {
    let setup = Setup::<Wasmi>::metering_fuel();
    for interrupts in [false, true] {
        let mut p = Plugin::new(&setup, BUSY, &host_functions());
        if interrupts {
            p.enable_interrupts();
        }
        // One host call makes 6,000 kernel calls: the limit runs out in one of them. wasmi reports it as running out
        // of fuel itself, not as the host function's error.
        p.store.set_fuel(50_000).unwrap();
        match p.call("alloc_many") {
            Err(CallError::OutOfFuel) => {}
            other => panic!("interrupts {interrupts}: expected running out of fuel, got {other:?}"),
        }
        assert_eq!(p.store.fuel_remaining(), Some(0), "interrupts {interrupts}");
        p.store.set_fuel(100_000_000).unwrap();
        p.call("alloc_many").unwrap();
        p.assert_usable();
    }
}
