//! Plug-in creation from arbitrary bytes (binary wasm or WAT) on each engine, then a call of every exported function.
//!
//! The first byte picks the engine, the second how many of the remaining bytes are the call input; the rest is the
//! module. The module is given as manifest data (never as a manifest naming files or URLs, which the `manifest`
//! target covers without touching the file system or network).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [selector, input_length, rest @ ..] = data else {
        return;
    };
    let (input, wasm) = rest.split_at((*input_length as usize).min(rest.len()));
    extism_fuzz::exercise(extism_fuzz::pick_engine(*selector), wasm.to_vec(), input);
});
