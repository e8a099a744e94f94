//! The fixed cost of a call, for instruction counting: `call_cost <engine> <noop|kernel_host|host_loop> <calls>` builds one
//! plug-in on `<engine>` and calls it `<calls>` times.
//!
//! - `noop`: an export that does nothing (the call protocol: kernel `extism_host_call_begin`, the export,
//!   `extism_host_call_end`);
//! - `kernel_host`: an export that calls a host function which allocates, measures and frees a kernel block (three
//!   kernel calls from inside a host call);
//! - `host_loop`: an export that calls a trivial host function (`inc(i64) -> i64`, like the `host_call` benchmark's)
//!   100 times: `(host_loop - noop) / 100` is the cost of one host call.
//!
//! Per-call instructions are the difference between two runs divided by the difference in calls, which cancels
//! engine creation and compilation:
//!
//! ```text
//! cargo build --release --example call_cost --all-features
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/call_cost wasmtime noop 200
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/call_cost wasmtime noop 5200
//! ```
//!
//! (callgrind counts instructions, which repeat on a busy machine where timings do not.)

use extism::{Backend, CurrentPlugin, PluginBuilder, UserData, Val, ValType};

const NOOP: &str = r#"(module (func (export "noop") (result i32) (i32.const 0)))"#;

const HOST_LOOP: &str = r#"(module
  (import "extism:host/user" "inc" (func $inc (param i64) (result i64)))
  (func (export "run") (result i32)
    (local $n i32) (local $acc i64)
    (local.set $n (i32.const 100))
    (loop $again
      (local.set $acc (call $inc (local.get $acc)))
      (br_if $again (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (i32.const 0)))"#;

const KERNEL_HOST: &str = r#"(module
  (import "extism:host/user" "touch" (func $touch (param i64) (result i64)))
  (func (export "run") (result i32) (drop (call $touch (i64.const 16))) (i32.const 0)))"#;

fn main() -> Result<(), extism::Error> {
    let args: Vec<String> = std::env::args().collect();
    let [_, engine, mode, calls] = &args[..] else {
        return Err(extism::Error::msg(
            "usage: call_cost <engine> <noop|kernel_host|host_loop> <calls>",
        ));
    };
    let backend: Backend = engine.parse()?;
    let calls: u64 = calls.parse()?;
    let (wat, export) = match mode.as_str() {
        "noop" => (NOOP, "noop"),
        "kernel_host" => (KERNEL_HOST, "run"),
        "host_loop" => (HOST_LOOP, "run"),
        other => return Err(extism::Error::msg(format!("unknown mode `{other}`"))),
    };
    let mut plugin = PluginBuilder::new(wat)
        .with_backend(backend)
        .with_function(
            "touch",
            [ValType::I64],
            [ValType::I64],
            UserData::new(()),
            |plugin: &mut CurrentPlugin, args: &[Val], results: &mut [Val], _| {
                let handle = plugin.memory_alloc(args[0].unwrap_i64() as u64)?;
                let length = plugin.memory_length(handle.offset)?;
                plugin.memory_free(handle)?;
                results[0] = Val::I64(length as i64);
                Ok(())
            },
        )
        .with_function(
            "inc",
            [ValType::I64],
            [ValType::I64],
            UserData::new(()),
            |_: &mut CurrentPlugin, args: &[Val], results: &mut [Val], _| {
                results[0] = Val::I64(args[0].unwrap_i64().wrapping_add(1));
                Ok(())
            },
        )
        .build()?;
    for _ in 0..calls {
        let _: &[u8] = plugin.call(export, "")?;
    }
    Ok(())
}
