//! Benchmarks, every compiled engine side by side on the same plug-ins:
//! - `noop/<engine>`: a call to an export that reads no input and writes no output: kernel reset, call, output
//!   record — the fixed cost of a call;
//! - `echo_1KiB/<engine>`, `echo_64KiB/<engine>`, `echo_1MiB/<engine>`, `echo_16MiB/<engine>`: that many bytes in,
//!   the same bytes out (copy into kernel memory, guest reads and writes it back): small and large data. The PDK
//!   moves the bytes with the kernel's memory accessors, whose calls the memory accessor rewrite (on by default,
//!   `PluginBuilder::with_memory_rewrite`) turns into loads and stores; `examples/memory_rewrite.rs` compares with
//!   and without it;
//! - `reflect_64KiB/<engine>`: 64 KiB in, through a host function and back out (`reflect.wasm` passes its input to
//!   the host's `reflect`, which copies it out of and back into plug-in memory): host-bound work;
//! - `count_vowels_1MiB/<engine>`: a compute-bound call of a PDK plug-in on 1 MiB of text;
//! - `host_call/<engine>`: one call of a trivial host function (`i64 -> i64`) from a guest loop; the time is per host
//!   call (the guest's loop costs a few instructions on top);
//! - `host_call_engine_only/<engine>`: the same guest loop and host function (`i64 -> i64`, given the store's
//!   state as ours are) on the bare engine, without Extism (wasmtime: `Linker::func_wrap` with a `Caller`; wasmer:
//!   singlepass, `Function::new_typed_with_env`): the engine's own cost of a host call, the floor for `host_call`;
//! - `create/<engine>`: `PluginBuilder::build` from the bytes of a 91 KB PDK plug-in (`kitchen.wasm`) with the
//!   compilation cache disabled (cold): compile, check the imports, create the store with the kernel (the main module
//!   is instantiated on the first call);
//! - `create_warm_cache/<engine>`: the same with a warm compilation cache (in a temporary directory, filled before
//!   measuring): read and check the cache entries and load the engine's code instead of compiling. Engines without a
//!   cache (wasmi) compile as in `create`;
//! - `create_and_call/<engine>`: `create` (cold) and a first call of a trivial export, which instantiates the main
//!   module and runs the guest's initialisers: a plug-in ready to use;
//! - `create_warm_cache_and_call/<engine>`: the same with the warm cache;
//! - `instantiate/<engine>`: a ready instance (first call included) from an already compiled plug-in.
//!
//! Outside the `create_warm_cache` groups the compilation cache is disabled, so that benches never write to the
//! user's cache directory.
//!
//! `cargo bench --bench calls --all-features` (or `-- noop` etc. for one group); then `cargo run -p bench-report`
//! writes `benches/REPORT.md` and `benches/report.svg` from criterion's saved results.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use extism::{Backend, CurrentPlugin, Manifest, PTR, Plugin, PluginBuilder, UserData, Val, ValType, Wasm};

fn test_wasm(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/wasm/{name}.wasm", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn plugin(backend: Backend, name: &str) -> Plugin {
    PluginBuilder::new(test_wasm(name))
        .with_cache_disabled()
        .with_backend(backend)
        .build()
        .unwrap_or_else(|e| panic!("{name} on {backend}: {e:#}"))
}

fn noop(c: &mut Criterion) {
    let mut group = c.benchmark_group("noop");
    for &backend in Backend::ALL {
        let mut plugin = plugin(backend, "echo");
        group.bench_function(BenchmarkId::from_parameter(backend), |b| {
            b.iter(|| {
                let out: &[u8] = plugin.call("noop", "").expect("noop");
                black_box(out);
            })
        });
    }
    group.finish();
}

/// `echo` at one input size: the size in, the same bytes out (copy into kernel memory, guest reads and writes it
/// back, the host reads the output).
fn echo_size(c: &mut Criterion, group_name: &str, size: usize) {
    let input = vec![0x5a_u8; size];
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Bytes(input.len() as u64));
    if size >= 1 << 20 {
        // Each call moves tens of MiB: fewer samples keep the run short.
        group.sample_size(10);
    }
    for &backend in Backend::ALL {
        let mut plugin = plugin(backend, "echo");
        group.bench_function(BenchmarkId::from_parameter(backend), |b| {
            b.iter(|| {
                let out: &[u8] = plugin.call("echo", &input[..]).expect("echo");
                assert_eq!(out.len(), input.len());
                black_box(out);
            })
        });
    }
    group.finish();
}

fn echo_1k(c: &mut Criterion) {
    echo_size(c, "echo_1KiB", 1024);
}

fn echo_64k(c: &mut Criterion) {
    echo_size(c, "echo_64KiB", 64 * 1024);
}

fn echo_1m(c: &mut Criterion) {
    echo_size(c, "echo_1MiB", 1 << 20);
}

fn echo_16m(c: &mut Criterion) {
    echo_size(c, "echo_16MiB", 16 << 20);
}

/// 64 KiB through `reflect.wasm`: input → the host function `reflect` (which reads the bytes from plug-in memory and
/// writes them back as a new block) → output. Host-bound: two more copies and a host call per plug-in call.
fn reflect_64k(c: &mut Criterion) {
    let input = vec![0xa5_u8; 64 * 1024];
    let mut group = c.benchmark_group("reflect_64KiB");
    group.throughput(Throughput::Bytes(input.len() as u64));
    for &backend in Backend::ALL {
        let mut plugin = PluginBuilder::new(test_wasm("reflect"))
            .with_cache_disabled()
            .with_backend(backend)
            .with_function(
                "reflect",
                [PTR],
                [PTR],
                UserData::new(()),
                |plugin: &mut CurrentPlugin, args: &[Val], results: &mut [Val], _| {
                    let data: Vec<u8> = plugin.memory_get_val(&args[0])?;
                    plugin.memory_set_val(&mut results[0], data)
                },
            )
            .build()
            .unwrap_or_else(|e| panic!("reflect on {backend}: {e:#}"));
        group.bench_function(BenchmarkId::from_parameter(backend), |b| {
            b.iter(|| {
                let out: &[u8] = plugin.call("reflect", &input[..]).expect("reflect");
                assert_eq!(out.len(), input.len());
                black_box(out);
            })
        });
    }
    group.finish();
}

fn count_vowels_1m(c: &mut Criterion) {
    let input: String = "The quick brown fox jumps over the lazy dog. "
        .chars()
        .cycle()
        .take(1 << 20)
        .collect();
    let mut group = c.benchmark_group("count_vowels_1MiB");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.sample_size(20);
    for &backend in Backend::ALL {
        let mut plugin = plugin(backend, "count_vowels");
        group.bench_function(BenchmarkId::from_parameter(backend), |b| {
            b.iter(|| {
                let out: &str = plugin.call("count_vowels", input.as_str()).expect("count_vowels");
                black_box(out);
            })
        });
    }
    group.finish();
}

/// A guest that calls `extism:host/user::inc` as many times as its input (a little-endian u64) says.
const HOST_CALLS: &str = r#"
(module
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/user" "inc" (func $inc (param i64) (result i64)))
  (func (export "calls") (result i32)
    (local $n i64) (local $acc i64)
    (local.set $n (call $input_load_u64 (i64.const 0)))
    (block $done
      (loop $again
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $acc (call $inc (local.get $acc)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $again)))
    (i32.wrap_i64 (i64.sub (local.get $acc) (local.get $acc)))))
"#;

fn host_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("host_call");
    for &backend in Backend::ALL {
        let mut plugin = PluginBuilder::new(HOST_CALLS)
            .with_cache_disabled()
            .with_backend(backend)
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
            .build()
            .expect("host-call plug-in");
        group.bench_function(BenchmarkId::from_parameter(backend), |b| {
            // One criterion iteration is one host call: a single plug-in call makes all of them.
            b.iter_custom(|iters| {
                let start = Instant::now();
                let _: &[u8] = plugin.call("calls", &iters.to_le_bytes()[..]).expect("calls");
                start.elapsed()
            })
        });
    }
    group.finish();
}

/// The guest of `host_call_engine_only`: `host_call`'s loop, the count passed as a parameter.
#[cfg(any(feature = "wasmtime", feature = "wasmer"))]
const ENGINE_HOST_CALLS: &str = r#"
(module
  (import "extism:host/user" "inc" (func $inc (param i64) (result i64)))
  (func (export "calls") (param $n i64) (result i64)
    (local $acc i64)
    (block $done
      (loop $again
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $acc (call $inc (local.get $acc)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $again)))
    (local.get $acc)))
"#;

/// The host state the bare engines' host function is given (and, like `host_call`'s `inc`, does not use).
#[cfg(any(feature = "wasmtime", feature = "wasmer"))]
struct EngineState {
    _calls: u64,
}

fn host_call_engine_only(c: &mut Criterion) {
    let mut group = c.benchmark_group("host_call_engine_only");
    #[cfg(feature = "wasmtime")]
    {
        use extism::wasmtime;
        let mut config = wasmtime::Config::new();
        // What the Extism backend turns on that changes guest code (fuel is off by default).
        config.epoch_interruption(true);
        let engine = wasmtime::Engine::new(&config).expect("wasmtime engine");
        let wasm = wat::parse_str(ENGINE_HOST_CALLS).expect("guest");
        let module = wasmtime::Module::new(&engine, &wasm).expect("module");
        let mut linker = wasmtime::Linker::new(&engine);
        linker
            .func_wrap(
                "extism:host/user",
                "inc",
                |_: wasmtime::Caller<'_, EngineState>, x: i64| -> i64 { x.wrapping_add(1) },
            )
            .expect("inc");
        let mut store = wasmtime::Store::new(&engine, EngineState { _calls: 0 });
        store.set_epoch_deadline(u64::MAX / 2);
        let instance = linker.instantiate(&mut store, &module).expect("instance");
        let calls = instance.get_typed_func::<i64, i64>(&mut store, "calls").expect("calls");
        group.bench_function(BenchmarkId::from_parameter("wasmtime"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                black_box(calls.call(&mut store, iters as i64).expect("calls"));
                start.elapsed()
            })
        });
    }
    #[cfg(feature = "wasmer")]
    {
        use extism_wasmer::wasmer;
        let engine = wasmer::Engine::from(wasmer::sys::Singlepass::new());
        let mut store = wasmer::Store::new(engine);
        let wasm = wat::parse_str(ENGINE_HOST_CALLS).expect("guest");
        let module = wasmer::Module::new(&store, &wasm).expect("module");
        let env = wasmer::FunctionEnv::new(&mut store, EngineState { _calls: 0 });
        let inc = wasmer::Function::new_typed_with_env(
            &mut store,
            &env,
            |_: wasmer::FunctionEnvMut<EngineState>, x: i64| -> i64 { x.wrapping_add(1) },
        );
        let imports = wasmer::imports! { "extism:host/user" => { "inc" => inc } };
        let instance = wasmer::Instance::new(&mut store, &module, &imports).expect("instance");
        let calls = instance
            .exports
            .get_typed_function::<i64, i64>(&store, "calls")
            .expect("calls");
        group.bench_function(BenchmarkId::from_parameter("wasmer"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                black_box(calls.call(&mut store, iters as i64).expect("calls"));
                start.elapsed()
            })
        });
    }
    group.finish();
}

fn create(c: &mut Criterion) {
    let wasm = test_wasm("kitchen");
    let cache = CacheDir::new();
    for (group_name, first_call, warm) in [
        ("create", false, false),
        ("create_warm_cache", false, true),
        ("create_and_call", true, false),
        ("create_warm_cache_and_call", true, true),
    ] {
        let mut group = c.benchmark_group(group_name);
        group.sample_size(20);
        for &backend in Backend::ALL {
            let build = || {
                let builder = PluginBuilder::new(&wasm[..]).with_backend(backend);
                let builder = if warm {
                    builder.with_cache_config(&cache.config)
                } else {
                    builder.with_cache_disabled()
                };
                let mut plugin = builder.build().expect("kitchen");
                if first_call {
                    let _: &[u8] = plugin.call("input_length", "").expect("input_length");
                }
                plugin
            };
            // Fills the cache before measuring.
            drop(build());
            group.bench_function(BenchmarkId::from_parameter(backend), |b| b.iter(|| black_box(build())));
        }
        group.finish();
    }
}

/// A compilation cache in a fresh temporary directory (never the user's own), removed when dropped.
struct CacheDir {
    dir: std::path::PathBuf,
    config: std::path::PathBuf,
}

impl CacheDir {
    fn new() -> CacheDir {
        let dir = std::env::temp_dir().join(format!(
            "extism-bench-cache-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).expect("bench cache directory");
        let config = dir.join("cache.toml");
        let entries = dir.join("entries");
        std::fs::write(
            &config,
            format!("[cache]\ndirectory = {:?}\n", entries.to_str().expect("UTF-8 path")),
        )
        .expect("bench cache configuration");
        CacheDir { dir, config }
    }
}

impl Drop for CacheDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A ready instance (first call included: the main module is instantiated on the first call) from a
/// `CompiledPlugin`.
fn instantiate(c: &mut Criterion) {
    let manifest = Manifest::new([Wasm::data(test_wasm("kitchen"))]);
    let mut group = c.benchmark_group("instantiate");
    group.measurement_time(Duration::from_secs(3));
    for &backend in Backend::ALL {
        let compiled = PluginBuilder::new(&manifest)
            .with_cache_disabled()
            .with_backend(backend)
            .compile()
            .expect("compile kitchen");
        group.bench_function(BenchmarkId::from_parameter(backend), |b| {
            b.iter(|| {
                let mut plugin = Plugin::new_from_compiled(&compiled).expect("instantiate");
                let _: &[u8] = plugin.call("input_length", "").expect("input_length");
                black_box(plugin);
            })
        });
    }
    group.finish();
}

/// The benchmark group `criterion_main!` runs, in a module of its own: `criterion_group!` defines a public function,
/// which cannot carry a doc comment of its own.
mod group {
    use super::*;

    criterion_group!(
        benches,
        noop,
        echo_1k,
        echo_64k,
        echo_1m,
        echo_16m,
        reflect_64k,
        count_vowels_1m,
        host_call,
        host_call_engine_only,
        create,
        instantiate
    );
}
criterion_main!(group::benches);
