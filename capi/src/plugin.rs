//! `ExtismPlugin`: a plug-in behind a per-plug-in mutex, with the error and output of its last call.

use std::ffi::CString;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use extism::Plugin;

use crate::cancel::ExtismCancelHandle;
use crate::ffi::c_string;

/// Plugin contains everything needed to execute a WASM function
///
/// What never changes (id, cancel handle, engine name) sits outside the mutex, so that another thread can cancel a
/// running call; everything a call touches sits inside it.
pub struct ExtismPlugin {
    /// The 16 raw bytes of the plug-in's UUID (`extism_plugin_id` points here).
    pub(crate) id: [u8; 16],
    /// Cancels this plug-in's running call (`extism_plugin_cancel_handle` points here). Created with the plug-in:
    /// a call can only be interrupted if the handle existed when it started.
    pub(crate) cancel: ExtismCancelHandle,
    /// The engine running the plug-in.
    pub(crate) backend: extism::Backend,
    /// Which thread holds `slot` (a per-thread token, 0 for none): lets a host function that calls back into its
    /// own plug-in get an error instead of a deadlock.
    owner: AtomicUsize,
    slot: Mutex<Slot>,
}

/// The part of a plug-in that calls use.
pub(crate) struct Slot {
    pub(crate) plugin: Plugin,
    /// The error of the last call (or config/reset), NUL-terminated; `extism_plugin_error` points into it.
    pub(crate) error: Option<CString>,
}

impl Slot {
    /// Record an error for `extism_plugin_error`.
    pub(crate) fn set_error(&mut self, message: impl Into<String>) {
        self.error = Some(c_string(message));
    }
}

/// Why a plug-in could not be locked.
pub(crate) enum LockError {
    /// The calling thread already holds it: a host function called back into its own plug-in.
    Reentrant,
}

/// Exclusive access to a plug-in's [`Slot`]; releases ownership before the mutex.
pub(crate) struct Locked<'a> {
    owner: &'a AtomicUsize,
    guard: MutexGuard<'a, Slot>,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // Cleared before `guard` unlocks (fields drop after this body), so no other thread can see its own token.
        self.owner.store(0, Ordering::Release);
    }
}

impl std::ops::Deref for Locked<'_> {
    type Target = Slot;
    fn deref(&self) -> &Slot {
        &self.guard
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Slot {
        &mut self.guard
    }
}

/// A token unique to the calling thread among live threads, never 0: the address of a thread-local.
fn thread_token() -> usize {
    thread_local! {
        static TOKEN: u8 = const { 0 };
    }
    TOKEN.with(|t| t as *const u8 as usize)
}

impl ExtismPlugin {
    /// Wrap a new plug-in.
    pub(crate) fn new(plugin: Plugin) -> ExtismPlugin {
        ExtismPlugin {
            id: *plugin.id.as_bytes(),
            cancel: ExtismCancelHandle(plugin.cancel_handle()),
            backend: plugin.backend(),
            owner: AtomicUsize::new(0),
            slot: Mutex::new(Slot { plugin, error: None }),
        }
    }

    /// Wait for exclusive access (calls from several threads serialise here, as upstream's blocking lock).
    ///
    /// A previous panic inside an entry point (caught there) poisons the mutex; the slot is still structurally
    /// sound, so it is used anyway rather than making the plug-in unusable.
    pub(crate) fn lock(&self) -> Result<Locked<'_>, LockError> {
        let me = thread_token();
        if self.owner.load(Ordering::Acquire) == me {
            return Err(LockError::Reentrant);
        }
        let guard = self.slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.owner.store(me, Ordering::Release);
        Ok(Locked {
            owner: &self.owner,
            guard,
        })
    }
}

/// Borrow a plug-in from a C pointer; `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or a live plug-in from one of the `extism_plugin_new*` functions.
pub(crate) unsafe fn plugin_ref<'a>(ptr: *const ExtismPlugin) -> Option<&'a ExtismPlugin> {
    // SAFETY: NULL or live, as the caller promises; only shared access is needed (the mutex guards the rest).
    unsafe { ptr.as_ref() }
}

// C hands these objects to any thread (a plug-in called from several threads, a cancel handle used from another):
// the build fails here if an engine makes them thread-unsafe, instead of the C API becoming unsound.
const _: () = {
    const fn shared_across_threads<T: Send + Sync>() {}
    shared_across_threads::<ExtismPlugin>();
    shared_across_threads::<crate::compiled::ExtismCompiledPlugin>();
    shared_across_threads::<crate::function::ExtismFunction>();
    shared_across_threads::<ExtismCancelHandle>();
};
