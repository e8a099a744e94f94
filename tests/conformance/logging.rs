//! The `log_*` imports, whatever the log level: they free the message handle (also when the level is filtered out)
//! and a message that is not UTF-8 is reported, not fatal.
//!
//! Which lines reach a subscriber, and what `get_log_level` says under a filter, need a global subscriber: those
//! tests live in their own test binaries (`tests/logging/`, `tests/log_buffer/`), because a process can install only
//! one and this binary's other tests must not see it.

use crate::common::plugin;

backend_test! {
    fn every_log_import_frees_its_message(backend) {
        let mut p = plugin(backend, "logging");
        for level in ["t", "d", "i", "w", "e"] {
            let out: String = p.call("log_raw", format!("{level}a message").as_str()).unwrap();
            assert_eq!(out, "0", "log_{level}: length of the message handle after the call");
        }
    }
}

backend_test! {
    fn a_message_that_is_not_utf8_does_not_fail_the_call(backend) {
        let mut p = plugin(backend, "logging");
        let out: String = p.call("log_raw", &b"e\xff\xfe not text"[..]).unwrap();
        assert_eq!(out, "0");
        // The PDK's macros log too (or skip, below the level), and the plug-in carries on.
        let _: String = p.call("log_all", "still fine").unwrap();
    }
}
