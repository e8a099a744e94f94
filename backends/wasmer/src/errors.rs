//! Turning wasmer's errors into the core's.

use anyhow::anyhow;
use extism_core::backend::CallError;
use wasmer::RuntimeError;

pub(crate) use extism_core::backend::HostFailure;

/// A host function's error, if `error` carries one; otherwise `error` back.
pub(crate) fn host_failure(error: RuntimeError) -> Result<anyhow::Error, RuntimeError> {
    if !error.is::<HostFailure>() {
        return Err(error);
    }
    match error.downcast::<HostFailure>() {
        Ok(HostFailure(e)) => Ok(e),
        // Only if wasmer shared the error elsewhere: keep the text, the error value cannot be moved out.
        Err(shared) => Ok(anyhow!(
            "{}",
            shared
                .downcast_ref::<HostFailure>()
                .map_or(String::new(), |h| h.to_string())
        )),
    }
}

/// A trap, with wasmer's message and wasm backtrace.
pub(crate) fn trap(error: &RuntimeError) -> CallError {
    CallError::Trap(error.to_string())
}

/// A wasmer error as the public error type, for failures outside a call (compiling, linking).
pub(crate) fn to_anyhow(error: impl std::error::Error + Send + Sync + 'static) -> anyhow::Error {
    anyhow::Error::new(error)
}
