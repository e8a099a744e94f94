//! Classifying wasmtime errors into the core's [`CallError`].

use extism_core::backend::CallError;

/// A host function's error, carried through wasmtime unchanged so that the core gets the original error back.
#[derive(Debug)]
pub(crate) struct HostFailure(pub anyhow::Error);

impl std::fmt::Display for HostFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for HostFailure {}

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
