//! A manifest `path` entry is read only if it names a regular file of at most `MAX_MODULE_BYTES` (a symlink counts as
//! what it names): devices and FIFOs, which could be read without end or block forever, and directories fail with a
//! clear error on every engine.

use std::process::Command;
use std::time::Duration;

use extism::{Backend, Manifest, PluginBuilder, Wasm};

use crate::common::{TempDir, root_cause};
use crate::deadline::in_child_process;

/// Creating a plug-in from `path` fails with `reason`.
fn refused(backend: Backend, path: &str, reason: &str) {
    let error = PluginBuilder::new(Manifest::new([Wasm::file(path)]))
        .with_backend(backend)
        .build()
        .err()
        .unwrap_or_else(|| panic!("{path} was accepted as a module on {backend}"));
    assert_eq!(
        root_cause(&error),
        format!("Unable to load Wasm file \"{path}\": {reason}")
    );
}

/// Run in a child process: before the fix, reading `/dev/zero` never ended (and took all memory).
fn dev_zero(backend: Backend) {
    refused(backend, "/dev/zero", "not a regular file");
}

/// Run in a child process: before the fix, reading `/dev/urandom` never ended.
fn dev_urandom(backend: Backend) {
    refused(backend, "/dev/urandom", "not a regular file");
}

/// Run in a child process: before the fix, opening a FIFO without a writer blocked forever.
fn fifo(backend: Backend) {
    let dir = TempDir::new("fifo");
    let path = dir.path().join("module.wasm");
    let made = Command::new("mkfifo").arg(&path).status().expect("running mkfifo");
    assert!(made.success(), "mkfifo failed");
    refused(backend, path.to_str().unwrap(), "not a regular file");
}

/// Run in a child process: a symlink is followed to what it names, here `/dev/zero`, which is refused as such (read
/// through the link, it would never end).
fn symlink_to_dev_zero(backend: Backend) {
    let dir = TempDir::new("symlink");
    let path = dir.path().join("module.wasm");
    std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    refused(backend, path.to_str().unwrap(), "not a regular file");
}

backend_test! {
    fn manifest_path_naming_a_symlink_to_dev_zero_is_refused(backend) {
        in_child_process(Duration::from_secs(60), || symlink_to_dev_zero(backend));
    }
}

backend_test! {
    fn manifest_path_naming_a_directory_is_refused(backend) {
        let dir = TempDir::new("directory");
        refused(backend, dir.path().to_str().unwrap(), "not a regular file");
    }
}

backend_test! {
    fn manifest_path_naming_dev_zero_is_refused(backend) {
        in_child_process(Duration::from_secs(60), || dev_zero(backend));
    }
}

backend_test! {
    fn manifest_path_naming_dev_urandom_is_refused(backend) {
        in_child_process(Duration::from_secs(60), || dev_urandom(backend));
    }
}

backend_test! {
    fn manifest_path_naming_a_fifo_is_refused(backend) {
        in_child_process(Duration::from_secs(60), || fifo(backend));
    }
}

backend_test! {
    /// A file over the cap is refused from its size, without reading it (a sparse file takes no disk space); one
    /// of the same content within the cap is read.
    fn manifest_path_over_the_size_cap_is_refused(backend) {
        let dir = TempDir::new("large");
        let path = dir.path().join("large.wasm");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(extism::MAX_MODULE_BYTES + 1).unwrap();
        drop(file);
        refused(
            backend,
            path.to_str().unwrap(),
            &format!("larger than the {}-byte limit for a module", extism::MAX_MODULE_BYTES),
        );
        std::fs::write(&path, "(module (func (export \"f\")))").unwrap();
        let mut plugin = PluginBuilder::new(Manifest::new([Wasm::file(&path)])).with_backend(backend).build().unwrap();
        plugin.call::<&str, &[u8]>("f", "").unwrap();
    }
}
