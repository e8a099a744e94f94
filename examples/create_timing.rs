//! Plug-in creation times on every compiled engine: cold (compilation cache disabled), with a warm compilation cache,
//! and instantiation from an already compiled plug-in; the median of several runs, in milliseconds. A quick
//! stand-in for the `create*` groups of `benches/calls.rs` when an optimised criterion build is too slow to wait for.
//!
//! ```text
//! cargo run --release --example create_timing --features wasmtime,wasmer,wasmi,pulley [-- PLUGIN.wasm]
//! ```
//!
//! The cache lives in a fresh temporary directory, removed at the end (never the user's cache directory).

use std::time::{Duration, Instant};

use extism::{Backend, Plugin, PluginBuilder};

/// Median time of `runs` runs of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() -> Result<(), extism::Error> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/tests/wasm/kitchen.wasm").to_string());
    let wasm = std::fs::read(&path)?;
    let dir = std::env::temp_dir().join(format!("extism-create-timing-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("cache.toml");
    std::fs::write(
        &config,
        format!(
            "[cache]\ndirectory = {:?}\n",
            dir.join("entries").to_str().expect("UTF-8 path")
        ),
    )?;
    println!("{path} ({} bytes)", wasm.len());
    println!(
        "{:<10} {:>14} {:>14} {:>18} {:>22}",
        "engine", "create cold", "create warm", "create warm+call", "instantiate+call"
    );
    for &backend in Backend::ALL {
        let cold = median(5, || {
            let builder = PluginBuilder::new(&wasm[..]).with_backend(backend);
            drop(builder.with_cache_disabled().build().expect("create"));
        });
        let warm_build = || {
            PluginBuilder::new(&wasm[..])
                .with_backend(backend)
                .with_cache_config(&config)
                .build()
                .expect("create")
        };
        drop(warm_build());
        let warm = median(51, || drop(warm_build()));
        let warm_call = median(51, || {
            let mut plugin = warm_build();
            let _: &[u8] = plugin.call("input_length", "").expect("call");
        });
        let compiled = PluginBuilder::new(&wasm[..])
            .with_backend(backend)
            .with_cache_disabled()
            .compile()?;
        let instantiate = median(51, || {
            let mut plugin = Plugin::new_from_compiled(&compiled).expect("instantiate");
            let _: &[u8] = plugin.call("input_length", "").expect("call");
        });
        println!(
            "{:<10} {:>14} {:>14} {:>18} {:>22}",
            backend.name(),
            ms(cold),
            ms(warm),
            ms(warm_call),
            ms(instantiate)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
