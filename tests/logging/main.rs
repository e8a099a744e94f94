//! Plug-in logs through `extism::set_log_callback`.
//!
//! This is a test binary of its own because `set_log_callback` installs the process-wide `tracing` subscriber, which
//! can happen once per process: every test here shares the one installed by [`lines`], with the filter `debug`.

#[allow(dead_code)] // not every helper of the conformance suite is used here
#[macro_use]
#[path = "../conformance/common.rs"]
mod common;

use std::sync::{Mutex, OnceLock};

use common::plugin;

/// Every line logged so far in this process. The first call installs the callback.
fn lines() -> &'static Mutex<Vec<String>> {
    static LINES: OnceLock<&'static Mutex<Vec<String>>> = OnceLock::new();
    LINES.get_or_init(|| {
        let lines: &'static Mutex<Vec<String>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        extism::set_log_callback(move |line: &str| lines.lock().unwrap().push(line.to_string()), "debug")
            .expect("install the log callback");
        lines
    })
}

/// Lines containing `needle` (tests run in parallel: each looks for its own text).
fn lines_with(needle: &str) -> Vec<String> {
    lines()
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect()
}

backend_test! {
    fn plug_in_logs_carry_the_plug_in_id(backend) {
        lines();
        let mut p = plugin(backend, "logging");
        let token = format!("pdk-macros-{backend}");
        let level: String = p.call("log_all", token.as_str()).unwrap();
        assert_eq!(level, "1", "get_log_level is DEBUG under the filter `debug`");
        let got = lines_with(&token);
        let id = format!("plugin={}", p.id);
        for level in ["DEBUG", "INFO", "WARN", "ERROR"] {
            let wanted = format!("{token} at {}", level.to_lowercase());
            let line = got
                .iter()
                .find(|l| l.contains(&wanted))
                .unwrap_or_else(|| panic!("no line for {wanted}: {got:?}"));
            assert!(line.contains(&format!("{level} extism::pdk: ")), "{line}");
            assert!(line.contains(&id), "{line}");
            assert!(line.ends_with('\n') && !line.contains('\u{1b}'), "{line:?}");
        }
        assert_eq!(got.len(), 4, "TRACE is filtered out: {got:?}");
    }
}

backend_test! {
    fn levels_below_the_filter_are_dropped_and_freed(backend) {
        lines();
        let mut p = plugin(backend, "logging");
        let below = format!("raw-trace-{backend}");
        let out: String = p.call("log_raw", format!("t{below}").as_str()).unwrap();
        assert_eq!(out, "0", "freed although filtered out");
        assert!(lines_with(&below).is_empty());

        let above = format!("raw-warn-{backend}");
        let out: String = p.call("log_raw", format!("w{above}").as_str()).unwrap();
        assert_eq!(out, "0");
        assert_eq!(lines_with(&above).len(), 1);
    }
}

backend_test! {
    fn a_message_that_is_not_utf8_is_reported_as_an_error(backend) {
        lines();
        let mut p = plugin(backend, "logging");
        let id = p.id.to_string();
        let out: String = p.call("log_raw", &b"i\xff\xfe"[..]).unwrap();
        assert_eq!(out, "0");
        let got = lines_with(&id);
        assert!(
            got.iter().any(|l| l.contains("ERROR extism::pdk: unable to log message")),
            "{got:?}"
        );
    }
}

backend_test! {
    fn a_second_global_subscriber_is_refused(backend) {
        lines();
        let _ = backend;
        assert!(extism::set_log_callback(|_: &str| {}, "info").is_err());
        assert!(extism::logging::set_log_buffer(None).is_err());
        assert!(extism::logging::set_log_file(Some("stderr"), None).is_err());
    }
}
