//! `count_vowels.wasm`: counts vowels and keeps a running total in a var.
//!
//! * The set of vowels is the config value `vowels` when it is set (and not
//!   empty: the host reports an empty config value as missing), else
//!   `aeiouAEIOU`.
//! * The running total lives in the var `total` as a `u64` encoded as exactly
//!   8 bytes, little-endian. A missing var counts as 0.
//! * Output: `{"count":N,"total":T,"vowels":"..."}` (compact JSON, this field
//!   order).

use extism_pdk::{config, plugin_fn, var, Error, FnResult};
use serde::Serialize;

const DEFAULT_VOWELS: &str = "aeiouAEIOU";
const TOTAL_VAR: &str = "total";

#[derive(Serialize)]
struct Report {
    count: u64,
    total: u64,
    vowels: String,
}

fn load_total() -> Result<u64, Error> {
    match var::get::<Vec<u8>>(TOTAL_VAR)? {
        None => Ok(0),
        Some(bytes) => {
            let raw: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                Error::msg(format!(
                    "var `{TOTAL_VAR}` must hold 8 bytes (u64 little-endian), found {}",
                    bytes.len()
                ))
            })?;
            Ok(u64::from_le_bytes(raw))
        }
    }
}

#[plugin_fn]
pub fn count_vowels(input: String) -> FnResult<String> {
    let vowels = config::get("vowels")?.unwrap_or_else(|| DEFAULT_VOWELS.to_string());
    let count = input.chars().filter(|c| vowels.contains(*c)).count() as u64;
    let total = load_total()?.wrapping_add(count);
    var::set(TOTAL_VAR, &total.to_le_bytes()[..])?;
    let report = Report {
        count,
        total,
        vowels,
    };
    Ok(serde_json::to_string(&report)?)
}
