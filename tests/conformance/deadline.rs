//! Deadlines for tests that wait on a timeout or a cancel, so that a regression fails one test instead of hanging
//! the suite.
//!
//! - [`with_deadline`] runs the body on a thread and fails if it has not finished in time (the thread is left
//!   behind: it cannot be stopped, but the test reports the hang).
//! - [`in_child_process`] runs the calling test again in a child process of the test binary, killed at the
//!   deadline: for bodies whose regression would be fatal to the test process (an abort, exhausting memory or
//!   descriptors) or would leave a spinning thread behind (a start function that never returns, which nothing but
//!   the plug-in's own limits can stop), so that it fails one test, not the suite. The child runs exactly that
//!   test, so a test that runs in a child cannot pass without running its body.
//! - [`Canceller`] and [`cancelling`] cancel a call from another thread again and again until it returns: a cancel
//!   that lands between calls (before the call has begun) is dropped by design, so cancelling once after a sleep
//!   would hang whenever the call starts late.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Set in the environment of a test re-run by [`in_child_process`].
const CHILD_ENV: &str = "EXTISM_CONFORMANCE_CHILD";

/// Run `body` and return its result, failing the test if it takes longer than `deadline`. A panic in `body` fails
/// the test with that panic.
pub(crate) fn with_deadline<R: Send + 'static>(deadline: Duration, body: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name(format!("{}-body", std::thread::current().name().unwrap_or("test")))
        .spawn(move || {
            let result = body();
            let _ = tx.send(());
            result
        })
        .expect("spawn the test body");
    match rx.recv_timeout(deadline) {
        // Finished (sent) or panicked (dropped the sender): the join gives the result or the panic.
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the test did not finish within {deadline:?}: it hangs"),
    }
}

/// How often a [`Canceller`] cancels again after its first try.
const RECANCEL_EVERY: Duration = Duration::from_millis(20);

/// A thread that cancels a call, first after a delay, then every [`RECANCEL_EVERY`] until stopped, so that a cancel
/// dropped because the call had not begun yet is followed by one that lands. Stopped by [`Canceller::stop`] or
/// when dropped.
pub(crate) struct Canceller {
    stop: Arc<AtomicBool>,
    /// When `cancel` first reported that it landed.
    landed: Arc<Mutex<Option<Instant>>>,
    thread: Option<JoinHandle<()>>,
}

impl Canceller {
    /// Start calling `cancel` after `after`, then every [`RECANCEL_EVERY`]. `cancel` returns whether the request
    /// reached a running call (a cancel API that does not say may return `true`: then [`Canceller::stop`] reports
    /// the first try). A panic in `cancel` (e.g. an unwrapped error) shows when the canceller is stopped.
    pub(crate) fn start(after: Duration, mut cancel: impl FnMut() -> bool + Send + 'static) -> Canceller {
        let stop = Arc::new(AtomicBool::new(false));
        let landed = Arc::new(Mutex::new(None));
        let thread = {
            let (stop, landed) = (stop.clone(), landed.clone());
            std::thread::spawn(move || {
                let mut wait = after;
                loop {
                    // Sleep in short steps so that stopping is prompt even after a long first delay.
                    let until = Instant::now() + wait;
                    while Instant::now() < until {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        std::thread::sleep(RECANCEL_EVERY.min(until.saturating_duration_since(Instant::now())));
                    }
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let requested = Instant::now();
                    if cancel() {
                        landed.lock().unwrap().get_or_insert(requested);
                    }
                    wait = RECANCEL_EVERY;
                }
            })
        };
        Canceller {
            stop,
            landed,
            thread: Some(thread),
        }
    }

    /// Stop cancelling (call it once the cancelled call has returned) and return when a cancel first landed, if
    /// one did. Fails the test if `cancel` panicked.
    pub(crate) fn stop(mut self) -> Option<Instant> {
        self.stop.store(true, Ordering::SeqCst);
        if let Err(panic) = self.thread.take().expect("stopped once").join() {
            std::panic::resume_unwind(panic);
        }
        *self.landed.lock().unwrap()
    }
}

impl Drop for Canceller {
    fn drop(&mut self) {
        // Not joined here: a test that panics must not also wait for the canceller.
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Run `call` on this thread while another thread cancels it after `after` and again every [`RECANCEL_EVERY`]
/// until it returns (see [`Canceller`]); returns what `call` returned.
pub(crate) fn cancelling<R>(
    after: Duration,
    cancel: impl FnMut() -> bool + Send + 'static,
    call: impl FnOnce() -> R,
) -> R {
    let canceller = Canceller::start(after, cancel);
    let result = call();
    canceller.stop();
    result
}

/// Run the calling test's `body` in a child process (this test binary, filtered to exactly this test), killed if
/// it has not finished within `deadline`; fail unless the child ran the test and it passed. In the child, run
/// `body` directly.
///
/// The test's name comes from its thread, which the test harness names after the test.
pub(crate) fn in_child_process(deadline: Duration, body: impl FnOnce()) {
    if std::env::var_os(CHILD_ENV).is_some() {
        body();
        return;
    }
    let name = std::thread::current()
        .name()
        .expect("the test harness names each test's thread after the test")
        .to_string();
    let mut child = Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the test binary as a child process");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child process") {
            break Some(status);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default());
    match status {
        None => panic!("`{name}` did not finish within {deadline:?} in a child process: it hangs\n{stdout}\n{stderr}"),
        Some(status) => assert!(
            status.success() && stdout.contains("1 passed"),
            "`{name}` failed in a child process ({status}):\n{stdout}\n{stderr}"
        ),
    }
}
