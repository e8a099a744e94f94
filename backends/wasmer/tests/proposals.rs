//! How the wasmer backend reports what singlepass cannot compile (`src/features.rs`).
//!
//! wasmer-only on purpose: the proposal detection that turns singlepass's failures into a named proposal exists only in
//! this backend. That SIMD and tail calls are refused by name, as every engine's capabilities are checked, is the seam
//! kit's (`tests/seam.rs`); here: the proposals the README says wasmer lacks are named, memory64 included (Extism
//! plug-ins use 32-bit memories, so the kit does not ask for it), the refusal points at singlepass, and a module that
//! is simply invalid is not blamed on a proposal.

use extism_seam_kit::setup::Setup;
use extism_wasmer::Wasmer;

#[test]
fn unsupported_proposals_are_named_at_compile_time() {
    let setup = Setup::<Wasmer>::new();
    for (wat, proposal) in [
        (
            r#"(module (func (export "f") (result i32) (i32x4.extract_lane 0 (v128.const i32x4 1 2 3 4))))"#,
            "SIMD",
        ),
        (
            r#"(module (func $g) (func (export "f") (return_call $g)))"#,
            "tail calls",
        ),
        (r#"(module (memory i64 1))"#, "memory64"),
    ] {
        let err = format!("{:#}", setup.try_compile(wat).expect_err(proposal));
        assert!(
            err.contains(proposal) && err.contains("singlepass"),
            "{proposal}: {err}"
        );
    }
}

#[test]
fn an_invalid_module_is_not_blamed_on_a_proposal() {
    let err = format!(
        "{:#}",
        Setup::<Wasmer>::new()
            .try_compile(r#"(module (func (result i32)))"#)
            .expect_err("the module is invalid")
    );
    assert!(
        ["SIMD", "tail calls", "memory64"].iter().all(|p| !err.contains(p)),
        "{err}"
    );
}
