//! Classifying wasmi errors into the core's [`CallError`].
//!
//! Two limits cannot be told apart from the error alone, so the store records them as they happen and
//! [`crate::store`] consults that record first: a memory budget violation (the limiter's denial surfaces as a trap,
//! or as an instantiation error when a new memory does not fit) and fuel exhaustion inside a host function's kernel
//! call (which reaches the top as that host function's error).

use std::sync::Mutex;

use extism_core::backend::CallError;
use wasmi::TrapCode;
use wasmi::errors::{ErrorKind, MemoryError};

/// A host function's error, carried through wasmi unchanged so that the core gets the original error back.
///
/// The error sits behind a mutex so that it can be taken out through a shared reference: a resumable call that a host
/// function failed lends its error out only by reference.
#[derive(Debug)]
pub(crate) struct HostFailure(Mutex<Option<anyhow::Error>>);

impl HostFailure {
    pub(crate) fn new(error: anyhow::Error) -> HostFailure {
        HostFailure(Mutex::new(Some(error)))
    }

    fn take(&self) -> anyhow::Error {
        let taken = self.0.lock().map(|mut e| e.take()).unwrap_or(None);
        taken.unwrap_or_else(|| anyhow::anyhow!("a host function failed"))
    }
}

impl std::fmt::Display for HostFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.lock().as_deref() {
            Ok(Some(e)) => write!(f, "{e}"),
            _ => f.write_str("a host function failed"),
        }
    }
}

impl wasmi::errors::HostError for HostFailure {}

pub(crate) fn classify(error: wasmi::Error) -> CallError {
    match classify_ref(&error) {
        Some(class) => class,
        None => CallError::Other(to_anyhow(error)),
    }
}

/// Classify an error lent by reference (a resumable call's host trap); anything unexpected keeps its message.
pub(crate) fn classify_borrowed(error: &wasmi::Error) -> CallError {
    classify_ref(error).unwrap_or_else(|| CallError::Other(anyhow::anyhow!("{error}")))
}

/// The class of `error`, or `None` for an error that is kept as it is.
fn classify_ref(error: &wasmi::Error) -> Option<CallError> {
    if let Some(code) = error.as_trap_code() {
        return Some(match code {
            TrapCode::OutOfFuel => CallError::OutOfFuel,
            // Only our limiter denies growth with an error (tables are never denied that way).
            TrapCode::GrowthOperationLimited => CallError::MemoryLimit,
            other => CallError::Trap(other.to_string()),
        });
    }
    match error.kind() {
        ErrorKind::I32ExitStatus(code) => Some(CallError::Exit(*code)),
        ErrorKind::Memory(MemoryError::ResourceLimiterDeniedAllocation) => Some(CallError::MemoryLimit),
        _ => error.downcast_ref::<HostFailure>().map(|h| CallError::Host(h.take())),
    }
}

/// A wasmi error as the public error type, for operations outside a call (compiling, linking).
pub(crate) fn to_anyhow(error: wasmi::Error) -> anyhow::Error {
    anyhow::Error::new(error)
}
