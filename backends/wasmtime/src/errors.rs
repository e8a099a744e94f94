//! Classifying wasmtime errors into the core's [`CallError`].

use extism_core::backend::CallError;

pub(crate) use extism_core::backend::HostFailure;

pub(crate) fn classify(error: wasmtime::Error) -> CallError {
    if error.downcast_ref::<crate::limits::BudgetExceeded>().is_some() {
        return CallError::MemoryLimit;
    }
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::Interrupt => CallError::Interrupted,
            wasmtime::Trap::OutOfFuel => CallError::OutOfFuel,
            other => CallError::Trap(other.to_string()),
        };
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
