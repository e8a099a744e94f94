//! The limits a wasmi store enforces: the memory budget (wasmi's store limiter) and the fuel account that lets user
//! fuel limits and interrupt slices share wasmi's single fuel counter.

use wasmi::ResourceLimiter;
use wasmi::errors::{MemoryError, TableError};
use wasmi_core::LimiterError;

/// Fuel given to the interpreter per slice when interrupts are enabled: after each slice the call pauses, the backend
/// checks the plug-in's interrupt flag and resumes.
///
/// wasmi charges roughly one unit per instruction. Measured (release build, `benches/slicing.rs`): a slice lasts about
/// 0.9 ms in a one-instruction loop (a branch per unit: slower per unit than typical code) and about 0.16 ms in
/// `count_vowels`; so a cancel or timeout takes effect within about a millisecond of guest code (host functions are
/// not interrupted). A pause and resume costs a few microseconds at most: on `count_vowels` over 1 MiB (488 slices)
/// slicing adds 0–3% of CPU time, within measurement noise.
pub(crate) const FUEL_SLICE: u64 = 1_000_000;

/// Fuel for stores without a user limit: never runs out in practice (wasmi meters fuel for every store so that any
/// store can take interrupts later).
pub(crate) const UNLIMITED_FUEL: u64 = u64::MAX;

/// The store-wide memory budget (`EngineApi`'s `set_memory_budget`: creating and growing memories counts against
/// one byte budget per store), as wasmi's resource limiter.
///
/// wasmi lets a limiter fail a growth with an error, which becomes a trap (`memory.grow`) or an instantiation error
/// (a new memory that does not fit); both would be indistinguishable from other failures, so the limiter also records
/// the violation in [`MemoryBudget::exceeded`] and the store turns any failure of a call that recorded one into
/// [`extism_core::backend::CallError::MemoryLimit`].
#[derive(Debug, Default)]
pub(crate) struct MemoryBudget {
    /// Bytes all memories of the store may still grow by; `None` means no limit.
    remaining: Option<u64>,
    /// The bytes charged by the growth in progress, refunded if the growth then fails for another reason (wasmi
    /// charges fuel after asking the limiter; a sliced call that runs out there resumes and grows again).
    pending: u64,
    /// Set when a growth was refused for the budget; taken by the store when it classifies the failure.
    pub(crate) exceeded: bool,
    /// The most elements a table may have; `None` until the core sets the plug-in's limit (the kernel's own table
    /// is created before).
    pub(crate) max_table_elements: Option<usize>,
}

impl MemoryBudget {
    /// Allow `bytes` more growth from now on (`None`: unlimited).
    pub(crate) fn set(&mut self, bytes: Option<u64>) {
        self.remaining = bytes;
        self.pending = 0;
        self.exceeded = false;
    }

    fn deny(&mut self) -> Result<bool, LimiterError> {
        self.exceeded = true;
        Err(LimiterError::ResourceLimiterDeniedAllocation)
    }
}

impl ResourceLimiter for MemoryBudget {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        // A memory's declared maximum is not checked here: wasmi refuses growth past it (`memory.grow` = -1) before
        // asking the limiter, so it never reaches us (upstream makes that an "oom" error; see the crate docs).
        let Some(remaining) = self.remaining.as_mut() else {
            return Ok(true);
        };
        let delta = desired.saturating_sub(current) as u64;
        if delta > *remaining {
            return self.deny();
        }
        *remaining -= delta;
        self.pending = delta;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: &MemoryError) -> Result<(), LimiterError> {
        if let Some(remaining) = self.remaining.as_mut() {
            *remaining += std::mem::take(&mut self.pending);
        }
        Ok(())
    }

    fn table_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> Result<bool, LimiterError> {
        // The declared maximum and the plug-in's table limit alike: `table.grow` returns -1 past either, and a table
        // that would start larger fails the instantiation.
        Ok(maximum.is_none_or(|max| desired <= max) && self.max_table_elements.is_none_or(|max| desired <= max))
    }

    fn table_grow_failed(&mut self, _error: &TableError) -> Result<(), LimiterError> {
        Ok(())
    }

    fn instances(&self) -> usize {
        usize::MAX
    }

    fn tables(&self) -> usize {
        usize::MAX
    }

    fn memories(&self) -> usize {
        usize::MAX
    }
}

/// Bookkeeping that lets one wasmi fuel counter serve both the user's fuel limit and interrupt slices.
///
/// Outside a sliced call the store's fuel *is* the user's remaining fuel (or [`UNLIMITED_FUEL`]). During a sliced
/// call the store holds at most one slice and the rest waits in `reserve`; the user's remaining fuel is always
/// `reserve + store fuel`, so a user limit keeps its exact meaning whatever the slice size.
#[derive(Debug, Default)]
pub(crate) struct FuelAccount {
    /// `Some(held back)` while a sliced call runs.
    pub(crate) reserve: Option<u64>,
    /// True when the user set a fuel limit (otherwise the store runs on [`UNLIMITED_FUEL`]).
    pub(crate) limited: bool,
    /// Set when a call inside a host function (a kernel call) ran out of fuel: that failure reaches the top as the
    /// host function's error, and this turns it back into running out of fuel.
    pub(crate) exhausted: bool,
}

/// Split `total` fuel into what the interpreter gets now (at most a slice, but at least `required`) and the reserve.
pub(crate) fn split_slice(total: u64, required: u64) -> (u64, u64) {
    let give = total.min(FUEL_SLICE.max(required));
    (give, total - give)
}
