//! What the singlepass compiler cannot compile, reported in words a user can act on.
//!
//! - WebAssembly proposals: singlepass rejects tail calls, memory64, exception handling, GC and wide arithmetic when
//!   validating, and SIMD only when generating code ("not yet implemented: V128Const …"). Neither message tells a
//!   user what to do, so when compilation fails, the module is validated again with `wasmparser` to find which of
//!   these proposals it uses. This runs only on the failure path.
//! - Imported functions with more than one result: singlepass's trampoline generator asserts at most one, and
//!   panics. [`multi_result_import`] finds them before compiling (reading only the type and import sections).

use wasmparser::{CompositeInnerType, Parser, Payload, TypeRef, Validator, WasmFeatures};

/// Proposals singlepass lacks, with the name a user knows them by.
const UNSUPPORTED: &[(&str, WasmFeatures)] = &[
    ("SIMD", WasmFeatures::SIMD.union(WasmFeatures::RELAXED_SIMD)),
    ("tail calls", WasmFeatures::TAIL_CALL),
    ("memory64", WasmFeatures::MEMORY64),
    (
        "exception handling",
        WasmFeatures::EXCEPTIONS.union(WasmFeatures::LEGACY_EXCEPTIONS),
    ),
    (
        "garbage collection / typed function references",
        WasmFeatures::GC
            .union(WasmFeatures::GC_TYPES)
            .union(WasmFeatures::FUNCTION_REFERENCES),
    ),
    ("wide arithmetic", WasmFeatures::WIDE_ARITHMETIC),
];

fn all_unsupported() -> WasmFeatures {
    UNSUPPORTED
        .iter()
        .fold(WasmFeatures::empty(), |all, (_, f)| all.union(*f))
}

fn validates(wasm: &[u8], features: WasmFeatures) -> bool {
    Validator::new_with_features(features).validate_all(wasm).is_ok()
}

/// The unsupported proposals `wasm` needs: each one without which it does not validate. Empty if the module does
/// not validate even with all of them, or validates without any.
pub(crate) fn unsupported_proposals(wasm: &[u8]) -> Vec<&'static str> {
    let unsupported = all_unsupported();
    let base = WasmFeatures::default().difference(unsupported);
    if validates(wasm, base) || !validates(wasm, base.union(unsupported)) {
        return Vec::new();
    }
    UNSUPPORTED
        .iter()
        .filter(|(_, f)| !validates(wasm, base.union(unsupported.difference(*f))))
        .map(|(name, _)| *name)
        .collect()
}

/// The error for a module wasmer failed to compile: names the proposals it needs if that is the reason.
pub(crate) fn compile_error(wasm: &[u8], error: wasmer::CompileError) -> anyhow::Error {
    let needed = unsupported_proposals(wasm);
    if needed.is_empty() {
        return anyhow::Error::new(error).context("the wasmer backend could not compile the WebAssembly module");
    }
    anyhow::anyhow!(
        "the module uses WebAssembly {}, which the wasmer backend (singlepass compiler) does not support: run this \
         plug-in on the wasmtime or wasmi backend instead ({error})",
        needed.join(", ")
    )
}

/// The first imported function with more than one result, as `module::name` and its result count.
pub(crate) fn multi_result_import(wasm: &[u8]) -> Option<(String, usize)> {
    // Result counts by type index; non-function types count as 0.
    let mut results: Vec<usize> = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        // A malformed module is left to wasmer, which reports it.
        match payload.ok()? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for ty in group.ok()?.into_types() {
                        results.push(match &ty.composite_type.inner {
                            CompositeInnerType::Func(f) => f.results().len(),
                            _ => 0,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.ok()?;
                    if let TypeRef::Func(index) = import.ty
                        && let Some(&count) = results.get(index as usize)
                        && count > 1
                    {
                        return Some((format!("{}::{}", import.module, import.name), count));
                    }
                }
                // Imports come once, after the types: nothing further can matter.
                return None;
            }
            Payload::FunctionSection(_) | Payload::CodeSectionStart { .. } => return None,
            _ => {}
        }
    }
    None
}
