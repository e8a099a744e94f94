//! The C tests (`capi/tests/c/*.c`): compiled against `capi/extism.h` and the built library, and run. Each program
//! loops over every engine compiled into the library (`extism_backends`).

mod common;

use common::*;

#[test]
fn c_programs_pass_on_every_compiled_engine() {
    let lib = library_dir(false);
    let out = target_dir().join("capi-tests/debug");
    for source in c_programs() {
        let exe = compile_c(&source, lib, &out);
        let output = test_command(&exe).output().expect("run a C test program");
        assert_success(&format!("{}", source.display()), &output);
    }
}

/// A program written for upstream's header compiles against upstream's own `extism.h` too and runs on our library:
/// the ABI, not only the source, is compatible. Upstream's header comes from `capi/tests/upstream/fetch-header.sh`
/// (see [`upstream_header_dir`]).
#[test]
#[cfg_attr(
    not(capi_upstream_header),
    ignore = "upstream's extism.h is missing: run capi/tests/upstream/fetch-header.sh"
)]
fn upstream_header_compiles_and_links_against_our_library() {
    let upstream = upstream_header_dir();
    let lib = library_dir(false);
    let source = capi_dir().join("tests/c/upstream_program.c");
    let out = target_dir().join("capi-tests/upstream-header");
    std::fs::create_dir_all(&out).unwrap();
    // Upstream's header alone in its own include directory, ahead of ours; the program includes only extism.h.
    let include = out.join("include");
    std::fs::create_dir_all(&include).unwrap();
    std::fs::copy(upstream.join("extism.h"), include.join("extism.h")).unwrap();
    let exe = out.join("upstream_program");
    let status = std::process::Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(&include)
        .arg("-o")
        .arg(&exe)
        .arg(&source)
        .arg("-L")
        .arg(lib)
        .arg("-lextism")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .status()
        .expect("run the C compiler");
    assert!(
        status.success(),
        "upstream_program.c does not compile against upstream's header"
    );
    let output = test_command(&exe).output().unwrap();
    assert_success("upstream_program against upstream's header", &output);
}
