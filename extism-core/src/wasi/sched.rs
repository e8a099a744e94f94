//! WASI's scheduler (`poll_oneoff`, `sched_yield`) made interruptible: a guest that sleeps wakes for the plug-in's
//! timeout and cancel.
//!
//! `wasi-common`'s synchronous scheduler blocks the thread for the whole sleep, where no engine can interrupt it (an
//! engine only checks its interrupt flag in guest code). Here a sleep waits in short slices and checks the plug-in's
//! interrupt flag between them; once it is raised, the WASI call fails with [`CallError::Interrupted`], which the
//! call reports as "timeout" like any other interrupt. A flag raised between two slices is seen within one slice.

use std::sync::Weak;
use std::time::Duration;

use wasi_common::sched::{Poll, WasiSched};
use wasi_common::sync::sched::SyncSched;

use crate::backend::CallError;
use crate::interrupt::Interrupt;

/// How long a sleeping guest waits between two looks at its interrupt flag.
const SLICE: Duration = Duration::from_millis(5);

/// The synchronous scheduler, with sleeps cut into slices that check the plug-in's interrupt flag.
pub(crate) struct InterruptibleSched {
    inner: SyncSched,
    /// The plug-in's flag; weak, so that the WASI context does not count as a holder of a cancel handle.
    interrupt: Weak<Interrupt>,
}

impl InterruptibleSched {
    pub(crate) fn boxed(interrupt: Weak<Interrupt>) -> Box<dyn WasiSched> {
        Box::new(InterruptibleSched {
            inner: SyncSched::new(),
            interrupt,
        })
    }

    /// Fail with the interrupt error if the running call must stop.
    fn check(&self) -> Result<(), wasi_common::Error> {
        match self.interrupt.upgrade() {
            Some(interrupt) if interrupt.is_requested() => {
                Err(wasi_common::Error::trap(anyhow::Error::new(CallError::Interrupted)))
            }
            _ => Ok(()),
        }
    }

    /// Wait until `remaining` (asked afresh after each slice) is zero, checking the flag between slices.
    fn wait(&self, remaining: impl Fn() -> Duration) -> Result<(), wasi_common::Error> {
        loop {
            self.check()?;
            let left = remaining();
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(SLICE));
        }
    }
}

#[wiggle::async_trait]
impl WasiSched for InterruptibleSched {
    async fn poll_oneoff<'a>(&self, poll: &mut Poll<'a>) -> Result<(), wasi_common::Error> {
        // Waiting on descriptors as well: they are files (always ready) or not pollable, so the inner poll returns
        // at once. Waiting on clocks only: sleep in slices until the earliest deadline, then let the inner poll
        // record which one fired.
        if poll.rw_subscriptions().next().is_none()
            && let Some(clock) = poll.earliest_clock_deadline()
        {
            self.wait(|| clock.duration_until().unwrap_or_default())?;
        }
        self.check()?;
        self.inner.poll_oneoff(poll).await
    }

    async fn sched_yield(&self) -> Result<(), wasi_common::Error> {
        self.check()?;
        self.inner.sched_yield().await
    }

    async fn sleep(&self, duration: Duration) -> Result<(), wasi_common::Error> {
        // A sleep too long to represent is one that never ends (until interrupted).
        let end = std::time::Instant::now().checked_add(duration);
        self.wait(|| end.map_or(SLICE, |end| end.saturating_duration_since(std::time::Instant::now())))
    }
}
