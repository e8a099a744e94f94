//! WASI descriptors are bounded per plug-in: opening files without closing them stops at the plug-in's limit (errno
//! `mfile`), a `path_open` whose result pointer is bad opens nothing, and dropping the plug-in closes everything it
//! opened. Counted in the process's own descriptor table (`/proc/self/fd`), in a child process so that a regression
//! cannot starve the other tests of descriptors.

use std::time::Duration;

use extism::{Backend, DEFAULT_WASI_MAX_OPEN_FILES, Manifest, Plugin, PluginBuilder, Wasm};

use crate::common::TempDir;
use crate::deadline::in_child_process;

/// `open_many`: opens `/data/f.txt` (fd 3 is the preopen) until `path_open` fails or 1000 times, without closing;
/// outputs the number opened and the last errno (two u64). `close(first, n)`: closes `n` descriptors from
/// `first`. `open_bad_pointer` / `open_misaligned`: one `path_open` whose result pointer is past the end of memory
/// or not 4-byte aligned.
const GUEST: &str = r#"
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 1)
  (data (i32.const 16) "f.txt")
  (func $open (param $result i32) (result i32)
    ;; Read rights (fd_read = 2) on /data/f.txt.
    (call $path_open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 5) (i32.const 0)
      (i64.const 2) (i64.const 2) (i32.const 0) (local.get $result)))
  (func (export "open_many") (result i32)
    (local $n i64) (local $errno i32) (local $out i64)
    (block $done
      (loop $next
        (local.set $errno (call $open (i32.const 0)))
        (br_if $done (local.get $errno))
        (local.set $n (i64.add (local.get $n) (i64.const 1)))
        (br_if $next (i64.lt_u (local.get $n) (i64.const 1000)))))
    (local.set $out (call $alloc (i64.const 16)))
    (call $store_u64 (local.get $out) (local.get $n))
    (call $store_u64 (i64.add (local.get $out) (i64.const 8)) (i64.extend_i32_u (local.get $errno)))
    (call $output_set (local.get $out) (i64.const 16))
    (i32.const 0))
  (func (export "close_4_to_8") (result i32)
    (local $fd i32)
    (local.set $fd (i32.const 4))
    (loop $next
      (drop (call $fd_close (local.get $fd)))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br_if $next (i32.le_u (local.get $fd) (i32.const 8))))
    (i32.const 0))
  (func (export "open_bad_pointer") (result i32) (call $open (i32.const 65536)))
  (func (export "open_misaligned") (result i32) (call $open (i32.const 2))))
"#;

/// The descriptors this process has open.
fn process_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}

fn wasi_plugin(backend: Backend, dir: &TempDir, max_open: Option<u32>) -> Plugin {
    std::fs::write(dir.path().join("f.txt"), "x").unwrap();
    let key = dir.path().to_str().unwrap().to_string();
    let manifest = Manifest::new([Wasm::data(GUEST.as_bytes().to_vec())]).with_allowed_path(key, "/data");
    let mut builder = PluginBuilder::new(manifest).with_backend(backend).with_wasi(true);
    if let Some(max) = max_open {
        builder = builder.with_wasi_max_open_files(max);
    }
    builder.build().unwrap()
}

/// `open_many`'s output: (files opened, last errno).
fn open_many(plugin: &mut Plugin) -> (u64, u64) {
    let out: Vec<u8> = plugin.call("open_many", "").unwrap();
    let word = |i: usize| u64::from_le_bytes(out[i..i + 8].try_into().unwrap());
    (word(0), word(8))
}

/// WASI errno `mfile`, "too many open files".
const MFILE: u64 = 33;

/// Run in a child process: before the fix, the guest opened all 1000 (or as many as the process could).
fn open_without_close(backend: Backend) {
    let dir = TempDir::new("wasi-fds");
    let before = process_fds();
    let mut plugin = wasi_plugin(backend, &dir, None);
    // stdin, stdout, stderr and the preopen count against the limit.
    let allowed = u64::from(DEFAULT_WASI_MAX_OPEN_FILES) - 4;
    assert_eq!(open_many(&mut plugin), (allowed, MFILE));
    assert!(process_fds() <= before + allowed as usize + 2, "{} open", process_fds());
    assert_eq!(open_many(&mut plugin), (0, MFILE), "still full");
    // Closing makes room again, exactly as much as was closed.
    let _: &[u8] = plugin.call("close_4_to_8", "").unwrap();
    assert_eq!(open_many(&mut plugin), (5, MFILE));
    // The host can still open files.
    std::fs::File::open(dir.path().join("f.txt")).unwrap();
    drop(plugin);
    assert_eq!(process_fds(), before, "dropping the plug-in closes its descriptors");

    let mut plugin = wasi_plugin(backend, &dir, Some(10));
    assert_eq!(open_many(&mut plugin), (6, MFILE), "a user limit of 10");
    drop(plugin);
    assert_eq!(process_fds(), before);
}

/// Run in a child process: before the fix, each failed call left one more descriptor open.
fn bad_result_pointer(backend: Backend) {
    let dir = TempDir::new("wasi-fds");
    let mut plugin = wasi_plugin(backend, &dir, None);
    // The first call instantiates the module; count from there.
    assert_eq!(open_many(&mut plugin).0, u64::from(DEFAULT_WASI_MAX_OPEN_FILES) - 4);
    let _: &[u8] = plugin.call("close_4_to_8", "").unwrap();
    let before = process_fds();
    for export in ["open_bad_pointer", "open_misaligned"] {
        for _ in 0..50 {
            let error = plugin.call::<&str, &[u8]>(export, "").unwrap_err();
            let text = format!("{error:#}");
            assert!(text.contains("ointer"), "{export} on {backend}: {text}");
        }
    }
    assert_eq!(process_fds(), before, "failed opens left descriptors open");
    // The five closed slots are still free: failed opens did not take them.
    assert_eq!(open_many(&mut plugin), (5, MFILE));
}

backend_test! {
    fn wasi_descriptors_are_bounded_and_closed_on_drop(backend) {
        in_child_process(Duration::from_secs(120), || open_without_close(backend));
    }
}

backend_test! {
    fn wasi_open_with_a_bad_result_pointer_leaks_nothing(backend) {
        in_child_process(Duration::from_secs(120), || bad_result_pointer(backend));
    }
}
