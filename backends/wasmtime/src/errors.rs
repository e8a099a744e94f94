//! Classifying wasmtime errors into the core's [`CallError`].

use extism_core::backend::CallError;

pub(crate) use extism_core::backend::HostFailure;

pub(crate) fn classify(error: wasmtime::Error) -> CallError {
    if let Some(trap) = classify_trap(&error) {
        return trap;
    }
    match error.downcast::<HostFailure>() {
        Ok(HostFailure(e)) => CallError::Host(e),
        Err(other) => CallError::Other(anyhow::Error::from(other)),
    }
}

/// A wasmtime error as the public error type, for operations outside a call (compiling, linking).
pub(crate) fn to_anyhow(error: wasmtime::Error) -> anyhow::Error {
    anyhow::Error::from(error)
}

/// The class of `error` if it is a trap of the engine (a wasm trap or a limit that stopped guest code), read without
/// consuming the error (which keeps its core dump).
pub(crate) fn classify_trap(error: &wasmtime::Error) -> Option<CallError> {
    if error.downcast_ref::<crate::limits::BudgetExceeded>().is_some() {
        return Some(CallError::MemoryLimit);
    }
    Some(match error.downcast_ref::<wasmtime::Trap>()? {
        wasmtime::Trap::Interrupt => CallError::Interrupted,
        wasmtime::Trap::OutOfFuel => CallError::OutOfFuel,
        other => CallError::Trap(other.to_string()),
    })
}
