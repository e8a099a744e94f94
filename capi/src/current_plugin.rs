//! `extism_current_plugin_*`: what a C host function may do with the plug-in that called it.
//!
//! A C callback receives an `ExtismCurrentPlugin*` that is really the runtime's [`CurrentPlugin`] for that one host
//! call. It must not be used after the callback returns nor from another thread; rather than trusting that, the host
//! records which pointer is live on each thread, and these functions treat any other pointer like NULL.

use std::cell::Cell;
use std::ffi::c_void;

use extism::CurrentPlugin;

use crate::ffi::guard;
use crate::types::{ExtismMemoryHandle, ExtismSize};

/// CurrentPlugin stores data that is available to the caller in PDK functions, this should
/// only be accessed from inside a host function
///
/// Opaque: C only ever holds a pointer to it, valid during the host function call that received it.
pub struct ExtismCurrentPlugin {
    _opaque: [u8; 0],
}

/// The host context a C caller passed to `extism_plugin_call_with_host_context`, as the runtime stores it.
#[derive(Clone, Copy)]
pub(crate) struct HostContext(pub(crate) *mut c_void);

// SAFETY: the runtime only stores this pointer for the duration of one call and hands it back to C host functions
// running on the calling thread; it never dereferences it. What the pointee may be used for is the C caller's
// business, as upstream documents.
unsafe impl Send for HostContext {}
// SAFETY: as above; shared references only read the pointer value.
unsafe impl Sync for HostContext {}

thread_local! {
    /// The `ExtismCurrentPlugin*` of the host call running on this thread (the innermost one, if a host function
    /// calls another plug-in whose host function runs in turn), or NULL.
    static ACTIVE: Cell<*mut ExtismCurrentPlugin> = const { Cell::new(std::ptr::null_mut()) };
}

/// Marks a `CurrentPlugin` as live on this thread for the duration of one C callback.
pub(crate) struct ActiveCall {
    previous: *mut ExtismCurrentPlugin,
}

impl ActiveCall {
    /// Make `plugin` the live current plug-in of this thread until the returned value drops; returns the pointer to
    /// hand to C.
    pub(crate) fn enter(plugin: &mut CurrentPlugin<'_>) -> (ActiveCall, *mut ExtismCurrentPlugin) {
        let ptr = (plugin as *mut CurrentPlugin<'_>).cast::<ExtismCurrentPlugin>();
        let previous = ACTIVE.with(|active| active.replace(ptr));
        (ActiveCall { previous }, ptr)
    }
}

impl Drop for ActiveCall {
    fn drop(&mut self) {
        ACTIVE.with(|active| active.set(self.previous));
    }
}

/// The live current plug-in behind `ptr`, or `None` if `ptr` is NULL or not the one of the host call running on
/// this thread.
///
/// # Safety
/// The returned reference must not outlive the entry point it is used in (it is only valid during the host call).
unsafe fn current<'a>(ptr: *mut ExtismCurrentPlugin) -> Option<&'a mut CurrentPlugin<'a>> {
    if ptr.is_null() || ACTIVE.with(Cell::get) != ptr {
        return None;
    }
    // SAFETY: `ptr` is the live host call's `CurrentPlugin` on this thread (checked above): `ActiveCall::enter` made
    // it from a `&mut CurrentPlugin` that the trampoline does not touch while C runs, and it stays valid until the
    // callback returns, which is after this entry point returns.
    Some(unsafe { &mut *ptr.cast::<CurrentPlugin<'a>>() })
}

/// Get the current plugin's associated host context data. Returns null if call was made without
/// host context.
///
/// # Safety
/// `plugin` is NULL or the pointer the running host function received.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_current_plugin_host_context(plugin: *mut ExtismCurrentPlugin) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        // SAFETY: used only within this entry point.
        let Some(plugin) = (unsafe { current(plugin) }) else {
            return std::ptr::null_mut();
        };
        match plugin.host_context::<HostContext>() {
            Ok(HostContext(ptr)) => *ptr,
            Err(_) => std::ptr::null_mut(),
        }
    })
}

/// Returns a pointer to the memory of the currently running plugin
/// NOTE: this should only be called from host functions.
///
/// This is the kernel's memory: memory handles are offsets from this pointer. Fetch it again after any allocation,
/// which may move it. NULL if `plugin` is NULL or not the running host function's.
///
/// # Safety
/// `plugin` is NULL or the pointer the running host function received.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_current_plugin_memory(plugin: *mut ExtismCurrentPlugin) -> *mut u8 {
    guard(std::ptr::null_mut(), || {
        // SAFETY: used only within this entry point.
        match unsafe { current(plugin) } {
            Some(plugin) => plugin.kernel_memory().as_mut_ptr(),
            None => std::ptr::null_mut(),
        }
    })
}

/// Allocate a memory block in the currently running plugin
/// NOTE: this should only be called from host functions.
///
/// Returns 0 if `n` is 0, the allocation fails, or `plugin` is not the running host function's.
///
/// # Safety
/// `plugin` is NULL or the pointer the running host function received.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_current_plugin_memory_alloc(
    plugin: *mut ExtismCurrentPlugin,
    n: ExtismSize,
) -> ExtismMemoryHandle {
    guard(0, || {
        // SAFETY: used only within this entry point.
        match unsafe { current(plugin) } {
            Some(plugin) => plugin.memory_alloc(n).map(|h| h.offset()).unwrap_or(0),
            None => 0,
        }
    })
}

/// Get the length of an allocated block
/// NOTE: this should only be called from host functions.
///
/// Returns 0 for an offset that is not a live allocation.
///
/// # Safety
/// `plugin` is NULL or the pointer the running host function received.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_current_plugin_memory_length(
    plugin: *mut ExtismCurrentPlugin,
    n: ExtismMemoryHandle,
) -> ExtismSize {
    guard(0, || {
        // SAFETY: used only within this entry point.
        match unsafe { current(plugin) } {
            Some(plugin) => plugin.memory_length(n).unwrap_or(0),
            None => 0,
        }
    })
}

/// Free an allocated memory block
/// NOTE: this should only be called from host functions.
///
/// 0 and offsets that are not live allocations are ignored.
///
/// # Safety
/// `plugin` is NULL or the pointer the running host function received.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_current_plugin_memory_free(plugin: *mut ExtismCurrentPlugin, ptr: ExtismMemoryHandle) {
    guard((), || {
        // SAFETY: used only within this entry point.
        if let Some(plugin) = unsafe { current(plugin) }
            && let Some(handle) = plugin.memory_handle(ptr)
        {
            let _ = plugin.memory_free(handle);
        }
    })
}
