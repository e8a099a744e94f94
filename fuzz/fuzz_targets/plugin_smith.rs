//! Plug-ins from generated, valid modules (wasm-smith) on each engine: creation (with `_initialize` and start
//! functions, under fuel), then a call of every export, which may use the Extism imports with arbitrary arguments.
//!
//! The first byte picks the engine; the next ones whether SIMD and tail calls may appear (wasmer refuses those with
//! an error naming the proposal, which is a fine answer); the rest drives wasm-smith.

#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let (Ok(selector), Ok(simd), Ok(tail_calls)) = (u.arbitrary::<u8>(), u.arbitrary(), u.arbitrary()) else {
        return;
    };
    let Ok(module) = wasm_smith::Module::new(extism_fuzz::smith_config(simd, tail_calls), &mut u) else {
        return;
    };
    let input = u.bytes(u.len().min(64)).unwrap_or_default().to_vec();
    extism_fuzz::exercise(extism_fuzz::pick_engine(selector), module.to_bytes(), &input);
});
