//! Differential runs (see `extism_fuzz::differential`): a generated module that imports the kernel's memory
//! accessors and the deterministic rest of the guest ABI, on the engine the first byte picks with the memory accessor
//! rewrite off and on, and on the reference engine; any difference in return codes, outputs or (on one engine)
//! errors is a finding.
//!
//! The second byte picks the kind of module: one from wasm-smith (loops and recursion bounded by its
//! `ensure_termination`), or an accessor program (`extism_fuzz::accessor_program`: accessors at boundary addresses,
//! every value read folded into the output). The next bytes drive the generator; the last ones (up to 64) are the
//! call input.

#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let (Ok(selector), Ok(accessors)) = (u.arbitrary::<u8>(), u.arbitrary::<bool>()) else {
        return;
    };
    let wasm = if accessors {
        let Ok(wasm) = extism_fuzz::accessor_program::module(&mut u) else {
            return;
        };
        wasm
    } else {
        let Ok(mut module) = wasm_smith::Module::new(extism_fuzz::differential::smith_config(), &mut u) else {
            return;
        };
        if module
            .ensure_termination(extism_fuzz::differential::TERMINATION_FUEL)
            .is_err()
        {
            return;
        }
        module.to_bytes()
    };
    let input = u.bytes(u.len().min(64)).unwrap_or_default().to_vec();
    extism_fuzz::differential::compare(extism_fuzz::pick_engine(selector), &wasm, &input);
});
