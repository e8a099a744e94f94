//! The engines' own cost of a host call, without Extism, for comparison with `call_cost`:
//! `raw_host_call <wasmtime|wasmer|wasmer-noenv> <noop|host_loop> <calls>` runs the same guest loop as `call_cost`'s
//! `host_loop` (100 calls of `inc(i64) -> i64`) against a trivial typed host function defined directly with the
//! engine's API (wasmtime: `Linker::func_wrap` with a `Caller`; wasmer: singlepass, `Function::new_typed_with_env`,
//! or `Function::new_typed` without an environment for `wasmer-noenv`), and calls it `<calls>` times. Like the
//! benchmark's `inc`, the host function takes its caller's context and does not use it.
//!
//! `(host_loop - noop) / 100` instructions under callgrind, at the same `<calls>`, is the engine's cost of one host
//! call, the figure to set beside `call_cost`'s:
//!
//! ```text
//! cargo build --release --example raw_host_call --all-features
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/raw_host_call wasmtime noop 2000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/raw_host_call wasmtime host_loop 2000
//! ```

use extism::wasmtime;
use extism_wasmer::wasmer;

const GUEST: &str = r#"(module
  (import "extism:host/user" "inc" (func $inc (param i64) (result i64)))
  (func (export "noop") (result i32) (i32.const 0))
  (func (export "host_loop") (result i32)
    (local $n i32) (local $acc i64)
    (local.set $n (i32.const 100))
    (loop $again
      (local.set $acc (call $inc (local.get $acc)))
      (br_if $again (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (i32.const 0)))"#;

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, engine, export, calls] = &args[..] else {
        return Err("usage: raw_host_call <wasmtime|wasmer|wasmer-noenv> <noop|host_loop> <calls>".into());
    };
    if !matches!(export.as_str(), "noop" | "host_loop") {
        return Err(format!("unknown mode `{export}`").into());
    }
    let calls: u64 = calls.parse()?;
    let wasm = wat::parse_str(GUEST)?;
    match engine.as_str() {
        "wasmtime" => on_wasmtime(&wasm, export, calls),
        "wasmer" => on_wasmer(&wasm, export, calls, true),
        "wasmer-noenv" => on_wasmer(&wasm, export, calls, false),
        other => Err(format!("unknown engine `{other}`").into()),
    }
}

/// The host state of the store, which the host function is given access to (through wasmtime's `Caller`, wasmer's
/// `FunctionEnvMut`) but, like the benchmark's `inc`, does not use.
struct Counter {
    calls: u64,
}

fn on_wasmtime(wasm: &[u8], export: &str, calls: u64) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut config = wasmtime::Config::new();
    // The settings the Extism backend turns on that change guest code (without fuel, as `call_cost` runs).
    config.epoch_interruption(true);
    let engine = wasmtime::Engine::new(&config)?;
    let module = wasmtime::Module::new(&engine, wasm)?;
    let mut linker = wasmtime::Linker::new(&engine);
    linker.func_wrap(
        "extism:host/user",
        "inc",
        |_caller: wasmtime::Caller<'_, Counter>, x: i64| -> i64 { x.wrapping_add(1) },
    )?;
    let mut store = wasmtime::Store::new(&engine, Counter { calls: 0 });
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = linker.instantiate(&mut store, &module)?;
    let run = instance.get_typed_func::<(), i32>(&mut store, export)?;
    for _ in 0..calls {
        run.call(&mut store, ())?;
    }
    std::hint::black_box(store.data().calls);
    Ok(())
}

fn on_wasmer(
    wasm: &[u8],
    export: &str,
    calls: u64,
    with_env: bool,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let engine = wasmer::Engine::from(wasmer::sys::Singlepass::new());
    let mut store = wasmer::Store::new(engine);
    let module = wasmer::Module::new(&store, wasm)?;
    let env = wasmer::FunctionEnv::new(&mut store, Counter { calls: 0 });
    let inc = if with_env {
        wasmer::Function::new_typed_with_env(
            &mut store,
            &env,
            |_env: wasmer::FunctionEnvMut<Counter>, x: i64| -> i64 { x.wrapping_add(1) },
        )
    } else {
        wasmer::Function::new_typed(&mut store, |x: i64| -> i64 { x.wrapping_add(1) })
    };
    let imports = wasmer::imports! { "extism:host/user" => { "inc" => inc } };
    let instance = wasmer::Instance::new(&mut store, &module, &imports)?;
    let run = instance.exports.get_typed_function::<(), i32>(&store, export)?;
    for _ in 0..calls {
        run.call(&mut store)?;
    }
    std::hint::black_box(env.as_ref(&store).calls);
    Ok(())
}
