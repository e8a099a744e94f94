//! `kitchen.wasm`: one export per host-facing behaviour the runtime must get
//! right (config, vars, errors, traps, memory limits, timeouts, input length).
//! It imports nothing but the PDK's own `extism:host/env` functions.

use std::hint::black_box;

use extism_pdk::{config, extism, plugin_fn, var, Error, FnResult};
use serde::Serialize;

#[derive(Serialize)]
struct ConfigValue {
    value: Option<String>,
}

/// Input: a config key. Output: `{"value":"..."}`, or `{"value":null}` when
/// the host has no value (missing or empty) for the key.
#[plugin_fn]
pub fn config_get(key: String) -> FnResult<String> {
    let value = config::get(&key)?;
    Ok(serde_json::to_string(&ConfigValue { value })?)
}

/// Input: a var key. Output: the var's raw bytes; empty if it is not set.
#[plugin_fn]
pub fn var_get(key: String) -> FnResult<Vec<u8>> {
    Ok(var::get::<Vec<u8>>(&key)?.unwrap_or_default())
}

/// Input: `key=value`, split at the first `=`; the key must be UTF-8, the
/// value is any bytes (possibly empty, possibly large). Sets the var.
#[plugin_fn]
pub fn var_set(input: Vec<u8>) -> FnResult<()> {
    let eq = input
        .iter()
        .position(|&b| b == b'=')
        .ok_or_else(|| Error::msg("var_set: input must be `key=value`"))?;
    let key = std::str::from_utf8(&input[..eq])?;
    let value = &input[eq + 1..];
    var::set(key, value)?;
    Ok(())
}

/// Input: a var key. Removes the var (a no-op if it is not set).
#[plugin_fn]
pub fn var_remove(key: String) -> FnResult<()> {
    var::remove(&key)?;
    Ok(())
}

/// Reads var `counter` (decimal text; missing = 0), adds one, stores it back
/// as decimal text and outputs the new value as decimal text.
#[plugin_fn]
pub fn counter() -> FnResult<String> {
    let current = match var::get::<String>("counter")? {
        None => 0u64,
        Some(text) => text
            .parse::<u64>()
            .map_err(|e| Error::msg(format!("var `counter` is not a decimal u64: {e}")))?,
    };
    let next = current.wrapping_add(1).to_string();
    var::set("counter", next.as_str())?;
    Ok(next)
}

/// Fails with the input text as the error message.
///
/// The PDK's `#[plugin_fn]` wrapper formats an `Err` with `{:?}`; for an
/// `anyhow::Error` built from a plain message (no cause, and no backtrace on
/// wasm32-unknown-unknown) that is exactly the message. The `?`/`Into`
/// conversion used here gives return code -1.
#[plugin_fn]
pub fn fail(message: String) -> FnResult<()> {
    Err(Error::msg(message).into())
}

/// Panics. With `panic = "abort"` on wasm32-unknown-unknown this ends in an
/// `unreachable` trap.
#[plugin_fn]
pub fn trap() -> FnResult<()> {
    panic!("kitchen: trap requested");
}

const MIB: u64 = 1024 * 1024;

/// Allocates 1 MiB kernel blocks (raw `extism::alloc`, so a failed allocation
/// is a 0 offset, not a panic) until one fails, then frees them all and
/// outputs how many it got, as decimal text.
#[plugin_fn]
pub fn alloc_bomb() -> FnResult<String> {
    // 4096 MiB is the most a 32-bit kernel memory can hold; reserving up front
    // keeps this plug-in's own memory use flat while the kernel fills up.
    let mut blocks: Vec<u64> = Vec::with_capacity(4096);
    loop {
        // SAFETY: a plain kernel call; 0 means the allocation failed.
        let offset = unsafe { extism::alloc(MIB) };
        if offset == 0 {
            break;
        }
        blocks.push(offset);
    }
    let count = blocks.len();
    for offset in blocks {
        // SAFETY: each offset came from `alloc` above and is freed once.
        unsafe { extism::free(offset) };
    }
    Ok(count.to_string())
}

/// Never returns: for timeout, cancellation and fuel tests.
#[plugin_fn]
pub fn loop_forever() -> FnResult<()> {
    let mut spins: u64 = 0;
    loop {
        // `black_box` keeps the optimizer from proving the loop useless.
        spins = black_box(spins.wrapping_add(1));
    }
}

/// Outputs the input's length as decimal text, without loading the input.
#[plugin_fn]
pub fn input_length() -> FnResult<String> {
    // SAFETY: a plain kernel call.
    let len = unsafe { extism::input_length() };
    Ok(len.to_string())
}
