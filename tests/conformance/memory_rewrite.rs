//! The kernel memory accessor rewrite (`PluginBuilder::with_memory_rewrite`, `EXTISM_NO_MEMORY_REWRITE`): guests'
//! direct calls to `load_*`, `store_*` and `input_load_*` become loads and stores on the kernel's memory, on engines
//! that run multi-memory modules. Every test runs the same plug-ins with the rewrite on and off, on every engine, and
//! requires identical outcomes: return codes, outputs and errors.

use extism::{Backend, CompiledPlugin, CurrentPlugin, Manifest, Plugin, PluginBuilder, UserData, Val, ValType, Wasm};

use crate::differential::{Outcome, committed_plugins, other_pdk_plugins, outcome, run_committed_with};

/// True if `backend` rewrites (it runs multi-memory modules).
fn rewrites(backend: Backend) -> bool {
    backend.capabilities().multi_memory
}

/// Compile `builder` with the rewrite on and off; check how many modules each rewrote (`expected` with it on where
/// the engine can, 0 otherwise) and return both.
fn both(builder: PluginBuilder, expected: usize) -> (CompiledPlugin, CompiledPlugin) {
    let backend = builder.clone().compile().expect("the plug-in compiles").backend();
    let on = builder
        .clone()
        .with_memory_rewrite(true)
        .compile()
        .expect("compiles with the rewrite");
    let off = builder
        .with_memory_rewrite(false)
        .compile()
        .expect("compiles without the rewrite");
    let expected = if rewrites(backend) { expected } else { 0 };
    assert_eq!(on.rewritten_modules(), expected, "modules rewritten on {backend}");
    assert_eq!(
        off.rewritten_modules(),
        0,
        "modules rewritten with the rewrite off on {backend}"
    );
    (on, off)
}

/// Outcomes of calling each of `calls` (export, input) in order on a fresh plug-in from `compiled`.
fn run(compiled: &CompiledPlugin, calls: &[(&str, &[u8])]) -> Vec<(String, Outcome)> {
    let mut plugin = Plugin::new_from_compiled(compiled).expect("the plug-in instantiates");
    calls
        .iter()
        .map(|(export, input)| {
            let result = plugin.raw_call(export, input, None);
            (export.to_string(), outcome(result, plugin.last_output(), true))
        })
        .collect()
}

fn assert_same_outcomes(what: &str, on: &[(String, Outcome)], off: &[(String, Outcome)]) {
    let differences: Vec<String> = on
        .iter()
        .zip(off)
        .filter(|(a, b)| a != b)
        .map(|((call, a), (_, b))| format!("{call}: with the rewrite {a:?}, without {b:?}"))
        .collect();
    assert_eq!(
        on.len(),
        off.len(),
        "{what}: as many outcomes with the rewrite as without"
    );
    assert!(differences.is_empty(), "{what}:\n{}", differences.join("\n"));
}

backend_test! {
    /// Every committed plug-in (each export, each input of the differential suite, under WASI, config, vars, host
    /// functions and limits; no fuel limit, which turns the rewrite off) gives the same outcomes with the rewrite as
    /// without it.
    fn committed_plugins_agree_with_and_without_the_rewrite(backend) {
        let plugins = committed_plugins();
        assert!(plugins.len() >= 7, "the committed plug-ins are missing: {:?}", plugins.keys());
        for (name, wasm) in &plugins {
            let on = run_committed_with(name, wasm, backend, Some(true));
            let off = run_committed_with(name, wasm, backend, Some(false));
            assert!(
                on.iter().any(|(_, o)| matches!(o, Outcome::Returned { rc: 0, .. })),
                "{name}: no call succeeded: {on:?}"
            );
            assert_same_outcomes(name, &on, &off);
        }
        // The PDK plug-ins call the accessors, so the rewrite did happen where the engine can.
        let echo = plugins.get("echo").expect("echo.wasm");
        both(PluginBuilder::new(echo.clone()).with_backend(backend), 1);
        // Without a word from the builder, the rewrite is on where it pays (unless the environment turns it off).
        let by_default = PluginBuilder::new(echo.clone()).with_backend(backend).compile().unwrap();
        let env_off = std::env::var_os(extism::NO_MEMORY_REWRITE_ENV).is_some_and(|v| !v.is_empty() && v != "0");
        let pays = backend.capabilities().memory_rewrite_pays && !env_off;
        assert_eq!(by_default.rewritten_modules(), usize::from(pays), "rewritten by default on {backend}");
        assert!(!backend.capabilities().memory_rewrite_pays || rewrites(backend));
        // A fuel limit keeps the kernel calls.
        let fueled = PluginBuilder::new(echo.clone())
            .with_backend(backend)
            .with_memory_rewrite(true)
            .with_fuel_limit(1_000_000);
        assert_eq!(fueled.compile().unwrap().rewritten_modules(), 0);
    }
}

/// [`committed_plugins_agree_with_and_without_the_rewrite`] for plug-ins built with other PDKs (Go, Haskell, JS: see
/// `differential::PDK_MODULES_ENV`), whose accessor calls come from other compilers, on every compiled engine. A plain
/// test looping over the engines rather than a `backend_test!`: rstest puts an `#[ignore]` on the first case only.
#[test]
#[ignore = "needs EXTISM_PDK_MODULES=<a directory of plug-ins built with other PDKs>"]
fn other_pdk_plugins_agree_with_and_without_the_rewrite() {
    let plugins = other_pdk_plugins();
    for &backend in Backend::ALL {
        let mut rewritten = 0;
        for (name, wasm) in &plugins {
            let on = run_committed_with(name, wasm, backend, Some(true));
            let off = run_committed_with(name, wasm, backend, Some(false));
            assert_same_outcomes(&format!("{name} on {backend}"), &on, &off);
            let compiled = PluginBuilder::new(wasm.clone())
                .with_backend(backend)
                .with_wasi(true)
                .with_memory_rewrite(true)
                .compile();
            rewritten += compiled.map_or(0, |c| c.rewritten_modules());
        }
        // Where the engine rewrites, some of those plug-ins were rewritten (else the comparison compared nothing).
        assert_eq!(
            rewritten > 0,
            rewrites(backend),
            "plug-ins rewritten on {backend}: {rewritten}"
        );
    }
}

/// A guest that calls every accessor with every kind of offset: each byte of `[0, 4096)` (below the heap, the heap
/// start, the input, blocks), 16 bytes either side of each 64 KiB boundary up to 8 pages (the end of memory, as it
/// grows), and offsets past 32 bits. `load_u64` is also called through a table. Results are mixed into a 64-bit
/// hash, which is the output.
const HOSTILE: &str = r#"(module
  (import "extism:host/env" "load_u8" (func $load_u8 (param i64) (result i32)))
  (import "extism:host/env" "load_u64" (func $load_u64 (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/env" "memory_bytes" (func $memory_bytes (result i64)))
  (type $load (func (param i64) (result i64)))
  (table 1 funcref)
  (elem (i32.const 0) $load_u64)
  (memory (export "memory") 1)
  (global $hash (mut i64) (i64.const 0))

  (func $mix (param i64)
    (global.set $hash (i64.xor (i64.mul (global.get $hash) (i64.const 1099511628211)) (local.get 0))))

  ;; Every read at $a, through each accessor.
  (func $probe (param $a i64)
    (call $mix (call $load_u64 (local.get $a)))
    (call $mix (i64.extend_i32_u (call $load_u8 (local.get $a))))
    (call $mix (call_indirect (type $load) (local.get $a) (i32.const 0)))
    (call $mix (call $input_load_u64 (local.get $a)))
    (call $mix (i64.extend_i32_u (call $input_load_u8 (local.get $a)))))

  ;; Writes at $a and around it.
  (func $poke (param $a i64)
    (call $store_u64 (local.get $a) (i64.mul (local.get $a) (i64.const -7046029254386353131)))
    (call $store_u8 (i64.add (local.get $a) (i64.const 3)) (i32.xor (i32.wrap_i64 (local.get $a)) (i32.const 90))))

  ;; $probe (mode 0) or $poke (mode 1) at every address of the list above.
  (func $each (param $mode i32)
    (local $a i64) (local $page i64) (local $d i64)
    (local.set $a (i64.const 0))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $a) (i64.const 4096)))
      (call $at (local.get $mode) (local.get $a))
      (local.set $a (i64.add (local.get $a) (i64.const 1)))
      (br $next)))
    (local.set $page (i64.const 1))
    (block $done (loop $next
      (br_if $done (i64.gt_u (local.get $page) (i64.const 8)))
      (local.set $d (i64.const -16))
      (block $inner (loop $more
        (br_if $inner (i64.gt_s (local.get $d) (i64.const 16)))
        (call $at (local.get $mode) (i64.add (i64.shl (local.get $page) (i64.const 16)) (local.get $d)))
        (local.set $d (i64.add (local.get $d) (i64.const 1)))
        (br $more)))
      (local.set $page (i64.add (local.get $page) (i64.const 1)))
      (br $next)))
    (call $at (local.get $mode) (i64.const 4294967288))
    (call $at (local.get $mode) (i64.const 4294967295))
    (call $at (local.get $mode) (i64.const 4294967296))
    (call $at (local.get $mode) (i64.const 9223372036854775807))
    (call $at (local.get $mode) (i64.const -9223372036854775808))
    (call $at (local.get $mode) (i64.const -9))
    (call $at (local.get $mode) (i64.const -8))
    (call $at (local.get $mode) (i64.const -1)))

  (func $at (param $mode i32) (param $a i64)
    (if (local.get $mode) (then (call $poke (local.get $a))) (else (call $probe (local.get $a)))))

  ;; Fill a fresh block of $n bytes with a pattern (so that reads see more than zeros).
  (func $fill (param $n i64)
    (local $p i64) (local $i i64)
    (local.set $p (call $alloc (local.get $n)))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (call $store_u64 (i64.add (local.get $p) (local.get $i)) (i64.xor (local.get $i) (i64.const 6148914691236517205)))
      (local.set $i (i64.add (local.get $i) (i64.const 8)))
      (br $next))))

  ;; The hash and the kernel's heap size as output.
  (func $finish (result i32)
    (local $out i64)
    (call $mix (call $memory_bytes))
    (local.set $out (call $alloc (i64.const 8)))
    (call $store_u64 (local.get $out) (global.get $hash))
    (call $output_set (local.get $out) (i64.const 8))
    (i32.wrap_i64 (i64.and (global.get $hash) (i64.const 127))))

  (func (export "loads") (result i32)
    (global.set $hash (i64.const 0))
    (call $fill (i64.const 4096))
    (call $each (i32.const 0))
    (call $finish))

  (func (export "stores") (result i32)
    (global.set $hash (i64.const 0))
    (call $each (i32.const 1))
    (call $each (i32.const 0))
    (call $finish))

  ;; Grow the kernel memory past 4 pages first, so that the boundary probes fall inside it.
  (func (export "grown") (result i32)
    (global.set $hash (i64.const 0))
    (call $fill (i64.const 300000))
    (call $each (i32.const 1))
    (call $each (i32.const 0))
    (call $finish))
)"#;

/// Inputs of several lengths around the 8-byte reads (`input_load_u64` needs 8 bytes left).
const HOSTILE_CALLS: &[(&str, &[u8])] = &[
    ("loads", b""),
    ("loads", b"1234567"),
    ("loads", b"12345678"),
    ("loads", b"123456789 and some more bytes to read"),
    ("stores", b"abc"),
    ("loads", b"after the stores"),
    ("grown", b"0123456789abcdef"),
    ("loads", b"after growing"),
];

backend_test! {
    /// The hostile guest gets the same results with the rewrite as without it: out-of-range reads give 0,
    /// out-of-range writes do nothing, nothing traps.
    fn hostile_offsets_give_the_kernels_results(backend) {
        let (on, off) = both(PluginBuilder::new(HOSTILE).with_backend(backend), 1);
        let with = run(&on, HOSTILE_CALLS);
        let without = run(&off, HOSTILE_CALLS);
        for (call, outcome) in &without {
            assert!(
                matches!(outcome, Outcome::Returned { output: Some(bytes), .. } if bytes.len() == 8),
                "{call} without the rewrite: {outcome:?}"
            );
        }
        assert_same_outcomes("hostile guest", &with, &without);
    }
}

/// A guest with two memories of its own (its own data in both), calling the accessors.
const TWO_MEMORIES: &str = r#"(module
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "load_u8" (func $load_u8 (param i64) (result i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory $a (export "memory") 1)
  (memory $b 1)
  (data (memory $a) (i32.const 0) "A")
  (data (memory $b) (i32.const 0) "B")
  ;; Output: the input with memory a's byte 0 added to even bytes and memory b's to odd ones.
  (func (export "mix") (result i32)
    (local $n i64) (local $i i64) (local $out i64) (local $byte i32)
    (local.set $n (call $input_length))
    (local.set $out (call $alloc (local.get $n)))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (local.set $byte (call $input_load_u8 (local.get $i)))
      (if (i64.eqz (i64.and (local.get $i) (i64.const 1)))
        (then (local.set $byte (i32.add (local.get $byte) (i32.load8_u $a (i32.const 0)))))
        (else (local.set $byte (i32.add (local.get $byte) (i32.load8_u $b (i32.const 0))))))
      (call $store_u8 (i64.add (local.get $out) (local.get $i)) (local.get $byte))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $next)))
    (i32.store8 $b (i32.const 0) (i32.add (i32.load8_u $b (i32.const 0)) (i32.const 1)))
    (call $output_set (local.get $out) (local.get $n))
    (call $load_u8 (local.get $out))))"#;

backend_test! {
    /// A guest with several memories keeps using its own: they move up by one index when the kernel's is imported.
    fn guests_with_several_memories(backend) {
        let builder = PluginBuilder::new(TWO_MEMORIES).with_backend(backend);
        let Ok(_) = builder.clone().compile() else {
            // An engine without multi-memory cannot run the guest at all: nothing to compare.
            assert!(!rewrites(backend), "{backend} runs multi-memory modules but refused this one");
            return;
        };
        let (on, off) = both(builder, 1);
        let calls: &[(&str, &[u8])] = &[("mix", b"\x00\x00\x01\x01"), ("mix", b"hello")];
        let with = run(&on, calls);
        assert_same_outcomes("two memories", &with, &run(&off, calls));
        assert_eq!(
            with[0].1,
            Outcome::Returned { rc: 65, output: Some(b"ABBC".to_vec()) },
            "memory a gives 'A', memory b 'B'"
        );
    }
}

/// A library module that owns a memory and exports it, with a function that reads the input into it.
const LIBRARY: &str = r#"(module
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (memory (export "memory") 1)
  ;; Copy the input into this memory at 0; returns its length.
  (func (export "read_input") (result i64)
    (local $n i64) (local $i i64)
    (local.set $n (call $input_length))
    (block $done (loop $next
      (br_if $done (i64.gt_u (i64.add (local.get $i) (i64.const 8)) (local.get $n)))
      (i64.store (i32.wrap_i64 (local.get $i)) (call $input_load_u64 (local.get $i)))
      (local.set $i (i64.add (local.get $i) (i64.const 8)))
      (br $next)))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (i32.store8 (i32.wrap_i64 (local.get $i)) (call $input_load_u8 (local.get $i)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $next)))
    (local.get $n)))"#;

/// The main module imports the library's memory and function, and writes the input back reversed.
const MAIN_IMPORTING_MEMORY: &str = r#"(module
  (import "lib" "memory" (memory 1))
  (import "lib" "read_input" (func $read_input (result i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (func (export "reverse") (result i32)
    (local $n i64) (local $i i64) (local $out i64)
    (local.set $n (call $read_input))
    (local.set $out (call $alloc (i64.add (local.get $n) (i64.const 8))))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (call $store_u8 (i64.add (local.get $out) (local.get $i))
        (i32.load8_u (i32.wrap_i64 (i64.sub (i64.sub (local.get $n) (local.get $i)) (i64.const 1)))))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $next)))
    ;; An 8-byte trailer (past the output's length, inside its block).
    (call $store_u64 (i64.add (local.get $out) (local.get $n)) (i64.const -1))
    (call $output_set (local.get $out) (local.get $n))
    (i32.const 0)))"#;

backend_test! {
    /// A manifest of two modules, the main one importing its memory from the other: both are rewritten, and the
    /// results are those of the kernel path.
    fn linked_modules_and_imported_memories(backend) {
        let manifest = Manifest::new([
            Wasm::data(LIBRARY.as_bytes().to_vec()).with_name("lib"),
            Wasm::data(MAIN_IMPORTING_MEMORY.as_bytes().to_vec()),
        ]);
        let (on, off) = both(PluginBuilder::new(manifest).with_backend(backend), 2);
        let calls: &[(&str, &[u8])] = &[("reverse", b"abcdefghijk"), ("reverse", b""), ("reverse", b"xy")];
        let with = run(&on, calls);
        assert_same_outcomes("linked modules", &with, &run(&off, calls));
        assert_eq!(with[0].1, Outcome::Returned { rc: 0, output: Some(b"kjihgfedcba".to_vec()) });
    }
}

/// A main module with its own memory, initialised data (active and passive) and growth. Whether the rewrite moves a
/// main module's memory and active data to a module of their own (see `Capabilities::memory_rewrite_moves_memories`)
/// or, when a module of the manifest has that module's name, shifts its memory indices instead, what the guest sees
/// must not change: its data, `memory.init` of both segments, `data.drop`, growth up to the manifest's limit and no
/// further.
const MAIN_WITH_DATA: &str = r#"(module
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 1 8)
  (data (i32.const 100) "hello")
  (data $later "world")
  ;; The 5 bytes at 100 to the output.
  (func $out5 (result i32)
    (local $out i64) (local $i i64)
    (local.set $out (call $alloc (i64.const 5)))
    (block $done (loop $next
      (br_if $done (i64.ge_u (local.get $i) (i64.const 5)))
      (call $store_u8 (i64.add (local.get $out) (local.get $i))
        (i32.load8_u offset=100 (i32.wrap_i64 (local.get $i))))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $next)))
    (call $output_set (local.get $out) (i64.const 5))
    (i32.const 0))
  (func (export "greet") (result i32) (call $out5))
  ;; Active segment 0 was dropped when applied: init of 0 bytes succeeds, of 1 traps.
  (func (export "init_active") (result i32)
    (memory.init 0 (i32.const 100) (i32.const 0) (i32.const 0))
    (memory.init 0 (i32.const 100) (i32.const 0) (i32.const 1))
    (call $out5))
  (func (export "init_passive") (result i32)
    (memory.init $later (i32.const 100) (i32.const 0) (i32.const 5))
    (data.drop $later)
    (call $out5))
  ;; Grow by the input's first byte (pages); returns the old size, or -1.
  (func (export "grow") (result i32)
    (memory.grow (call $input_load_u8 (i64.const 0)))))"#;

/// The calls for [`MAIN_WITH_DATA`], on one plug-in in this order.
const MAIN_WITH_DATA_CALLS: &[(&str, &[u8])] = &[
    ("greet", b""),
    ("init_active", b""),
    ("greet", b""),
    ("init_passive", b""),
    ("init_passive", b""),
    ("grow", &[1]),
    ("grow", &[2]),
    ("grow", &[3]),
    ("grow", &[0]),
    ("greet", b""),
];

backend_test! {
    /// [`MAIN_WITH_DATA`] gives the same outcomes with the rewrite as without, under a memory limit below its own
    /// maximum; and again when a linked module of the manifest has the name the moved memory's module would take
    /// (the memory then stays in the main module, whose memory indices shift instead).
    fn a_main_module_with_data_and_growth_keeps_them(backend) {
        let builder = PluginBuilder::new(Manifest::new([Wasm::data(MAIN_WITH_DATA.as_bytes().to_vec())])
            .with_memory_max(4))
            .with_backend(backend);
        let (on, off) = both(builder, 1);
        let with = run(&on, MAIN_WITH_DATA_CALLS);
        assert_same_outcomes("main module with data", &with, &run(&off, MAIN_WITH_DATA_CALLS));
        assert_eq!(with[0].1, Outcome::Returned { rc: 0, output: Some(b"hello".to_vec()) });
        assert_eq!(with[3].1, Outcome::Returned { rc: 0, output: Some(b"world".to_vec()) });
        assert!(matches!(with[1].1, Outcome::Failed { .. }), "{:?}", with[1]);
        assert!(matches!(with[4].1, Outcome::Failed { .. }), "{:?}", with[4]);
        // 1 page, +1 = 2, +2 = 4 (the limit), +3 past the limit fails the call (as a memory bomb does), +0.
        let grown: Vec<_> = with[5..9].iter().map(|(_, o)| o.clone()).collect();
        let returned = |rc| Outcome::Returned { rc, output: Some(Vec::new()) };
        assert_eq!(
            grown,
            [returned(1), returned(2), Outcome::Failed { rc: -1, kind: "oom".into() }, returned(4)]
        );

        let named = PluginBuilder::new(Manifest::new([
            Wasm::data(b"(module)".to_vec()).with_name("extism:host/main-memory"),
            Wasm::data(MAIN_WITH_DATA.as_bytes().to_vec()),
        ]).with_memory_max(4))
        .with_backend(backend);
        let (on, off) = both(named, 1);
        let with_name_taken = run(&on, MAIN_WITH_DATA_CALLS);
        assert_same_outcomes("module name taken", &with_name_taken, &run(&off, MAIN_WITH_DATA_CALLS));
        assert_eq!(with_name_taken, with);

        // Without a memory limit (the case in which the memory moves out), growth stops at the module's own maximum.
        let unlimited = PluginBuilder::new(Manifest::new([Wasm::data(MAIN_WITH_DATA.as_bytes().to_vec())]))
            .with_backend(backend);
        let (on, off) = both(unlimited, 1);
        let calls = [MAIN_WITH_DATA_CALLS, &[("grow", &[2][..])]].concat();
        let unlimited = run(&on, &calls);
        assert_same_outcomes("no memory limit", &unlimited, &run(&off, &calls));
        assert_eq!(unlimited[..5], with[..5]);
        // 1, +1 = 2, +2 = 4, +3 = 7, +0, then +2 past the module's maximum of 8: memory.grow gives -1.
        let grown: Vec<_> = unlimited[5..].iter().map(|(_, o)| o.clone()).collect();
        assert_eq!(grown[..4], [returned(1), returned(2), returned(4), returned(7)]);
        assert_eq!(grown[5], returned(-1));
    }
}

backend_test! {
    /// A hostile guest whose own memory starts above the manifest's limit is refused with the rewrite as without it:
    /// no call of it ever runs. (Moving the main module's memory to a module of its own let it escape the budget,
    /// which counts the main module's initial memory: under a memory limit the rewrite keeps it in place.)
    fn a_guest_memory_above_the_limit_is_refused_either_way(backend) {
        let wat = r#"(module
          (import "extism:host/env" "load_u64" (func $load (param i64) (result i64)))
          (memory (export "memory") 64)
          (data (i32.const 0) "x")
          (func (export "run") (result i32) (i32.wrap_i64 (call $load (i64.const 0)))))"#;
        for rewrite in [true, false] {
            let builder = PluginBuilder::new(Manifest::new([Wasm::data(wat.as_bytes().to_vec())]).with_memory_max(4))
                .with_backend(backend)
                .with_memory_rewrite(rewrite);
            let ran = builder
                .build()
                .ok()
                .map(|mut plugin| plugin.call::<&[u8], &[u8]>("run", b"").map(<[u8]>::to_vec));
            assert!(
                !matches!(ran, Some(Ok(_))),
                "rewrite {rewrite} on {backend}: a 64-page memory ran under a 4-page limit"
            );
        }
    }
}

backend_test! {
    /// A guest that re-exports an imported accessor (so the import stays reachable from outside the module) is
    /// rewritten all the same: the import is kept for the export, and the direct calls give the kernel's results.
    fn exports_of_imported_accessors_keep_working(backend) {
        let wat = r#"(module
          (import "extism:host/env" "load_u64" (func $load (param i64) (result i64)))
          (export "reexported" (func $load))
          (import "extism:host/env" "input_load_u64" (func $input (param i64) (result i64)))
          (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
          (import "extism:host/env" "store_u64" (func $store (param i64 i64)))
          (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
          (func (export "first8") (result i32)
            (local $out i64)
            (local.set $out (call $alloc (i64.const 8)))
            (call $store (local.get $out) (call $input (i64.const 0)))
            (call $output_set (local.get $out) (i64.const 8))
            (i32.wrap_i64 (call $load (local.get $out)))))"#;
        let (on, off) = both(PluginBuilder::new(wat).with_backend(backend), 1);
        let calls: &[(&str, &[u8])] = &[("first8", b"ABCDEFGHIJ"), ("first8", b"short")];
        let with = run(&on, calls);
        assert_same_outcomes("re-exported accessor", &with, &run(&off, calls));
        assert_eq!(with[0].1, Outcome::Returned { rc: 0x44434241, output: Some(b"ABCDEFGH".to_vec()) });
        assert_eq!(with[1].1, Outcome::Returned { rc: 0, output: Some(vec![0; 8]) });
    }
}

backend_test! {
    /// A host function that replaces a kernel accessor under `extism:host/env` (users may shadow kernel exports) is
    /// what the guest's calls reach, with the rewrite on as with it off: the rewrite leaves that accessor alone.
    fn a_host_function_shadowing_an_accessor_keeps_its_calls(backend) {
        let wat = r#"(module
          (import "extism:host/env" "load_u64" (func $load (param i64) (result i64)))
          (import "extism:host/env" "load_u8" (func $load_u8 (param i64) (result i32)))
          (func (export "run") (result i32)
            (i32.add (i32.wrap_i64 (call $load (i64.const 0))) (call $load_u8 (i64.const 0)))))"#;
        let builder = PluginBuilder::new(wat).with_backend(backend).with_function_in_namespace(
            "extism:host/env",
            "load_u64",
            [ValType::I64],
            [ValType::I64],
            UserData::new(()),
            |_: &mut CurrentPlugin, _: &[Val], results: &mut [Val], _| {
                results[0] = Val::I64(42);
                Ok(())
            },
        );
        // `load_u8` is still the kernel's, and rewritten where the engine can.
        let (on, off) = both(builder, 1);
        let calls: &[(&str, &[u8])] = &[("run", b"")];
        let with = run(&on, calls);
        assert_same_outcomes("shadowed accessor", &with, &run(&off, calls));
        // Offset 0 lies below the kernel's heap: the kernel's `load_u8` gives 0, the host's `load_u64` 42.
        assert_eq!(with[0].1, Outcome::Returned { rc: 42, output: Some(Vec::new()) });
    }
}

/// A guest whose accessor calls sit among parameters and locals of several types, have their results dropped or
/// used, lie in unreachable code, and straddle growths of the kernel memory. Each export writes the values it
/// collected (`$put`, in the guest's own memory) as little-endian u64s to the output.
const CALL_SITES: &str = r#"(module
  (import "extism:host/env" "load_u8" (func $load_u8 (param i64) (result i32)))
  (import "extism:host/env" "load_u64" (func $load_u64 (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory 1)
  (global $n (mut i32) (i32.const 0))

  (func $put (param i64)
    (i64.store (i32.mul (global.get $n) (i32.const 8)) (local.get 0))
    (global.set $n (i32.add (global.get $n) (i32.const 1))))

  ;; The collected values as the output.
  (func $finish (result i32)
    (local $out i64) (local $i i32)
    (local.set $out (call $alloc (i64.extend_i32_u (i32.mul (global.get $n) (i32.const 8)))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (global.get $n)))
      (call $store_u64 (i64.add (local.get $out) (i64.extend_i32_u (i32.mul (local.get $i) (i32.const 8))))
        (i64.load (i32.mul (local.get $i) (i32.const 8))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (call $output_set (local.get $out) (i64.extend_i32_u (i32.mul (global.get $n) (i32.const 8))))
    (global.set $n (i32.const 0))
    (i32.const 0))

  ;; Parameters and locals of every number type around each accessor; they must keep their values.
  (func $mixed (param $a i32) (param $b f64) (param $c i64) (result i64)
    (local $x i32) (local $y f32) (local $z i64) (local $w f64) (local $v i64)
    (local.set $x (i32.const 7))
    (local.set $y (f32.const 1.5))
    (local.set $z (i64.const 11))
    (local.set $w (f64.const 2.5))
    (call $store_u64 (local.get $c) (i64.const 0x1122334455667788))
    (drop (call $load_u64 (local.get $c)))
    (drop (call $load_u8 (local.get $c)))
    (drop (call $input_load_u64 (i64.const 0)))
    (drop (call $input_load_u8 (i64.const 0)))
    (call $store_u8 (i64.add (local.get $c) (i64.const 8)) (local.get $a))
    ;; Bytes 1 to 8: 0x11223344556677 under the low byte of $a.
    (local.set $v (call $load_u64 (i64.add (local.get $c) (i64.const 1))))
    (call $put (local.get $v))
    (call $put (call $input_load_u64 (i64.const 1)))
    (call $put (i64.extend_i32_u (call $input_load_u8 (i64.const 2))))
    (call $put (i64.extend_i32_u (call $load_u8 (i64.add (local.get $c) (i64.const 8)))))
    ;; Calls in unreachable code (the stack is polymorphic there).
    block $skip
      br $skip
      call $load_u8
      drop
      call $store_u64
      call $input_load_u64
      drop
      call $store_u8
    end
    (i64.add (i64.add (i64.add (i64.extend_i32_u (local.get $a)) (i64.trunc_f64_s (local.get $b)))
                      (i64.add (local.get $z) (i64.extend_i32_u (local.get $x))))
             (i64.add (i64.trunc_f32_s (f32.mul (local.get $y) (f32.const 2)))
                      (i64.trunc_f64_s (local.get $w)))))

  (func (export "locals") (result i32)
    (call $put (call $mixed (i32.const 0x1ab) (f64.const 100.75) (call $alloc (i64.const 16))))
    (call $finish))

  ;; The first address at or after $p where a stored byte does not stick: the end of the kernel memory.
  (func $end_from (param $p i64) (result i64)
    (block $done (loop $next
      (call $store_u8 (local.get $p) (i32.const 1))
      (br_if $done (i32.eqz (call $load_u8 (local.get $p))))
      (local.set $p (i64.add (local.get $p) (i64.const 1)))
      (br $next)))
    (local.get $p))

  ;; The last bytes of the kernel memory, before and after it grows under the same code.
  (func (export "grow") (result i32)
    (local $end i64) (local $grown i64)
    (local.set $end (call $end_from (i64.add (call $alloc (i64.const 100000)) (i64.const 100000))))
    (call $put (i64.rem_u (local.get $end) (i64.const 65536)))
    (call $store_u64 (i64.sub (local.get $end) (i64.const 8)) (i64.const 0x0102030405060708))
    (call $put (call $load_u64 (i64.sub (local.get $end) (i64.const 8))))
    (call $store_u64 (i64.sub (local.get $end) (i64.const 7)) (i64.const -1))
    (call $put (call $load_u64 (i64.sub (local.get $end) (i64.const 7))))
    (call $put (i64.extend_i32_u (call $load_u8 (i64.sub (local.get $end) (i64.const 1)))))
    (call $put (i64.extend_i32_u (call $load_u8 (local.get $end))))
    (drop (call $alloc (i64.const 200000)))
    (local.set $grown (call $end_from (local.get $end)))
    (call $put (i64.rem_u (i64.sub (local.get $grown) (local.get $end)) (i64.const 65536)))
    (call $put (i64.extend_i32_u (i64.gt_u (local.get $grown) (local.get $end))))
    (call $store_u64 (i64.sub (local.get $end) (i64.const 7)) (i64.const -1))
    (call $put (call $load_u64 (i64.sub (local.get $end) (i64.const 7))))
    (call $finish))
)"#;

/// The values a `CALL_SITES` export wrote, or a panic with the outcome if it did not return 0.
fn collected(outcome: &Outcome) -> Vec<u64> {
    let Outcome::Returned {
        rc: 0,
        output: Some(bytes),
    } = outcome
    else {
        panic!("unexpected outcome: {outcome:?}");
    };
    bytes
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

backend_test! {
    /// Inlined accessors keep the function's parameters and locals, work with their results dropped and in
    /// unreachable code, and see the kernel memory's size as it grows: the same results as the kernel's, and the
    /// expected ones.
    fn call_sites_with_locals_dropped_results_and_growth(backend) {
        let (on, off) = both(PluginBuilder::new(CALL_SITES).with_backend(backend), 1);
        let calls: &[(&str, &[u8])] = &[("locals", b"ABCDEFGHIJ"), ("grow", b""), ("locals", b"xy")];
        let with = run(&on, calls);
        assert_same_outcomes("call sites", &with, &run(&off, calls));
        // 0x1ab + 100 + 11 + 7 + 3 + 2.
        let sum = 0x1ab + 100 + 11 + 7 + 3 + 2;
        let ab = u64::from_le_bytes(*b"BCDEFGHI");
        assert_eq!(collected(&with[0].1), [0xab11_2233_4455_6677, ab, u64::from(b'C'), 0xab, sum]);
        // The end of memory is a page boundary; the last 8 bytes hold a u64, the 8 from 7 before the end do not
        // (nothing written, 0 read), nor does the end itself; after growing, the same 8 bytes do.
        assert_eq!(collected(&with[1].1), [0, 0x0102_0304_0506_0708, 0, 1, 0, 0, 1, u64::MAX]);
        // Input too short for 8 bytes, and no byte at 2.
        assert_eq!(collected(&with[2].1), [0xab11_2233_4455_6677, 0, 0, 0xab, sum]);
    }
}

/// A guest that reads its input, then replaces it (`input_set`, called directly and through a table) and reads
/// again in the same function: the inlined `input_load_*` must see each new input, not the one it read first.
const INPUT_CHANGES: &str = r#"(module
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/env" "input_set" (func $input_set (param i64 i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (type $set (func (param i64 i64)))
  (table 1 funcref)
  (elem (i32.const 0) $input_set)
  (memory 1)
  (func (export "swap") (result i32)
    (local $out i64) (local $new i64)
    (local.set $out (call $alloc (i64.const 48)))
    (call $store_u64 (local.get $out) (call $input_load_u64 (i64.const 0)))
    ;; A new input of 9 bytes, "ABCDEFGHI".
    (local.set $new (call $alloc (i64.const 9)))
    (call $store_u64 (local.get $new) (i64.const 0x4847464544434241))
    (call $store_u8 (i64.add (local.get $new) (i64.const 8)) (i32.const 0x49))
    (call $input_set (local.get $new) (i64.const 9))
    (call $store_u64 (i64.add (local.get $out) (i64.const 8)) (call $input_load_u64 (i64.const 1)))
    ;; Through the table: its first 3 bytes only.
    (call_indirect (type $set) (local.get $new) (i64.const 3) (i32.const 0))
    (call $store_u64 (i64.add (local.get $out) (i64.const 16)) (call $input_load_u64 (i64.const 0)))
    (call $store_u64 (i64.add (local.get $out) (i64.const 24)) (i64.extend_i32_u (call $input_load_u8 (i64.const 2))))
    (call $store_u64 (i64.add (local.get $out) (i64.const 32)) (i64.extend_i32_u (call $input_load_u8 (i64.const 3))))
    ;; No input at all.
    (call $input_set (i64.const 0) (i64.const 0))
    (call $store_u64 (i64.add (local.get $out) (i64.const 40)) (i64.extend_i32_u (call $input_load_u8 (i64.const 0))))
    (call $output_set (local.get $out) (i64.const 48))
    (i32.const 0)))"#;

backend_test! {
    /// Inputs replaced in the middle of a function are read as they are at each call, with the rewrite as without.
    fn input_replaced_between_reads(backend) {
        let (on, off) = both(PluginBuilder::new(INPUT_CHANGES).with_backend(backend), 1);
        let calls: &[(&str, &[u8])] = &[("swap", b"0123456789"), ("swap", b"")];
        let with = run(&on, calls);
        assert_same_outcomes("input replaced", &with, &run(&off, calls));
        let expected = |first: u64| vec![first, u64::from_le_bytes(*b"BCDEFGHI"), 0, u64::from(b'C'), 0, 0];
        assert_eq!(collected(&with[0].1), expected(u64::from_le_bytes(*b"01234567")));
        assert_eq!(collected(&with[1].1), expected(0));
    }
}

/// A guest with the Rust PDK's three copy loops, instruction for instruction (which the rewrite may do in one
/// `memory.copy`: see `extism-core/src/rewrite/copy_loop.rs`), driven by its input so that the tests can put them
/// at every edge.
///
/// - `copy_in`: input `p`, `o`, `l` (little-endian u64s), then data; copies input bytes `[o, l)` to guest memory at
///   `p + 16` with the PDK's input loop (`input_load_u64` and `i64.store offset=16`, `o += 8` until `o == l`).
/// - `dump`: input `p`, `n`, `shift`; allocates a block of `8 n + 8` bytes and copies `n` u64s from guest memory
///   at `p + 8` to kernel memory at `block + shift` (at `shift - 2^62` for a shift in `[2^62, 2^63)`) with the
///   PDK's store loop (`i64.load offset=8` and `store_u64`, `n -= 1` until 0); outputs the block's first `8 n`
///   bytes.
/// - `read`: input `p`, `n`, `shift`, then `8 n` bytes of data; puts the data in a block of `8 n + 8` bytes of
///   kernel memory (a byte at a time), then copies `n` u64s from kernel memory at `block + shift` (as for `dump`) to
///   guest memory at `p + 16` with the PDK's load loop (`load_u64` and `i64.store offset=16`, `n -= 1` until 0).
const COPY_LOOPS: &str = r#"(module
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "load_u64" (func $load_u64 (param i64) (result i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 1)
  ;; `block + shift`, or `shift - 2^62` for a shift in [2^62, 2^63) (an absolute address).
  (func $address (param $block i64) (param $shift i64) (result i64)
    (select
      (i64.sub (local.get $shift) (i64.const 0x4000000000000000))
      (i64.add (local.get $block) (local.get $shift))
      (i64.eq (i64.shr_u (local.get $shift) (i64.const 62)) (i64.const 1))))
  (func (export "read") (result i32)
    (local $a i64) (local $p i32) (local $n i64) (local $block i64) (local $i i64)
    (local.set $p (i32.wrap_i64 (call $input_load_u64 (i64.const 0))))
    (local.set $n (call $input_load_u64 (i64.const 8)))
    (local.set $block (call $alloc (i64.add (i64.shl (local.get $n) (i64.const 3)) (i64.const 8))))
    (block $filled (loop $fill
      (br_if $filled (i64.ge_u (local.get $i) (i64.shl (local.get $n) (i64.const 3))))
      (call $store_u8 (i64.add (local.get $block) (local.get $i))
        (call $input_load_u8 (i64.add (local.get $i) (i64.const 24))))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $fill)))
    (local.set $a (call $address (local.get $block) (call $input_load_u64 (i64.const 16))))
    loop
      local.get $p
      local.get $a
      call $load_u64
      i64.store offset=16
      local.get $a
      i64.const 8
      i64.add
      local.set $a
      local.get $p
      i32.const 8
      i32.add
      local.set $p
      local.get $n
      i64.const -1
      i64.add
      local.tee $n
      i64.const 0
      i64.ne
      br_if 0
    end
    i32.const 0)
  (func (export "copy_in") (result i32)
    (local $p i32) (local $o i64) (local $l i64)
    (local.set $p (i32.wrap_i64 (call $input_load_u64 (i64.const 0))))
    (local.set $o (call $input_load_u64 (i64.const 8)))
    (local.set $l (call $input_load_u64 (i64.const 16)))
    loop
      local.get $p
      local.get $o
      call $input_load_u64
      i64.store offset=16
      local.get $p
      i32.const 8
      i32.add
      local.set $p
      local.get $l
      local.get $o
      i64.const 8
      i64.add
      local.tee $o
      i64.ne
      br_if 0
    end
    i32.const 0)
  (func (export "dump") (result i32)
    (local $a i64) (local $p i32) (local $n i64) (local $block i64) (local $len i64)
    (local.set $p (i32.wrap_i64 (call $input_load_u64 (i64.const 0))))
    (local.set $n (call $input_load_u64 (i64.const 8)))
    (local.set $len (i64.shl (local.get $n) (i64.const 3)))
    (local.set $block (call $alloc (i64.add (local.get $len) (i64.const 8))))
    (local.set $a (call $address (local.get $block) (call $input_load_u64 (i64.const 16))))
    loop
      local.get $a
      local.get $p
      i64.load offset=8
      call $store_u64
      local.get $a
      i64.const 8
      i64.add
      local.set $a
      local.get $p
      i32.const 8
      i32.add
      local.set $p
      local.get $n
      i64.const -1
      i64.add
      local.tee $n
      i64.const 0
      i64.ne
      br_if 0
    end
    (call $output_set (local.get $block) (local.get $len))
    i32.const 0))"#;

/// Three little-endian u64s, then `data`.
fn header(a: u64, b: u64, c: u64, data: &[u8]) -> Vec<u8> {
    [a.to_le_bytes(), b.to_le_bytes(), c.to_le_bytes()]
        .concat()
        .into_iter()
        .chain(data.iter().copied())
        .collect()
}

backend_test! {
    /// The copy loops do what they did one u64 at a time, with the rewrite as without, at every edge: the whole
    /// range in bounds (one copy), reads past the input (zeros), a step that never meets the end or a count of 0
    /// (the loop runs on until a guest access traps), a guest range running off the end of memory (the stores
    /// before the trap are made), kernel addresses outside the heap (the stores are dropped).
    fn copy_loops_do_what_the_loops_do(backend) {
        let (on, off) = both(PluginBuilder::new(COPY_LOOPS).with_backend(backend), 1);
        let data: Vec<u8> = (0..64u8).map(|b| b.wrapping_mul(37).wrapping_add(1)).collect();
        let page = 65536u64;
        let calls: Vec<(&str, Vec<u8>)> = vec![
            // In bounds: 64 bytes to 80..144, read back.
            ("copy_in", header(64, 24, 24 + 64, &data)),
            ("dump", header(72, 8, 0, b"")),
            // 16 bytes past the input's end read as zeros.
            ("copy_in", header(1000, 24, 24 + 80, &data)),
            ("dump", header(1008, 10, 0, b"")),
            // From an offset past the input: zeros.
            ("copy_in", header(2000, 1 << 63, (1 << 63) + 64, &data)),
            ("dump", header(2008, 8, 0, b"")),
            // A length that is not a multiple of 8, and an empty range: the loop runs on until a store traps.
            ("copy_in", header(3000, 24, 24 + 60, &data)),
            ("copy_in", header(4000, 24, 24, &data)),
            // The last 16 bytes of memory, then a trap: the first two u64s are stored.
            ("copy_in", header(page - 32, 24, 24 + 64, &data)),
            ("dump", header(page - 24, 2, 0, b"")),
            // Stores that wrap the 32-bit address.
            ("copy_in", header(u64::from(u32::MAX) - 7, 24, 24 + 64, &data)),
            // All of guest memory after its first 8 bytes to kernel memory.
            ("dump", header(0, page / 8 - 1, 0, b"")),
            // Loads that run off the end of guest memory, and a count of 0 (the loop runs until they do).
            ("dump", header(page - 40, 8, 0, b"")),
            ("dump", header(0, 0, 0, b"")),
            // Kernel addresses below the heap and past the kernel memory's end: stores dropped. From 8 bytes
            // before the block (a wrapping add): stored.
            ("dump", header(72, 8, (-(1i64 << 40)) as u64, b"")),
            ("dump", header(72, 8, 1 << 32, b"")),
            ("dump", header(72, 8, u64::MAX - 7, b"")),
            // Straddling the block's end by 8 bytes (still in the heap): stored.
            ("dump", header(72, 8, 8, b"")),
            // Kernel memory to guest memory at 5016..5080, read back.
            ("read", header(5000, 8, 0, &data)),
            ("dump", header(5008, 8, 0, b"")),
            // From below the heap and past the kernel memory's end: zeros. From 8 bytes before the block: those 8
            // bytes, then the data.
            ("read", header(6000, 8, (-(1i64 << 40)) as u64, &data)),
            ("dump", header(6008, 8, 0, b"")),
            ("read", header(7000, 8, 1 << 32, &data)),
            ("dump", header(7008, 8, 0, b"")),
            ("read", header(8000, 8, u64::MAX - 7, &data)),
            ("dump", header(8008, 8, 0, b"")),
            // Guest stores running off the end of memory (two made), and a count of 0 (until a store traps).
            ("read", header(page - 32, 8, 0, &data)),
            ("dump", header(page - 24, 2, 0, b"")),
            ("read", header(9000, 0, 0, &data)),
            // Below the heap start, the kernel's static data, its root among it (`[1024, 2152)` in
            // `kernel/extism-kernel.wasm`, whose heap starts at 2160): zeros read, nothing stored (the next calls
            // work).
            ("read", header(10000, 141, (1 << 62) + 1024, &data)),
            ("dump", header(10008, 141, 0, b"")),
            ("dump", header(0, 141, (1 << 62) + 1024, b"")),
            ("read", header(11000, 8, 0, &data)),
            ("dump", header(11008, 8, 0, b"")),
        ];
        let calls: Vec<(&str, &[u8])> = calls.iter().map(|(e, i)| (*e, i.as_slice())).collect();
        let with = run(&on, &calls);
        let without = run(&off, &calls);
        assert_same_outcomes("copy loops", &with, &without);
        let output = |i: usize| match &with[i].1 {
            Outcome::Returned { rc: 0, output: Some(bytes) } => bytes.clone(),
            other => panic!("call {i} ({}): {other:?}", with[i].0),
        };
        assert_eq!(output(1), data);
        assert_eq!(output(3), [&data[..], &[0; 16]].concat());
        assert_eq!(output(5), [0; 64]);
        assert!(matches!(with[6].1, Outcome::Failed { .. }), "{:?}", with[6]);
        assert!(matches!(with[7].1, Outcome::Failed { .. }), "{:?}", with[7]);
        assert!(matches!(with[8].1, Outcome::Failed { .. }), "{:?}", with[8]);
        assert_eq!(output(9), data[..16]);
        assert!(matches!(with[10].1, Outcome::Failed { .. }), "{:?}", with[10]);
        assert_eq!(output(11).len(), page as usize - 8);
        assert_eq!(output(11)[72..136], data);
        assert!(matches!(with[12].1, Outcome::Failed { .. }), "{:?}", with[12]);
        assert!(matches!(with[13].1, Outcome::Failed { .. }), "{:?}", with[13]);
        assert_eq!(output(19), data);
        assert_eq!(output(21), [0; 64]);
        assert_eq!(output(23), [0; 64]);
        assert_eq!(output(25)[8..], data[..56]);
        assert!(matches!(with[26].1, Outcome::Failed { .. }), "{:?}", with[26]);
        assert_eq!(output(27), data[..16]);
        assert!(matches!(with[28].1, Outcome::Failed { .. }), "{:?}", with[28]);
        assert_eq!(output(30), [0; 141 * 8]);
        assert_eq!(output(33), data);
    }
}
