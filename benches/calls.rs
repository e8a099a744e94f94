//! Call-path benchmarks, every compiled engine side by side on the same PDK plug-in:
//! - `noop/<engine>`: a call to an export that reads no input and writes no output: kernel reset, call, output
//!   record — the fixed cost of a call;
//! - `echo_64KiB/<engine>`: 64 KiB in, the same 64 KiB out (copy into kernel memory, guest reads and writes it back);
//! - `instantiate_compiled/<engine>`: a plug-in from a `CompiledPlugin`, up to and including its first call.
//!
//! `cargo bench --bench calls`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use extism::{Backend, Plugin, PluginBuilder};

fn echo_plugin(backend: Backend) -> Plugin {
    let wasm =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/wasm/echo.wasm")).expect("tests/wasm/echo.wasm");
    PluginBuilder::new(wasm)
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

/// `instantiate_compiled/<engine>`: a new plug-in from a `CompiledPlugin` (store, kernel, host functions) plus its
/// first call (the main module is instantiated lazily, on the first call), for the ~90 KB kitchen PDK plug-in.
fn instantiate_compiled(c: &mut Criterion) {
    let wasm = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/wasm/kitchen.wasm")).expect("kitchen.wasm");
    let mut group = c.benchmark_group("instantiate_compiled");
    for &backend in Backend::ALL {
        let compiled = PluginBuilder::new(&wasm[..])
            .with_backend(backend)
            .compile()
            .expect("compile");
        group.bench_function(BenchmarkId::from_parameter(backend), |b| {
            b.iter(|| {
                let mut plugin = Plugin::new_from_compiled(&compiled).expect("instantiate");
                let out: &[u8] = plugin.call("input_length", "").expect("first call");
                black_box(out.len());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, noop, echo_64k, instantiate_compiled);
criterion_main!(benches);
