//! The C tests under valgrind's memcheck: no invalid access, no use of uninitialised memory, no definitely lost
//! byte, on every compiled engine.
//!
//! They run against a **release** build of libextism, which this test builds: compiling wasm with a debug build of
//! Cranelift under valgrind takes minutes per plug-in, with a release build seconds. The suppressions
//! (`capi/tests/valgrind.supp`) are each justified there. Needs the Debian package `valgrind` (CI installs it;
//! elsewhere the test is built ignored if it is missing, or if `EXTISM_SKIP_VALGRIND` is set: see `capi/build.rs`).

mod common;

use common::*;

#[test]
#[cfg_attr(
    not(capi_valgrind),
    ignore = "valgrind is not installed (apt-get install -y valgrind), or EXTISM_SKIP_VALGRIND was set at build time"
)]
fn c_programs_are_clean_under_valgrind() {
    assert!(
        have("valgrind"),
        "valgrind is not installed (apt-get install -y valgrind)"
    );
    let lib = library_dir(true);
    let out = target_dir().join("capi-tests/release");
    let suppressions = capi_dir().join("tests/valgrind.supp");
    let programs: Vec<_> = c_programs()
        .into_iter()
        .map(|source| (compile_c(&source, lib, &out), source))
        .collect();
    // Each program under valgrind is single-threaded and CPU-bound: run as many at once as there are cores.
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some((exe, source)) = programs.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                    let output = test_command("valgrind")
                        .args([
                            "--error-exitcode=99",
                            "--leak-check=full",
                            "--errors-for-leak-kinds=definite",
                            "--show-leak-kinds=definite",
                            "--num-callers=40",
                        ])
                        .arg(format!("--suppressions={}", suppressions.display()))
                        .arg(exe)
                        .output()
                        .expect("run valgrind");
                    results.lock().unwrap().push((source.clone(), output));
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    assert_eq!(results.len(), programs.len(), "every program ran");
    for (source, output) in results {
        let report = String::from_utf8_lossy(&output.stderr);
        // The summary lines, for the test log.
        for line in report.lines() {
            if line.contains("ERROR SUMMARY") || line.contains("definitely lost") || line.contains("possibly lost") {
                println!("{}: {}", source.display(), line);
            }
        }
        assert_success(&format!("{} under valgrind", source.display()), &output);
    }
}
