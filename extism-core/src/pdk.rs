//! The host functions every plug-in may import from `extism:host/env` besides the kernel's own exports:
//! `config_get`, `var_get`, `var_set`, the `log_*` family, `get_log_level`, and the HTTP functions (whose
//! implementation lives in `http.rs`).
//!
//! They follow upstream's ownership rule: a host function frees the handles passed to it, and handles it returns
//! belong to the guest. Empty values travel as handle 0.

use std::sync::{Arc, OnceLock};

use anyhow::{Error, anyhow, bail};

use crate::EXTISM_ENV_MODULE;
use crate::current_plugin::CurrentPlugin;
use crate::function::Function;
use crate::manifest::DEFAULT_MAX_VAR_BYTES;
use crate::val::{FuncType, Val, ValType};

/// Bytes counted for each var besides its key and value (upstream's accounting: two 24-byte heap headers).
const VAR_ENTRY_OVERHEAD: u64 = 48;

/// The built-in host functions, shared by every plug-in.
pub(crate) fn builtins() -> &'static [Function] {
    static BUILTINS: OnceLock<Vec<Function>> = OnceLock::new();
    BUILTINS.get_or_init(|| {
        use ValType::{I32, I64};
        let f = |name: &str, params: &[ValType], results: &[ValType], imp: crate::function::HostFunctionImpl| {
            Function::from_impl(
                EXTISM_ENV_MODULE,
                name,
                FuncType::new(params.iter().copied(), results.iter().copied()),
                imp,
            )
        };
        let mut all = vec![
            f("config_get", &[I64], &[I64], Arc::new(config_get)),
            f("var_get", &[I64], &[I64], Arc::new(var_get)),
            f("var_set", &[I64, I64], &[], Arc::new(var_set)),
            f("get_log_level", &[], &[I32], Arc::new(get_log_level)),
            f("http_request", &[I64, I64], &[I64], Arc::new(crate::http::http_request)),
            f("http_status_code", &[], &[I32], Arc::new(crate::http::http_status_code)),
            f("http_headers", &[], &[I64], Arc::new(crate::http::http_headers)),
        ];
        for level in [
            tracing::Level::TRACE,
            tracing::Level::DEBUG,
            tracing::Level::INFO,
            tracing::Level::WARN,
            tracing::Level::ERROR,
        ] {
            let name = format!("log_{}", level.as_str().to_ascii_lowercase());
            all.push(f(&name, &[I64], &[], Arc::new(move |p, a, _| log(p, a, level))));
        }
        all
    })
}

fn set(results: &mut [Val], value: Val) -> Result<(), Error> {
    if let Some(slot) = results.first_mut() {
        *slot = value;
    }
    Ok(())
}

fn handle_arg(args: &[Val], index: usize) -> u64 {
    args.get(index).and_then(Val::i64).unwrap_or(0) as u64
}

/// Read the UTF-8 text of `offset`, then free it. `what` names the argument in errors.
fn take_string(plugin: &mut CurrentPlugin, offset: u64, what: &str) -> Result<String, Error> {
    let handle = plugin
        .memory_handle(offset)
        .ok_or_else(|| anyhow!("invalid handle offset for {what}: {offset}"))?;
    let text = plugin.memory_str(handle)?.to_string();
    plugin.memory_free(handle)?;
    Ok(text)
}

/// Read the UTF-8 text of `offset` without freeing it. `what` names the argument in errors.
fn read_string(plugin: &mut CurrentPlugin, offset: u64, what: &str) -> Result<(String, crate::MemoryHandle), Error> {
    let handle = plugin
        .memory_handle(offset)
        .ok_or_else(|| anyhow!("invalid handle offset for {what}: {offset}"))?;
    Ok((plugin.memory_str(handle)?.to_string(), handle))
}

/// `config_get` and `var_get`: the value of the key at `args[0]` in a new allocation (0 if there is none), and the
/// key freed.
///
/// The value is allocated **before** the key is freed, as upstream does, so that it never takes the key's place:
/// PDKs that free the key themselves after the call (the Haskell PDK does) would otherwise free the value, and read
/// it as empty.
fn lookup(
    plugin: &mut CurrentPlugin,
    args: &[Val],
    what: &str,
    find: impl FnOnce(&mut CurrentPlugin, &str) -> Option<Vec<u8>>,
) -> Result<crate::MemoryHandle, Error> {
    let (key, key_handle) = read_string(plugin, handle_arg(args, 0), what)?;
    let handle = match find(plugin, &key) {
        Some(value) => plugin.memory_new(value)?,
        None => crate::MemoryHandle::null(),
    };
    plugin.memory_free(key_handle)?;
    Ok(handle)
}

fn config_get(plugin: &mut CurrentPlugin, args: &[Val], results: &mut [Val]) -> Result<(), Error> {
    let handle = lookup(plugin, args, "config key", |plugin, key| {
        plugin.manifest().config.get(key).map(|v| v.clone().into_bytes())
    })?;
    set(results, Val::I64(handle.offset as i64))
}

fn var_get(plugin: &mut CurrentPlugin, args: &[Val], results: &mut [Val]) -> Result<(), Error> {
    let handle = lookup(plugin, args, "var key", |plugin, key| plugin.vars().get(key).cloned())?;
    set(results, Val::I64(handle.offset as i64))
}

/// Sets or (with a null value) removes a var.
///
/// The size rule is upstream's: every entry costs `key + value + 48` bytes and the total must stay within
/// `memory.max_var_bytes` (1 MiB by default, `0` disables vars). Unlike upstream, the entry being replaced is not
/// counted twice, so overwriting a var with a value of the same size never fails.
fn var_set(plugin: &mut CurrentPlugin, args: &[Val], _results: &mut [Val]) -> Result<(), Error> {
    let limit = plugin.manifest().memory.max_var_bytes.unwrap_or(DEFAULT_MAX_VAR_BYTES);
    if limit == 0 {
        bail!("Vars are disabled by this host");
    }
    let key = take_string(plugin, handle_arg(args, 0), "var key")?;
    let value_offset = handle_arg(args, 1);
    if value_offset == 0 {
        plugin.vars_mut().remove(&key);
        return Ok(());
    }
    let value_handle = plugin
        .memory_handle(value_offset)
        .ok_or_else(|| anyhow!("invalid handle offset for var value: {value_offset}"))?;
    let others: u64 = plugin
        .vars()
        .iter()
        .filter(|(k, _)| **k != key)
        .map(|(k, v)| k.len() as u64 + v.len() as u64 + VAR_ENTRY_OVERHEAD)
        .sum();
    let needed = key.len() as u64 + value_handle.length + VAR_ENTRY_OVERHEAD;
    if others.saturating_add(needed) > limit {
        plugin.memory_free(value_handle)?;
        bail!("Variable store is full");
    }
    let value = plugin.memory_bytes(value_handle)?.to_vec();
    plugin.memory_free(value_handle)?;
    plugin.vars_mut().insert(key, value);
    Ok(())
}

/// The current global log level as the PDK encodes it: TRACE 0 … ERROR 4, logging off `i32::MAX`.
fn get_log_level(_plugin: &mut CurrentPlugin, _args: &[Val], results: &mut [Val]) -> Result<(), Error> {
    use tracing::level_filters::LevelFilter;
    let level = match LevelFilter::current() {
        LevelFilter::TRACE => 0,
        LevelFilter::DEBUG => 1,
        LevelFilter::INFO => 2,
        LevelFilter::WARN => 3,
        LevelFilter::ERROR => 4,
        _ => i32::MAX,
    };
    set(results, Val::I32(level))
}

fn log(plugin: &mut CurrentPlugin, args: &[Val], level: tracing::Level) -> Result<(), Error> {
    let offset = handle_arg(args, 0);
    if tracing::level_filters::LevelFilter::current() < level {
        // Filtered out: nothing to format, but the handle is still ours to free.
        if let Some(handle) = plugin.memory_handle(offset) {
            plugin.memory_free(handle)?;
        }
        return Ok(());
    }
    let handle = plugin
        .memory_handle(offset)
        .ok_or_else(|| anyhow!("invalid handle offset for log message: {offset}"))?;
    let id = plugin.id();
    match plugin.memory_str(handle) {
        Ok(message) => match level {
            tracing::Level::TRACE => tracing::trace!(target: "extism::pdk", plugin = %id, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(target: "extism::pdk", plugin = %id, "{message}"),
            tracing::Level::INFO => tracing::info!(target: "extism::pdk", plugin = %id, "{message}"),
            tracing::Level::WARN => tracing::warn!(target: "extism::pdk", plugin = %id, "{message}"),
            tracing::Level::ERROR => tracing::error!(target: "extism::pdk", plugin = %id, "{message}"),
        },
        Err(e) => tracing::error!(target: "extism::pdk", plugin = %id, "unable to log message: {e}"),
    }
    plugin.memory_free(handle)
}
