//! What each engine cannot do, and how the kit checks that it says so.
//!
//! A kit test that exercises one of these [`Capability`]s runs on every engine: where [`supports`] says yes it checks
//! the behaviour, where it says no it checks that the engine refuses with an error naming itself and the capability
//! ([`assert_refusal`]). A test never skips an engine, and an engine that starts refusing (or stops refusing)
//! something fails the test until this table says so.
//!
//! What the seam lets an engine declare it cannot do ([`EngineApi::CAPABILITIES`]) the core checks before the seam
//! is asked, so it is not in this table. The table lists refusals at the seam itself (proposals an engine's compiler
//! lacks, host-function shapes, fuel on an engine made without metering), keyed by [`EngineApi::NAME`]; an engine not
//! listed is expected to support everything. It also lists known deviations from the seam's documentation, so
//! that the kit checks what the engine does instead and fails once the deviation is fixed (then remove the entry).

use extism_core::backend::EngineApi;

/// Something the seam lets an engine refuse, or (marked so) a known deviation from what the seam documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Fuel limits on an engine created without [`extism_core::backend::EngineOptions::fuel`] (outside the seam's
    /// contract, which sets fuel only on engines made for it: an engine may honour it or refuse it, never ignore it).
    FuelWithoutMetering,
    /// [`EngineApi::imports`] in declaration order, as the seam documents. Not something an engine refuses: a known
    /// deviation, listed so that the kit checks what the engine does instead and notices when it is fixed.
    ImportsInDeclarationOrder,
    /// Imported (host) functions with more than one result.
    MultiResultHostFunctions,
    /// The WebAssembly SIMD proposal.
    Simd,
    /// The WebAssembly tail-call proposal.
    TailCalls,
}

impl Capability {
    /// Words an engine's refusal must contain (besides the engine's name), in lowercase.
    fn words(self) -> &'static [&'static str] {
        match self {
            Capability::FuelWithoutMetering => &["fuel"],
            Capability::ImportsInDeclarationOrder => &[],
            Capability::MultiResultHostFunctions => &["more than one result"],
            Capability::Simd => &["simd"],
            Capability::TailCalls => &["tail calls"],
        }
    }
}

/// Whether engine `B` supports `capability`.
pub fn supports<B: EngineApi>(capability: Capability) -> bool {
    use Capability::*;
    match B::NAME {
        // singlepass: no SIMD, no tail calls, no multi-result imports; fuel metered only by engines made for it.
        "wasmer" => !matches!(
            capability,
            FuelWithoutMetering | MultiResultHostFunctions | Simd | TailCalls
        ),
        // wasmtime (native or Pulley) compiles fuel metering in only when asked to.
        "wasmtime" | "pulley" => capability != FuelWithoutMetering,
        // wasmi always meters fuel (its interrupts are built on it). Its module lists imports grouped by kind
        // (functions, tables, memories, globals), which the backend passes on.
        "wasmi" => capability != ImportsInDeclarationOrder,
        _ => true,
    }
}

/// Assert that `error`, an engine's refusal of `capability`, names the engine and the capability.
#[track_caller]
pub fn assert_refusal<B: EngineApi>(error: &str, capability: Capability) {
    let lower = error.to_lowercase();
    assert!(
        lower.contains(B::NAME) && capability.words().iter().all(|w| lower.contains(w)),
        "{}: the refusal of {capability:?} must name the engine and {:?}; it says: {error}",
        B::NAME,
        capability.words()
    );
}
