//! The documented install command (`capi/install.sh --prefix DIR`) and what it installs: a C host compiled with
//! `pkg-config` flags alone, linked dynamically and statically, runs a plug-in. The host is `capi/examples/host.c`,
//! the program the README shows.

mod common;

use std::process::Command;

use common::*;

#[test]
fn install_script_gives_a_working_pkg_config_setup() {
    let prefix = target_dir().join("capi-tests/prefix");
    let _ = std::fs::remove_dir_all(&prefix);
    // Same features as the release build of the valgrind test, so the two share one build.
    let features = engine_features().join(",");
    let status = Command::new("bash")
        .arg(capi_dir().join("install.sh"))
        .arg("--prefix")
        .arg(&prefix)
        .arg("--features")
        .arg(&features)
        .env("CARGO_TARGET_DIR", target_dir())
        .status()
        .expect("run capi/install.sh");
    assert!(status.success(), "capi/install.sh failed");
    for file in [
        "include/extism.h",
        "lib/libextism.so",
        "lib/libextism.a",
        "lib/pkgconfig/extism.pc",
    ] {
        assert!(prefix.join(file).exists(), "install.sh did not install {file}");
    }
    if !have("pkg-config") {
        assert!(!in_ci(), "pkg-config is not installed");
        println!("skipped the pkg-config part: pkg-config is not installed");
        return;
    }
    let pkg_config = |args: &[&str]| {
        let output = Command::new("pkg-config")
            .args(args)
            .arg("extism")
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
            .output()
            .expect("run pkg-config");
        assert!(output.status.success(), "pkg-config {args:?} extism failed");
        String::from_utf8(output.stdout).unwrap()
    };
    let cflags = pkg_config(&["--cflags"]);
    let libs = pkg_config(&["--libs"]);
    let static_libs = pkg_config(&["--static", "--libs"]);
    let source = capi_dir().join("examples/host.c");
    let out = target_dir().join("capi-tests/install");
    std::fs::create_dir_all(&out).unwrap();

    let dynamic = out.join("host");
    let rpath = format!("-Wl,-rpath,{}", prefix.join("lib").display());
    compile(&source, &dynamic, &cflags, &libs, &[&rpath]);
    // Static: the archive itself, then what pkg-config says it needs.
    let archive = prefix.join("lib/libextism.a");
    let statically = out.join("host-static");
    let private: String = static_libs
        .split_whitespace()
        .filter(|f| *f != "-lextism")
        .collect::<Vec<_>>()
        .join(" ");
    compile(&source, &statically, &cflags, &private, &[archive.to_str().unwrap()]);

    for exe in [dynamic, statically] {
        let output = test_command(&exe)
            .arg(wasm_dir().join("count_vowels.wasm"))
            .arg("Hello, world!")
            .output()
            .unwrap();
        assert_success(&exe.display().to_string(), &output);
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            r#"{"count":3,"total":3,"vowels":"aeiouAEIOU"}"#
        );
    }
}

/// Compile `source` to `exe` with pkg-config's flags (`extra` before the libraries, for static archives).
fn compile(source: &std::path::Path, exe: &std::path::Path, cflags: &str, libs: &str, extra: &[&str]) {
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror"])
        .args(cflags.split_whitespace())
        .arg("-o")
        .arg(exe)
        .arg(source)
        .args(extra)
        .args(libs.split_whitespace())
        .status()
        .expect("run the C compiler");
    assert!(
        status.success(),
        "compiling {} with pkg-config's flags failed",
        source.display()
    );
}

/// The README shows `capi/examples/host.c` verbatim: keep them one program.
#[test]
fn readme_shows_the_example_host() {
    let readme = std::fs::read_to_string(capi_dir().join("../README.md")).unwrap();
    let host = std::fs::read_to_string(capi_dir().join("examples/host.c")).unwrap();
    assert!(
        readme.contains(&host),
        "README.md must contain capi/examples/host.c verbatim"
    );
}
