//! `capi/extism.h` is generated from the sources by cbindgen and committed: this test regenerates it and fails if
//! the committed file differs. Run with `EXTISM_UPDATE_HEADER=1` to rewrite it instead.

use std::path::Path;

#[test]
fn committed_header_is_current() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("read capi/cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen failed on capi/src")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("the header is UTF-8");
    let path = crate_dir.join("extism.h");
    if std::env::var_os("EXTISM_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write capi/extism.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "capi/extism.h is stale: regenerate it with `EXTISM_UPDATE_HEADER=1 cargo test -p libextism --test header`"
    );
}
