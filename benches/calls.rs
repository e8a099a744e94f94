//! Call-path benchmarks, every compiled engine side by side on the same plug-ins:
//! - `noop/<engine>`: a call to an export that reads no input and writes no output: kernel reset, call, output
//!   record — the fixed cost of a call;
//! - `echo_64KiB/<engine>`: 64 KiB in, the same 64 KiB out (copy into kernel memory, guest reads and writes it back);
//! - `host_call/<engine>`: one plug-in call whose export calls a trivial host function [`HOST_CALLS`] times; the
//!   reported throughput is host calls per second (time per host call = time / [`HOST_CALLS`]);
//! - `create/<engine>`: `PluginBuilder::build` from the bytes of `tests/wasm/kitchen.wasm` (compile the kernel and
//!   the plug-in, create the store, link): the start-up cost of a plug-in.
//!
//! `cargo bench --bench calls`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use extism::{Backend, Plugin, PluginBuilder, UserData, ValType};

/// Host calls made by one call of the `host_call` plug-in.
const HOST_CALLS: u64 = 1000;

fn test_wasm(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/wasm/{name}.wasm", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn echo_plugin(backend: Backend) -> Plugin {
    PluginBuilder::new(test_wasm("echo"))
        .with_backend(backend)
        .build()
        .expect("echo plug-in")
}

fn noop(c: &mut Criterion) {
    let mut group = c.benchmark_group("noop");
    for &backend in Backend::ALL {
        let mut plugin = echo_plugin(backend);
        group.bench_function(BenchmarkId::from_parameter(backend), |b| {
            b.iter(|| {
                let out: &[u8] = plugin.call("noop", "").expect("noop");
                black_box(out);
            })
        });
    }
    group.finish();
}

fn echo_64k(c: &mut Criterion) {
    let input = vec![0x5a_u8; 64 * 1024];
    let mut group = c.benchmark_group("echo_64KiB");
    group.throughput(Throughput::Bytes(input.len() as u64));
    for &backend in Backend::ALL {
        let mut plugin = echo_plugin(backend);
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

fn host_call(c: &mut Criterion) {
    let wat = format!(
        r#"(module
            (import "extism:host/user" "identity" (func $identity (param i64) (result i64)))
            (func (export "run") (result i32)
                (local $i i64)
                (loop
                    (local.set $i (i64.add (call $identity (local.get $i)) (i64.const 1)))
                    (br_if 0 (i64.lt_u (local.get $i) (i64.const {HOST_CALLS}))))
                i32.const 0))"#
    );
    let mut group = c.benchmark_group("host_call");
    group.throughput(Throughput::Elements(HOST_CALLS));
    for &backend in Backend::ALL {
        let mut plugin = PluginBuilder::new(wat.as_str())
            .with_backend(backend)
            .with_function(
                "identity",
                [ValType::I64],
                [ValType::I64],
                UserData::new(()),
                |_, inputs, outputs, _| {
                    outputs[0] = inputs[0];
                    Ok(())
                },
            )
            .build()
            .expect("host_call plug-in");
        group.bench_function(BenchmarkId::from_parameter(backend), |b| {
            b.iter(|| {
                let out: &[u8] = plugin.call("run", "").expect("run");
                black_box(out);
            })
        });
    }
    group.finish();
}

fn create(c: &mut Criterion) {
    let wasm = test_wasm("kitchen");
    let mut group = c.benchmark_group("create");
    for &backend in Backend::ALL {
        group.bench_function(BenchmarkId::from_parameter(backend), |b| {
            b.iter(|| {
                let plugin = PluginBuilder::new(&wasm[..])
                    .with_backend(backend)
                    .build()
                    .expect("kitchen plug-in");
                black_box(plugin);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, noop, echo_64k, host_call, create);
criterion_main!(benches);
