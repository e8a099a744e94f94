//! Per-plug-in interruption: a flag another thread sets (cancel, or the timeout timer) and the engine checks.
//!
//! Only the targeted plug-in stops: each store checks its own flag, even when an engine mechanism (such as a wasmtime
//! epoch tick) wakes every store of an engine.
//!
//! **What a cancel means.** A cancel stops the call running when it arrives, and nothing else (as upstream): one
//! that arrives between calls, or just as a call ends, is dropped, so it can never stop (or brick) a later call.
//! The call number, the in-call bit and the request bit share one atomic word, so a request is made with a single
//! compare-and-swap against the exact call it saw running: a call that ends meanwhile makes the swap fail.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Bit of [`Interrupt::word`]: an interrupt was requested for the current call.
const REQUESTED: u64 = 1;
/// Bit of [`Interrupt::word`]: the plug-in is inside a call.
const IN_CALL: u64 = 2;
/// The call number sits above the two flag bits.
const GENERATION_SHIFT: u32 = 2;

/// A plug-in's interrupt flag, shared by its store, its cancel handles and the timeout timer.
#[derive(Default)]
pub struct Interrupt {
    /// `generation << 2 | IN_CALL | REQUESTED`. Only the plug-in's own thread changes the generation and the in-call
    /// bit (with plain stores, at call boundaries); other threads only add the request bit, with a compare-and-swap
    /// that fails if the call they saw has ended.
    word: AtomicU64,
    /// Why this plug-in's engine cannot interrupt calls, if it cannot.
    unsupported: OnceLock<String>,
    /// Makes the engine notice the flag promptly (e.g. a wasmtime epoch tick); set by the backend, and replaced when
    /// the plug-in's store is rebuilt (after `_start`), so that it reaches the store that runs now.
    waker: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let word = self.word.load(Ordering::Relaxed);
        f.debug_struct("Interrupt")
            .field("generation", &(word >> GENERATION_SHIFT))
            .field("in_call", &(word & IN_CALL != 0))
            .field("requested", &(word & REQUESTED != 0))
            .finish()
    }
}

impl Interrupt {
    /// True if the running call must stop. Backends check this at their safe points.
    #[inline]
    pub fn is_requested(&self) -> bool {
        self.word.load(Ordering::Relaxed) & REQUESTED != 0
    }

    /// Install the function that makes the engine check the flag soon, replacing an earlier one (which belonged to
    /// a store the plug-in no longer uses).
    pub fn set_waker(&self, waker: Box<dyn Fn() + Send + Sync>) {
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker);
    }

    /// Record that the engine cannot interrupt calls (cancel then reports `reason`).
    pub(crate) fn set_unsupported(&self, reason: String) {
        let _ = self.unsupported.set(reason);
    }

    /// Why the engine cannot interrupt calls, if it cannot.
    pub(crate) fn unsupported(&self) -> Option<&str> {
        self.unsupported.get().map(String::as_str)
    }

    /// Ask the running call to stop. Returns false (and does nothing) when no call is running: a request between
    /// calls is dropped, never kept for the next call.
    pub fn request(&self) -> bool {
        self.request_if(|_| true)
    }

    /// Like [`Interrupt::request`], but only if the running call is the one numbered `generation`.
    pub(crate) fn request_for_call(&self, generation: u64) -> bool {
        self.request_if(|running| running == generation)
    }

    /// Set the request bit if a call is running and `wanted` accepts its number, atomically with that check.
    fn request_if(&self, wanted: impl Fn(u64) -> bool) -> bool {
        let set = self
            .word
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                (word & IN_CALL != 0 && wanted(word >> GENERATION_SHIFT)).then_some(word | REQUESTED)
            })
            .is_ok();
        if set && let Some(wake) = &*self.waker.lock().unwrap_or_else(|e| e.into_inner()) {
            wake();
        }
        set
    }

    /// Mark the start of a call: earlier requests are forgotten. Returns the call's number. The core's call path does
    /// this; it is public so that code driving a store through the seam directly (backend tests) can too.
    pub fn enter_call(&self) -> u64 {
        // No other thread changes the word outside a call (requests need the in-call bit), so load + store is exact.
        let generation = (self.word.load(Ordering::Relaxed) >> GENERATION_SHIFT).wrapping_add(1);
        self.word
            .store((generation << GENERATION_SHIFT) | IN_CALL, Ordering::Release);
        generation
    }

    /// Mark the end of a call (see [`Interrupt::enter_call`]): clears the in-call bit and any request in one store,
    /// so a request racing with the end of the call either lands before it (and is cleared) or fails.
    pub fn leave_call(&self) {
        let generation = self.word.load(Ordering::Relaxed) >> GENERATION_SHIFT;
        self.word.store(generation << GENERATION_SHIFT, Ordering::Release);
    }
}
