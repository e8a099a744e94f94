//! Differential runs: one generated module on an engine with the kernel memory accessor rewrite off and on, and on a
//! reference engine, must give the same answers.
//!
//! Wasm is deterministic once the host is (NaNs canonicalised, no clock, no randomness, no sleeps, no HTTP host
//! allowed), so any difference between two runs of the same module is a bug in an engine adapter, in the kernel
//! glue or in the rewrite. What is compared, export by export, in the order they are called:
//! - across engines: whether the call succeeded, and if so its return code and output (trap messages are each
//!   engine's own words, so only the fact of an error is compared);
//! - on one engine, rewrite off against on: the same, plus the error's root cause (the rewrite must never turn one
//!   error into another, or give a trap the kernel would not give).
//!
//! Two things legitimately depend on the engine and end the comparison at the call where they happen: running out of
//! stack (engines count their stacks differently) and the timeout (a backstop here: loops are bounded by
//! wasm-smith's `ensure_termination` fuel, not by the engine's, because the rewrite never applies to plug-ins with a
//! fuel limit).

use extism::{Backend, Manifest, PluginBuilder, Wasm};

use crate::{MAX_CALLS, MAX_PAGES, TIMEOUT, exported_functions};

/// Fuel of wasm-smith's `ensure_termination`: every function entry and loop iteration spends one, so it bounds both
/// the work and the recursion depth (well under every engine's stack, so that stack exhaustion stays rare).
pub const TERMINATION_FUEL: u32 = 200;

/// The host functions a differential module may import: the kernel's memory accessors (the rewrite's subject) and
/// the deterministic rest of the guest ABI, and WASI functions whose answers do not depend on time or chance.
pub const DETERMINISTIC_IMPORTS: &str = r#"(module
  (import "extism:host/env" "load_u8" (func (param i64) (result i32)))
  (import "extism:host/env" "load_u64" (func (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func (param i64 i32)))
  (import "extism:host/env" "store_u64" (func (param i64 i64)))
  (import "extism:host/env" "input_load_u8" (func (param i64) (result i32)))
  (import "extism:host/env" "input_load_u64" (func (param i64) (result i64)))
  (import "extism:host/env" "alloc" (func (param i64) (result i64)))
  (import "extism:host/env" "free" (func (param i64)))
  (import "extism:host/env" "length" (func (param i64) (result i64)))
  (import "extism:host/env" "input_length" (func (result i64)))
  (import "extism:host/env" "input_offset" (func (result i64)))
  (import "extism:host/env" "output_set" (func (param i64 i64)))
  (import "extism:host/env" "error_set" (func (param i64)))
  (import "extism:host/env" "var_get" (func (param i64) (result i64)))
  (import "extism:host/env" "var_set" (func (param i64 i64)))
  (import "extism:host/env" "http_request" (func (param i64 i64) (result i64)))
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
)"#;

/// The wasm-smith configuration of differential modules: [`crate::smith_config`] without SIMD or tail calls (not
/// every engine has them), importing from [`DETERMINISTIC_IMPORTS`].
pub fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
        available_imports: Some(wat::parse_str(DETERMINISTIC_IMPORTS).expect("the import list is valid WAT")),
        max_imports: 12,
        ..crate::smith_config(false, false)
    }
}

/// What one call gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The call ran to its end: the return code and the output.
    Returned { rc: i32, output: Vec<u8> },
    /// The call failed; the first line of the error's root cause (wasmer adds a backtrace with code offsets, which
    /// the rewrite moves).
    Failed { cause: String },
}

impl Outcome {
    /// The part of an outcome every engine must agree on: trap messages are the engine's own words.
    fn across_engines(&self) -> Option<(i32, &[u8])> {
        match self {
            Outcome::Returned { rc, output } => Some((*rc, output)),
            Outcome::Failed { .. } => None,
        }
    }
}

/// One run of a module: creation, then each export called in turn, up to the first outcome that may legitimately
/// depend on the engine (excluded).
#[derive(Debug)]
pub struct Run {
    /// The engine and whether the rewrite was asked for.
    pub backend: Backend,
    pub rewrite: bool,
    /// `Err(first line of the root cause)` if the plug-in could not be created.
    pub created: Result<(), String>,
    pub calls: Vec<Outcome>,
    /// True if the run stopped early on an engine-dependent outcome (stack exhaustion or the timeout).
    pub cut: bool,
}

/// The first line of `error`'s root cause.
fn first_line(error: &extism::Error) -> String {
    error
        .root_cause()
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// True if an error is one whose occurrence may depend on the engine.
fn engine_dependent(cause: &str) -> bool {
    let cause = cause.to_ascii_lowercase();
    cause.contains("stack") || cause == "timeout"
}

/// Create a plug-in from `wasm` on `backend` (rewrite on or off, no engine fuel) and call its exports with `input`.
pub fn run(backend: Backend, rewrite: bool, wasm: &[u8], exports: &[String], input: &[u8]) -> Run {
    let manifest = Manifest::new([Wasm::data(wasm.to_vec())])
        .with_timeout(TIMEOUT)
        .with_memory_max(MAX_PAGES)
        .disallow_all_hosts();
    let built = PluginBuilder::new(manifest)
        .with_backend(backend)
        .with_wasi(true)
        .with_memory_rewrite(rewrite)
        .build();
    let mut run = Run {
        backend,
        rewrite,
        created: Ok(()),
        calls: Vec::new(),
        cut: false,
    };
    let mut plugin = match built {
        Ok(plugin) => plugin,
        Err(e) => {
            let cause = first_line(&e);
            run.cut = engine_dependent(&cause);
            run.created = Err(cause);
            return run;
        }
    };
    for name in exports.iter().take(MAX_CALLS) {
        let outcome = match plugin.raw_call(name, input, None) {
            Ok(rc) => Outcome::Returned {
                rc,
                output: plugin.last_output().to_vec(),
            },
            Err((e, _)) => Outcome::Failed { cause: first_line(&e) },
        };
        if let Outcome::Failed { cause } = &outcome
            && engine_dependent(cause)
        {
            run.cut = true;
            break;
        }
        run.calls.push(outcome);
        plugin.reset().expect("reset after a call");
    }
    run
}

/// The engine every other is compared with: wasmi when compiled in (it creates plug-ins fastest, so a fuzz input
/// costs little more than the engine under test), else the first compiled.
pub fn reference_engine() -> Backend {
    Backend::ALL
        .iter()
        .copied()
        .find(|b| b.name() == "wasmi")
        .unwrap_or(Backend::ALL[0])
}

/// Run `wasm` on `backend` with the rewrite off and on, and on the [`reference_engine`] with it off, and panic (a
/// finding) on any difference: the rewrite-on run against the rewrite-off run (exactly), the rewrite-off run against
/// the reference (return codes and outputs).
pub fn compare(backend: Backend, wasm: &[u8], input: &[u8]) {
    let exports = exported_functions(wasm);
    let plain = run(backend, false, wasm, &exports, input);
    let rewritten = run(backend, true, wasm, &exports, input);
    check(&plain, &rewritten, true);
    if backend != reference_engine() {
        check(&run(reference_engine(), false, wasm, &exports, input), &plain, false);
    }
}

/// Panic if `b` disagrees with `a` on what both ran (`exact`: the same engine, so errors must match too).
fn check(a: &Run, b: &Run, exact: bool) {
    let label = || {
        format!(
            "{} (rewrite {}) vs {} (rewrite {})",
            a.backend, a.rewrite, b.backend, b.rewrite
        )
    };
    let cut_at_creation = |run: &Run| run.cut && run.created.is_err();
    if cut_at_creation(a) || cut_at_creation(b) {
        return;
    }
    match (&a.created, &b.created) {
        (Ok(()), Ok(())) => {}
        (Err(x), Err(y)) => {
            if exact {
                assert_eq!(x, y, "creation errors differ: {}", label());
            }
            return;
        }
        _ => panic!("creation differs: {}: {:?} vs {:?}", label(), a.created, b.created),
    }
    if !a.cut && !b.cut {
        assert_eq!(a.calls.len(), b.calls.len(), "number of calls differs: {}", label());
    }
    for (i, (x, y)) in a.calls.iter().zip(&b.calls).enumerate() {
        if exact {
            assert_eq!(x, y, "call {i} differs: {}", label());
        } else {
            assert_eq!(
                x.across_engines(),
                y.across_engines(),
                "call {i} differs: {}: {x:?} vs {y:?}",
                label()
            );
        }
    }
}
