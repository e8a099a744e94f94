//! Differential execution: the same plug-ins, inputs and settings on every compiled engine must give the same
//! outcomes — return codes, outputs and error kinds.
//!
//! Each test here runs all engines at once (comparing them is the point), so it is a plain `#[test]`, not a
//! `backend_test!`; with fewer than two engines compiled in there is nothing to compare, and the tests show as
//! ignored (`differential_test!`).
//!
//! Two sources of plug-ins: every committed test plug-in (`tests/wasm/*.wasm`, built with the official Rust PDK),
//! each export called with a set of inputs under config, vars, host functions, WASI preopens and limits; and
//! `wasm-smith` modules from fixed seeds that import the Extism host functions and export callable functions.
//!
//! Error messages are compared as kinds: the runtime's own errors ("timeout", "oom", "plugin ran out of fuel", exit
//! statuses) and guest or host-function messages verbatim, traps by their WebAssembly trap class (each engine words
//! them its own way).

use std::collections::BTreeMap;
use std::path::Path;

use arbitrary::Unstructured;

use crate::common::TempDir;
use extism::{Backend, CurrentPlugin, Error, Function, Manifest, PTR, PluginBuilder, UserData, Val, Wasm};

/// Every engine compiled into this build.
const ENGINES: &[Backend] = Backend::ALL;

/// A differential test: ignored, with the reason, unless at least two engines are compiled in (`$needs` widens
/// that to builds where the test checks something else worth running, by `cfg` predicate).
macro_rules! differential_test {
    ($(#[$meta:meta])* $(needs($needs:meta))? fn $name:ident() $body:block) => {
        extism::compiled_engines! { differential_test { $(#[$meta])* [$($needs)?] fn $name() $body } }
    };
    ({ $(#[$meta:meta])* [$($needs:meta)?] fn $name:ident() $body:block } [$first:tt $second:tt $($more:tt)*] [$($missing:tt)*]) => {
        $(#[$meta])*
        #[test]
        fn $name() $body
    };
    ({ $(#[$meta:meta])* [$($needs:meta)?] fn $name:ident() $body:block } [$($compiled:tt)*] [$($missing:tt)*]) => {
        $(#[$meta])*
        #[test]
        #[cfg_attr(not(any($($needs)?)), ignore = "fewer than two engines are compiled in: nothing to compare")]
        fn $name() $body
    };
}

/// What one call gave, in engine-neutral terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The call ran: its return code and output (`None` where the output is not deterministic).
    Returned { rc: i32, output: Option<Vec<u8>> },
    /// The call failed: the code upstream gives for the error and its kind.
    Failed { rc: i32, kind: String },
}

/// A WebAssembly trap message as its trap class, if it is one.
fn trap_class(message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    let traps: &[(&[&str], &str)] = &[
        (&["unreachable"], "unreachable"),
        (&["divide by zero", "division by zero"], "integer divide by zero"),
        (&["integer overflow"], "integer overflow"),
        (
            &["invalid conversion", "bad conversion", "badconversiontoint"],
            "invalid conversion to integer",
        ),
        (
            &[
                "stack overflow",
                "call stack exhausted",
                "stack exhausted",
                "recursion limit",
            ],
            "stack exhausted",
        ),
        (
            &[
                "indirect call type mismatch",
                "signature mismatch",
                "bad signature",
                "badsignature",
            ],
            "indirect call type mismatch",
        ),
        (
            &["uninitialized element", "indirect call to null", "null function"],
            "uninitialized element",
        ),
        (
            &[
                "out of bounds table",
                "table out of bounds",
                "undefined element",
                "table access",
            ],
            "table out of bounds",
        ),
        (
            &[
                "out of bounds memory",
                "memory out of bounds",
                "heap_get_oob",
                "memory access",
            ],
            "memory out of bounds",
        ),
        (&["null reference", "null i31", "null structure"], "null reference"),
    ];
    traps
        .iter()
        .find(|(needles, _)| needles.iter().any(|n| lower.contains(n)))
        .map(|(_, class)| format!("trap: {class}"))
}

/// An error as its kind: its whole chain of causes (the runtime's context, such as "failed to initialize", and the
/// cause under it), up to and including the first that is a trap, which is replaced by its trap class (what follows
/// a trap is the engine's own detail).
fn error_kind(error: &Error) -> String {
    let mut kind = Vec::new();
    for cause in error.chain() {
        match trap_class(&cause.to_string()) {
            Some(class) => {
                kind.push(class);
                break;
            }
            None => kind.push(cause.to_string()),
        }
    }
    kind.join(": ")
}

/// The outcomes of a plug-in that could not be created: that failure, and nothing else.
fn creation_failed(error: &Error) -> Vec<(String, Outcome)> {
    vec![(
        CREATE.into(),
        Outcome::Failed {
            rc: -1,
            kind: error_kind(error),
        },
    )]
}

/// The row of an outcome list that stands for creating the plug-in.
const CREATE: &str = "<create>";

pub(crate) fn outcome(result: Result<i32, (Error, i32)>, output: &[u8], deterministic: bool) -> Outcome {
    match result {
        Ok(rc) => Outcome::Returned {
            rc,
            output: deterministic.then(|| output.to_vec()),
        },
        Err((error, rc)) => Outcome::Failed {
            rc,
            kind: error_kind(&error),
        },
    }
}

/// True for outcomes that depend on how an engine meters or stacks, not on what the module computes: after one,
/// engines may legitimately be in different states.
fn engine_dependent(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Failed { kind, .. }
        if kind.contains("plugin ran out of fuel") || kind == "trap: stack exhausted" || kind.contains("timeout"))
}

/// The exported function names of a binary module, in order.
fn exported_functions(wasm: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::ExportSection(reader) = payload.expect("the module parses") {
            for export in reader {
                let export = export.expect("the export parses");
                if export.kind == wasmparser::ExternalKind::Func {
                    names.push(export.name.to_string());
                }
            }
        }
    }
    names
}

/// `greet` for the host-functions plug-in: a deterministic host function in both namespaces it imports.
fn greet(
    plugin: &mut CurrentPlugin,
    inputs: &[Val],
    outputs: &mut [Val],
    prefix: UserData<String>,
) -> Result<(), Error> {
    let name: String = plugin.memory_get_val(&inputs[0])?;
    let prefix = prefix.get()?.lock().unwrap().clone();
    plugin.memory_set_val(&mut outputs[0], format!("{prefix}{name}"))
}

/// `reflect` for the reflect plug-in: its input back, copied through the host.
fn reflect(plugin: &mut CurrentPlugin, inputs: &[Val], outputs: &mut [Val], _: UserData<()>) -> Result<(), Error> {
    let bytes: Vec<u8> = plugin.memory_get_val(&inputs[0])?;
    plugin.memory_set_val(&mut outputs[0], bytes)
}

/// A directory to preopen as `/data`, fresh for each engine so that writes on one do not show on another.
fn data_dir(plugin: &str, backend: Backend) -> TempDir {
    let dir = TempDir::new(&format!("differential-{plugin}-{backend}"));
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello from the host\n").unwrap();
    dir
}

/// Inputs every export of every committed plug-in is called with, in this order (state such as vars carries over).
const INPUTS: &[&[u8]] = &[
    b"",
    b"Hello, world!",
    b"vowels",
    b"counter=7",
    b"/data/hello.txt",
    b"/data/new.txt=fresh",
    b"/data/hello.txt=more",
    b"/data",
    b"/data/new.txt=/data/sub/moved.txt",
    b"3",
    br#"{"url":"http://127.0.0.1:9/blocked","method":"GET"}"#,
    b"\xff\xfe\x00not utf-8",
];

/// Exports whose output is not a function of their input (the clock, random bytes): only their outcome kind is
/// compared.
const NONDETERMINISTIC: &[&str] = &["clock_now", "random_bytes"];

/// All outcomes of one committed plug-in on one engine: creation, then each export with each input.
fn run_committed(name: &str, wasm: &[u8], backend: Backend) -> Vec<(String, Outcome)> {
    run_committed_with(name, wasm, backend, None)
}

/// [`run_committed`] with the kernel memory accessor rewrite on or off (`Some(memory_rewrite)`: then without the
/// fuel limit, which turns the rewrite off), or as [`run_committed`] (`None`: with the fuel limit).
pub(crate) fn run_committed_with(
    name: &str,
    wasm: &[u8],
    backend: Backend,
    memory_rewrite: Option<bool>,
) -> Vec<(String, Outcome)> {
    let data = data_dir(name, backend);
    // Runs without a fuel limit (the rewrite comparisons) stop `loop_forever`-style exports by timeout, once per input
    // and twice per engine: a shorter one keeps them from dominating the suite's time.
    let timeout_secs = if memory_rewrite.is_some() { 5 } else { 30 };
    let manifest = Manifest::new([Wasm::data(wasm.to_vec())])
        .with_config_key("vowels", "aeiouy")
        .with_config_key("greeting", "hi")
        .with_allowed_path(data.path().display().to_string(), "/data")
        .with_memory_max(256)
        .with_timeout(std::time::Duration::from_secs(timeout_secs))
        .disallow_all_hosts();
    let functions = [
        Function::new("greet", [PTR], [PTR], UserData::new("Hello, ".to_string()), greet),
        Function::new("greet", [PTR], [PTR], UserData::new("Hi, ".to_string()), greet).with_namespace("my:ns"),
        Function::new("reflect", [PTR], [PTR], UserData::new(()), reflect),
    ];
    let mut builder = PluginBuilder::new(manifest)
        .with_backend(backend)
        .with_wasi(true)
        .with_functions(functions);
    builder = match memory_rewrite {
        Some(rewrite) => builder.with_memory_rewrite(rewrite),
        None => builder.with_fuel_limit(5_000_000),
    };
    let built = builder.build();
    let mut plugin = match built {
        Ok(plugin) => plugin,
        Err(e) => return creation_failed(&e),
    };
    let mut outcomes = Vec::new();
    for export in exported_functions(wasm) {
        let deterministic = !NONDETERMINISTIC.contains(&export.as_str());
        for input in INPUTS {
            let result = plugin.raw_call(&export, input, None);
            let outcome = outcome(result, plugin.last_output(), deterministic);
            outcomes.push((format!("{export}({})", String::from_utf8_lossy(input)), outcome));
        }
    }
    outcomes
}

/// The committed test plug-ins (`tests/wasm/*.wasm`), by name.
pub(crate) fn committed_plugins() -> BTreeMap<String, Vec<u8>> {
    wasm_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wasm"))
}

/// The `.wasm` files in `dir`, by name.
fn wasm_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "wasm"))
        .map(|path| {
            (
                path.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect()
}

/// The environment variable naming a directory of plug-ins built with other PDKs (Go, Haskell, JS, C…), run by the
/// `other_pdk_*` tests. None is committed here (we ship only plug-ins built from this repository's sources), so
/// those tests are ignored by default; run them with
/// `EXTISM_PDK_MODULES=<dir> cargo test --release --all-features --test conformance other_pdk -- --ignored`
/// (e.g. `<dir>` = the `wasm/` directory of a checkout of extism/go-sdk, whose test plug-ins come from several PDKs).
/// In release: in a debug build, Go's runtime start-up on Pulley takes longer than the 5 s timeout of these runs.
pub(crate) const PDK_MODULES_ENV: &str = "EXTISM_PDK_MODULES";

/// The plug-ins in [`PDK_MODULES_ENV`]'s directory, by name; the test fails if it is unset or holds none (an
/// ignored test run on purpose must not pass on nothing).
pub(crate) fn other_pdk_plugins() -> BTreeMap<String, Vec<u8>> {
    let dir = std::env::var_os(PDK_MODULES_ENV)
        .unwrap_or_else(|| panic!("{PDK_MODULES_ENV} must name a directory of plug-in .wasm files"));
    let plugins = wasm_files(Path::new(&dir));
    assert!(!plugins.is_empty(), "no .wasm file in {}", Path::new(&dir).display());
    plugins
}

/// Assert that every engine gave `reference`'s outcomes, listing every difference.
fn assert_same(what: &str, runs: &[(Backend, Vec<(String, Outcome)>)]) {
    let (first, reference) = &runs[0];
    let mut differences = Vec::new();
    for (backend, outcomes) in &runs[1..] {
        if outcomes.len() != reference.len() {
            differences.push(format!(
                "{backend}: {} outcomes (first {:?}), {first}: {} (first {:?})",
                outcomes.len(),
                outcomes.first(),
                reference.len(),
                reference.first()
            ));
        }
        for ((call, a), (_, b)) in reference.iter().zip(outcomes) {
            if a != b {
                differences.push(format!("{call}: {first} gave {a:?}, {backend} gave {b:?}"));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{what} differs between engines:\n{}",
        differences.join("\n")
    );
}

differential_test! {
    fn committed_plugins_agree_on_every_engine() {
        let plugins = committed_plugins();
        assert!(
            plugins.len() >= 7,
            "the committed plug-ins are missing: {:?}",
            plugins.keys()
        );
        for (name, wasm) in &plugins {
            let runs: Vec<_> = ENGINES.iter().map(|&b| (b, run_committed(name, wasm, b))).collect();
            // Every committed plug-in loads on every engine, and most calls succeed: a plug-in that failed everywhere
            // would "agree" without testing anything.
            let (_, outcomes) = &runs[0];
            assert!(
                outcomes
                    .iter()
                    .any(|(_, o)| matches!(o, Outcome::Returned { rc: 0, .. })),
                "{name}: no call succeeded: {outcomes:?}"
            );
            assert_same(name, &runs);
        }
    }
}

differential_test! {
    #[ignore = "needs EXTISM_PDK_MODULES=<a directory of plug-ins built with other PDKs>"]
    /// [`committed_plugins_agree_on_every_engine`] for plug-ins built with other PDKs (see [`PDK_MODULES_ENV`]).
    fn other_pdk_plugins_agree_on_every_engine() {
        for (name, wasm) in &other_pdk_plugins() {
            // Without a fuel limit: engines count fuel in their own units, and these plug-ins (Go's runtime start-up)
            // need more than the committed ones' limit on some engines.
            let runs: Vec<_> = ENGINES
                .iter()
                .map(|&b| (b, run_committed_with(name, wasm, b, Some(true))))
                // An engine that refuses the plug-in for a capability it documents lacking (wasmer's singlepass
                // compiler and SIMD, which GHC's output uses) is left out of the comparison, and says so.
                .filter(|(b, outcomes)| match &outcomes[..] {
                    [(call, Outcome::Failed { kind, .. })] if call == CREATE && kind.contains("does not support") => {
                        eprintln!("{name}: {b} left out: {kind}");
                        false
                    }
                    _ => true,
                })
                .collect();
            assert_same(name, &runs);
        }
    }
}

/// The Extism host functions generated modules may import.
const EXTISM_IMPORTS: &str = r#"(module
  (import "extism:host/env" "alloc" (func (param i64) (result i64)))
  (import "extism:host/env" "free" (func (param i64)))
  (import "extism:host/env" "length" (func (param i64) (result i64)))
  (import "extism:host/env" "load_u8" (func (param i64) (result i32)))
  (import "extism:host/env" "load_u64" (func (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func (param i64 i32)))
  (import "extism:host/env" "store_u64" (func (param i64 i64)))
  (import "extism:host/env" "input_length" (func (result i64)))
  (import "extism:host/env" "input_load_u8" (func (param i64) (result i32)))
  (import "extism:host/env" "input_load_u64" (func (param i64) (result i64)))
  (import "extism:host/env" "output_set" (func (param i64 i64)))
  (import "extism:host/env" "error_set" (func (param i64)))
  (import "extism:host/env" "config_get" (func (param i64) (result i64)))
  (import "extism:host/env" "var_get" (func (param i64) (result i64)))
  (import "extism:host/env" "var_set" (func (param i64 i64)))
  (import "extism:host/env" "log_info" (func (param i64)))
)"#;

/// The exports every generated module has: two callable functions and `_initialize` (run at creation).
const SMITH_EXPORTS: &str = r#"(module
  (func (export "run") (result i32) unreachable)
  (func (export "go") unreachable)
  (func (export "_initialize") unreachable)
  (func (export "takes_args") (param i32) (result i64) unreachable)
)"#;

/// A wasm-smith module from `seed`: deterministic, with the proposals every engine has unless `simd`/`tail_calls`.
fn smith_module(seed: u64, simd: bool, tail_calls: bool) -> Vec<u8> {
    let config = wasm_smith::Config {
        available_imports: Some(wat::parse_str(EXTISM_IMPORTS).unwrap()),
        exports: Some(wat::parse_str(SMITH_EXPORTS).unwrap()),
        max_imports: 8,
        max_funcs: 6,
        max_instructions: 150,
        max_memories: 1,
        max_memory32_bytes: 16 * 65536,
        memory_max_size_required: true,
        max_tables: 2,
        max_table_elements: 1_000,
        table_max_size_required: true,
        // Float results compare bit for bit: NaN payloads are the one thing engines may choose.
        canonicalize_nans: true,
        compact_imports_enabled: false,
        memory64_enabled: false,
        threads_enabled: false,
        exceptions_enabled: false,
        gc_enabled: false,
        wide_arithmetic_enabled: false,
        relaxed_simd_enabled: false,
        simd_enabled: simd,
        tail_call_enabled: tail_calls,
        ..wasm_smith::Config::default()
    };
    let mut rng = fastrand::Rng::with_seed(seed);
    let bytes: Vec<u8> = (0..8192).map(|_| rng.u8(..)).collect();
    let module = wasm_smith::Module::new(config, &mut Unstructured::new(&bytes)).expect("wasm-smith makes a module");
    module.to_bytes()
}

/// Outcomes of a generated module on one engine: creation, then each export with each input, stopping after the
/// first engine-dependent outcome (see [`engine_dependent`]).
fn run_smith(wasm: &[u8], backend: Backend) -> Vec<(String, Outcome)> {
    let manifest = Manifest::new([Wasm::data(wasm.to_vec())])
        .with_config_key("k", "v")
        .with_timeout(std::time::Duration::from_secs(20))
        .disallow_all_hosts();
    let built = PluginBuilder::new(manifest)
        .with_backend(backend)
        .with_fuel_limit(200_000)
        .build();
    let mut plugin = match built {
        Ok(plugin) => plugin,
        Err(e) => return creation_failed(&e),
    };
    let mut outcomes = vec![(CREATE.to_string(), Outcome::Returned { rc: 0, output: None })];
    for export in ["run", "go", "takes_args", "run"] {
        for input in [&b""[..], b"k", b"\x01\x02\x03\x04\x05\x06\x07\x08\x09"] {
            let result = plugin.raw_call(export, input, None);
            let outcome = outcome(result, plugin.last_output(), true);
            let stop = engine_dependent(&outcome);
            outcomes.push((format!("{export}({input:?})"), outcome));
            if stop {
                return outcomes;
            }
        }
    }
    outcomes
}

/// The outcomes all engines reached before any engine-dependent one (fuel or stack running out, which happens at
/// a different point on each engine; after it, the engines' states are no longer comparable).
fn comparable_prefix(runs: &[(Backend, Vec<(String, Outcome)>)]) -> Vec<(Backend, Vec<(String, Outcome)>)> {
    let cut = |o: &[(String, Outcome)]| o.iter().position(|(_, x)| engine_dependent(x)).unwrap_or(o.len());
    let shortest = runs.iter().map(|(_, o)| cut(o)).min().unwrap_or(0);
    runs.iter().map(|(b, o)| (*b, o[..shortest].to_vec())).collect()
}

/// Generated modules compared; a bounded number, so that the test stays quick in debug builds.
const SMITH_SEEDS: u64 = 30;

differential_test! {
    fn generated_modules_agree_on_every_engine() {
        let mut compared = 0;
        for seed in 0..SMITH_SEEDS {
            let wasm = smith_module(seed, false, false);
            let runs: Vec<_> = ENGINES.iter().map(|&b| (b, run_smith(&wasm, b))).collect();
            let comparable = comparable_prefix(&runs);
            compared += comparable[0].1.iter().filter(|(call, _)| call != CREATE).count();
            assert!(
                !matches!(runs[0].1[0].1, Outcome::Failed { .. }),
                "seed {seed}: a valid module without SIMD or tail calls must load on {}: {:?}",
                runs[0].0,
                runs[0].1[0]
            );
            assert_same(&format!("wasm-smith seed {seed}"), &comparable);
        }
        // Most calls are compared, not cut short by fuel: the comparison has something to compare.
        assert!(
            compared > SMITH_SEEDS as usize * 3,
            "only {compared} calls were compared"
        );
    }
}

differential_test! {
    /// Proposals an engine legitimately lacks: a module that needs one fails to load there with an error naming it, and
    /// runs the same on the engines that have it. With wasmer alone it still checks wasmer's error.
    needs(feature = "wasmer")
    fn proposals_an_engine_lacks_are_named() {
        for (proposal, simd, tail_calls, features) in [
            (
                "SIMD",
                true,
                false,
                wasmparser::WasmFeatures::SIMD | wasmparser::WasmFeatures::RELAXED_SIMD,
            ),
            ("tail calls", false, true, wasmparser::WasmFeatures::TAIL_CALL),
        ] {
            let mut needing = 0;
            for seed in 0..SMITH_SEEDS {
                let wasm = smith_module(seed, simd, tail_calls);
                let without = wasmparser::WasmFeatures::default().difference(features);
                if wasmparser::Validator::new_with_features(without)
                    .validate_all(&wasm)
                    .is_ok()
                {
                    continue; // this seed happens not to use the proposal
                }
                needing += 1;
                let mut runs = Vec::new();
                for &backend in ENGINES {
                    let outcomes = run_smith(&wasm, backend);
                    if Some(backend) == lacking(proposal) {
                        let (_, created) = &outcomes[0];
                        let Outcome::Failed { kind, .. } = created else {
                            panic!("seed {seed} needs {proposal}, yet it loaded on {backend}");
                        };
                        assert!(
                            kind.contains(proposal),
                            "seed {seed} on {backend}: the error names {proposal}: {kind}"
                        );
                    } else {
                        runs.push((backend, outcomes));
                    }
                }
                if runs.len() > 1 {
                    assert_same(&format!("{proposal} seed {seed}"), &comparable_prefix(&runs));
                }
            }
            assert!(
                needing > 0,
                "no generated module needed {proposal}: the check checked nothing"
            );
        }
    }
}

/// The engine that cannot run modules needing `proposal`, or none.
fn lacking(proposal: &str) -> Option<Backend> {
    let _ = proposal;
    #[cfg(feature = "wasmer")]
    return Some(Backend::Wasmer);
    #[cfg(not(feature = "wasmer"))]
    None
}
