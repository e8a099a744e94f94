//! Shared by the tests that drive the built library from outside: building it, compiling C programs against it,
//! and where things are.

#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// `capi/`.
pub(crate) fn capi_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/wasm/`, the committed test plug-ins.
pub(crate) fn wasm_dir() -> PathBuf {
    capi_dir().join("../tests/wasm")
}

/// The C test programs, `capi/tests/c/*.c`, sorted.
pub(crate) fn c_programs() -> Vec<PathBuf> {
    let mut programs: Vec<PathBuf> = std::fs::read_dir(capi_dir().join("tests/c"))
        .expect("read capi/tests/c")
        .map(|e| e.expect("read capi/tests/c").path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    programs.sort();
    programs
}

/// The cargo target directory this test binary was built into (`.../target/<profile>/deps/<test>` → `.../target`).
pub(crate) fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_path_buf()
}

/// The engine features this test binary was compiled with: the library under test is built with the same ones
/// (`build.rs` lists them).
pub(crate) fn engine_features() -> Vec<&'static str> {
    env!("EXTISM_ENGINE_FEATURES")
        .split(',')
        .filter(|name| !name.is_empty())
        .collect()
}

/// Build `libextism` (debug or release) with this test's engine features and return the directory holding
/// `libextism.so`. `cargo test` does not build a cdylib-only library for integration tests, so the test builds it,
/// once per test binary and profile. Cargo releases its lock on the target directory before running tests, so this
/// nested build does not wait for the outer one.
pub(crate) fn library_dir(release: bool) -> &'static Path {
    static DEBUG: OnceLock<PathBuf> = OnceLock::new();
    static RELEASE: OnceLock<PathBuf> = OnceLock::new();
    let cell = if release { &RELEASE } else { &DEBUG };
    cell.get_or_init(|| {
        let target = target_dir();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .current_dir(capi_dir())
            .args(["build", "-p", "libextism", "--no-default-features"])
            .arg("--features")
            .arg(engine_features().join(","))
            .env("CARGO_TARGET_DIR", &target)
            // Cargo sets this for the test; some build scripts (ring's) rebuild when it changes, so a nested build
            // that inherits it and a build from the shell would keep rebuilding each other's dependencies.
            .env_remove("CARGO_MANIFEST_DIR");
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build for libextism");
        assert!(status.success(), "building libextism failed");
        let dir = target.join(if release { "release" } else { "debug" });
        assert!(
            dir.join("libextism.so").exists(),
            "no libextism.so in {}",
            dir.display()
        );
        // Programs linked with `-lextism` need the library by its SONAME, `libextism.so.<major>` (capi/build.rs),
        // which an install provides as a link and cargo does not.
        let soname = dir.join(concat!("libextism.so.", env!("CARGO_PKG_VERSION_MAJOR")));
        let _ = std::fs::remove_file(&soname);
        std::os::unix::fs::symlink("libextism.so", &soname).expect("link libextism.so by its SONAME");
        dir
    })
}

/// Compile the C program `source` against `capi/extism.h` and the library in `lib_dir`, into `out_dir`, warnings
/// as errors. Returns the executable's path.
pub(crate) fn compile_c(source: &Path, lib_dir: &Path, out_dir: &Path) -> PathBuf {
    std::fs::create_dir_all(out_dir).expect("create the C build directory");
    let exe = out_dir.join(source.file_stem().expect("a file name"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let output = Command::new(&cc)
        .args(["-std=c11", "-D_DEFAULT_SOURCE", "-g", "-Wall", "-Wextra", "-Werror"])
        .arg("-I")
        .arg(capi_dir())
        .arg("-I")
        .arg(capi_dir().join("tests/c"))
        .arg("-o")
        .arg(&exe)
        .arg(source)
        .arg("-L")
        .arg(lib_dir)
        .args(["-lextism", "-lpthread"])
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .output()
        .unwrap_or_else(|e| panic!("run the C compiler `{cc}`: {e}"));
    assert!(
        output.status.success(),
        "compiling {} failed:\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    exe
}

/// A command running a test program with the test plug-ins available and no engine choice inherited.
///
/// `LD_LIBRARY_PATH` is removed: `cargo test` points it at `target/debug`, and it takes precedence over the
/// programs' rpath, so a program built against the release library would silently load the debug one.
pub(crate) fn test_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command
        .env("EXTISM_TEST_WASM_DIR", wasm_dir())
        .env_remove("EXTISM_BACKEND")
        .env_remove("LD_LIBRARY_PATH");
    command
}

/// Panic with both output streams unless `output` is a success.
pub(crate) fn assert_success(what: &str, output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    print!("{stdout}");
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

/// True when running in CI, where a missing tool is a failure rather than a reason to skip.
pub(crate) fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Whether `program --version` runs.
pub(crate) fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The directory holding upstream's `extism.h`: where `capi/tests/upstream/fetch-header.sh` puts it
/// (`<target>/upstream-extism`), else the `extism` 1.x crate's sources in the cargo registry. The tests that call
/// this are ignored when `capi/build.rs` found neither (cfg `capi_upstream_header`; in CI they run, and fail here).
pub(crate) fn upstream_header_dir() -> PathBuf {
    let fetched = target_dir().join("upstream-extism");
    if fetched.join("extism.h").exists() {
        return fetched;
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let mut found: Vec<PathBuf> = home
        .and_then(|home| std::fs::read_dir(home.join("registry/src")).ok())
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|r| std::fs::read_dir(r.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("extism-1."))
                && p.join("extism.h").exists()
        })
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "upstream's extism.h is missing: run {}",
            capi_dir().join("tests/upstream/fetch-header.sh").display()
        )
    })
}
