//! `extism_plugin_cancel_handle` and `extism_plugin_cancel`: stopping a running call from another thread.

use extism::CancelHandle;

use crate::ffi::guard;
use crate::plugin::{ExtismPlugin, plugin_ref};

/// A `CancelHandle` can be used to cancel a running plugin from another thread
pub struct ExtismCancelHandle(pub(crate) CancelHandle);

/// Get handle for plugin cancellation
///
/// NULL if `plugin` is NULL. The handle lives inside the plug-in (do not free it) and may be used from any thread
/// until the plug-in is freed.
///
/// # Safety
/// `plugin` is NULL or a live plug-in.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_cancel_handle(plugin: *const ExtismPlugin) -> *const ExtismCancelHandle {
    guard(std::ptr::null(), || {
        // SAFETY: NULL or live (caller's promise).
        match unsafe { plugin_ref(plugin) } {
            Some(plugin) => &plugin.cancel,
            None => std::ptr::null(),
        }
    })
}

/// Cancel a running plugin
///
/// The call running at that moment fails with the error "timeout" (return code 134); with no call running nothing
/// happens (a cancel is not remembered for a later call). Returns false if `handle` is NULL or the plug-in's engine
/// cannot interrupt calls, true otherwise.
///
/// # Safety
/// `handle` is NULL or a handle from `extism_plugin_cancel_handle` whose plug-in is alive.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_plugin_cancel(handle: *const ExtismCancelHandle) -> bool {
    guard(false, || {
        // SAFETY: NULL or live (caller's promise).
        match unsafe { handle.as_ref() } {
            Some(handle) => handle.0.cancel().is_ok(),
            None => false,
        }
    })
}
