//! The on-disk compilation cache (`extism::cache`): entries written and reused, corrupt, truncated, foreign-version
//! and foreign-engine entries replaced and never loaded, two processes racing, a private directory, LRU eviction,
//! and the ways to turn it off. Every test runs on every engine: on engines without a cache (wasmi) it checks that
//! nothing is written. Each test uses its own temporary directory; the environment-variable cases run in child
//! processes (this test binary, re-run on one ignored test), so no test changes this process's environment.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use extism::cache::Header;
use extism::{Backend, PluginBuilder};
use sha2::{Digest, Sha256};

use crate::common::TempDir;
use crate::deadline::with_deadline;

/// A plug-in whose `run` outputs `n` bytes: a distinct module (and cache entry) per `n`. `functions` extra
/// functions make it slower to compile (for the race).
fn module(n: u8, functions: usize) -> Vec<u8> {
    // Its output is a block of `n` bytes: no memory accessor is imported, so that the memory accessor rewrite leaves
    // the module alone and its entry is keyed by these bytes (`memory_rewrites_are_cached` covers rewritten modules).
    let mut wat = format!(
        r#"(module
          (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
          (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
          (func (export "run") (result i32)
            (call $output_set (call $alloc (i64.const {n})) (i64.const {n}))
            (i32.const 0))
        "#
    );
    for i in 0..functions {
        wat.push_str(&format!(
            "(func (export \"f{i}\") (param i32) (result i32) (local i32) \
             (loop (local.set 1 (i32.add (local.get 1) (i32.mul (local.get 0) (i32.const {i})))) \
             (br_if 0 (i32.lt_u (local.get 1) (i32.const 1000)))) (local.get 1))\n"
        ));
    }
    wat.push(')');
    wat::parse_str(&wat).unwrap()
}

/// A cache configuration file in `dir` naming `dir/entries`, with `extra` lines in its `[cache]` table.
fn config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("cache.toml");
    let entries = dir.join("entries");
    let toml = format!("[cache]\ndirectory = {:?}\n{extra}", entries.to_str().unwrap());
    std::fs::write(&path, toml).unwrap();
    path
}

/// Build `wasm` on `backend` with the cache `config` and check that `run` outputs `n` bytes.
fn build_and_run(backend: Backend, wasm: &[u8], n: u8, config: &Path) {
    let mut plugin = PluginBuilder::new(wasm)
        .with_backend(backend)
        .with_cache_config(config)
        .build()
        .unwrap_or_else(|e| panic!("{backend}: {e:#}"));
    let output: Vec<u8> = plugin.call("run", "").unwrap();
    assert_eq!(output.len(), usize::from(n), "{backend}");
}

/// The entry files in `dir`.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = read
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".extism-code"))
        .collect();
    found.sort();
    found
}

/// The entry holding `wasm`'s code (the kernel has its own, which a process may have written to another cache).
fn entry_of(dir: &Path, wasm: &[u8]) -> Option<PathBuf> {
    let hash: [u8; 32] = Sha256::digest(wasm).into();
    entries(dir).into_iter().find(|path| {
        let bytes = std::fs::read(path).unwrap();
        Header::parse(&bytes).is_ok_and(|(header, _)| header.module_hash == hash)
    })
}

/// The entry at `path`, parsed (it must be valid).
fn parsed(path: &Path) -> (Header, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let (header, payload) = Header::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (header, payload.to_vec())
}

#[cfg(unix)]
fn inode(path: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap())
}

fn set_age(path: &Path, age: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

backend_test! {
    fn entries_are_written_then_loaded(backend) {
        let dir = TempDir::new("cache");
        let config = config(dir.path(), "");
        let wasm = module(1, 0);
        build_and_run(backend, &wasm, 1, &config);
        let cache = dir.path().join("entries");
        if !backend.capabilities().code_cache {
            assert!(!cache.exists(), "{backend} has no cache, yet {} exists", cache.display());
            return;
        }
        let entry = entry_of(&cache, &wasm).unwrap_or_else(|| panic!("{backend}: no entry in {}", cache.display()));
        let (header, payload) = parsed(&entry);
        assert_eq!(header.engine, backend.name());
        assert!(!payload.is_empty());
        // An old entry becomes the newest when it is loaded, and is not written again.
        set_age(&entry, Duration::from_secs(3600));
        #[cfg(unix)]
        let before = inode(&entry);
        build_and_run(backend, &wasm, 1, &config);
        #[cfg(unix)]
        assert_eq!(inode(&entry), before, "{backend}: the entry was rewritten instead of loaded");
        let age = SystemTime::now().duration_since(std::fs::metadata(&entry).unwrap().modified().unwrap());
        assert!(age.unwrap_or_default() < Duration::from_secs(600), "{backend}: loading did not touch the entry");
    }
}

backend_test! {
    fn corrupt_truncated_foreign_version_and_foreign_engine_entries_are_replaced(backend) {
        let dir = TempDir::new("cache");
        let config = config(dir.path(), "");
        let wasm = module(2, 0);
        build_and_run(backend, &wasm, 2, &config);
        let cache = dir.path().join("entries");
        if !backend.capabilities().code_cache {
            assert!(entries(&cache).is_empty());
            return;
        }
        let entry = entry_of(&cache, &wasm).unwrap();
        let good = std::fs::read(&entry).unwrap();
        let (header, payload) = parsed(&entry);
        let with_header = |header: &Header, payload: &[u8]| [header.encode(), payload.to_vec()].concat();
        let mut flipped = good.clone();
        let middle = good.len() - payload.len() / 2;
        flipped[middle] ^= 0xff;
        let mut wrong_length = header.clone();
        wrong_length.payload_len += 1;
        let foreign_version = Header {
            version: "0.0.1-older".to_string(),
            ..header.clone()
        };
        let foreign_engine = Header {
            engine: "another-engine".to_string(),
            ..header.clone()
        };
        // A header that matches in every field, over bytes that are not this engine's code: the engine's own
        // loader refuses them, and the module is compiled again.
        let not_code = b"this is not compiled code".to_vec();
        let not_code_header = Header {
            payload_len: not_code.len() as u64,
            payload_hash: Sha256::digest(&not_code).into(),
            ..header.clone()
        };
        let cases: [(&str, Vec<u8>); 8] = [
            ("a flipped payload byte", flipped),
            ("a truncated payload", good[..good.len() - payload.len() / 2].to_vec()),
            ("a truncated header", good[..20].to_vec()),
            ("an empty file", Vec::new()),
            ("a wrong length in the header", with_header(&wrong_length, &payload)),
            ("another engine version", with_header(&foreign_version, &payload)),
            ("another engine", with_header(&foreign_engine, &payload)),
            ("a payload that is not code", with_header(&not_code_header, &not_code)),
        ];
        for (what, bytes) in cases {
            std::fs::write(&entry, &bytes).unwrap();
            build_and_run(backend, &wasm, 2, &config);
            let now = std::fs::read(&entry).unwrap_or_else(|e| panic!("{backend}, {what}: entry gone: {e}"));
            let (replaced, _) = Header::parse(&now).unwrap_or_else(|e| panic!("{backend}, {what}: not replaced: {e}"));
            assert_eq!(replaced.engine, header.engine, "{backend}, {what}");
            assert_eq!(replaced.version, header.version, "{backend}, {what}");
            assert_eq!(replaced.fingerprint, header.fingerprint, "{backend}, {what}");
        }
    }
}

backend_test! {
    fn the_cache_directory_is_private(backend) {
        let dir = TempDir::new("cache");
        let nested = dir.path().join("a").join("b");
        std::fs::create_dir_all(&nested).unwrap();
        let config_path = nested.join("cache.toml");
        let cache = nested.join("entries");
        std::fs::write(&config_path, "[cache]\ndirectory = \"entries\"\n").unwrap();
        build_and_run(backend, &module(3, 0), 3, &config_path);
        if !backend.capabilities().code_cache {
            assert!(!cache.exists());
            return;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&cache), 0o700, "{backend}: a new cache directory");
            for entry in entries(&cache) {
                assert_eq!(mode(&entry) & 0o077, 0, "{backend}: {} is readable by others", entry.display());
            }
            // An existing directory others may write to (they could plant code) is not used, nor changed: the
            // plug-in is compiled afresh and nothing is written there.
            std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
            let other = module(32, 0);
            build_and_run(backend, &other, 32, &config_path);
            assert_eq!(mode(&cache), 0o777, "{backend}: the mode of a directory the cache did not create");
            assert!(entry_of(&cache, &other).is_none(), "{backend}: an entry in a directory others can write");
        }
    }
}

backend_test! {
    fn least_recently_used_entries_are_evicted(backend) {
        let dir = TempDir::new("cache");
        let unbounded = config(dir.path(), "");
        let cache = dir.path().join("entries");
        let (m1, m2, m3) = (module(11, 3), module(12, 3), module(13, 3));
        build_and_run(backend, &m1, 11, &unbounded);
        build_and_run(backend, &m2, 12, &unbounded);
        if !backend.capabilities().code_cache {
            assert!(entries(&cache).is_empty());
            return;
        }
        let (e1, e2) = (entry_of(&cache, &m1).unwrap(), entry_of(&cache, &m2).unwrap());
        let size = |p: &Path| std::fs::metadata(p).unwrap().len();
        let total: u64 = entries(&cache).iter().map(|p| size(p)).sum();
        // Room for what is there and half an entry more: the next write must evict one module's entry.
        let limit = total + size(&e1).max(size(&e2)) / 2;
        let bounded = config(dir.path(), &format!("files-total-size-soft-limit = {limit}\n"));
        // m1 is older than m2, but loading it makes it the most recent; everything else (a kernel entry) is newer.
        for entry in entries(&cache) {
            set_age(&entry, Duration::from_secs(10));
        }
        set_age(&e1, Duration::from_secs(300));
        set_age(&e2, Duration::from_secs(200));
        build_and_run(backend, &m1, 11, &bounded);
        build_and_run(backend, &m3, 13, &bounded);
        assert!(!e2.exists(), "{backend}: the least recently used entry was kept");
        assert!(e1.exists(), "{backend}: a recently loaded entry was evicted");
        assert!(entry_of(&cache, &m3).is_some(), "{backend}: the new entry was evicted");
        let total: u64 = entries(&cache).iter().map(|p| size(p)).sum();
        assert!(total <= limit, "{backend}: {total} bytes over the {limit}-byte bound");
        // A count bound too.
        let one = config(dir.path(), "file-count-soft-limit = 1\n");
        build_and_run(backend, &m2, 12, &one);
        assert_eq!(entries(&cache).len(), 1, "{backend}");
    }
}

backend_test! {
    fn an_invalid_cache_configuration_fails_with_its_path(backend) {
        let dir = TempDir::new("cache");
        let missing = dir.path().join("missing.toml");
        let err = PluginBuilder::new(module(4, 0))
            .with_backend(backend)
            .with_cache_config(&missing)
            .build()
            .err()
            .unwrap_or_else(|| panic!("{backend}: built with a missing cache configuration"));
        assert!(format!("{err:#}").contains("missing.toml"), "{backend}: {err:#}");
        let bad = config(dir.path(), "colour = \"blue\"\n");
        let err = PluginBuilder::new(module(4, 0))
            .with_backend(backend)
            .with_cache_config(&bad)
            .build()
            .err()
            .unwrap_or_else(|| panic!("{backend}: built with an invalid cache configuration"));
        assert!(format!("{err:#}").contains("unknown key `colour`"), "{backend}: {err:#}");
    }
}

/// The environment of a child process that builds and runs [`module`]`(n, functions)` in [`child_builds_a_plugin`],
/// isolated from the user's own cache: `HOME` and `XDG_CACHE_HOME` point into `home`.
fn child(backend: Backend, home: &Path, n: u8, functions: usize) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "cache::child_builds_a_plugin",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("EXTISM_BACKEND", backend.name())
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("xdg"))
        .env("EXTISM_TEST_CACHE_CHILD", format!("{n} {functions}"))
        .env_remove("EXTISM_CACHE_CONFIG")
        .env_remove("EXTISM_TEST_CACHE_DISABLE")
        .env_remove("EXTISM_TEST_CACHE_START_AT");
    command
}

fn run_child(mut command: Command) {
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Run by [`child`] (ignored otherwise): builds the plug-in the environment describes on the engine
/// `EXTISM_BACKEND` names, with the builder's cache disabled if `EXTISM_TEST_CACHE_DISABLE` is set, first waiting
/// until the Unix time in milliseconds `EXTISM_TEST_CACHE_START_AT`, if set (so that racing children start
/// together).
#[test]
#[ignore = "run as a child process by the cache tests"]
fn child_builds_a_plugin() {
    let Ok(spec) = std::env::var("EXTISM_TEST_CACHE_CHILD") else {
        return;
    };
    let (n, functions) = spec.split_once(' ').unwrap();
    let (n, functions): (u8, usize) = (n.parse().unwrap(), functions.parse().unwrap());
    let wasm = module(n, functions);
    if let Ok(at) = std::env::var("EXTISM_TEST_CACHE_START_AT") {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(at.parse().unwrap());
        if let Ok(wait) = at.duration_since(SystemTime::now()) {
            std::thread::sleep(wait);
        }
    }
    let mut builder = PluginBuilder::new(&wasm);
    if std::env::var_os("EXTISM_TEST_CACHE_DISABLE").is_some() {
        builder = builder.with_cache_disabled();
    }
    let mut plugin = builder.build().unwrap();
    let output: Vec<u8> = plugin.call("run", "").unwrap();
    assert_eq!(output.len(), usize::from(n));
}

backend_test! {
    fn two_processes_creating_the_same_plugin_both_succeed(backend) {
        let dir = TempDir::new("cache");
        let config = config(dir.path(), "");
        // Large enough that compiling it takes a while, so that the two compilations overlap.
        let functions = 60;
        let start_at = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap() + Duration::from_millis(500);
        let children: Vec<_> = (0..2)
            .map(|_| {
                let mut command = child(backend, dir.path(), 5, functions);
                command
                    .env("EXTISM_CACHE_CONFIG", &config)
                    .env("EXTISM_TEST_CACHE_START_AT", start_at.as_millis().to_string())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                command.spawn().unwrap()
            })
            .collect();
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "{backend}: a racing process failed: {}\n{}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let cache = dir.path().join("entries");
        if !backend.capabilities().code_cache {
            assert!(entries(&cache).is_empty());
            return;
        }
        let entry = entry_of(&cache, &module(5, functions)).unwrap_or_else(|| panic!("{backend}: no valid entry"));
        parsed(&entry);
        let left: Vec<_> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".tmp-"))
            .collect();
        assert!(left.is_empty(), "{backend}: temporary files left: {left:?}");
        // And a third process loads what they wrote.
        let mut command = child(backend, dir.path(), 5, functions);
        command.env("EXTISM_CACHE_CONFIG", &config);
        run_child(command);
    }
}

backend_test! {
    fn the_environment_and_the_builder_choose_the_cache(backend) {
        let caches = backend.capabilities().code_cache;
        let wasm = module(6, 0);
        // Unset: on, in $XDG_CACHE_HOME/extism, private.
        let home = TempDir::new("cache-home");
        run_child(child(backend, home.path(), 6, 0));
        let default = home.path().join("xdg").join("extism");
        assert_eq!(entry_of(&default, &wasm).is_some(), caches, "{backend}: default cache in {}", default.display());
        #[cfg(unix)]
        if caches {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&default).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{backend}");
        }
        // Empty: off.
        let home = TempDir::new("cache-home");
        let mut command = child(backend, home.path(), 6, 0);
        command.env("EXTISM_CACHE_CONFIG", "");
        run_child(command);
        assert!(!home.path().join("xdg").exists(), "{backend}: EXTISM_CACHE_CONFIG=\"\" still cached");
        // A file: its directory.
        let home = TempDir::new("cache-home");
        let config = config(home.path(), "");
        let mut command = child(backend, home.path(), 6, 0);
        command.env("EXTISM_CACHE_CONFIG", &config);
        run_child(command);
        assert_eq!(entry_of(&home.path().join("entries"), &wasm).is_some(), caches, "{backend}");
        assert!(!home.path().join("xdg").exists(), "{backend}");
        // The builder's `with_cache_disabled` wins over the variable.
        let home = TempDir::new("cache-home");
        let config = self::config(home.path(), "");
        let mut command = child(backend, home.path(), 6, 0);
        command.env("EXTISM_CACHE_CONFIG", &config).env("EXTISM_TEST_CACHE_DISABLE", "1");
        run_child(command);
        assert!(!home.path().join("entries").exists(), "{backend}: with_cache_disabled still cached");
        assert!(!home.path().join("xdg").exists(), "{backend}");
    }
}

/// Make a FIFO at `path`.
#[cfg(unix)]
fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

backend_test! {
    /// Files in the cache that are not what the cache writes: an entry that is a FIFO (reading it would block) or a
    /// symbolic link (to code elsewhere), a configuration file that is a FIFO or a device without end. Each is
    /// refused without blocking or reading without end: entries are compiled afresh and replaced by a regular file,
    /// nothing is touched through the link, and a configuration that cannot be read fails the build with its path.
    fn special_files_are_refused_without_blocking(backend) {
        #[cfg(unix)]
        with_deadline(Duration::from_secs(300), move || {
            let dir = TempDir::new("cache");
            let config = config(dir.path(), "");
            let wasm = module(31, 0);
            build_and_run(backend, &wasm, 31, &config);
            let cache = dir.path().join("entries");
            if backend.capabilities().code_cache {
                let entry = entry_of(&cache, &wasm).expect("an entry");
                let good = std::fs::read(&entry).unwrap();
                std::fs::remove_file(&entry).unwrap();
                mkfifo(&entry);
                build_and_run(backend, &wasm, 31, &config);
                assert!(std::fs::symlink_metadata(&entry).unwrap().is_file(), "{backend}: the FIFO entry stays");
                // A link to a valid entry outside the cache: not followed (so not loaded, and its time not touched).
                let outside = dir.path().join("outside");
                std::fs::write(&outside, &good).unwrap();
                set_age(&outside, Duration::from_secs(7200));
                let before = std::fs::metadata(&outside).unwrap().modified().unwrap();
                std::fs::remove_file(&entry).unwrap();
                std::os::unix::fs::symlink(&outside, &entry).unwrap();
                build_and_run(backend, &wasm, 31, &config);
                assert!(std::fs::symlink_metadata(&entry).unwrap().is_file(), "{backend}: the link stays");
                assert_eq!(std::fs::metadata(&outside).unwrap().modified().unwrap(), before, "{backend}: touched");
            }
            for (name, special) in [("a FIFO", dir.path().join("fifo.toml")), ("a device", PathBuf::from("/dev/zero"))] {
                if name == "a FIFO" {
                    mkfifo(&special);
                }
                let error = PluginBuilder::new(&wasm[..])
                    .with_backend(backend)
                    .with_cache_config(&special)
                    .build()
                    .err()
                    .unwrap_or_else(|| panic!("{backend}: a configuration that is {name} was accepted"));
                let message = format!("{error:#}");
                assert!(
                    message.contains(&special.display().to_string()) && message.contains("not a regular file"),
                    "{backend}: {name}: {message}"
                );
            }
        });
    }
}

backend_test! {
    /// Code compiled without fuel metering is never loaded for a plug-in with a fuel limit (nor the reverse): the
    /// two are separate entries, and the fuel limit stops a loop with the cache warm.
    fn code_with_and_without_fuel_metering_are_kept_apart(backend) {
        with_deadline(Duration::from_secs(120), move || {
            let dir = TempDir::new("cache");
            let config = config(dir.path(), "");
            let looping = wat::parse_str(r#"(module (func (export "run") (result i32) (loop (br 0)) (i32.const 0)))"#)
                .unwrap();
            let build = |fuel: Option<u64>| {
                let builder = PluginBuilder::new(&looping[..]).with_backend(backend).with_cache_config(&config);
                match fuel {
                    Some(fuel) => builder.with_fuel_limit(fuel),
                    None => builder,
                }
                .build()
                .unwrap_or_else(|e| panic!("{backend}: {e:#}"))
            };
            drop(build(None));
            for _ in 0..2 {
                let error = build(Some(100_000)).call::<&str, &[u8]>("run", "").unwrap_err();
                assert!(format!("{error:#}").contains("fuel"), "{backend}: {error:#}");
            }
            let hash: [u8; 32] = Sha256::digest(&looping).into();
            let cache = dir.path().join("entries");
            let of_module = entries(&cache)
                .into_iter()
                .filter(|path| Header::parse(&std::fs::read(path).unwrap()).is_ok_and(|(h, _)| h.module_hash == hash))
                .count();
            let expected = if backend.capabilities().code_cache { 2 } else { 0 };
            assert_eq!(of_module, expected, "{backend}: entries of the module, metered and not");
        });
    }
}

backend_test! {
    /// A module the memory accessor rewrite changes is cached as rewritten, under a key of the original module and
    /// the rewrite's inputs (not the original's bytes alone, which name its unrewritten code), and loaded by the next
    /// plug-in instead of rewritten and compiled again; the loaded module still counts as rewritten.
    fn memory_rewrites_are_cached(backend) {
        let dir = TempDir::new("cache");
        let config = config(dir.path(), "");
        let wasm = wat::parse_str(
            r#"(module
              (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
              (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
              (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
              (func (export "run") (result i32)
                (local $p i64)
                (local.set $p (call $alloc (i64.const 1)))
                (call $store_u8 (local.get $p) (i32.const 42))
                (call $output_set (local.get $p) (i64.const 1))
                (i32.const 0)))"#,
        )
        .unwrap();
        let build = || {
            let compiled = PluginBuilder::new(&wasm[..])
                .with_backend(backend)
                .with_cache_config(&config)
                .with_memory_rewrite(true)
                .compile()
                .unwrap_or_else(|e| panic!("{backend}: {e:#}"));
            let mut plugin = extism::Plugin::new_from_compiled(&compiled).unwrap();
            let output: Vec<u8> = plugin.call("run", "").unwrap();
            assert_eq!(output, [42], "{backend}");
            compiled.rewritten_modules()
        };
        let rewritten = build();
        let cache = dir.path().join("entries");
        if !backend.capabilities().code_cache {
            assert!(!cache.exists(), "{backend} has no cache, yet {} exists", cache.display());
            return;
        }
        let env_off = std::env::var_os(extism::NO_MEMORY_REWRITE_ENV).is_some_and(|v| !v.is_empty() && v != "0");
        assert_eq!(rewritten, usize::from(backend.capabilities().multi_memory && !env_off), "{backend}");
        // The module's entry (and, on engines that cache it in this directory, the kernel's).
        let found = entries(&cache);
        assert!(!found.is_empty(), "{backend}: no entry");
        assert_eq!(entry_of(&cache, &wasm).is_some(), rewritten == 0, "{backend}: keyed by more than the bytes");
        #[cfg(unix)]
        let before: Vec<u64> = found.iter().map(|entry| inode(entry)).collect();
        assert_eq!(build(), rewritten);
        assert_eq!(entries(&cache), found, "{backend}: another entry");
        #[cfg(unix)]
        assert_eq!(
            found.iter().map(|entry| inode(entry)).collect::<Vec<_>>(),
            before,
            "{backend}: an entry was written again instead of loaded"
        );
    }
}
