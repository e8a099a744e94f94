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
  (import "wasi_snapshot_preview1" "fd_renumber" (func $fd_renumber (param i32 i32) (result i32)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
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
  ;; The `i`th u64 of the input, as a descriptor.
  (func $arg (param $i i64) (result i32) (i32.wrap_i64 (call $input_load_u64 (i64.mul (local.get $i) (i64.const 8)))))
  (func $output_errno (param $errno i32)
    (local $out i64)
    (local.set $out (call $alloc (i64.const 8)))
    (call $store_u64 (local.get $out) (i64.extend_i32_u (local.get $errno)))
    (call $output_set (local.get $out) (i64.const 8)))
  (func (export "renumber") (result i32)
    (call $output_errno (call $fd_renumber (call $arg (i64.const 0)) (call $arg (i64.const 1))))
    (i32.const 0))
  (func (export "close") (result i32)
    (call $output_errno (call $fd_close (call $arg (i64.const 0))))
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
/// WASI errno `badf`, "bad file descriptor".
const BADF: u64 = 8;

/// The errno of export `export` (`renumber` or `close`) called with the descriptors `fds`.
fn errno_of(plugin: &mut Plugin, export: &str, fds: &[u64]) -> u64 {
    let input: Vec<u8> = fds.iter().flat_map(|fd| fd.to_le_bytes()).collect();
    let out: Vec<u8> = plugin.call(export, input).unwrap();
    u64::from_le_bytes(out[..8].try_into().unwrap())
}

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

/// Run in a child process (it fills the descriptor table). With the table full (descriptors 4 and up opened by the
/// guest): `fd_renumber` onto another descriptor closes that one and frees one slot; onto itself, or onto a
/// descriptor that is not open (`badf`), it frees none; closing a descriptor twice frees one slot, the second close
/// failing with `badf`. The host's descriptors follow the count.
fn renumber_and_double_close(backend: Backend) {
    let dir = TempDir::new("wasi-fds");
    let before = process_fds();
    let mut plugin = wasi_plugin(backend, &dir, None);
    let allowed = u64::from(DEFAULT_WASI_MAX_OPEN_FILES) - 4;
    assert_eq!(open_many(&mut plugin), (allowed, MFILE));
    let full = process_fds();

    assert_eq!(errno_of(&mut plugin, "renumber", &[4, 5]), 0, "4 onto 5");
    assert_eq!(process_fds(), full - 1, "renumbering closed the descriptor it replaced");
    assert_eq!(open_many(&mut plugin), (1, MFILE), "renumbering freed one slot");

    assert_eq!(errno_of(&mut plugin, "renumber", &[5, 5]), 0, "5 onto itself");
    assert_eq!(
        open_many(&mut plugin),
        (0, MFILE),
        "renumbering onto itself freed nothing"
    );
    let unused = 3 + allowed + 100;
    assert_eq!(
        errno_of(&mut plugin, "renumber", &[5, unused]),
        BADF,
        "onto a descriptor that is not open"
    );
    assert_eq!(open_many(&mut plugin), (0, MFILE), "a failed renumber freed nothing");
    assert_eq!(process_fds(), full);

    assert_eq!(errno_of(&mut plugin, "close", &[6]), 0);
    assert_eq!(errno_of(&mut plugin, "close", &[6]), BADF, "closing again");
    assert_eq!(open_many(&mut plugin), (1, MFILE), "closing twice freed one slot");
    assert_eq!(process_fds(), full);
    drop(plugin);
    assert_eq!(process_fds(), before, "dropping the plug-in closes its descriptors");
}

/// A limit below what stdio and the preopen take already (4): nothing more opens, and closing some of them (the
/// count stays above the limit) does not wrap the count around.
fn limit_below_stdio_and_preopens(backend: Backend) {
    let dir = TempDir::new("wasi-fds");
    let mut plugin = wasi_plugin(backend, &dir, Some(2));
    assert_eq!(open_many(&mut plugin), (0, MFILE));
    assert_eq!(errno_of(&mut plugin, "close", &[0]), 0, "closing stdin");
    assert_eq!(errno_of(&mut plugin, "close", &[0]), BADF, "closing stdin again");
    assert_eq!(open_many(&mut plugin), (0, MFILE), "3 open, limit 2");
    assert_eq!(errno_of(&mut plugin, "close", &[1]), 0, "closing stdout");
    assert_eq!(open_many(&mut plugin), (0, MFILE), "2 open, limit 2");
    assert_eq!(errno_of(&mut plugin, "close", &[2]), 0, "closing stderr");
    assert_eq!(open_many(&mut plugin), (1, MFILE), "1 open, limit 2");
}

backend_test! {
    fn wasi_renumber_and_double_close_keep_the_descriptor_count(backend) {
        in_child_process(Duration::from_secs(120), || renumber_and_double_close(backend));
    }
}

backend_test! {
    fn wasi_descriptor_limit_below_stdio_and_preopens_opens_nothing(backend) {
        in_child_process(Duration::from_secs(120), || limit_below_stdio_and_preopens(backend));
    }
}
