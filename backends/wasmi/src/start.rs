//! Start functions under the plug-in's limits.
//!
//! wasmi runs a module's start function inside instantiation as one ordinary (not resumable) call, which nothing can
//! interrupt: a start function that loops would hang plug-in creation whatever the timeout. So before compiling, the
//! start section of a plug-in module is removed and its function exported as [`START_EXPORT`] instead; the store
//! calls that export right after instantiating, in fuel slices like any call (see `store.rs`), which is what a start
//! function means. Sections are read with `wasmparser`; the export section is re-encoded with `wasm-encoder`, and
//! every other section is copied byte for byte.

use anyhow::{Error, bail};
use wasm_encoder::{ExportKind, ExportSection, Module, RawSection};
use wasmparser::{ExternalKind, Parser, Payload};

/// Export name of a module's start function, which no longer runs on its own.
pub(crate) const START_EXPORT: &str = "extism-wasmi:start";

/// `wasm` with its start function exported as [`START_EXPORT`] instead of started, or `None` if it has no start
/// section (or is not a well-formed binary module, which wasmi's validation then reports).
pub(crate) fn defer_start(wasm: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    match rewrite(wasm) {
        Ok(rewritten) => Ok(rewritten),
        // Malformed: leave it to wasmi, whose error names the problem.
        Err(Rewrite::Malformed) => Ok(None),
        Err(Rewrite::ReservedName) => bail!("the module exports `{START_EXPORT}`, a name the wasmi backend reserves"),
    }
}

enum Rewrite {
    Malformed,
    ReservedName,
}

impl From<wasmparser::BinaryReaderError> for Rewrite {
    fn from(_: wasmparser::BinaryReaderError) -> Rewrite {
        Rewrite::Malformed
    }
}

fn rewrite(wasm: &[u8]) -> Result<Option<Vec<u8>>, Rewrite> {
    // First pass: the start function, if any (a module has at most one start section).
    let mut start = None;
    let mut has_exports = false;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::StartSection { func, .. } => start = Some(func),
            Payload::ExportSection(_) => has_exports = true,
            _ => {}
        }
    }
    let Some(start) = start else {
        return Ok(None);
    };
    let start_export = |exports: &mut ExportSection| {
        exports.export(START_EXPORT, ExportKind::Func, start);
    };

    // Second pass: copy the module, with the start function added to the exports and the start section dropped.
    let mut module = Module::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        match &payload {
            Payload::ExportSection(reader) => {
                let mut exports = ExportSection::new();
                for export in reader.clone() {
                    let export = export?;
                    if export.name == START_EXPORT {
                        return Err(Rewrite::ReservedName);
                    }
                    exports.export(export.name, export_kind(export.kind), export.index);
                }
                start_export(&mut exports);
                module.section(&exports);
            }
            // The export section comes right before the start section: put a new one where the start section was.
            Payload::StartSection { .. } if !has_exports => {
                let mut exports = ExportSection::new();
                start_export(&mut exports);
                module.section(&exports);
            }
            Payload::StartSection { .. } => {}
            _ => {
                if let Some((id, range)) = payload.as_section() {
                    let start = usize::try_from(range.start).map_err(|_| Rewrite::Malformed)?;
                    let end = usize::try_from(range.end).map_err(|_| Rewrite::Malformed)?;
                    let data = wasm.get(start..end).ok_or(Rewrite::Malformed)?;
                    module.section(&RawSection { id, data });
                }
            }
        }
    }
    Ok(Some(module.finish()))
}

fn export_kind(kind: ExternalKind) -> ExportKind {
    match kind {
        ExternalKind::Func => ExportKind::Func,
        ExternalKind::Table => ExportKind::Table,
        ExternalKind::Memory => ExportKind::Memory,
        ExternalKind::Global => ExportKind::Global,
        ExternalKind::Tag => ExportKind::Tag,
        ExternalKind::FuncExact => ExportKind::Func,
    }
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

    /// Only the exact name is reserved: a longer name that contains it is an ordinary export.
    #[test]
    fn names_containing_the_reserved_one_are_kept() {
        let wasm =
            wat::parse_str(r#"(module (func $s) (func (export "my-extism-wasmi:start-fn")) (start $s))"#).unwrap();
        let names = exports(&defer_start(&wasm).unwrap().unwrap());
        assert!(names.contains(&"my-extism-wasmi:start-fn".to_string()), "{names:?}");
        assert!(names.contains(&START_EXPORT.to_string()), "{names:?}");
    }

    #[test]
    fn the_reserved_name_is_refused() {
        let wasm = wat::parse_str(r#"(module (func $s (export "extism-wasmi:start")) (start $s))"#).unwrap();
        assert!(defer_start(&wasm).unwrap_err().to_string().contains("reserves"));
    }
}
