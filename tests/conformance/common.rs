//! Helpers shared by the conformance tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use extism::{Backend, Plugin, PluginBuilder};

/// Declare a test that runs once for each backend compiled into this build, as separate rstest cases named after
/// the engine (`echo::case_1_wasmtime`, …). The cases come from `extism`'s engine registry.
macro_rules! backend_test {
    ($(#[$meta:meta])* fn $name:ident($backend:ident) $body:block) => {
        extism::compiled_engines! { backend_test { $(#[$meta])* fn $name($backend) $body } }
    };
    ({ $(#[$meta:meta])* fn $name:ident($backend:ident) $body:block } [$(($case:ident $variant:ident))*] [$($missing:tt)*]) => {
        $(#[$meta])*
        #[rstest::rstest]
        $(#[case::$case(extism::Backend::$variant)])*
        fn $name(#[case] $backend: extism::Backend) $body
    };
}

/// The bytes of a committed test plug-in (`tests/wasm/{name}.wasm`).
pub(crate) fn wasm(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/wasm/{name}.wasm", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e} (run tests/plugins/build.sh)"))
}

/// A plug-in from a committed test wasm, without host functions.
pub(crate) fn plugin(backend: Backend, name: &str) -> Plugin {
    PluginBuilder::new(wasm(name))
        .with_backend(backend)
        .build()
        .unwrap_or_else(|e| panic!("creating {name} on {backend}: {e:#}"))
}

/// The innermost cause of an error, as text: what upstream's tests compare.
pub(crate) fn root_cause(e: &extism::Error) -> String {
    e.root_cause().to_string()
}

/// `handle`'s cancel, for the re-cancelling helpers in `deadline.rs`: fails the test if the engine cannot cancel.
/// The cancel API does not say whether the request reached a running call, so it counts as landed.
pub(crate) fn cancel_of(handle: extism::CancelHandle) -> impl FnMut() -> bool + Send + 'static {
    move || {
        handle.cancel().unwrap();
        true
    }
}

/// A fresh directory under the system's temporary directory, removed with its contents when dropped. Its name has
/// the purpose, the process id, a counter and a random part, so that parallel tests and runs never share one.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(purpose: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "extism-{purpose}-{}-{}-{:08x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            fastrand::u32(..)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// The directory as a manifest `allowed_paths` key, optionally with the read-only prefix.
    pub(crate) fn key(&self, read_only: bool) -> String {
        let path = self.0.to_str().expect("temporary directory paths are UTF-8 here");
        if read_only {
            format!("ro:{path}")
        } else {
            path.to_string()
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
