//! Start functions under the plug-in's limits.
//!
//! wasmi runs a module's start function inside instantiation as one ordinary (not resumable) call, which nothing can
//! interrupt: a start function that loops would hang plug-in creation whatever the timeout. So before compiling, the
//! start section of a plug-in module is removed and its function exported as [`START_EXPORT`] instead; the store
//! calls that export right after instantiating, in fuel slices like any call (see `store.rs`), which is what a start
//! function means. The rewrite copies every other section byte for byte.

use anyhow::{Error, bail};

/// Export name of a module's start function, which no longer runs on its own.
pub(crate) const START_EXPORT: &str = "extism-wasmi:start";

const SECTION_EXPORT: u8 = 7;
const SECTION_START: u8 = 8;
const EXTERNAL_FUNC: u8 = 0;

/// `wasm` with its start function exported as [`START_EXPORT`] instead of started, or `None` if it has no start
/// section (or is not a well-formed binary module, which wasmi's validation then reports).
pub(crate) fn defer_start(wasm: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    let Some(sections) = sections(wasm) else {
        return Ok(None);
    };
    let Some(start) = sections.iter().find(|s| s.id == SECTION_START) else {
        return Ok(None);
    };
    let mut payload = start.payload;
    let Some(function) = read_u32(&mut payload).filter(|_| payload.is_empty()) else {
        return Ok(None);
    };
    let mut entry = Vec::new();
    write_name(&mut entry, START_EXPORT);
    entry.push(EXTERNAL_FUNC);
    write_u32(&mut entry, function);

    let mut out = Vec::with_capacity(wasm.len() + entry.len() + 8);
    out.extend_from_slice(&wasm[..8]);
    let has_exports = sections.iter().any(|s| s.id == SECTION_EXPORT);
    for section in &sections {
        match section.id {
            SECTION_EXPORT => {
                let mut payload = section.payload;
                let Some(count) = read_u32(&mut payload) else {
                    return Ok(None);
                };
                if contains(payload, START_EXPORT.as_bytes()) {
                    bail!("the module exports `{START_EXPORT}`, a name the wasmi backend reserves");
                }
                let mut body = Vec::with_capacity(section.payload.len() + entry.len() + 5);
                write_u32(&mut body, count + 1);
                body.extend_from_slice(payload);
                body.extend_from_slice(&entry);
                write_section(&mut out, SECTION_EXPORT, &body);
            }
            // The export section comes right before the start section: put a new one where the start section was.
            SECTION_START if !has_exports => {
                let mut body = Vec::with_capacity(entry.len() + 1);
                write_u32(&mut body, 1);
                body.extend_from_slice(&entry);
                write_section(&mut out, SECTION_EXPORT, &body);
            }
            SECTION_START => {}
            _ => out.extend_from_slice(section.raw),
        }
    }
    Ok(Some(out))
}

/// A top-level section: its id, its payload, and all of its bytes (header included).
struct Section<'a> {
    id: u8,
    payload: &'a [u8],
    raw: &'a [u8],
}

/// The sections of a binary module, or `None` if it is not one (WAT is turned into binary by the core first).
fn sections(wasm: &[u8]) -> Option<Vec<Section<'_>>> {
    if wasm.get(..4)? != b"\0asm" || wasm.len() < 8 {
        return None;
    }
    let mut sections = Vec::new();
    let mut rest = &wasm[8..];
    while !rest.is_empty() {
        let before = rest;
        let id = rest[0];
        rest = &rest[1..];
        let size = read_u32(&mut rest)? as usize;
        let payload = rest.get(..size)?;
        rest = &rest[size..];
        let raw = &before[..before.len() - rest.len()];
        sections.push(Section { id, payload, raw });
    }
    Some(sections)
}

/// Read an unsigned LEB128 `u32`, advancing `bytes`.
fn read_u32(bytes: &mut &[u8]) -> Option<u32> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().take(5).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return u32::try_from(value).ok();
        }
    }
    None
}

fn write_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn write_name(out: &mut Vec<u8>, name: &str) {
    write_u32(out, name.len() as u32);
    out.extend_from_slice(name.as_bytes());
}

fn write_section(out: &mut Vec<u8>, id: u8, body: &[u8]) {
    out.push(id);
    write_u32(out, body.len() as u32);
    out.extend_from_slice(body);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exports(wasm: &[u8]) -> Vec<String> {
        let engine = wasmi::Engine::default();
        let module = wasmi::Module::new(&engine, wasm).unwrap();
        module.exports().map(|e| e.name().to_string()).collect()
    }

    #[test]
    fn start_becomes_an_export_with_or_without_an_export_section() {
        for wat in [
            r#"(module (func $s) (start $s))"#,
            r#"(module (func $s) (func (export "f")) (start $s) (memory 1) (data (i32.const 0) "x"))"#,
        ] {
            let wasm = wat::parse_str(wat).unwrap();
            let rewritten = defer_start(&wasm).unwrap().expect("has a start section");
            assert!(exports(&rewritten).contains(&START_EXPORT.to_string()), "{wat}");
        }
    }

    #[test]
    fn modules_without_start_are_left_alone() {
        let wasm = wat::parse_str(r#"(module (func (export "f")))"#).unwrap();
        assert!(defer_start(&wasm).unwrap().is_none());
        assert!(defer_start(b"not wasm").unwrap().is_none());
    }

    #[test]
    fn the_reserved_name_is_refused() {
        let wasm = wat::parse_str(r#"(module (func $s (export "extism-wasmi:start")) (start $s))"#).unwrap();
        assert!(defer_start(&wasm).unwrap_err().to_string().contains("reserves"));
    }
}
