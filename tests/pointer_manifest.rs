//! Manifest `data` given as `{"ptr": .., "len": ..}` (a raw address in the host's memory) is accepted on the C API
//! path only (`capi/tests/c/in_memory_manifest.c` covers that, on every engine; this test lives in the facade
//! because libextism's own library is also named `extism`): from Rust the same JSON stays an
//! error, and the C path's hook does not outlive the one parse it wraps.

use extism::{Manifest, Plugin};

/// The JSON upstream's C++ SDK sends for in-memory wasm, pointing at `wasm`.
fn pointer_manifest(wasm: &[u8]) -> String {
    format!(
        r#"{{"wasm": [{{"data": {{"ptr": {}, "len": {}}}}}]}}"#,
        wasm.as_ptr() as usize,
        wasm.len()
    )
}

fn wasm() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/wasm/count_vowels.wasm")).unwrap()
}

fn assert_rejected(json: &str) {
    let Err(error) = Plugin::new(json, [], false) else {
        panic!("a raw pointer manifest must be refused from Rust");
    };
    assert!(format!("{error:#}").contains("raw host pointer"), "{error:#}");
    let error = serde_json::from_str::<Manifest>(json).unwrap_err();
    assert!(error.to_string().contains("raw host pointer"), "{error}");
}

#[test]
fn rust_api_rejects_pointer_data() {
    let wasm = wasm();
    assert_rejected(&pointer_manifest(&wasm));
}

/// Reads from a buffer this test owns, checking the address it is given (it reads no memory at `ptr`).
///
/// # Safety
/// None needed: the address is only compared.
unsafe fn read_test_buffer(ptr: u64, len: u64) -> Result<Vec<u8>, String> {
    let wasm = wasm();
    assert_eq!((ptr, len), (1, wasm.len() as u64));
    Ok(wasm)
}

#[test]
fn pointer_data_hook_covers_only_its_own_parse() {
    let json = format!(r#"{{"wasm": [{{"data": {{"ptr": 1, "len": {}}}}}]}}"#, wasm().len());
    // SAFETY: the reader dereferences nothing.
    let manifest = unsafe {
        extism_core::with_pointer_data_reader(read_test_buffer, || {
            // Another thread parsing meanwhile is not covered.
            std::thread::scope(|s| s.spawn(|| assert_rejected(&json)).join().unwrap());
            serde_json::from_str::<Manifest>(&json)
        })
    }
    .expect("inside the hook, pointer data is read");
    assert!(matches!(&manifest.wasm[0], extism::Wasm::Data { data, .. } if data.starts_with(b"\0asm")));
    // After the hook, and after a hook left by a panic, it is refused again.
    assert_rejected(&json);
    // SAFETY: the reader dereferences nothing.
    let panicked = std::panic::catch_unwind(|| unsafe {
        extism_core::with_pointer_data_reader(read_test_buffer, || panic!("in the parse"))
    });
    assert!(panicked.is_err());
    assert_rejected(&json);
}

/// A length above the module size cap is refused before the reader runs (a C caller's bogus `len` must not make the
/// library copy gigabytes or read past its buffer).
#[test]
fn pointer_data_longer_than_a_module_may_be_is_refused_unread() {
    /// # Safety
    /// Never called: the test fails if it is.
    unsafe fn must_not_read(_: u64, _: u64) -> Result<Vec<u8>, String> {
        panic!("the reader ran for an over-long length")
    }
    for len in [extism::MAX_MODULE_BYTES + 1, u64::MAX] {
        let json = format!(r#"{{"wasm": [{{"data": {{"ptr": 1, "len": {len}}}}}]}}"#);
        // SAFETY: the reader dereferences nothing.
        let error =
            unsafe { extism_core::with_pointer_data_reader(must_not_read, || serde_json::from_str::<Manifest>(&json)) }
                .unwrap_err();
        assert!(
            error.to_string().contains("larger than the 1073741824-byte limit"),
            "{error}"
        );
    }
}
