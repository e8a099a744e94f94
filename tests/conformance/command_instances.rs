//! Linked command modules (they export `_start`) get a fresh instance for every call into them, and no engine frees
//! an instance before its store. Before the store was renewed, 3,000 calls left 3,000 instances alive (+200–390 MiB);
//! now a store holds at most [`MAX_COMMAND_INSTANCES`] and is renewed between calls once
//! [`COMMAND_INSTANCES_BEFORE_RENEWAL`] have piled up.

use std::time::Duration;

use extism::{
    Backend, COMMAND_INSTANCES_BEFORE_RENEWAL, CurrentPlugin, MAX_COMMAND_INSTANCES, Manifest, Plugin, PluginBuilder,
    UserData, Val, ValType, Wasm,
};

use crate::deadline::in_child_process;

/// A command module (it exports `_start`, which calls into it do not run) whose start function touches 128 KiB of
/// its memory, so that instances left alive show in the RSS.
const COMMAND: &str = r#"(module
    (memory 2)
    (func $touch (memory.fill (i32.const 0) (i32.const 1) (i32.const 131072)))
    (start $touch)
    (func (export "_start"))
    (func (export "bump") (result i32) (i32.const 1)))"#;

/// `run` calls the command once and returns `calls * 10000 + tally`: `calls` counts in the main instance's global,
/// `tally` in a var (through a host function), so a renewed store shows as `calls` starting again while `tally`
/// goes on. `many` calls the command `MAX_COMMAND_INSTANCES + 1` times.
fn main_module() -> String {
    format!(
        r#"(module
        (import "cmd" "bump" (func $bump (result i32)))
        (import "extism:host/user" "tally" (func $tally (result i64)))
        (global $calls (mut i32) (i32.const 0))
        (func (export "run") (result i32)
            (drop (call $bump))
            (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
            (i32.add (i32.mul (global.get $calls) (i32.const 10000)) (i32.wrap_i64 (call $tally))))
        (func (export "many") (result i32) (local $n i32)
            (loop $again
                (drop (call $bump))
                (local.set $n (i32.add (local.get $n) (i32.const 1)))
                (br_if $again (i32.le_u (local.get $n) (i32.const {MAX_COMMAND_INSTANCES}))))
            (i32.const 0)))"#
    )
}

/// The host function `tally`: counts its calls in the var "tally" and returns the count.
fn tally(plugin: &mut CurrentPlugin, _: &[Val], results: &mut [Val], _: UserData<()>) -> Result<(), extism::Error> {
    let vars = plugin.vars_mut();
    let next = vars
        .get("tally")
        .map_or(0, |v| u64::from_le_bytes(v[..8].try_into().unwrap()))
        + 1;
    vars.insert("tally".to_string(), next.to_le_bytes().to_vec());
    results[0] = Val::I64(next as i64);
    Ok(())
}

fn plugin(backend: Backend) -> Plugin {
    let manifest = Manifest::new([
        Wasm::data(COMMAND.as_bytes().to_vec()).with_name("cmd"),
        Wasm::data(main_module().into_bytes()).with_name("main"),
    ]);
    PluginBuilder::new(manifest)
        .with_backend(backend)
        .with_function("tally", [], [ValType::I64], UserData::new(()), tally)
        .build()
        .unwrap_or_else(|e| panic!("creating the plug-in on {backend}: {e:#}"))
}

/// The code `run` returns (it never returns 0).
fn run(plugin: &mut Plugin) -> i32 {
    let err = plugin.call::<&str, &[u8]>("run", "").unwrap_err();
    let text = err.to_string();
    text.strip_prefix("Returned non-zero exit code: ")
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("`run` failed: {err:#}"))
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

backend_test! {
    /// The store is renewed once the instances reach the threshold: the main instance starts afresh (its global
    /// counts from 1 again), vars are kept.
    fn the_store_is_renewed_after_the_threshold_keeping_vars(backend) {
        let mut plugin = plugin(backend);
        let threshold = COMMAND_INSTANCES_BEFORE_RENEWAL as i32;
        for call in 1..=2 * threshold + 1 {
            let calls_in_store = (call - 1) % threshold + 1;
            assert_eq!(run(&mut plugin), calls_in_store * 10000 + call, "call {call} on {backend}");
        }
    }
}

backend_test! {
    /// One call cannot make more than the cap; it fails with the cap's message and the plug-in stays usable.
    fn a_call_making_too_many_instances_fails_and_the_next_call_works(backend) {
        let mut plugin = plugin(backend);
        let err = plugin.call::<&str, &[u8]>("many", "").unwrap_err();
        assert!(
            format!("{err:#}").contains(&format!("instantiated {MAX_COMMAND_INSTANCES} times")),
            "{backend}: {err:#}"
        );
        // A fresh store: the main instance and its global start again, the var goes on.
        assert_eq!(run(&mut plugin), 10000 + 1, "{backend}");
        assert_eq!(run(&mut plugin), 2 * 10000 + 2, "{backend}");
    }
}

backend_test! {
    /// 3,000 calls into a linked command module leave the resident memory where a few hundred instances would: the
    /// instances do not pile up (before the fix, all 3,000 stayed alive: ~375 MiB of touched command memory here).
    /// In a child process, so that other tests' memory does not count.
    fn linked_command_instances_do_not_pile_up(backend) {
        in_child_process(Duration::from_secs(300), || {
            let mut plugin = plugin(backend);
            run(&mut plugin);
            let before = rss();
            for _ in 0..3_000 {
                run(&mut plugin);
            }
            let grown = rss().saturating_sub(before);
            assert!(grown < 96 << 20, "{backend}: resident memory grew by {} MiB", grown >> 20);
        });
    }
}
