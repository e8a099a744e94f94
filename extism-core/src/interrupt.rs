//! Per-plug-in interruption: a flag another thread sets (cancel, or the timeout timer) and the engine checks.
//!
//! Only the targeted plug-in stops: each store checks its own flag, even when an engine mechanism (such as a wasmtime
//! epoch tick) wakes every store of an engine.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A plug-in's interrupt flag, shared by its store, its cancel handles and the timeout timer.
#[derive(Default)]
pub struct Interrupt {
    /// True while the plug-in is inside a call; a cancel outside a call is dropped (upstream semantics).
    in_call: AtomicBool,
    /// True once an interrupt was requested for the current call.
    requested: AtomicBool,
    /// Counts calls, so that a timeout registered for one call cannot stop a later one.
    generation: AtomicU64,
    /// Why this plug-in's engine cannot interrupt calls, if it cannot.
    unsupported: OnceLock<String>,
    /// Makes the engine notice the flag promptly (e.g. a wasmtime epoch tick); set once by the backend.
    waker: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupt")
            .field("in_call", &self.in_call.load(Ordering::Relaxed))
            .field("requested", &self.requested.load(Ordering::Relaxed))
            .finish()
    }
}

impl Interrupt {
    /// True if the running call must stop. Backends check this at their safe points.
    #[inline]
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    /// Install the function that makes the engine check the flag soon. Only the first call has an effect.
    pub fn set_waker(&self, waker: Box<dyn Fn() + Send + Sync>) {
        let _ = self.waker.set(waker);
    }

    /// Record that the engine cannot interrupt calls (cancel then reports `reason`).
    pub(crate) fn set_unsupported(&self, reason: String) {
        let _ = self.unsupported.set(reason);
    }

    /// Why the engine cannot interrupt calls, if it cannot.
    pub(crate) fn unsupported(&self) -> Option<&str> {
        self.unsupported.get().map(String::as_str)
    }

    /// Ask the running call to stop. Returns false (and does nothing) when no call is running.
    pub fn request(&self) -> bool {
        if !self.in_call.load(Ordering::Acquire) {
            return false;
        }
        self.requested.store(true, Ordering::Release);
        if let Some(wake) = self.waker.get() {
            wake();
        }
        true
    }

    /// Like [`Interrupt::request`], but only if the running call is the one numbered `generation`.
    pub(crate) fn request_for_call(&self, generation: u64) -> bool {
        self.generation.load(Ordering::Acquire) == generation && self.request()
    }

    /// Mark the start of a call: earlier requests are forgotten. Returns the call's number. The core's call path does
    /// this; it is public so that code driving a store through the seam directly (backend tests) can too.
    pub fn enter_call(&self) -> u64 {
        self.requested.store(false, Ordering::Relaxed);
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.in_call.store(true, Ordering::Release);
        generation
    }

    /// Mark the end of a call (see [`Interrupt::enter_call`]).
    pub fn leave_call(&self) {
        self.in_call.store(false, Ordering::Release);
        self.requested.store(false, Ordering::Relaxed);
    }
}
