//! The engine's [`Tunables`]: wasmer's defaults, plus two hooks into each instantiation.
//!
//! - Every memory an instance creates is wrapped in a [`BudgetedMemory`] that charges its creation (from 0 to its
//!   initial size) and every growth to the store's byte budget.
//! - The storage of an instrumented module's interrupt flag is recorded, so that other threads can raise it.
//! - Every table an instance creates gets the plug-in's table limit as its maximum (see
//!   `extism_core::PluginOptions::max_table_elements`).
//!
//! Tunables belong to the engine, not to a store, and wasmer calls them from inside `Instance::new` on the thread
//! that instantiates. [`instantiating`] tells them, through a thread-local, which store that is.

use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use wasmer::sys::BaseTunables;
use wasmer::sys::vm::{
    ExpectedValue, InternalStoreHandle, LinearMemory, MemoryError, MemoryStyle, StoreObjects, TableStyle,
    ThreadConditions, Trap, VMGlobal, VMGlobalDefinition, VMMemory, VMMemoryDefinition, VMSharedMemory, VMTable,
    VMTableDefinition, WaiterError,
};
use wasmer_compiler::{LinkError, Tunables};
use wasmer_types::entity::PrimaryMap;
use wasmer_types::{ExportIndex, LocalGlobalIndex, MemoryType, ModuleInfo, Pages, TableType};

use crate::instrument::INTERRUPT_GLOBAL;
use crate::limits::{FlagPtr, StoreLimits};

/// The store an instantiation on this thread belongs to, and the flags found so far.
struct Instantiation {
    limits: Arc<StoreLimits>,
    flags: Vec<FlagPtr>,
}

thread_local! {
    static INSTANTIATING: RefCell<Option<Instantiation>> = const { RefCell::new(None) };
}

/// Clears the thread-local even if the instantiation panics.
struct Reset;

impl Drop for Reset {
    fn drop(&mut self) {
        INSTANTIATING.with(|cell| cell.borrow_mut().take());
    }
}

/// Run `instantiate` (a `wasmer::Instance::new` for a store whose limits are `limits`), and return its result with
/// the interrupt flags of the instance it created.
///
/// The flags are only meaningful if the instantiation succeeded: after a failure wasmer may have freed the storage.
pub(crate) fn instantiating<R>(limits: &Arc<StoreLimits>, instantiate: impl FnOnce() -> R) -> (R, Vec<FlagPtr>) {
    let previous = INSTANTIATING.with(|cell| {
        cell.borrow_mut().replace(Instantiation {
            limits: limits.clone(),
            flags: Vec::new(),
        })
    });
    // Instantiation runs no guest code (start functions run later, see `instrument.rs`), so it cannot nest.
    debug_assert!(previous.is_none(), "nested instantiation");
    let reset = Reset;
    let result = instantiate();
    let flags = INSTANTIATING.with(|cell| cell.borrow_mut().as_mut().map(|i| std::mem::take(&mut i.flags)));
    drop(reset);
    (result, flags.unwrap_or_default())
}

fn current_limits() -> Option<Arc<StoreLimits>> {
    INSTANTIATING.with(|cell| cell.borrow().as_ref().map(|i| i.limits.clone()))
}

/// wasmer's default tunables with the hooks above.
pub(crate) struct ExtismTunables {
    base: BaseTunables,
}

impl ExtismTunables {
    pub(crate) fn new() -> ExtismTunables {
        ExtismTunables {
            base: BaseTunables::new(),
        }
    }
}

impl Tunables for ExtismTunables {
    fn memory_style(&self, memory: &MemoryType) -> MemoryStyle {
        self.base.memory_style(memory)
    }

    fn table_style(&self, table: &TableType) -> TableStyle {
        self.base.table_style(table)
    }

    fn create_host_memory(&self, ty: &MemoryType, style: &MemoryStyle) -> Result<VMMemory, MemoryError> {
        // The backend creates no memories of its own; one made by other means is not part of a store's budget.
        self.base.create_host_memory(ty, style)
    }

    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        vm_definition_location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        // SAFETY: forwarded unchanged; the caller upholds the contract.
        let create = || unsafe { self.base.create_vm_memory(ty, style, vm_definition_location) };
        let Some(limits) = current_limits() else {
            return create();
        };
        let initial = ty.minimum.bytes().0 as u64;
        if !limits.charge(initial) {
            return Err(MemoryError::Generic(format!(
                "creating a memory of {} pages exceeds the plug-in's memory limit",
                ty.minimum.0
            )));
        }
        match create() {
            Ok(inner) => Ok(VMMemory(Box::new(BudgetedMemory { inner, limits }))),
            Err(e) => {
                limits.refund(initial);
                Err(e)
            }
        }
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        self.base.create_host_table(ty, style)
    }

    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        let Some(limits) = current_limits() else {
            // SAFETY: forwarded unchanged; the caller upholds the contract.
            return unsafe { self.base.create_vm_table(ty, style, vm_definition_location) };
        };
        // wasmer has no hook on table growth, but refuses growth past a table's maximum (`table.grow` = -1): a
        // table gets the plug-in's limit as its maximum when it declares none or a larger one.
        let limit = limits.max_table_elements();
        if ty.minimum > limit {
            return Err(format!(
                "a table of {} elements exceeds the plug-in's limit of {limit} table elements",
                ty.minimum
            ));
        }
        let capped = TableType {
            maximum: Some(ty.maximum.map_or(limit, |max| max.min(limit))),
            ..*ty
        };
        // SAFETY: forwarded with a smaller maximum that is still at least the minimum; the caller upholds the rest.
        unsafe { self.base.create_vm_table(&capped, style, vm_definition_location) }
    }

    fn create_globals(
        &self,
        context: &mut StoreObjects,
        module: &ModuleInfo,
        vm_definition_locations: &[NonNull<VMGlobalDefinition>],
    ) -> Result<PrimaryMap<LocalGlobalIndex, InternalStoreHandle<VMGlobal>>, LinkError> {
        // What wasmer's default does: one global per local global, stored in the instance's `VMContext`.
        let imported = module.num_imported_globals;
        let mut globals = PrimaryMap::with_capacity(module.globals.len() - imported);
        for (i, ty) in module.globals.values().skip(imported).enumerate() {
            let location = *vm_definition_locations
                .get(i)
                .ok_or_else(|| LinkError::Resource("global definition location missing".into()))?;
            // SAFETY: `location` is the slot wasmer reserved for this global in the instance being created.
            let global = unsafe { self.create_vm_global(*ty, location) }.map_err(LinkError::Resource)?;
            globals.push(InternalStoreHandle::new(context, global));
        }
        // Then remember where the interrupt flag lives.
        if let Some(ExportIndex::Global(index)) = module.exports.get(INTERRUPT_GLOBAL)
            && let Some(local) = index.as_u32().checked_sub(imported as u32)
            && let Some(location) = vm_definition_locations.get(local as usize)
        {
            // SAFETY: an `i32` global's value sits at offset 0 of its 16-byte aligned definition, which lives in
            // the instance's `VMContext` as long as the store keeps the instance, and the store only uses the
            // pointer once the instantiation has succeeded.
            let flag = unsafe { FlagPtr::new(location.cast()) };
            INSTANTIATING.with(|cell| {
                if let Some(i) = cell.borrow_mut().as_mut() {
                    i.flags.push(flag);
                }
            });
        }
        Ok(globals)
    }
}

/// A memory whose creation and growth count against its store's budget.
#[derive(Debug)]
struct BudgetedMemory {
    inner: VMMemory,
    limits: Arc<StoreLimits>,
}

impl std::fmt::Debug for StoreLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreLimits")
    }
}

impl LinearMemory for BudgetedMemory {
    fn ty(&self) -> MemoryType {
        self.inner.ty()
    }

    fn size(&self) -> Pages {
        self.inner.size()
    }

    fn style(&self) -> MemoryStyle {
        self.inner.style()
    }

    fn grow(&mut self, delta: Pages) -> Result<Pages, MemoryError> {
        let bytes = delta.bytes().0 as u64;
        if bytes == 0 {
            return self.inner.grow(delta);
        }
        if !self.limits.charge(bytes) {
            return Err(MemoryError::CouldNotGrow {
                current: self.inner.size(),
                attempted_delta: delta,
            });
        }
        self.inner.grow(delta).inspect_err(|_| self.limits.refund(bytes))
    }

    fn grow_at_least(&mut self, min_size: u64) -> Result<(), MemoryError> {
        let current = self.inner.size().bytes().0 as u64;
        let bytes = min_size.saturating_sub(current);
        if bytes == 0 {
            return self.inner.grow_at_least(min_size);
        }
        if !self.limits.charge(bytes) {
            return Err(MemoryError::Generic(
                "growing the memory exceeds the plug-in's memory limit".into(),
            ));
        }
        self.inner
            .grow_at_least(min_size)
            .inspect_err(|_| self.limits.refund(bytes))
    }

    fn reset(&mut self) -> Result<(), MemoryError> {
        self.inner.reset()
    }

    fn vmmemory(&self) -> NonNull<VMMemoryDefinition> {
        self.inner.vmmemory()
    }

    fn try_clone(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        let inner = LinearMemory::try_clone(&self.inner)?;
        Ok(Box::new(BudgetedMemory {
            inner: VMMemory(inner),
            limits: self.limits.clone(),
        }))
    }

    unsafe fn initialize_with_data(&self, start: usize, data: &[u8]) -> Result<(), Trap> {
        // SAFETY: forwarded unchanged; the caller upholds the contract.
        unsafe { self.inner.initialize_with_data(start, data) }
    }

    fn copy(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        let inner = LinearMemory::copy(&self.inner)?;
        Ok(Box::new(BudgetedMemory {
            inner: VMMemory(inner),
            limits: self.limits.clone(),
        }))
    }

    fn as_shared(&self) -> Result<VMSharedMemory, MemoryError> {
        self.inner.as_shared()
    }

    unsafe fn do_wait(
        &mut self,
        dst: u32,
        expected: ExpectedValue,
        timeout: Option<Duration>,
    ) -> Result<u32, WaiterError> {
        // SAFETY: forwarded unchanged; the caller upholds the contract.
        unsafe { self.inner.do_wait(dst, expected, timeout) }
    }

    fn do_notify(&mut self, dst: u32, count: u32) -> u32 {
        self.inner.do_notify(dst, count)
    }

    fn thread_conditions(&self) -> Option<&ThreadConditions> {
        self.inner.thread_conditions()
    }
}
