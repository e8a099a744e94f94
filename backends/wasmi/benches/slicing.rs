//! What interrupts cost on wasmi, where they are built from fuel slices and resumable calls, measured through the
//! seam on a store built by hand (interrupts are a store setting, enabled by the core's call path):
//! - `slicing/<call>/plain` and `slicing/<call>/sliced`: the same call without and with interrupts enabled, for a
//!   trivial export (the fixed cost per call) and for the PDK plug-in `count_vowels` on 1 MiB (compute-bound, about
//!   a hundred slices);
//! - `slice_duration/spin`: one slice of fuel spent in a tight loop, which bounds the cancel latency;
//! - `cancel_latency`: from `Interrupt::request` on another thread to the interrupted call's return, for a guest in an
//!   infinite loop.
//!
//! `cargo bench -p extism-wasmi --bench slicing`

use std::hint::black_box;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use extism_core::backend::{
    CallError, EngineApi, EngineOptions, ExportShape, KernelAccess, LinkingInputs, PluginStore,
};
use extism_core::kernel::{KERNEL_WASM, KernelFn};
use extism_core::{EXTISM_ENV_MODULE, Function, Interrupt, Manifest, PluginState, UserData, Uuid, Val, ValType};
use extism_wasmi::{Wasmi, WasmiExport, WasmiStore};

/// The backend's slice size (`FUEL_SLICE`), for reporting.
const SLICE: u64 = 1_000_000;

const SPIN: &str = r#"(module (func (export "spin") (loop $l (br $l))) (func (export "nothing")))"#;

/// The built-in host functions `count_vowels` imports, as stand-ins: no config, no vars.
fn pdk_stand_ins() -> Vec<Function> {
    let zero = |_: &mut extism_core::CurrentPlugin, _: &[Val], results: &mut [Val], _: UserData<()>| {
        results[0] = Val::I64(0);
        Ok(())
    };
    vec![
        Function::new("config_get", [ValType::I64], [ValType::I64], UserData::new(()), zero),
        Function::new("var_get", [ValType::I64], [ValType::I64], UserData::new(()), zero),
        Function::new(
            "var_set",
            [ValType::I64, ValType::I64],
            [],
            UserData::new(()),
            |_, _, _, _| Ok(()),
        ),
    ]
}

struct Guest {
    store: WasmiStore<PluginState>,
    instance: <Wasmi as EngineApi>::Instance,
}

impl Guest {
    fn new(wasm: &[u8], interrupt: Option<Arc<Interrupt>>) -> Guest {
        let engine = Wasmi::new_engine(&EngineOptions::default()).unwrap();
        let kernel = Wasmi::compile(&engine, KERNEL_WASM).unwrap();
        let module = Wasmi::compile(&engine, wasm).unwrap();
        let state = PluginState::new(Uuid::new_v4(), &Manifest::default());
        let functions =
            Wasmi::prepare_functions(&engine, &LinkingInputs::kernel_only(&kernel).with_modules(&[&module])).unwrap();
        let mut store = Wasmi::new_store(&engine, &kernel, &functions, state).unwrap();
        for f in pdk_stand_ins() {
            store
                .define_function(&f.with_namespace(EXTISM_ENV_MODULE).to_host())
                .unwrap();
        }
        if let Some(interrupt) = interrupt {
            store.enable_interrupts(interrupt).unwrap();
        }
        let instance = store.instantiate(&module).unwrap();
        Guest { store, instance }
    }

    fn export(&mut self, name: &str, shape: ExportShape) -> WasmiExport {
        self.store.export(&self.instance, name, shape).unwrap()
    }

    /// Fuel used by one call (the first call of a function costs more: it is translated then).
    fn fuel_used(&mut self, export: &WasmiExport, input: &[u8]) -> u64 {
        let limit = u64::MAX / 2;
        let mut used = 0;
        for _ in 0..2 {
            self.store.set_fuel(limit).unwrap();
            self.call(export, input).expect("call");
            used = limit - self.store.fuel_remaining().unwrap();
        }
        used
    }

    /// One Extism call: input into kernel memory, the export, the call record.
    fn call(&mut self, export: &WasmiExport, input: &[u8]) -> Result<i32, CallError> {
        let offset = self.store.call_kernel(KernelFn::CallBegin, input.len() as u64)? as usize;
        self.store.memory_and_state().0[offset..offset + input.len()].copy_from_slice(input);
        let rc = self.store.call(export);
        self.store.call_kernel(KernelFn::CallEnd, 0)?;
        rc
    }
}

/// A call to measure with and without slicing.
struct Case<'a> {
    label: &'a str,
    wasm: &'a [u8],
    export: &'a str,
    shape: ExportShape,
    input: &'a [u8],
}

fn slicing(c: &mut Criterion) {
    let count_vowels = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/wasm/count_vowels.wasm"
    ))
    .expect("tests/wasm/count_vowels.wasm");
    let spin = wat::parse_str(SPIN).unwrap();
    let text: Vec<u8> = b"The quick brown fox jumps over the lazy dog. "
        .iter()
        .copied()
        .cycle()
        .take(1 << 20)
        .collect();
    let cases = [
        Case {
            label: "nothing",
            wasm: &spin,
            export: "nothing",
            shape: ExportShape::NoResult,
            input: b"",
        },
        Case {
            label: "count_vowels_1MiB",
            wasm: &count_vowels,
            export: "count_vowels",
            shape: ExportShape::I32Result,
            input: &text,
        },
    ];
    for Case {
        label,
        wasm,
        export,
        shape,
        input,
    } in cases
    {
        let mut group = c.benchmark_group(format!("slicing/{label}"));
        if !input.is_empty() {
            group.throughput(Throughput::Bytes(input.len() as u64));
            group.sample_size(20);
        }
        for sliced in [false, true] {
            let interrupt = sliced.then(|| Arc::new(Interrupt::default()));
            let mut guest = Guest::new(wasm, interrupt);
            let export = guest.export(export, shape);
            if !sliced {
                let fuel = guest.fuel_used(&export, input);
                eprintln!("{label}: {fuel} fuel per call, {} slices", fuel.div_ceil(SLICE));
            }
            let name = if sliced { "sliced" } else { "plain" };
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| black_box(guest.call(&export, input).expect("call")))
            });
        }
        group.finish();
    }
}

/// How long one slice of fuel lasts in a tight loop (the slowest code per unit of fuel, so the longest slice).
fn slice_duration(c: &mut Criterion) {
    let spin = wat::parse_str(SPIN).unwrap();
    let mut guest = Guest::new(&spin, None);
    let export = guest.export("spin", ExportShape::NoResult);
    c.bench_function("slice_duration/spin", |b| {
        b.iter(|| {
            guest.store.set_fuel(SLICE).unwrap();
            assert!(matches!(guest.store.call(&export), Err(CallError::OutOfFuel)));
        })
    });
}

fn cancel_latency(c: &mut Criterion) {
    let spin = wat::parse_str(SPIN).unwrap();
    let interrupt = Arc::new(Interrupt::default());
    let mut guest = Guest::new(&spin, Some(interrupt.clone()));
    let export = guest.export("spin", ExportShape::NoResult);
    let mut group = c.benchmark_group("cancel_latency");
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    group.bench_function("spin", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                interrupt.enter_call();
                let requester = {
                    let interrupt = interrupt.clone();
                    thread::spawn(move || {
                        // Long enough for the call to be running, and to land at a random point of a slice.
                        thread::sleep(Duration::from_micros(1500));
                        let requested = Instant::now();
                        interrupt.request();
                        requested
                    })
                };
                let result = guest.store.call(&export);
                let stopped = Instant::now();
                interrupt.leave_call();
                let requested = requester.join().unwrap();
                assert!(matches!(result, Err(CallError::Interrupted)));
                total += stopped.saturating_duration_since(requested);
            }
            total
        })
    });
    group.finish();
}

/// The benchmark group `criterion_main!` runs, in a module of its own: `criterion_group!` defines a public function,
/// which cannot carry a doc comment of its own.
mod group {
    use super::*;

    criterion_group!(benches, slicing, slice_duration, cancel_latency);
}
criterion_main!(group::benches);
