//! A real client: the official Python host SDK (PyPI `extism`, unmodified) runs on our library.
//!
//! The SDK loads libextism through its `extism_sys` package, which opens `libextism_sys.so` next to its own
//! `__init__.py` (there is no environment variable for another path). The SDK is installed beforehand, by
//! `capi/tests/python/setup-sdk.sh` (CI runs it), into a virtualenv in the cargo target directory, so that this test
//! needs no network. The test replaces the shipped library with a symbolic link to our `libextism.so` and runs
//! `capi/tests/python/sdk_check.py` once per compiled engine, chosen with `EXTISM_BACKEND`. Outside CI it is built
//! ignored, with a message naming the setup script, when that virtualenv is missing (see `capi/build.rs`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

#[test]
#[cfg_attr(
    not(capi_python_sdk),
    ignore = "the Python SDK is not installed: run capi/tests/python/setup-sdk.sh (needs PyPI)"
)]
fn python_sdk_runs_on_our_library() {
    let venv = target_dir().join("capi-python-venv");
    let venv_python = venv.join("bin/python");
    let pinned = pinned_sdk();
    assert!(
        installed(&venv_python, &pinned),
        "the Python SDK ({pinned}) is not installed in {}: run {}",
        venv.display(),
        capi_dir().join("tests/python/setup-sdk.sh").display()
    );
    let lib = library_dir(false).join("libextism.so");
    point_sdk_at(&venv_python, &lib);

    let script = capi_dir().join("tests/python/sdk_check.py");
    for backend in engine_features() {
        let output = Command::new(&venv_python)
            .arg(&script)
            .arg(wasm_dir())
            .env("EXTISM_BACKEND", backend)
            .output()
            .unwrap();
        assert_success(&format!("the Python SDK on {backend}"), &output);
    }
}

/// The pinned requirement (`extism==X.Y.Z`) from `capi/tests/python/requirements.txt`.
fn pinned_sdk() -> String {
    let requirements = std::fs::read_to_string(capi_dir().join("tests/python/requirements.txt")).unwrap();
    requirements
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("extism=="))
        .expect("requirements.txt pins extism==VERSION")
        .to_string()
}

/// Whether the venv has the pinned SDK.
fn installed(venv_python: &Path, pinned: &str) -> bool {
    let version = pinned.trim_start_matches("extism==");
    Command::new(venv_python)
        .arg("-c")
        .arg(format!(
            "import importlib.metadata as m; assert m.version('extism') == '{version}'"
        ))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Replace the library shipped in `extism_sys` with a link to ours.
fn point_sdk_at(venv_python: &Path, lib: &Path) {
    let output = Command::new(venv_python)
        .args([
            "-c",
            "import importlib.util, os; print(os.path.dirname(importlib.util.find_spec('extism_sys').origin))",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "extism_sys is not installed in the virtualenv");
    let package = PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
    let shipped = package.join("libextism_sys.so");
    let _ = std::fs::remove_file(&shipped);
    std::os::unix::fs::symlink(lib, &shipped).expect("link our libextism.so into extism_sys");
}
