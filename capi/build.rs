//! Build-time facts for libextism and its tests.
//!
//! - The shared library's SONAME, `libextism.so.<major>` (Linux): the installed `libextism.so.1.x.y` is found through
//!   it, and a future ABI break gets a new one.
//! - Which optional setups of the tests are present, as cfgs: a test whose setup step did not run (the Python SDK,
//!   upstream's header) or whose tool is missing (valgrind, pkg-config, cmake, a C++ compiler) is compiled with
//!   `#[ignore = "how to enable it"]`, so that libtest counts it as ignored, not as passed. libtest cannot ignore at
//!   run time, hence the build-time check. In CI (`CI` set) every setup counts as present: a missing one fails.
//!
//! - The engines this build has, as `EXTISM_ENGINE_FEATURES` (comma-separated, for the tests, which build the
//!   library with the same ones): the enabled features of `capi/Cargo.toml` of the form `NAME = ["extism/NAME"]`.
//!
//! The setup scripts touch a file in `capi/tests/setup-done/`, which this script watches, so that running one
//! re-enables its tests at the next build; a tool installed later is seen through the `PATH` directories.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets CARGO_PKG_VERSION_MAJOR");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libextism.so.{major}");
    }
    test_setups();
    engine_features();
}

/// The enabled engine features, in `capi/Cargo.toml`'s order (that of extism's engine registry).
fn engine_features() {
    println!("cargo:rerun-if-changed=Cargo.toml");
    let manifest = std::fs::read_to_string("Cargo.toml").expect("capi/Cargo.toml is readable");
    let engines: Vec<&str> = manifest
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(" = ")?;
            (value == format!("[\"extism/{name}\"]")).then_some(name)
        })
        .filter(|name| {
            let var = format!("CARGO_FEATURE_{}", name.to_uppercase().replace('-', "_"));
            std::env::var_os(var).is_some()
        })
        .collect();
    println!("cargo:rustc-env=EXTISM_ENGINE_FEATURES={}", engines.join(","));
}

/// The test setups and tools, one cfg each.
fn test_setups() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    // `<target>/<profile>/build/libextism-<hash>/out`: the tests look for setup products in `<target>`, as they find
    // it from their own executable's path (capi/tests/common/mod.rs).
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = out_dir
        .ancestors()
        .nth(4)
        .expect("OUT_DIR is <target>/<profile>/build/<pkg>/out");
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("tests/setup-done").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("tests/python/requirements.txt").display()
    );
    for var in ["CI", "PATH", "CXX", "EXTISM_SKIP_VALGRIND", "CARGO_HOME", "HOME"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
    // (cfg, present, whether it is a tool looked up on PATH)
    let setups = [
        ("capi_python_sdk", python_sdk(&manifest_dir, target), false),
        ("capi_upstream_header", upstream_header(target), false),
        (
            "capi_valgrind",
            on_path("valgrind") && std::env::var_os("EXTISM_SKIP_VALGRIND").is_none(),
            true,
        ),
        ("capi_pkg_config", on_path("pkg-config"), true),
        ("capi_cmake", on_path("cmake"), true),
        ("capi_cxx", on_path(&cxx), true),
    ];
    let mut tool_missing = false;
    for (cfg, present, tool) in setups {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if present || in_ci {
            println!("cargo:rustc-cfg={cfg}");
        } else {
            tool_missing |= tool;
        }
    }
    // A tool installed later lands in one of these directories (watched only while something is missing, as a
    // change there rebuilds the library).
    if tool_missing {
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            if dir.is_dir() {
                println!("cargo:rerun-if-changed={}", dir.display());
            }
        }
    }
}

/// `capi/tests/python/setup-sdk.sh` installed the pinned SDK in `<target>/capi-python-venv`.
fn python_sdk(manifest_dir: &Path, target: &Path) -> bool {
    let requirements = std::fs::read_to_string(manifest_dir.join("tests/python/requirements.txt")).unwrap_or_default();
    let Some(version) = requirements.lines().find_map(|l| l.trim().strip_prefix("extism==")) else {
        return false;
    };
    let venv = target.join("capi-python-venv");
    venv.join("bin/python").exists()
        && std::fs::read_dir(venv.join("lib"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|python| {
                python
                    .path()
                    .join(format!("site-packages/extism-{version}.dist-info"))
                    .is_dir()
            })
}

/// Upstream's `extism.h`: fetched by `capi/tests/upstream/fetch-header.sh` into `<target>/upstream-extism`, or in
/// an `extism` 1.x crate in the cargo registry (the same places as `upstream_header_dir` in the tests).
fn upstream_header(target: &Path) -> bool {
    if target.join("upstream-extism/extism.h").exists() {
        return true;
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    home.and_then(|home| std::fs::read_dir(home.join("registry/src")).ok())
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|registry| std::fs::read_dir(registry.path()).into_iter().flatten().flatten())
        .any(|krate| {
            krate.file_name().to_str().is_some_and(|n| n.starts_with("extism-1."))
                && krate.path().join("extism.h").exists()
        })
}

/// Whether `program` is an executable file in a `PATH` directory (or a path to one).
fn on_path(program: &str) -> bool {
    let executable = |p: &Path| {
        p.metadata().is_ok_and(|m| {
            #[cfg(unix)]
            let runnable = std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0;
            #[cfg(not(unix))]
            let runnable = true;
            m.is_file() && runnable
        })
    };
    if program.contains('/') {
        return executable(Path::new(program));
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|dir| executable(&dir.join(program)))
}
