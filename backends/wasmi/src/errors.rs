//! Classifying wasmi errors into the core's [`CallError`].
//!
//! Two limits cannot be told apart from the error alone, so the store records them as they happen and
//! [`crate::store`] consults that record first: a memory budget violation (the limiter's denial surfaces as a trap,
//! or as an instantiation error when a new memory does not fit) and fuel exhaustion inside a host function's kernel
//! call (which reaches the top as that host function's error).

use extism_core::backend::CallError;
use wasmi::TrapCode;
use wasmi::errors::{ErrorKind, MemoryError};

/// A host function's error, carried through wasmi unchanged so that the core gets the original error back.
#[derive(Debug)]
pub(crate) struct HostFailure(pub anyhow::Error);

impl std::fmt::Display for HostFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl wasmi::errors::HostError for HostFailure {}

pub(crate) fn classify(error: wasmi::Error) -> CallError {
    if let Some(code) = error.as_trap_code() {
        return match code {
            TrapCode::OutOfFuel => CallError::OutOfFuel,
            // Only our limiter denies growth with an error (tables are never denied that way).
            TrapCode::GrowthOperationLimited => CallError::MemoryLimit,
            other => CallError::Trap(other.to_string()),
        };
    }
    match error.kind() {
        ErrorKind::I32ExitStatus(code) => return CallError::Exit(*code),
        ErrorKind::Memory(MemoryError::ResourceLimiterDeniedAllocation) => return CallError::MemoryLimit,
        _ => {}
    }
    if error.downcast_ref::<HostFailure>().is_some() {
        let HostFailure(e) = error.downcast::<HostFailure>().expect("checked by downcast_ref");
        return CallError::Host(e);
    }
    CallError::Other(to_anyhow(error))
}

/// A wasmi error as the public error type, for operations outside a call (compiling, linking).
pub(crate) fn to_anyhow(error: wasmi::Error) -> anyhow::Error {
    anyhow::Error::new(error)
}
