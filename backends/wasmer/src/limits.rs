//! Per-store limits shared with other threads: the interrupt flags of the store's instances and the memory budget.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The interrupt flag of one instance: the storage of its [`crate::instrument::INTERRUPT_GLOBAL`], inside the
/// instance's `VMContext`.
#[derive(Clone, Copy)]
pub(crate) struct FlagPtr(NonNull<AtomicI32>);

// SAFETY: a `FlagPtr` is only dereferenced (a) by the thread that owns the store, which keeps the instance alive,
// and (b) by other threads through `InterruptFlags`, whose list the store empties (under its lock) before the store
// and its instances are dropped; every access is atomic, so concurrent accesses do not race. The wasm code of the
// instance reads the same four bytes with plain loads, outside Rust's memory model, as wasmtime's generated code
// reads its epoch counter.
unsafe impl Send for FlagPtr {}
// SAFETY: as above; shared use only performs atomic operations.
unsafe impl Sync for FlagPtr {}

impl FlagPtr {
    /// # Safety
    /// `ptr` must point to the storage of an `i32` global (offset 0 of a 16-byte aligned `VMGlobalDefinition`) that
    /// stays allocated as long as the flag is used.
    pub(crate) unsafe fn new(ptr: NonNull<u8>) -> FlagPtr {
        FlagPtr(ptr.cast())
    }

    /// Ordering between a raise on one thread and a clear on the store's thread comes from the lock of
    /// `InterruptFlags`, which `raise`, `raise_if` and `arm` hold, so the accesses themselves can be relaxed.
    fn set(self, raised: bool) {
        // SAFETY: see the `Send` impl: the pointee is alive whenever a `FlagPtr` is used.
        unsafe { self.0.as_ref() }.store(i32::from(raised), Ordering::Relaxed);
    }

    fn is_raised(self) -> bool {
        // SAFETY: as in `set`.
        unsafe { self.0.as_ref() }.load(Ordering::Relaxed) != 0
    }
}

/// The flags another thread may raise: every interrupt flag of a store, until the store is dropped.
#[derive(Default)]
pub(crate) struct InterruptFlags {
    flags: Mutex<Vec<FlagPtr>>,
}

impl InterruptFlags {
    /// Make every instance of the store trap at its next check.
    pub(crate) fn raise(&self) {
        for flag in self.flags.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            flag.set(true);
        }
    }

    /// Raise every flag if `requested` (asked under the lock) still holds: the waker of a cancel, which must not
    /// raise the flags of a later call after [`InterruptFlags::arm`] has armed it (the cancel was for an earlier one).
    pub(crate) fn raise_if(&self, requested: impl Fn() -> bool) {
        let flags = self.flags.lock().unwrap_or_else(|e| e.into_inner());
        if requested() {
            for flag in flags.iter() {
                flag.set(true);
            }
        }
    }

    /// Before guest code runs: set the store's own flags to whether an interrupt is `requested`, under the lock
    /// that [`InterruptFlags::raise_if`] takes, so that a late waker cannot raise them again for a request that has
    /// since been dropped.
    pub(crate) fn arm(&self, local: &LocalFlags, requested: impl Fn() -> bool) {
        let _flags = self.flags.lock().unwrap_or_else(|e| e.into_inner());
        // The lock orders this against `raise_if`: a request it saw raised flags that are cleared here only if the
        // request is gone by now (the call it was for has ended).
        local.set_all(false);
        if requested() {
            local.set_all(true);
        }
    }

    /// Whether any flag is raised (an interrupt or a refused memory growth is pending).
    pub(crate) fn any_raised(&self) -> bool {
        self.flags
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|f| f.is_raised())
    }

    pub(crate) fn add(&self, flags: &[FlagPtr]) {
        self.flags
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(flags);
    }

    /// Forget every flag: the store is about to free its instances.
    pub(crate) fn clear(&self) {
        self.flags.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The flags as the store's own thread uses them, without the lock.
#[derive(Default)]
pub(crate) struct LocalFlags(Vec<FlagPtr>);

impl LocalFlags {
    pub(crate) fn add(&mut self, flags: &[FlagPtr]) {
        self.0.extend_from_slice(flags);
    }

    pub(crate) fn set_all(&self, raised: bool) {
        for flag in &self.0 {
            flag.set(raised);
        }
    }

    pub(crate) fn any_raised(&self) -> bool {
        self.0.iter().any(|f| f.is_raised())
    }
}

/// What another thread, or a memory of the store, may touch.
#[derive(Default)]
pub(crate) struct StoreLimits {
    /// Bytes that all memories of the store may still grow by, [`UNLIMITED`] for no limit.
    remaining: AtomicU64,
    /// Set when a growth was refused; the running call then fails with `CallError::MemoryLimit`.
    exceeded: AtomicBool,
    pub(crate) flags: InterruptFlags,
    /// The most elements a table created from now on may have, [`UNLIMITED_TABLE`] until the core sets the
    /// plug-in's limit (the kernel's own table is created before).
    max_table_elements: AtomicU32,
}

/// No table limit.
const UNLIMITED_TABLE: u32 = u32::MAX;

/// No memory budget.
const UNLIMITED: u64 = u64::MAX;

impl StoreLimits {
    pub(crate) fn new() -> Arc<StoreLimits> {
        Arc::new(StoreLimits {
            remaining: AtomicU64::new(UNLIMITED),
            max_table_elements: AtomicU32::new(UNLIMITED_TABLE),
            ..StoreLimits::default()
        })
    }

    /// Let tables created from now on hold at most `elements` elements.
    pub(crate) fn set_max_table_elements(&self, elements: u32) {
        self.max_table_elements.store(elements, Ordering::Relaxed);
    }

    /// The most elements a table may hold.
    pub(crate) fn max_table_elements(&self) -> u32 {
        self.max_table_elements.load(Ordering::Relaxed)
    }

    /// Let memories grow by `bytes` more from now on (`None`: without limit).
    pub(crate) fn set_budget(&self, bytes: Option<u64>) {
        self.remaining.store(bytes.unwrap_or(UNLIMITED), Ordering::Relaxed);
    }

    /// Take `bytes` from the budget. When they are not there, record the failure and stop the running call at the
    /// next check (the guest only sees `memory.grow` return -1, and might carry on).
    pub(crate) fn charge(&self, bytes: u64) -> bool {
        let charged = self
            .remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                if left == UNLIMITED {
                    Some(left)
                } else {
                    left.checked_sub(bytes)
                }
            })
            .is_ok();
        if !charged {
            self.exceeded.store(true, Ordering::Relaxed);
            self.flags.raise();
        }
        charged
    }

    /// Give back bytes charged for a growth that then failed for another reason.
    pub(crate) fn refund(&self, bytes: u64) {
        let _ = self
            .remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                (left != UNLIMITED).then(|| left.saturating_add(bytes))
            });
    }

    /// Whether a growth was refused since the last call of this function.
    pub(crate) fn take_exceeded(&self) -> bool {
        // A plain load first: this runs around every call, and a refusal is rare.
        self.exceeded.load(Ordering::Relaxed) && self.exceeded.swap(false, Ordering::Relaxed)
    }
}
