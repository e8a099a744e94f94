//! Host functions, prepared for every store ([`EngineApi::prepare_functions`]) or defined on one
//! ([`PluginStore::define_function`]): arguments and results of every value type pass both ways, through whatever
//! paths an engine has (several engines call signatures of a few `i64` parameters and at most one result through a
//! typed trampoline, everything else through a dynamic one); errors come back unchanged; a host function sees its
//! caller's memory and the store's state; later definitions shadow earlier ones.

use std::sync::{Arc, Mutex};

use extism_core::backend::{CallError, EngineApi, PluginStore};
use extism_core::{CurrentPlugin, Function, UserData, Uuid, Val, ValType};

use crate::capabilities::{Capability, assert_refusal, supports};
use crate::plugin::{Plugin, call};
use crate::setup::Setup;

/// A guest calling host functions of several signatures.
const GUEST: &str = r#"
(module
  (import "host" "sum5" (func $sum5 (param i64 i64 i64 i64 i64) (result i64)))
  (import "host" "count" (func $count (param i64) (result i32)))
  (import "host" "note" (func $note (param i64)))
  (import "host" "scale" (func $scale (param f64 i32 i64 f32) (result f32)))
  (import "host" "many" (func $many (param i64 i64 i64 i64 i64 i64) (result i64)))
  (import "host" "fails" (func $fails (param i64)))
  (global $noted (mut i64) (i64.const 0))
  (func (export "answer") (result i32) (i32.const 42))
  (func (export "sum5") (result i32)
    (i32.wrap_i64 (call $sum5 (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4) (i64.const 5))))
  (func (export "count") (result i32) (call $count (i64.const 41)))
  (func (export "note") (call $note (i64.const -9000000000)))
  ;; 1.5 * 2 + 0.25 + 3 = 6.25; times 4 = 25
  (func (export "scale") (result i32)
    (i32.trunc_f32_s (f32.mul (call $scale (f64.const 1.5) (i32.const 2) (i64.const 3) (f32.const 0.25)) (f32.const 4))))
  (func (export "many") (result i32)
    (i32.wrap_i64 (call $many (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4) (i64.const 5) (i64.const 6))))
  (func (export "fails") (call $fails (i64.const 7))))
"#;

/// The error `fails` returns, to check it comes back as the same value.
#[derive(Debug, PartialEq)]
struct Failure(i64);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "host function failed with {}", self.0)
    }
}

impl std::error::Error for Failure {}

/// The host functions [`GUEST`] imports; `note` records its argument in `noted`.
fn functions(noted: Arc<Mutex<Option<i64>>>) -> Vec<Function> {
    use ValType::{F32, F64, I32, I64};
    let sum = |_: &mut CurrentPlugin, args: &[Val], out: &mut [Val], _: UserData<()>| {
        out[0] = Val::I64(args.iter().map(Val::unwrap_i64).sum());
        Ok(())
    };
    let functions = vec![
        Function::new("sum5", [I64; 5], [I64], UserData::new(()), sum),
        Function::new("many", [I64; 6], [I64], UserData::new(()), sum),
        Function::new("count", [I64], [I32], UserData::new(()), |_, args, out, _| {
            out[0] = Val::I32(args[0].unwrap_i64() as i32 + 1);
            Ok(())
        }),
        Function::new("note", [I64], [], UserData::new(()), move |_, args, _, _| {
            *noted.lock().unwrap() = Some(args[0].unwrap_i64());
            Ok(())
        }),
        Function::new(
            "scale",
            [F64, I32, I64, F32],
            [F32],
            UserData::new(()),
            |_, args, out, _| {
                let (a, b, c, d) = (
                    args[0].unwrap_f64(),
                    args[1].unwrap_i32(),
                    args[2].unwrap_i64(),
                    args[3].unwrap_f32(),
                );
                out[0] = Val::from((a * f64::from(b)) as f32 + d + c as f32);
                Ok(())
            },
        ),
        Function::new("fails", [I64], [], UserData::new(()), |_, args, _, _| {
            Err(anyhow::Error::new(Failure(args[0].unwrap_i64())))
        }),
    ];
    functions.into_iter().map(|f| f.with_namespace("host")).collect()
}

/// `i64` arguments with no result, an `i64` or an `i32` result (the typed paths of engines that have them).
pub fn pass_i64_arguments_and_results<B: EngineApi>() {
    let noted = Arc::new(Mutex::new(None));
    let mut p = Plugin::new(&Setup::<B>::new(), GUEST, &functions(noted.clone()));
    assert_eq!(p.call("sum5").ok(), Some(15), "{}", B::NAME);
    assert_eq!(p.call("count").ok(), Some(42), "{}", B::NAME);
    assert_eq!(p.call("note").ok(), Some(0), "{}", B::NAME);
    assert_eq!(
        *noted.lock().unwrap(),
        Some(-9_000_000_000),
        "{}: the i64 argument, whole",
        B::NAME
    );
}

/// Every value type, and more parameters than typed paths take (the dynamic paths).
pub fn pass_every_value_type<B: EngineApi>() {
    let mut p = Plugin::new(&Setup::<B>::new(), GUEST, &functions(Arc::default()));
    assert_eq!(p.call("scale").ok(), Some(25), "{}", B::NAME);
    assert_eq!(p.call("many").ok(), Some(21), "{}", B::NAME);
}

/// A guest importing a host function with two results.
const TWO_RESULTS: &str = r#"
(module
  (import "host" "split" (func $split (param f64 i32 i64 f32) (result f32 i64)))
  (func (export "split") (result i32)
    (local $f f32) (local $i i64)
    (call $split (f64.const 1.5) (i32.const 2) (i64.const 3) (f32.const 0.25))
    (local.set $i) (local.set $f)
    ;; 1.5 * 2 + 0.25 = 3.25, times 4 = 13; 3 * 2 = 6
    (i32.add (i32.trunc_f32_s (f32.mul (local.get $f) (f32.const 4))) (i32.wrap_i64 (local.get $i)))))
"#;

/// A host function with several results returns them all, or the engine refuses the module that imports it, saying
/// so.
pub fn with_several_results<B: EngineApi>() {
    use ValType::{F32, F64, I32, I64};
    let split = Function::new(
        "split",
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
    )
    .with_namespace("host");
    let setup = Setup::<B>::new();
    match setup.try_compile(TWO_RESULTS) {
        Err(e) => {
            assert!(
                !supports::<B>(Capability::MultiResultHostFunctions),
                "{}: refused a two-result import: {e:#}",
                B::NAME
            );
            assert_refusal::<B>(&format!("{e:#}"), Capability::MultiResultHostFunctions);
        }
        Ok(module) => {
            assert!(
                supports::<B>(Capability::MultiResultHostFunctions),
                "{}: compiled a two-result import it does not support",
                B::NAME
            );
            let store = setup.store(&[&module], &[split]);
            let mut p = Plugin::<B>::instantiate(store, module).unwrap();
            assert_eq!(p.call("split").ok(), Some(13 + 6), "{}", B::NAME);
        }
    }
}

/// A host function's error fails the call as [`CallError::Host`] carrying the very error value, and the store stays
/// usable.
pub fn errors_come_back_unchanged<B: EngineApi>() {
    let mut p = Plugin::new(&Setup::<B>::new(), GUEST, &functions(Arc::default()));
    match p.call("fails") {
        Err(CallError::Host(e)) => {
            assert_eq!(e.downcast_ref::<Failure>(), Some(&Failure(7)), "{}: {e:#}", B::NAME);
            assert_eq!(e.to_string(), "host function failed with 7");
        }
        other => panic!("{}: expected the host function's error, got {other:?}", B::NAME),
    }
    p.assert_usable();
}

/// Two modules calling the same host function, which reads the first byte of its caller's memory.
const READER_A: &str = r#"
(module
  (import "host" "first_byte" (func $first_byte (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "A")
  (func (export "read") (result i32) (call $first_byte)))
"#;
const READER_B: &str = r#"
(module
  (import "host" "first_byte" (func $first_byte (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "B")
  (func (export "read") (result i32) (call $first_byte)))
"#;
const READER_WITHOUT_MEMORY: &str = r#"
(module
  (import "host" "first_byte" (func $first_byte (result i32)))
  (func (export "read") (result i32) (call $first_byte)))
"#;

/// Inside a host call, the guest memory is the calling instance's own exported memory (not the kernel's, not another
/// instance's; none if it exports none), and the state is the store's.
pub fn see_their_callers_memory_and_the_state<B: EngineApi>() {
    let seen_id: Arc<Mutex<Option<Uuid>>> = Arc::default();
    let first_byte = {
        let seen_id = seen_id.clone();
        Function::new(
            "first_byte",
            [],
            [ValType::I32],
            UserData::new(()),
            move |plugin: &mut CurrentPlugin, _, out, _| {
                *seen_id.lock().unwrap() = Some(plugin.id());
                out[0] = Val::I32(plugin.guest_memory().map_or(-1, |memory| i32::from(memory[0])));
                Ok(())
            },
        )
        .with_namespace("host")
    };
    let setup = Setup::<B>::new();
    let (a, b, none) = (
        setup.compile(READER_A),
        setup.compile(READER_B),
        setup.compile(READER_WITHOUT_MEMORY),
    );
    let mut store = setup.store(&[&a, &b, &none], &[first_byte]);
    let id = store.state().id();
    let a_instance = store.instantiate(&a).unwrap();
    let b_instance = store.instantiate(&b).unwrap();
    let none_instance = store.instantiate(&none).unwrap();
    assert_eq!(
        call::<B>(&mut store, &a, &a_instance, "read").ok(),
        Some(i32::from(b'A')),
        "{}",
        B::NAME
    );
    assert_eq!(
        call::<B>(&mut store, &b, &b_instance, "read").ok(),
        Some(i32::from(b'B')),
        "{}",
        B::NAME
    );
    assert_eq!(
        call::<B>(&mut store, &none, &none_instance, "read").ok(),
        Some(-1),
        "{}",
        B::NAME
    );
    assert_eq!(
        call::<B>(&mut store, &a, &a_instance, "read").ok(),
        Some(i32::from(b'A')),
        "{}",
        B::NAME
    );
    assert_eq!(
        *seen_id.lock().unwrap(),
        Some(id),
        "{}: the host function sees the store's state",
        B::NAME
    );
}

/// A guest calling `host::value`.
const VALUE: &str = r#"
(module
  (import "host" "value" (func $value (result i32)))
  (func (export "value") (result i32) (call $value)))
"#;

/// A function defined on a store replaces a prepared one of the same name for modules instantiated from then on
/// (users may shadow built-ins); instances made before keep what they linked.
pub fn defined_later_shadow_prepared_ones<B: EngineApi>() {
    let returning = |n: i32| {
        Function::new("value", [], [ValType::I32], UserData::new(()), move |_, _, out, _| {
            out[0] = Val::I32(n);
            Ok(())
        })
        .with_namespace("host")
    };
    let setup = Setup::<B>::new();
    let (before, after) = (setup.compile(VALUE), setup.compile(VALUE));
    let mut store = setup.store(&[&before, &after], &[returning(1)]);
    let before_instance = store.instantiate(&before).unwrap();
    store.define_function(&returning(2).to_host()).unwrap();
    let after_instance = store.instantiate(&after).unwrap();
    assert_eq!(
        call::<B>(&mut store, &after, &after_instance, "value").ok(),
        Some(2),
        "{}",
        B::NAME
    );
    assert_eq!(
        call::<B>(&mut store, &before, &before_instance, "value").ok(),
        Some(1),
        "{}",
        B::NAME
    );
}
