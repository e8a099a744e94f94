//! [`CurrentPlugin`]: what a host function sees of the plug-in that called it.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Error, anyhow};
use uuid::Uuid;

use crate::backend::{CallError, KernelAccess};
use crate::convert::{FromBytes, MemoryHandle, ToBytes};
use crate::kernel::KernelFn;
use crate::manifest::Manifest;
use crate::state::PluginState;
use crate::val::Val;

/// The plug-in a host function was called from: its kernel memory, vars and manifest.
///
/// Memory handles are offsets into the **kernel's** memory (not the plug-in module's own memory). Every access is
/// bounds-checked; an invalid handle gives an error.
pub struct CurrentPlugin<'a> {
    kernel: &'a mut dyn KernelAccess<PluginState>,
    /// A limit (timeout, fuel, memory) one of this host call's kernel calls ran into. The host function may turn the
    /// failure into an error of its own (an invalid handle, say) or swallow it; [`crate::Function::invoke`] reports
    /// the limit instead.
    limit: Option<CallError>,
}

impl<'a> CurrentPlugin<'a> {
    /// Wrap a backend's view of the kernel. Backends call this inside their host-call trampolines.
    pub fn new(kernel: &'a mut dyn KernelAccess<PluginState>) -> CurrentPlugin<'a> {
        CurrentPlugin { kernel, limit: None }
    }

    /// Run a kernel call, noting a limit it ran into.
    fn kernel_call(&mut self, function: KernelFn, arg: u64) -> Result<u64, Error> {
        let result = self.kernel.call_kernel(function, arg).map_err(CallError::into_error);
        if let Err(e) = &result
            && self.limit.is_none()
        {
            self.limit = CallError::limit_in(e);
        }
        result
    }

    /// The limit a kernel call of this host call ran into, if any.
    pub(crate) fn take_limit(&mut self) -> Option<CallError> {
        self.limit.take()
    }

    /// The plug-in's id.
    pub fn id(&mut self) -> Uuid {
        self.kernel.memory_and_state().1.id
    }

    /// The plug-in's manifest (without module bytes).
    pub fn manifest(&mut self) -> &Manifest {
        &self.kernel.memory_and_state().1.manifest
    }

    /// The plug-in's vars.
    pub fn vars(&mut self) -> &BTreeMap<String, Vec<u8>> {
        &self.kernel.memory_and_state().1.vars
    }

    /// The plug-in's vars, mutable.
    pub fn vars_mut(&mut self) -> &mut BTreeMap<String, Vec<u8>> {
        &mut self.kernel.memory_and_state().1.vars
    }

    /// Time left before the running call reaches the manifest's `timeout_ms`, or `None` when it has no timeout.
    /// Zero once the time is up.
    pub fn time_remaining(&mut self) -> Option<Duration> {
        let state = self.state();
        let timeout = Duration::from_millis(state.manifest.timeout_ms?);
        let elapsed = state.call_started.map(|started| started.elapsed()).unwrap_or_default();
        Some(timeout.saturating_sub(elapsed))
    }

    /// The plug-in's host state.
    pub(crate) fn state(&mut self) -> &mut PluginState {
        self.kernel.memory_and_state().1
    }

    /// The host context passed to the running call (`call_with_host_context`). Fails when the call has none or it is
    /// not a `T`.
    pub fn host_context<T: 'static>(&mut self) -> Result<&mut T, Error> {
        let context = self
            .kernel
            .memory_and_state()
            .1
            .host_context
            .as_mut()
            .ok_or_else(|| anyhow!("no host context was passed to this call"))?;
        context
            .downcast_mut::<T>()
            .ok_or_else(|| anyhow!("the host context is not a {}", std::any::type_name::<T>()))
    }

    /// Fail the running call with `message` as its error, as if the guest had set it: the call's error (root cause)
    /// is this message even if the host function then returns its own error. Returns the handle of the message.
    pub fn set_error(&mut self, message: impl AsRef<str>) -> Result<(u64, u64), Error> {
        let handle = self.memory_new(message.as_ref())?;
        self.kernel_call(KernelFn::ErrorSet, handle.offset)?;
        Ok((handle.offset, handle.length))
    }

    /// The error set for the running call (by the guest or with [`CurrentPlugin::set_error`]), if any.
    pub fn get_error(&mut self) -> Option<&str> {
        let offset = self.kernel_call(KernelFn::ErrorGet, 0).ok()?;
        let handle = self.memory_handle(offset).filter(|h| h.offset != 0)?;
        self.memory_str(handle).ok()
    }

    /// Clear the running call's error.
    pub fn clear_error(&mut self) -> Result<(), Error> {
        self.kernel_call(KernelFn::ErrorSet, 0).map(drop)
    }

    /// The whole kernel memory: handles are offsets into this slice. Invalid after the next allocation.
    pub fn kernel_memory(&mut self) -> &mut [u8] {
        self.kernel.memory_and_state().0
    }

    /// The calling module's own linear memory (its export named `memory`), not the kernel's: for host functions that
    /// take raw pointers into the guest, as WASI's do. `None` if the caller exports no memory or the engine cannot
    /// reach it from a host call.
    pub fn guest_memory(&mut self) -> Option<&mut [u8]> {
        self.kernel.guest_memory_and_state().map(|(memory, _)| memory)
    }

    /// The calling module's memory together with the host state (see [`CurrentPlugin::guest_memory`]).
    pub(crate) fn guest_memory_and_state(&mut self) -> Option<(&mut [u8], &mut PluginState)> {
        self.kernel.guest_memory_and_state()
    }

    /// The handle of the live allocation at `offset`: `Some(null)` for 0, `None` if `offset` is not a live block.
    pub fn memory_handle(&mut self, offset: u64) -> Option<MemoryHandle> {
        if offset == 0 {
            return Some(MemoryHandle::null());
        }
        match self.kernel_call(KernelFn::Length, offset) {
            Ok(0) | Err(_) => None,
            Ok(length) => Some(MemoryHandle { offset, length }),
        }
    }

    /// The bytes of a handle.
    pub fn memory_bytes(&mut self, handle: MemoryHandle) -> Result<&mut [u8], Error> {
        let memory = self.kernel.memory_and_state().0;
        region(memory, handle.offset, handle.length).ok_or_else(|| {
            anyhow!(
                "invalid memory handle: offset {} length {}",
                handle.offset,
                handle.length
            )
        })
    }

    /// The bytes of a handle, mutable (same as [`CurrentPlugin::memory_bytes`]).
    pub fn memory_bytes_mut(&mut self, handle: MemoryHandle) -> Result<&mut [u8], Error> {
        self.memory_bytes(handle)
    }

    /// The bytes of a handle as UTF-8 text.
    pub fn memory_str(&mut self, handle: MemoryHandle) -> Result<&str, Error> {
        Ok(std::str::from_utf8(self.memory_bytes(handle)?)?)
    }

    /// The bytes of a handle as mutable UTF-8 text.
    pub fn memory_str_mut(&mut self, handle: MemoryHandle) -> Result<&mut str, Error> {
        Ok(std::str::from_utf8_mut(self.memory_bytes(handle)?)?)
    }

    /// Allocate `n` bytes of kernel memory. `n == 0` gives the null handle.
    pub fn memory_alloc(&mut self, n: u64) -> Result<MemoryHandle, Error> {
        if n == 0 {
            return Ok(MemoryHandle::null());
        }
        let offset = self.kernel_call(KernelFn::Alloc, n)?;
        if offset == 0 {
            let id = self.id();
            return Err(anyhow!("{id} out of memory"));
        }
        Ok(MemoryHandle { offset, length: n })
    }

    /// Free an allocation (the null handle and unknown handles are ignored).
    pub fn memory_free(&mut self, handle: MemoryHandle) -> Result<(), Error> {
        if handle.offset == 0 {
            return Ok(());
        }
        self.kernel_call(KernelFn::Free, handle.offset).map(drop)
    }

    /// The length of the live allocation at `offset` (0 if there is none).
    pub fn memory_length(&mut self, offset: u64) -> Result<u64, Error> {
        self.kernel_call(KernelFn::Length, offset)
    }

    /// Same as [`CurrentPlugin::memory_length`]: our kernel's length check is already O(1).
    pub fn memory_length_unsafe(&mut self, offset: u64) -> Result<u64, Error> {
        self.kernel_call(KernelFn::Length, offset)
    }

    /// Copy a value into a new allocation. Empty values give the null handle.
    pub fn memory_new<'b, T: ToBytes<'b>>(&mut self, t: T) -> Result<MemoryHandle, Error> {
        let bytes = t.to_bytes()?;
        let bytes = bytes.as_ref();
        let handle = self.memory_alloc(bytes.len() as u64)?;
        if !bytes.is_empty() {
            self.memory_bytes(handle)?.copy_from_slice(bytes);
        }
        Ok(handle)
    }

    /// Decode the bytes of a handle.
    pub fn memory_get<'b, T: FromBytes<'b>>(&'b mut self, handle: MemoryHandle) -> Result<T, Error> {
        T::from_bytes(self.memory_bytes(handle)?)
    }

    /// Decode the bytes of the handle passed as an `I64` argument.
    pub fn memory_get_val<'b, T: FromBytes<'b>>(&'b mut self, val: &Val) -> Result<T, Error> {
        match self.memory_from_val(val) {
            Some(handle) => self.memory_get(handle),
            None => {
                let id = self.id();
                Err(anyhow!("{id} invalid memory offset: {val:?}"))
            }
        }
    }

    /// Copy `data` into a new allocation and store its handle in `val` (for returning it from a host function).
    pub fn memory_set_val<'b, T: ToBytes<'b>>(&mut self, val: &mut Val, data: T) -> Result<(), Error> {
        let handle = self.memory_new(data)?;
        *val = Val::I64(handle.offset as i64);
        Ok(())
    }

    /// The handle passed as an `I64` value, if it is a live allocation (or 0).
    pub fn memory_from_val(&mut self, val: &Val) -> Option<MemoryHandle> {
        match val {
            Val::I64(offset) => self.memory_handle(*offset as u64),
            _ => None,
        }
    }

    /// The value that passes `handle` to a plug-in.
    pub fn memory_to_val(&self, handle: MemoryHandle) -> Val {
        Val::I64(handle.offset as i64)
    }
}

/// `memory[offset .. offset + length]`, or `None` if any of it is outside memory.
pub(crate) fn region(memory: &mut [u8], offset: u64, length: u64) -> Option<&mut [u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(length).ok()?)?;
    memory.get_mut(start..end)
}
