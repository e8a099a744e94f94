//! Cases whose regression would be fatal to the test process (an abort, a hang, exhausting memory or descriptors)
//! run in a child process of this test binary with a deadline, so that a regression fails one test, not the suite.
//!
//! A test calls [`run`] with a case from [`CASES`]; the child is this binary running only [`child`], which looks
//! the case up by name.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use extism::Backend;

/// The environment variable that tells [`child`] which case to run on which backend: `case:backend`.
const CASE: &str = "EXTISM_TEST_ISOLATED_CASE";

/// A case: its name and the function that runs it on a backend.
type Case = (&'static str, fn(Backend));

/// Every case a child process can run, by name.
const CASES: &[Case] = &[
    ("host_function_panics", crate::host_panics::host_function_panics),
    ("manifest_path_dev_zero", crate::manifest_files::dev_zero),
    ("manifest_path_dev_urandom", crate::manifest_files::dev_urandom),
    ("manifest_path_fifo", crate::manifest_files::fifo),
    ("wasi_fds_bounded", crate::wasi_fds::open_without_close),
    ("wasi_fds_bad_result_pointer", crate::wasi_fds::bad_result_pointer),
];

/// The child side: runs the case named in [`CASE`]; does nothing when run without it.
#[test]
#[ignore = "run in a child process by isolated::run"]
fn child() {
    let Ok(spec) = std::env::var(CASE) else {
        return;
    };
    let (name, backend) = spec.split_once(':').expect("case:backend");
    let backend: Backend = backend.parse().unwrap();
    let (_, case) = CASES
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no isolated case named {name}"));
    case(backend);
}

/// Run case `name` on `backend` in a child process and fail if it fails, crashes or takes longer than `deadline`.
pub fn run(name: &str, backend: Backend, deadline: Duration) {
    assert!(CASES.iter().any(|(n, _)| *n == name), "no isolated case named {name}");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "isolated::child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CASE, format!("{name}:{}", backend.name()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drained on threads, so that a chatty child never blocks on a full pipe.
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
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    match status {
        None => panic!("isolated case {name} on {backend} did not finish within {deadline:?}:\n{stdout}\n{stderr}"),
        Some(status) => assert!(
            status.success() && stdout.contains("1 passed"),
            "isolated case {name} on {backend} failed ({status}):\n{stdout}\n{stderr}"
        ),
    }
}
