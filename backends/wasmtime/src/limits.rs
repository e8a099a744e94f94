//! Limits on wasmtime: the store-wide memory budget (a `ResourceLimiter`) and per-plug-in interruption (an epoch
//! deadline callback that checks the plug-in's own flag).

use std::sync::Arc;

use extism_core::Interrupt;

/// The error the limiter raises when a memory would grow past the budget; classified as `CallError::MemoryLimit`.
#[derive(Debug)]
pub(crate) struct BudgetExceeded;

impl std::fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("oom")
    }
}

impl std::error::Error for BudgetExceeded {}

/// Bytes all memories of the store may still grow by (`None` is unlimited), and the most elements a table may have.
#[derive(Default)]
pub(crate) struct MemoryBudget {
    pub remaining: Option<u64>,
    /// `None` until the core sets the plug-in's table limit (the kernel's own table is created before).
    pub max_table_elements: Option<usize>,
}

impl wasmtime::ResourceLimiter for MemoryBudget {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let Some(remaining) = self.remaining else {
            return Ok(true);
        };
        // Creating a memory is growing it from 0, so a new instance's initial memory counts too.
        let growth = desired.saturating_sub(current) as u64;
        if growth > remaining {
            return Err(wasmtime::Error::new(BudgetExceeded));
        }
        self.remaining = Some(remaining - growth);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Past the plug-in's table limit, like past a declared maximum: `table.grow` returns -1 and a table that
        // would start larger fails the instantiation. (Declared maxima wasmtime checks itself.)
        Ok(self.max_table_elements.is_none_or(|max| desired <= max))
    }
}

/// Decide, at an epoch deadline, whether the call goes on: only this plug-in's own flag stops it, so an epoch tick
/// meant for a sibling on the same engine just moves the deadline on.
pub(crate) fn on_epoch_deadline(interrupt: Option<&Arc<Interrupt>>) -> wasmtime::Result<wasmtime::UpdateDeadline> {
    match interrupt {
        Some(i) if i.is_requested() => Ok(wasmtime::UpdateDeadline::Interrupt),
        _ => Ok(wasmtime::UpdateDeadline::Continue(1)),
    }
}
