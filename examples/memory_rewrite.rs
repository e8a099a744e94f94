//! What the kernel memory accessor rewrite costs and gains, with the rewrite on and off on every compiled engine:
//! `memory_rewrite [runs] [create|echo]` prints two tables (or the one named), each figure the fastest of `runs`
//! (default 5; the least disturbed by a busy machine):
//!
//! - creation: each committed test plug-in (`tests/wasm/*.wasm`) compiled without the compilation cache and, on
//!   engines that have one, loaded from it (warm), and the difference the rewrite makes;
//! - echo: `echo.wasm` (Rust PDK: `input()` → `output()`) at 1 KiB, 64 KiB, 1 MiB and 16 MiB, after its `noop`
//!   export and the instantiation of a compiled plug-in (which the rewrite must not make slower).
//!
//! (`cargo bench --bench calls` measures echo with criterion; this is the quick side-by-side.)
//!
//! `memory_rewrite [runs] create-once <engine> <plug-in> <on|off> [cached]` creates the test plug-in `<plug-in>`
//! `runs` times without the compilation cache (or with the default one) and prints the fastest creation
//! (compilation or loading, plus instantiation).
//!
//! `memory_rewrite [runs] instantiate-once <engine> <on|off>` instantiates a compiled `kitchen.wasm` `runs` times,
//! with a first call (as the `instantiate` benchmark does), and prints the fastest.
//!
//! `memory_rewrite [runs] once <engine> <bytes> <on|off> [<plug-in> [<export>]]` creates one plug-in (`echo.wasm`,
//! or the test plug-in named) and calls its `echo` (or the export named) `runs` times with `bytes` bytes, printing
//! the fastest call: for profilers (e.g. `valgrind --tool=callgrind
//! --toggle-collect='*Plugin*call_inner*'`, which counts the calls alone).
//!
//! `memory_rewrite [runs] native-echo <bytes>` makes, in native code, the copies that `echo.wasm` (Rust PDK 1.4)
//! and the host make for one echo of `bytes` bytes, and prints the fastest of `runs`: the floor a call cannot go
//! below on this machine, whatever the engine (see [`native_echo`]).
//!
//! On wasmtime and wasmer, "compile" is `CompiledPlugin::new` (the module is compiled to machine code there); on
//! wasmi, whose compilation is lazy, it is `CompiledPlugin::new` plus `Plugin::new_from_compiled`, the creation of a
//! plug-in.
//!
//! ```text
//! cargo run --release --example memory_rewrite --all-features
//! ```

use std::time::{Duration, Instant};

use extism::{Backend, CompiledPlugin, Plugin, PluginBuilder};

fn main() -> Result<(), extism::Error> {
    let runs: usize = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(5);
    let only = std::env::args().nth(2);
    let arg = |n: usize, what: &str| {
        std::env::args()
            .nth(n)
            .ok_or_else(|| extism::Error::msg(format!("no {what}")))
    };
    match only.as_deref() {
        Some("echo") => return echo(runs),
        Some("once") => {
            let backend: Backend = arg(3, "engine")?.parse()?;
            let size: usize = arg(4, "size")?.parse()?;
            return once(runs, backend, size, arg(5, "on|off")? == "on");
        }
        Some("instantiate-once") => {
            let backend: Backend = arg(3, "engine")?.parse()?;
            return instantiate_once(runs, backend, arg(4, "on|off")? == "on");
        }
        Some("create-once") => {
            let backend: Backend = arg(3, "engine")?.parse()?;
            let cached = arg(6, "").is_ok_and(|a| a == "cached");
            return create_once(runs, backend, &arg(4, "plug-in")?, arg(5, "on|off")? == "on", cached);
        }
        Some("native-echo") => return native_echo(runs, arg(3, "size")?.parse()?),
        _ => {}
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wasm");
    let mut plugins: Vec<_> = std::fs::read_dir(&dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    plugins.retain(|p| p.extension().is_some_and(|e| e == "wasm"));
    plugins.sort();
    println!("| plug-in | size | engine | code | rewritten | without rewrite | with rewrite | cost |");
    println!("|---|---|---|---|---|---|---|---|");
    for path in &plugins {
        let wasm = std::fs::read(path)?;
        let name = path.file_stem().unwrap_or_default().to_string_lossy();
        for &backend in Backend::ALL {
            // Compiled (no cache), and loaded from a warm compilation cache where the engine has one.
            let caches: &[bool] = if backend.capabilities().code_cache {
                &[false, true]
            } else {
                &[false]
            };
            for &cached in caches {
                let create = |rewrite: bool| -> Result<(Duration, usize), extism::Error> {
                    let builder = PluginBuilder::new(&wasm[..])
                        .with_backend(backend)
                        .with_wasi(true)
                        .with_memory_rewrite(rewrite);
                    let builder = if cached { builder } else { builder.with_cache_disabled() };
                    let start = Instant::now();
                    let compiled = CompiledPlugin::new(builder)?;
                    if backend.name() == "wasmi" {
                        // Lazy compilation: count the creation of a plug-in too.
                        drop(Plugin::new_from_compiled(&compiled)?);
                    }
                    Ok((start.elapsed(), compiled.rewritten_modules()))
                };
                let fastest = |rewrite: bool| -> Result<(Duration, usize), extism::Error> {
                    let mut best = (Duration::MAX, 0);
                    for _ in 0..runs {
                        let (time, rewritten) = create(rewrite)?;
                        best = (best.0.min(time), rewritten);
                    }
                    Ok(best)
                };
                let off = match fastest(false) {
                    Ok((off, _)) => off,
                    Err(e) => {
                        // E.g. a plug-in that needs host functions this example does not define.
                        println!(
                            "| {name} | {} KB | {backend} | not created: {e} |||||",
                            wasm.len() / 1000
                        );
                        break;
                    }
                };
                let (on, rewritten) = fastest(true)?;
                let cost = on.as_secs_f64() - off.as_secs_f64();
                println!(
                    "| {name} | {} KB | {backend} | {} | {rewritten} | {:.2} ms | {:.2} ms | {:+.2} ms ({:+.1}%) |",
                    wasm.len() / 1000,
                    if cached { "cached" } else { "compiled" },
                    off.as_secs_f64() * 1e3,
                    on.as_secs_f64() * 1e3,
                    cost * 1e3,
                    cost / off.as_secs_f64() * 100.0
                );
            }
        }
    }
    if only.as_deref() == Some("create") {
        return Ok(());
    }
    echo(runs)
}

/// The echo table.
fn echo(runs: usize) -> Result<(), extism::Error> {
    let wasm = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wasm/echo.wasm"))?;
    println!();
    println!("| echo | engine | without rewrite | with rewrite | speed-up |");
    println!("|---|---|---|---|---|");
    // What the rewrite must not make slower: a call that moves no bytes, and instantiation (the kernel memory is one
    // more import to link).
    for &backend in Backend::ALL {
        let fastest = |rewrite: bool, instantiate: bool| -> Result<Duration, extism::Error> {
            let compiled = CompiledPlugin::new(
                PluginBuilder::new(&wasm[..])
                    .with_backend(backend)
                    .with_memory_rewrite(rewrite),
            )?;
            let mut plugin = Plugin::new_from_compiled(&compiled)?;
            let batch = if instantiate { 200 } else { 20_000 };
            let mut best = Duration::MAX;
            for _ in 0..runs.max(2) {
                let start = Instant::now();
                for _ in 0..batch {
                    if instantiate {
                        drop(Plugin::new_from_compiled(&compiled)?);
                    } else {
                        plugin.call::<&[u8], &[u8]>("noop", b"")?;
                    }
                }
                best = best.min(start.elapsed() / batch);
            }
            Ok(best)
        };
        for (label, instantiate) in [("noop", false), ("instantiate", true)] {
            let off = fastest(false, instantiate)?;
            let on = fastest(true, instantiate)?;
            println!(
                "| {label} | {backend} | {:?} | {:?} | {:.2}× |",
                off,
                on,
                off.as_secs_f64() / on.as_secs_f64()
            );
        }
    }
    for (label, size) in [
        ("1 KiB", 1 << 10),
        ("64 KiB", 64 << 10),
        ("1 MiB", 1 << 20),
        ("16 MiB", 16 << 20),
    ] {
        let input = vec![0x5a_u8; size];
        for &backend in Backend::ALL {
            let fastest = |rewrite: bool| -> Result<Duration, extism::Error> {
                let mut plugin = PluginBuilder::new(&wasm[..])
                    .with_backend(backend)
                    .with_memory_rewrite(rewrite)
                    .build()?;
                // Small inputs: time a batch, so that the clock's resolution does not matter.
                let batch = (1 << 20) / size.min(1 << 20);
                let mut best = Duration::MAX;
                for _ in 0..runs.max(2) {
                    let start = Instant::now();
                    for _ in 0..batch {
                        let out: &[u8] = plugin.call("echo", &input[..])?;
                        assert_eq!(out.len(), size);
                    }
                    best = best.min(start.elapsed() / batch as u32);
                }
                Ok(best)
            };
            let off = fastest(false)?;
            let on = fastest(true)?;
            println!(
                "| {label} | {backend} | {:?} | {:?} | {:.1}× |",
                off,
                on,
                off.as_secs_f64() / on.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// `runs` instantiations of a compiled `kitchen.wasm` with a first call (as the `instantiate` benchmark does),
/// printing the fastest.
fn instantiate_once(runs: usize, backend: Backend, rewrite: bool) -> Result<(), extism::Error> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wasm/kitchen.wasm");
    let compiled = CompiledPlugin::new(
        PluginBuilder::new(std::fs::read(path)?)
            .with_backend(backend)
            .with_cache_disabled()
            .with_memory_rewrite(rewrite),
    )?;
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        let mut plugin = Plugin::new_from_compiled(&compiled)?;
        let _: &[u8] = plugin.call("input_length", "")?;
        best = best.min(start.elapsed());
    }
    println!(
        "kitchen on {backend}, rewrite {}: fastest instantiation {best:?}",
        if rewrite { "on" } else { "off" }
    );
    Ok(())
}

/// `runs` creations of the test plug-in `name` without the compilation cache (or with the default one, if `cached`:
/// the first creation fills it), printing the fastest.
fn create_once(runs: usize, backend: Backend, name: &str, rewrite: bool, cached: bool) -> Result<(), extism::Error> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/wasm/{name}.wasm"));
    let wasm = std::fs::read(path)?;
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        let builder = PluginBuilder::new(&wasm[..])
            .with_backend(backend)
            .with_wasi(true)
            .with_memory_rewrite(rewrite);
        let compiled = CompiledPlugin::new(if cached { builder } else { builder.with_cache_disabled() })?;
        drop(Plugin::new_from_compiled(&compiled)?);
        best = best.min(start.elapsed());
    }
    println!(
        "{name} on {backend}, rewrite {}: fastest creation {best:?}",
        if rewrite { "on" } else { "off" }
    );
    Ok(())
}

/// `runs` calls of `echo` with `size` bytes on one plug-in (or of the export named by the example's seventh argument
/// of the test plug-in named by its sixth, e.g. `count_vowels count_vowels`).
fn once(runs: usize, backend: Backend, size: usize, rewrite: bool) -> Result<(), extism::Error> {
    let name = std::env::args().nth(6).unwrap_or_else(|| "echo".into());
    let export = std::env::args().nth(7).unwrap_or_else(|| name.clone());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/wasm/{name}.wasm"));
    let wasm = std::fs::read(path)?;
    let mut plugin = PluginBuilder::new(&wasm[..])
        .with_backend(backend)
        .with_memory_rewrite(rewrite)
        .build()?;
    let input = vec![0x5a_u8; size];
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        let out: &[u8] = plugin.call(&export, &input[..])?;
        best = best.min(start.elapsed());
        if export == "echo" {
            assert_eq!(out.len(), size);
        }
    }
    println!("{export} {size} bytes on {backend}, rewrite {rewrite}: {best:?} (fastest of {runs})");
    Ok(())
}

/// The memory traffic of one echo of `size` bytes, in native code: the host copies the input into kernel memory; the
/// guest's `input()` fills a zeroed `Vec` from it (`vec![0; len]`, then the input loads), `Vec<u8>::from_bytes_owned`
/// copies it (`to_vec`), `ToBytes for Vec<u8>` clones it, and `output()` copies the clone into kernel memory (the
/// host reads the output in place). Five copies and one fill, each through a buffer of its own as in the guest.
fn native_echo(runs: usize, size: usize) -> Result<(), extism::Error> {
    let input = vec![0x5a_u8; size];
    let mut buffers: Vec<Vec<u8>> = (0..5).map(|_| vec![1_u8; size]).collect();
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        buffers[0].copy_from_slice(&input);
        buffers[1].fill(0);
        for i in 1..5 {
            let (done, next) = buffers.split_at_mut(i);
            next[0].copy_from_slice(&done[i - 1]);
        }
        std::hint::black_box(&mut buffers);
        best = best.min(start.elapsed());
    }
    println!("echo's copies of {size} bytes in native code: {best:?} (fastest of {runs})");
    Ok(())
}
