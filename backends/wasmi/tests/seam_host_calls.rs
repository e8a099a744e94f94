//! The wasmi backend's two host-call trampolines, driven through the engine seam: typed (signatures of `i64`
//! parameters with no result, an `i64` or an `i32`) and dynamic (everything else).
//!
//! wasmi-only on purpose: the choice between the trampolines is this backend's own optimisation, and each must pass
//! values, results and errors the same way. The conformance suite covers host functions on every backend alike.

use extism_core::backend::{CallError, EngineApi, EngineOptions, ExportShape, LinkingInputs, PluginStore};
use extism_core::kernel::KERNEL_WASM;
use extism_core::{Function, Manifest, PluginState, UserData, Uuid, Val, ValType};
use extism_wasmi::Wasmi;

const GUEST: &str = r#"
(module
  (import "host" "sum5" (func $sum5 (param i64 i64 i64 i64 i64) (result i64)))
  (import "host" "count" (func $count (param i64) (result i32)))
  (import "host" "mix" (func $mix (param f64 i32 i64 f32) (result f32 i64)))
  (import "host" "many" (func $many (param i64 i64 i64 i64 i64 i64) (result i64)))
  (import "host" "fails" (func $fails (param i64)))
  (func (export "typed") (result i32)
    (i32.wrap_i64 (call $sum5 (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4) (i64.const 5))))
  (func (export "typed_i32") (result i32) (call $count (i64.const 41)))
  (func (export "dynamic") (result i32)
    (local $f f32) (local $i i64)
    (call $mix (f64.const 1.5) (i32.const 2) (i64.const 3) (f32.const 0.25))
    (local.set $i) (local.set $f)
    ;; 1.5 * 2 + 0.25 = 3.25; the i64 result is 3 * 2 = 6
    (i32.add (i32.trunc_f32_s (f32.mul (local.get $f) (f32.const 4))) (i32.wrap_i64 (local.get $i))))
  (func (export "six_params") (result i32)
    (i32.wrap_i64 (call $many (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4) (i64.const 5) (i64.const 6))))
  (func (export "failing") (call $fails (i64.const 7))))
"#;

fn functions() -> Vec<Function> {
    use ValType::{F32, F64, I32, I64};
    let sum = |_: &mut extism_core::CurrentPlugin, args: &[Val], out: &mut [Val], _: UserData<()>| {
        out[0] = Val::I64(args.iter().map(Val::unwrap_i64).sum());
        Ok(())
    };
    vec![
        Function::new("sum5", [I64; 5], [I64], UserData::new(()), sum),
        Function::new("many", [I64; 6], [I64], UserData::new(()), sum),
        Function::new("count", [I64], [I32], UserData::new(()), |_, args, out, _| {
            out[0] = Val::I32(args[0].unwrap_i64() as i32 + 1);
            Ok(())
        }),
        Function::new(
            "mix",
            [F64, I32, I64, F32],
            [F32, I64],
            UserData::new(()),
            |_, args, out, _| {
                let (a, b, c, d) = (
                    args[0].unwrap_f64(),
                    args[1].unwrap_i32(),
                    args[2].unwrap_i64(),
                    args[3].unwrap_f32(),
                );
                out[0] = Val::from((a * f64::from(b)) as f32 + d);
                out[1] = Val::I64(c * i64::from(b));
                Ok(())
            },
        ),
        Function::new("fails", [I64], [], UserData::new(()), |_, args, _, _| {
            anyhow::bail!("host function failed with {}", args[0].unwrap_i64())
        }),
    ]
}

fn call(name: &str) -> Result<i32, CallError> {
    let engine = Wasmi::new_engine(&EngineOptions::default()).unwrap();
    let kernel = Wasmi::compile(&engine, KERNEL_WASM).unwrap();
    let guest = Wasmi::compile(&engine, &wat::parse_str(GUEST).unwrap()).unwrap();
    let state = PluginState::new(Uuid::new_v4(), &Manifest::default());
    let mut store = Wasmi::new_store(
        &engine,
        &kernel,
        &Wasmi::prepare_functions(&engine, &LinkingInputs::kernel_only(&kernel)).unwrap(),
        state,
    )
    .unwrap();
    for f in functions() {
        store.define_function("host", f.name(), &f).unwrap();
    }
    let instance = store.instantiate(&guest).unwrap();
    let shape = if name == "failing" {
        ExportShape::NoResult
    } else {
        ExportShape::I32Result
    };
    let export = store.export(&instance, name, shape).unwrap();
    store.call(&export)
}

#[test]
fn typed_trampolines_pass_arguments_and_results() {
    assert_eq!(call("typed").unwrap(), 15);
    assert_eq!(call("typed_i32").unwrap(), 42);
}

#[test]
fn dynamic_trampolines_pass_every_value_type_and_several_results() {
    assert_eq!(call("dynamic").unwrap(), 13 + 6);
    assert_eq!(
        call("six_params").unwrap(),
        21,
        "more parameters than the typed trampolines take"
    );
}

#[test]
fn host_errors_come_back_unchanged() {
    match call("failing") {
        Err(CallError::Host(e)) => assert_eq!(e.to_string(), "host function failed with 7"),
        other => panic!("expected the host function's error, got {other:?}"),
    }
}
