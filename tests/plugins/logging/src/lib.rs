//! `logging.wasm`: logs at every level, through the PDK's macros (which ask
//! `get_log_level` first) and through the raw `log_*` imports (which do not).

use extism_pdk::{debug, error, extism, info, plugin_fn, trace, warn, FnResult, Memory};

/// Logs `"<input> at <level>"` once per level, trace to error, with the PDK
/// macros, then outputs `get_log_level()` as decimal text.
#[plugin_fn]
pub fn log_all(input: String) -> FnResult<String> {
    trace!("{input} at trace");
    debug!("{input} at debug");
    info!("{input} at info");
    warn!("{input} at warn");
    error!("{input} at error");
    Ok(log_level()?)
}

/// Outputs `get_log_level()` as decimal text: 0 trace … 4 error,
/// 2147483647 when logging is off.
#[plugin_fn]
pub fn get_log_level() -> FnResult<String> {
    Ok(log_level()?)
}

fn log_level() -> Result<String, extism_pdk::Error> {
    // SAFETY: a plain host call.
    Ok(unsafe { extism::get_log_level() }.to_string())
}

/// Input: one level letter (`t`, `d`, `i`, `w`, `e`) then the message bytes
/// (any bytes, not necessarily UTF-8). Passes the message to that `log_*`
/// import whatever the log level, then outputs the kernel `length()` of the
/// message handle as decimal text: 0 once the host freed it.
#[plugin_fn]
pub fn log_raw(input: Vec<u8>) -> FnResult<String> {
    let (&level, message) = input
        .split_first()
        .ok_or_else(|| extism_pdk::Error::msg("log_raw: empty input"))?;
    let memory = Memory::from_bytes(message)?;
    let offset = memory.offset();
    // SAFETY: raw host and kernel calls on a handle this function allocated.
    unsafe {
        match level {
            b't' => extism::log_trace(offset),
            b'd' => extism::log_debug(offset),
            b'i' => extism::log_info(offset),
            b'w' => extism::log_warn(offset),
            b'e' => extism::log_error(offset),
            other => return Err(extism_pdk::Error::msg(format!("log_raw: unknown level {other}")).into()),
        }
        Ok(extism::length(offset).to_string())
    }
}
