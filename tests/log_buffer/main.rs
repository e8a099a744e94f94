//! Plug-in logs kept in memory (`set_log_buffer`, the C API's `extism_log_custom`) and collected with `drain_logs`
//! (`extism_log_drain`).
//!
//! This is a test binary of its own because `set_log_buffer` installs the process-wide `tracing` subscriber, which can
//! happen once per process. There is one test, running every compiled backend in turn: parallel tests would drain
//! each other's lines. It also checks what `get_log_level` says before any subscriber exists.

#[allow(dead_code, unused_macros)] // not every helper of the conformance suite is used here
#[path = "../conformance/common.rs"]
mod common;

fn drained() -> Vec<String> {
    let mut lines = Vec::new();
    extism::logging::drain_logs(|line| {
        assert_eq!(line.as_bytes_with_nul().last(), Some(&0), "each line is a C string");
        lines.push(line.as_str().to_string());
    });
    lines
}

#[test]
fn drain_delivers_the_buffered_lines_then_empties_the_buffer() {
    assert!(
        drained().is_empty(),
        "nothing is buffered before the buffer is installed"
    );
    for &backend in extism::Backend::ALL {
        let mut p = common::plugin(backend, "logging");
        let level: String = p.call("get_log_level", "").unwrap();
        assert_eq!(
            level,
            i32::MAX.to_string(),
            "logging is off without a subscriber ({backend})"
        );
    }
    extism::logging::set_log_buffer(Some("info")).unwrap();
    for &backend in extism::Backend::ALL {
        let mut p = common::plugin(backend, "logging");
        let level: String = p.call("log_all", "buffered").unwrap();
        assert_eq!(level, "2", "get_log_level is INFO under the filter `info` ({backend})");

        let lines = drained();
        let id = format!("plugin={}", p.id);
        let ours: Vec<&String> = lines.iter().filter(|l| l.contains(&id)).collect();
        assert_eq!(ours.len(), 3, "INFO, WARN and ERROR on {backend}: {lines:?}");
        for (line, level) in ours.iter().zip(["info", "warn", "error"]) {
            assert!(line.contains(&format!("buffered at {level}")), "{line}");
            assert!(line.ends_with('\n'), "{line:?}");
        }
        assert!(drained().is_empty(), "a drain empties the buffer ({backend})");
    }
}
