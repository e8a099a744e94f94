//! The wasmer backend leaves `SIGUSR1` to the host: a handler the host installs, before or after plug-ins exist, is
//! called, and interrupting a plug-in sends no signal.
//!
//! wasmer-only: it checks this backend's choice of interrupt mechanism (wasmer's own, `experimental-host-interrupt`,
//! claims `SIGUSR1`, and with it compiled in a `SIGUSR1` from elsewhere kills the process).
//!
//! One test in this file, so that no other test of this binary runs while signal handlers change.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use extism_core::backend::{CallError, EngineApi, EngineOptions, ExportShape, LinkingInputs, PluginStore};
use extism_core::kernel::KERNEL_WASM;
use extism_core::{Interrupt, Manifest, PluginState, Uuid};
use extism_wasmer::Wasmer;

/// The conformance suite's deadline helper, shared by path: a test that waits on an interrupt fails instead of
/// hanging when the interrupt never comes.
#[allow(dead_code)]
#[path = "../../../tests/conformance/deadline.rs"]
mod deadline;
use deadline::with_deadline;

static RECEIVED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_usr1(_: libc::c_int) {
    RECEIVED.fetch_add(1, Ordering::SeqCst);
}

fn install_handler() {
    // SAFETY: a plain `sigaction` call with a handler that only touches an atomic.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_usr1 as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()), 0);
    }
}

fn raise_usr1() {
    // SAFETY: raising a signal whose handler is installed.
    assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
}

#[test]
fn host_sigusr1_handler_keeps_working() {
    with_deadline(Duration::from_secs(60), move || {
        install_handler();
        raise_usr1();
        assert_eq!(RECEIVED.load(Ordering::SeqCst), 1);

        // Creating a store installs wasmer's trap handlers (SIGSEGV, SIGILL, ...); SIGUSR1 stays the host's.
        let engine = Wasmer::new_engine(&EngineOptions::default()).unwrap();
        let kernel = Wasmer::compile(&engine, KERNEL_WASM).unwrap();
        let module = Wasmer::compile(
            &engine,
            &wat::parse_str(r#"(module (func (export "spin") (loop (br 0))) (func (export "f")))"#).unwrap(),
        )
        .unwrap();
        let mut store = Wasmer::new_store(
            &engine,
            &kernel,
            &Wasmer::prepare_functions(&engine, &LinkingInputs::kernel_only(&kernel)).unwrap(),
            PluginState::new(Uuid::new_v4(), &Manifest::default()),
        )
        .unwrap();
        let instance = store.instantiate(&module).unwrap();
        let f = store.export(&instance, "f", ExportShape::NoResult).unwrap();
        store.call(&f).unwrap();
        raise_usr1();
        assert_eq!(RECEIVED.load(Ordering::SeqCst), 2);

        // A handler installed after wasmer's is called too, and interrupts still work without any signal.
        install_handler();
        raise_usr1();
        assert_eq!(RECEIVED.load(Ordering::SeqCst), 3);
        let interrupt = Arc::new(Interrupt::default());
        store.enable_interrupts(interrupt.clone()).unwrap();
        let spin = store.export(&instance, "spin", ExportShape::NoResult).unwrap();
        interrupt.enter_call();
        let requester = {
            let interrupt = interrupt.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                interrupt.request()
            })
        };
        let result = store.call(&spin);
        interrupt.leave_call();
        assert!(requester.join().unwrap());
        assert!(matches!(result, Err(CallError::Interrupted)), "{result:?}");
        assert_eq!(RECEIVED.load(Ordering::SeqCst), 3, "interrupting sent no SIGUSR1");
    });
}
