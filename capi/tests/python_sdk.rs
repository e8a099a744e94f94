//! A real client: the official Python host SDK (PyPI `extism`, unmodified) runs on our library.
//!
//! The SDK loads libextism through its `extism_sys` package, which opens `libextism_sys.so` next to its own
//! `__init__.py` (there is no environment variable for another path). So the test installs the SDK in a virtualenv
//! kept in the cargo target directory (reused by later runs: `pip install` happens once) and replaces that file with
//! a symbolic link to our `libextism.so`; then it runs `capi/tests/python/sdk_check.py` once per compiled engine,
//! chosen with `EXTISM_BACKEND`. Skipped with a message when python3 or its venv module is missing (never in CI).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The SDK version the test pins, so that a new release cannot change what is tested without a commit.
const SDK: &str = "extism==1.1.1";

#[test]
fn python_sdk_runs_on_our_library() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let venv_works = Command::new(&python)
        .args(["-c", "import venv, ensurepip"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !venv_works {
        assert!(!in_ci(), "python3 with the venv module is needed in CI");
        println!("skipped: `{python}` with the venv and ensurepip modules is not available");
        return;
    }
    let lib = library_dir(false).join("libextism.so");
    let venv = target_dir().join("capi-python-venv");
    let venv_python = venv.join("bin/python");
    if !installed(&venv_python) {
        let status = Command::new(&python)
            .arg("-m")
            .arg("venv")
            .arg("--clear")
            .arg(&venv)
            .status()
            .unwrap();
        assert!(status.success(), "creating the virtualenv failed");
        let status = Command::new(&venv_python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", SDK])
            .status()
            .unwrap();
        assert!(status.success(), "pip install {SDK} failed");
    }
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

/// Whether the venv has the pinned SDK already.
fn installed(venv_python: &Path) -> bool {
    Command::new(venv_python)
        .args([
            "-c",
            "import importlib.metadata as m; assert m.version('extism') == '1.1.1'",
        ])
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
