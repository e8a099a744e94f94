//! Calls and instances: traps are reported as traps and leave the store usable, the general call path converts values
//! both ways, the kernel's call protocol and memory are reachable from the host, modules describe their imports and
//! exports, instances link into later modules (registered, or as command modules instantiated per call), and the
//! WebAssembly proposals real toolchains emit run, or are refused by name.

use extism_core::backend::{EngineApi, ExportInfo, ExternKind, ImportInfo, PluginStore};
use extism_core::{FuncType, Val, ValType};

use crate::capabilities::{Capability, assert_refusal, supports};
use crate::plugin::{Plugin, assert_trap, call};
use crate::setup::{
    Setup, begin_call, end_call, kernel_alloc, kernel_alloc_and_length_by_name, kernel_free, kernel_length,
};

/// A guest that traps in several ways.
const TRAPS: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "answer") (result i32) (i32.const 42))
  (func $deep (call $deep))
  (func (export "recurse") (call $deep))
  (func (export "unreachable") unreachable)
  (func (export "out_of_bounds") (drop (i32.load (i32.const 70000))))
  (func (export "divide_by_zero") (result i32) (i32.div_s (i32.const 1) (i32.const 0))))
"#;

/// Unbounded recursion, `unreachable`, an out-of-bounds access and a division by zero are traps with the engine's
/// message, with and without interrupts enabled, and each leaves the store usable.
pub fn traps_are_traps_and_leave_the_store_usable<B: EngineApi>() {
    let setup = Setup::<B>::new();
    for interrupts in [false, true] {
        let mut p = Plugin::new(&setup, TRAPS, &[]);
        if interrupts {
            p.enable_interrupts();
        }
        for (export, words) in [
            ("recurse", &["stack"][..]),
            ("unreachable", &["unreachable"][..]),
            ("out_of_bounds", &["out of bounds"][..]),
            ("divide_by_zero", &["divide by zero", "division by zero"][..]),
        ] {
            assert_trap::<B, _>(p.call(export), words);
            p.assert_usable();
        }
    }
}

/// `call_function`, the general path, passes any number of arguments and results of every number type, on the
/// guest and on the kernel.
pub fn call_function_converts_values_both_ways<B: EngineApi>() {
    let setup = Setup::<B>::new();
    let mut p = Plugin::new(
        &setup,
        r#"(module
            (func (export "answer") (result i32) (i32.const 42))
            (func (export "reverse") (param i32 i64 f32 f64) (result f64 f32 i64 i32)
              (local.get 3) (local.get 2) (local.get 1) (local.get 0)))"#,
        &[],
    );
    let instance = p.instance.clone();
    assert_eq!(p.store.call_function(&instance, "answer", &[]).unwrap(), [Val::I32(42)]);
    let args = [Val::I32(-1), Val::I64(i64::MIN), Val::from(0.5f32), Val::from(-2.25f64)];
    let reversed: Vec<Val> = args.iter().rev().copied().collect();
    assert_eq!(
        p.store.call_function(&instance, "reverse", &args).unwrap(),
        reversed,
        "{}",
        B::NAME
    );
    assert!(p.store.call_function(&instance, "missing", &[]).is_err(), "{}", B::NAME);
    assert_eq!(
        kernel_alloc_and_length_by_name::<B>(&mut p.store, 10).unwrap(),
        [Val::I64(10)],
        "{}",
        B::NAME
    );
}

/// `begin_call` allocates the input in kernel memory and `end_call` returns the call record's address; both lie in
/// [`PluginStore::kernel_memory`], which shows the kernel's memory as it grows. Host-side kernel allocations work
/// between calls.
pub fn kernel_memory_holds_the_call_protocol<B: EngineApi>() {
    let setup = Setup::<B>::new();
    let mut p = Plugin::new(
        &setup,
        r#"(module (func (export "answer") (result i32) (i32.const 42)))"#,
        &[],
    );
    let input = begin_call::<B>(&mut p.store, 5).unwrap();
    assert_ne!(input, 0, "{}", B::NAME);
    assert!(input + 5 <= p.store.kernel_memory().len() as u64, "{}", B::NAME);
    let record = end_call::<B>(&mut p.store).unwrap();
    assert!(
        record + 32 <= p.store.kernel_memory().len() as u64,
        "{}: the 32-byte call record",
        B::NAME
    );
    let before = p.store.kernel_memory().len() as u64;
    let big = begin_call::<B>(&mut p.store, before).unwrap();
    assert!(
        big + before <= p.store.kernel_memory().len() as u64,
        "{}: the memory seen after the kernel grew it",
        B::NAME
    );
    end_call::<B>(&mut p.store).unwrap();
    let handle = kernel_alloc::<B>(&mut p.store, 24).unwrap();
    assert_ne!(handle, 0);
    assert_eq!(kernel_length::<B>(&mut p.store, handle).unwrap(), 24, "{}", B::NAME);
    kernel_free::<B>(&mut p.store, handle).unwrap();
    p.assert_usable();
}

/// [`EngineApi::imports`] lists a module's imports in declaration order (engines that list them grouped by kind
/// say so in the capability table) with their kinds and function types; [`EngineApi::exports`] lists its exports.
pub fn modules_list_their_imports_and_exports<B: EngineApi>() {
    let setup = Setup::<B>::new();
    let module = setup.compile(
        r#"(module
            (import "host" "f" (func (param i64 f64) (result i32)))
            (import "env" "memory" (memory 1))
            (import "env" "g" (global i32))
            (import "env" "t" (table 1 funcref))
            (import "host" "h" (func))
            (func (export "run") (param i32) (result i64) (i64.const 0))
            (export "mem" (memory 0))
            (export "glob" (global 0))
            (export "tab" (table 0)))"#,
    );
    let import = |module: &str, name: &str, kind| ImportInfo {
        module: module.into(),
        name: name.into(),
        kind,
    };
    let declared = [
        import(
            "host",
            "f",
            ExternKind::Func(FuncType::new([ValType::I64, ValType::F64], [ValType::I32])),
        ),
        import("env", "memory", ExternKind::Memory),
        import("env", "g", ExternKind::Global),
        import("env", "t", ExternKind::Table),
        import("host", "h", ExternKind::Func(FuncType::new([], []))),
    ];
    let imports = B::imports(&module);
    if supports::<B>(Capability::ImportsInDeclarationOrder) {
        assert_eq!(imports, declared, "{}", B::NAME);
    } else {
        // Every import, in declaration order among those of one kind; and not in declaration order overall, or the
        // capability table is out of date.
        let kind_rank = |i: &ImportInfo| match i.kind {
            ExternKind::Func(_) => 0,
            ExternKind::Table => 1,
            ExternKind::Memory => 2,
            ExternKind::Global => 3,
            _ => 4,
        };
        let mut grouped = declared.to_vec();
        grouped.sort_by_key(kind_rank);
        let mut by_kind = imports.clone();
        by_kind.sort_by_key(kind_rank);
        assert_eq!(
            by_kind,
            grouped,
            "{}: the imports, in declaration order within each kind",
            B::NAME
        );
        assert_ne!(
            imports,
            declared,
            "{}: now lists imports in declaration order: update the capability table",
            B::NAME
        );
    }
    let mut exports = B::exports(&module);
    exports.sort_by(|a, b| a.name.cmp(&b.name));
    let export = |name: &str, kind| ExportInfo {
        name: name.into(),
        kind,
    };
    assert_eq!(
        exports,
        [
            export("glob", ExternKind::Global),
            export("mem", ExternKind::Memory),
            export("run", ExternKind::Func(FuncType::new([ValType::I32], [ValType::I64]))),
            export("tab", ExternKind::Table),
        ],
        "{}",
        B::NAME
    );
}

/// A library module whose exports later modules import.
const LIBRARY: &str = r#"
(module
  (memory (export "memory") 1)
  (data (i32.const 0) "\2a")
  (func (export "seven") (result i32) (i32.const 7)))
"#;

/// A module importing the library's function and memory.
const LINKED: &str = r#"
(module
  (import "lib" "seven" (func $seven (result i32)))
  (import "lib" "memory" (memory 1))
  (func (export "run") (result i32) (i32.add (call $seven) (i32.load8_u (i32.const 0)))))
"#;

/// An instance registered under a name links its functions and memory into modules instantiated later.
pub fn registered_instances_link_into_later_modules<B: EngineApi>() {
    let setup = Setup::<B>::new();
    let (library, linked) = (setup.compile(LIBRARY), setup.compile(LINKED));
    let mut store = setup.store(&[&library, &linked], &[]);
    let library_instance = store.instantiate(&library).unwrap();
    store.register("lib", &library_instance).unwrap();
    let instance = store.instantiate(&linked).unwrap();
    assert_eq!(
        call::<B>(&mut store, &linked, &instance, "run").ok(),
        Some(7 + 42),
        "{}",
        B::NAME
    );
}

/// A command module: its start function counts to 1, and `bump` counts once more.
const COMMAND: &str = r#"
(module
  (global $n (mut i32) (i32.const 0))
  (func $start (global.set $n (i32.add (global.get $n) (i32.const 1))))
  (start $start)
  (func (export "_start"))
  (func (export "bump") (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (global.get $n)))
"#;

/// A module calling the command module's `bump` twice.
const COMMAND_CALLER: &str = r#"
(module
  (import "cmd" "bump" (func $bump (result i32)))
  (func (export "bump_twice") (result i32) (i32.add (call $bump) (call $bump))))
"#;

/// Every call into a command module instantiates it afresh (its start function runs each time; nothing is kept
/// between calls).
pub fn command_modules_instantiate_afresh_for_every_call<B: EngineApi>() {
    let setup = Setup::<B>::new();
    let (command, caller) = (setup.compile(COMMAND), setup.compile(COMMAND_CALLER));
    let mut store = setup.store_with_commands(&[&caller], &[&command], &[]);
    store.register_command("cmd", &command).unwrap();
    let instance = store.instantiate(&caller).unwrap();
    for _ in 0..3 {
        // Fresh instances: 2 + 2. A shared one would give 2 + 3, then more.
        assert_eq!(
            call::<B>(&mut store, &caller, &instance, "bump_twice").ok(),
            Some(4),
            "{}",
            B::NAME
        );
    }
}

/// Proposals real toolchains emit, each with a guest whose `run` returns the expected value.
const PROPOSALS: &[(Capability, &str, i32)] = &[
    (
        Capability::Simd,
        r#"(module (func (export "run") (result i32)
            (i32x4.extract_lane 2 (i32x4.add (v128.const i32x4 1 2 3 4) (v128.const i32x4 10 20 30 40)))))"#,
        33,
    ),
    (
        // 200,000 calls deep: only proper tail calls finish it (wasmi's call depth limit is 100,000; a native stack
        // would need frames of a couple of bytes).
        Capability::TailCalls,
        r#"(module
            (func $down (param i32) (result i32)
              (if (result i32) (i32.eqz (local.get 0))
                (then (i32.const 7))
                (else (return_call $down (i32.sub (local.get 0) (i32.const 1))))))
            (func (export "run") (result i32) (return_call $down (i32.const 200000))))"#,
        7,
    ),
];

/// SIMD and tail calls run, or the engine refuses the module when compiling it, naming the proposal.
pub fn proposals_run_or_are_refused_by_name<B: EngineApi>() {
    let setup = Setup::<B>::new();
    for &(capability, wat, expected) in PROPOSALS {
        match setup.try_compile(wat) {
            Err(e) => {
                assert!(!supports::<B>(capability), "{}: refused {capability:?}: {e:#}", B::NAME);
                assert_refusal::<B>(&format!("{e:#}"), capability);
            }
            Ok(module) => {
                assert!(
                    supports::<B>(capability),
                    "{}: compiled {capability:?}, which it does not support",
                    B::NAME
                );
                let store = setup.store(&[&module], &[]);
                let mut p = Plugin::<B>::instantiate(store, module).unwrap();
                assert_eq!(p.call("run").ok(), Some(expected), "{}: {capability:?}", B::NAME);
            }
        }
    }
}
