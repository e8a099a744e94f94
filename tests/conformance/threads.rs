//! Plug-ins are `Send`: they move between threads between calls, and plug-ins on different threads run at once.

use std::thread;

use crate::common::plugin;

fn assert_send<T: Send>() {}

backend_test! {
    /// One plug-in moved to a new thread for every call keeps its state (globals and vars survive the moves).
    fn plugin_moves_between_threads(backend) {
        assert_send::<extism::Plugin>();
        let mut p = plugin(backend, "kitchen");
        for expected in 1..=6 {
            p = thread::spawn(move || {
                let out: String = p.call("counter", "").unwrap();
                assert_eq!(out, expected.to_string());
                p
            })
            .join()
            .unwrap();
        }
    }
}

backend_test! {
    /// Plug-ins of the same engine called from several threads at the same time.
    fn plugins_run_on_several_threads_at_once(backend) {
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let mut p = plugin(backend, "echo");
                thread::spawn(move || {
                    for j in 0..100 {
                        let input = format!("thread {i} call {j}");
                        let out: String = p.call("echo", &input).unwrap();
                        assert_eq!(out, input);
                    }
                    p
                })
            })
            .collect();
        // Then each plug-in goes on, on this thread.
        for t in threads {
            let mut p = t.join().unwrap();
            let out: String = p.call("echo", "back home").unwrap();
            assert_eq!(out, "back home");
        }
    }
}
