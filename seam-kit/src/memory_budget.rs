//! The memory budget ([`PluginStore::set_memory_budget`]): all memories of a store together, the kernel's included,
//! may grow by at most the budget; creating a memory counts as growing it from 0; growth past the budget fails the
//! running call with [`CallError::MemoryLimit`] (not `memory.grow = -1`), from guest code and from kernel calls
//! alike, and the store stays usable.

use extism_core::backend::{CallError, EngineApi, PluginStore};

use crate::guests::{BUSY, PAGE, host_functions};
use crate::plugin::{Plugin, assert_memory_limit};
use crate::setup::{Setup, begin_call, end_call, kernel_alloc};

/// A guest that grows its memory.
const GROW: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "answer") (result i32) (i32.const 42))
  (func (export "pages") (result i32) (memory.size))
  (func (export "grow_1") (result i32) (memory.grow (i32.const 1)))
  (func (export "grow_5") (result i32) (memory.grow (i32.const 5)))
  (func (export "grow_until_refused") (result i32)
    (loop $l
      (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then (return (i32.const -1))))
      (br $l))
    (i32.const 0)))
"#;

/// Growth past the budget fails the call even when the guest, seeing `memory.grow` return -1, would carry on and
/// return normally; growth within it succeeds; lifting the budget lets memory grow again. With and without
/// interrupts enabled (engines may run calls differently then).
pub fn fails_the_call_even_if_the_guest_carries_on<B: EngineApi>() {
    let setup = Setup::<B>::new();
    for interrupts in [false, true] {
        let mut p = Plugin::new(&setup, GROW, &[]);
        if interrupts {
            p.enable_interrupts();
        }
        p.store.set_memory_budget(Some(4 * PAGE)).unwrap();
        assert_memory_limit::<B, _>(p.call("grow_5"));
        // The refused growth took nothing: four single pages still fit, then the fifth fails the call.
        assert_memory_limit::<B, _>(p.call("grow_until_refused"));
        assert_eq!(
            p.call("pages").ok(),
            Some(5),
            "{}: 1 initial page + the 4-page budget",
            B::NAME
        );
        assert_memory_limit::<B, _>(p.call("grow_1"));
        p.assert_usable();
        p.store.set_memory_budget(None).unwrap();
        assert_eq!(p.call("grow_1").ok(), Some(5), "{}: the old size in pages", B::NAME);
        assert_eq!(p.call("pages").ok(), Some(6), "{}", B::NAME);
    }
}

/// Instantiating a module counts its memory from 0 to its initial size: a module whose memory does not fit is not
/// instantiated, and one that fits spends the budget, which the kernel's memory shares.
pub fn counts_memory_creation<B: EngineApi>() {
    let setup = Setup::<B>::new();
    let big =
        setup.compile(r#"(module (memory (export "memory") 17) (func (export "answer") (result i32) i32.const 42))"#);
    let mut store = setup.store(&[&big], &[]);
    store.set_memory_budget(Some(16 * PAGE)).unwrap();
    match store.instantiate(&big) {
        Err(CallError::MemoryLimit) => {}
        Err(e) => panic!("{}: expected the memory budget, got the error {e:?}", B::NAME),
        Ok(_) => panic!("{}: a 17-page memory fit a 16-page budget", B::NAME),
    }
    store.set_memory_budget(Some(17 * PAGE)).unwrap();
    let instance = store
        .instantiate(&big)
        .unwrap_or_else(|e| panic!("{}: a 17-page memory in a 17-page budget: {e}", B::NAME));
    let mut p = Plugin::<B>::from_parts(store, instance, big);
    // The budget is spent: kernel memory cannot grow either (2 MiB of input needs more than it has).
    assert_memory_limit::<B, _>(begin_call::<B>(&mut p.store, 2 << 20));
    p.store.set_memory_budget(Some(64 * PAGE)).unwrap();
    assert_ne!(
        begin_call::<B>(&mut p.store, 2 << 20).unwrap(),
        0,
        "{}: kernel memory grew within the new budget",
        B::NAME
    );
    end_call::<B>(&mut p.store).unwrap();
    p.assert_usable();
}

/// The kernel's memory is in the budget: from the host between calls (the input does not fit) and from a host
/// function inside a call (the call fails with the limit, not just the host function).
pub fn covers_the_kernel<B: EngineApi>() {
    let setup = Setup::<B>::new();
    let mut p = Plugin::new(&setup, BUSY, &host_functions());
    p.store.set_memory_budget(Some(0)).unwrap();
    assert_memory_limit::<B, _>(begin_call::<B>(&mut p.store, 2 << 20));
    assert_memory_limit::<B, _>(p.call("alloc_big"));
    p.store.set_memory_budget(None).unwrap();
    assert_ne!(begin_call::<B>(&mut p.store, 2 << 20).unwrap(), 0);
    p.call("alloc_big").unwrap();
    assert_ne!(kernel_alloc::<B>(&mut p.store, 16).unwrap(), 0);
    p.assert_usable();
}
