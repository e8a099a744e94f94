//! `extism inspect`: what a plug-in exports and imports, its memories, whether it needs WASI, and which compiled
//! engines can load it.

use std::path::PathBuf;

use clap::Args;
use extism::module_info::{ExternKind, ImportInfo, ModuleInfo};
use extism::{Backend, EXTISM_ENV_MODULE, Manifest};
use serde_json::{Value, json};

use crate::Failure;
use crate::format::{func_type, is_callable, val_type};
use crate::load::WASI_MODULE;

/// `extism inspect PLUGIN [--json]`.
#[derive(Args, Debug)]
pub(crate) struct InspectArgs {
    /// A wasm module, WAT text, or an Extism manifest (JSON or TOML).
    pub plugin: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Which group an import belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImportGroup {
    /// `extism:host/env`: the kernel and Extism's built-in host functions.
    Kernel,
    /// `wasi_snapshot_preview1`.
    Wasi,
    /// Another module of the same manifest.
    Module,
    /// Anything else: host functions the embedding application must provide.
    HostFunction,
}

impl ImportGroup {
    fn of(import: &ImportInfo, modules: &[&str]) -> ImportGroup {
        match import.module.as_str() {
            EXTISM_ENV_MODULE => ImportGroup::Kernel,
            WASI_MODULE => ImportGroup::Wasi,
            m if modules.contains(&m) => ImportGroup::Module,
            _ => ImportGroup::HostFunction,
        }
    }

    fn key(self) -> &'static str {
        match self {
            ImportGroup::Kernel => "kernel",
            ImportGroup::Wasi => "wasi",
            ImportGroup::Module => "modules",
            ImportGroup::HostFunction => "host_functions",
        }
    }

    fn title(self) -> &'static str {
        match self {
            ImportGroup::Kernel => "kernel and Extism built-ins",
            ImportGroup::Wasi => "WASI",
            ImportGroup::Module => "other modules of the manifest",
            ImportGroup::HostFunction => "user host functions",
        }
    }

    const ALL: [ImportGroup; 4] = [
        ImportGroup::Kernel,
        ImportGroup::HostFunction,
        ImportGroup::Wasi,
        ImportGroup::Module,
    ];
}

/// A linear memory: defined or imported, with its limits in 64 KiB pages.
struct Memory {
    index: u32,
    import: Option<String>,
    export: Option<String>,
    min_pages: u64,
    max_pages: Option<u64>,
    memory64: bool,
    shared: bool,
}

/// Run `extism inspect`.
pub(crate) fn run(args: InspectArgs) -> Result<(), Failure> {
    let manifest = crate::load::read_plugin(&args.plugin)?;
    let report = inspect(&manifest)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("JSON values serialise")
        );
    } else {
        print!("{}", text(&args.plugin, &report));
    }
    Ok(())
}

/// Everything `inspect` reports, as JSON (the text form is rendered from it).
fn inspect(manifest: &Manifest) -> Result<Value, Failure> {
    let mut modules: Option<Vec<ModuleInfo>> = None;
    let mut engines = Vec::new();
    let mut errors = Vec::new();
    for &backend in Backend::ALL {
        match extism::module_info(manifest, backend) {
            Ok(info) => {
                engines.push(json!({"engine": backend.name(), "loads": true, "error": null}));
                modules.get_or_insert(info);
            }
            Err(e) => {
                let error = format!("{e:#}");
                errors.push(format!("{backend}: {error}"));
                engines.push(json!({"engine": backend.name(), "loads": false, "error": error}));
            }
        }
    }
    let Some(modules) = modules else {
        return Err(Failure::new(format!(
            "no compiled engine can load the plug-in: {}",
            errors.join("; ")
        )));
    };
    let names: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
    let mut host_functions = Vec::new();
    let mut needs_wasi = false;
    let mut module_reports = Vec::new();
    for module in &modules {
        for import in &module.imports {
            match ImportGroup::of(import, &names) {
                ImportGroup::Wasi => needs_wasi = true,
                ImportGroup::HostFunction => host_functions.push(format!("{}::{}", import.module, import.name)),
                _ => {}
            }
        }
        module_reports.push(module_report(module, &names)?);
    }
    let main = modules.last().expect("module_info returns the main module last");
    let callable: Vec<&str> = main
        .exports
        .iter()
        .filter(|e| matches!(&e.kind, ExternKind::Func(ty) if is_callable(ty)))
        .map(|e| e.name.as_str())
        .collect();
    Ok(json!({
        "modules": module_reports,
        "callable": callable,
        "needs_wasi": needs_wasi,
        "host_functions": host_functions,
        "engines": engines,
    }))
}

fn module_report(module: &ModuleInfo, names: &[&str]) -> Result<Value, Failure> {
    let exports: Vec<Value> = module
        .exports
        .iter()
        .map(|e| {
            let mut v = extern_json(&e.kind);
            v["name"] = json!(e.name);
            v["callable"] = json!(matches!(&e.kind, ExternKind::Func(ty) if is_callable(ty)));
            v
        })
        .collect();
    let mut imports = serde_json::Map::new();
    for group in ImportGroup::ALL {
        let list: Vec<Value> = module
            .imports
            .iter()
            .filter(|i| ImportGroup::of(i, names) == group)
            .map(|i| {
                let mut v = extern_json(&i.kind);
                v["module"] = json!(i.module);
                v["name"] = json!(i.name);
                v
            })
            .collect();
        imports.insert(group.key().to_string(), Value::Array(list));
    }
    let memories: Vec<Value> = memories(&module.wasm)
        .map_err(|e| Failure::new(format!("module `{}`: {e}", module.name)))?
        .into_iter()
        .map(|m| {
            json!({
                "index": m.index,
                "import": m.import,
                "export": m.export,
                "min_pages": m.min_pages,
                "max_pages": m.max_pages,
                "memory64": m.memory64,
                "shared": m.shared,
            })
        })
        .collect();
    Ok(json!({
        "name": module.name,
        "size_bytes": module.wasm.len(),
        "exports": exports,
        "imports": imports,
        "memories": memories,
    }))
}

fn extern_json(kind: &ExternKind) -> Value {
    match kind {
        ExternKind::Func(ty) => json!({
            "kind": "function",
            "signature": func_type(ty),
            "params": ty.params.iter().map(val_type).collect::<Vec<_>>(),
            "results": ty.results.iter().map(val_type).collect::<Vec<_>>(),
        }),
        other => json!({"kind": other.to_string()}),
    }
}

/// The module's memories (imported first, as wasm numbers them), read with wasmparser: the engines' module info does
/// not carry limits.
fn memories(wasm: &[u8]) -> Result<Vec<Memory>, wasmparser::BinaryReaderError> {
    use wasmparser::{ExternalKind, Payload, TypeRef};
    let mut memories = Vec::new();
    let add = |import: Option<String>, ty: wasmparser::MemoryType, memories: &mut Vec<Memory>| {
        memories.push(Memory {
            index: memories.len() as u32,
            import,
            export: None,
            min_pages: ty.initial,
            max_pages: ty.maximum,
            memory64: ty.memory64,
            shared: ty.shared,
        })
    };
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    if let TypeRef::Memory(ty) = import.ty {
                        add(Some(format!("{}::{}", import.module, import.name)), ty, &mut memories);
                    }
                }
            }
            Payload::MemorySection(reader) => {
                for ty in reader {
                    add(None, ty?, &mut memories);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    if export.kind == ExternalKind::Memory
                        && let Some(memory) = memories.get_mut(export.index as usize)
                    {
                        memory.export.get_or_insert_with(|| export.name.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(memories)
}

/// The text form of `inspect`'s report.
fn text(path: &std::path::Path, report: &Value) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let modules = report["modules"].as_array().map(Vec::as_slice).unwrap_or_default();
    let _ = writeln!(
        out,
        "{} ({} module{})",
        path.display(),
        modules.len(),
        if modules.len() == 1 { "" } else { "s" }
    );
    for module in modules {
        let _ = writeln!(
            out,
            "\nmodule `{}` ({} bytes)",
            str_of(&module["name"]),
            module["size_bytes"]
        );
        let _ = writeln!(out, "  exports:");
        for export in module["exports"].as_array().into_iter().flatten() {
            let mark = if export["callable"] == json!(true) {
                "  [callable]"
            } else {
                ""
            };
            let _ = writeln!(out, "    {} {}{mark}", str_of(&export["name"]), kind_text(export));
        }
        let _ = writeln!(out, "  imports:");
        let mut any = false;
        for group in ImportGroup::ALL {
            let list = module["imports"][group.key()]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            if list.is_empty() {
                continue;
            }
            any = true;
            let _ = writeln!(out, "    {} ({}):", group.title(), list.len());
            for import in list {
                let _ = writeln!(
                    out,
                    "      {}::{} {}",
                    str_of(&import["module"]),
                    str_of(&import["name"]),
                    kind_text(import)
                );
            }
        }
        if !any {
            let _ = writeln!(out, "    none");
        }
        let _ = writeln!(out, "  memories:");
        let memories = module["memories"].as_array().map(Vec::as_slice).unwrap_or_default();
        if memories.is_empty() {
            let _ = writeln!(out, "    none");
        }
        for m in memories {
            let max = match m["max_pages"].as_u64() {
                Some(max) => format!("max {max} pages"),
                None => "no max".to_string(),
            };
            let mut notes = Vec::new();
            if let Some(import) = m["import"].as_str() {
                notes.push(format!("imported from {import}"));
            }
            if let Some(export) = m["export"].as_str() {
                notes.push(format!("exported as `{export}`"));
            }
            if m["memory64"] == json!(true) {
                notes.push("64-bit".to_string());
            }
            if m["shared"] == json!(true) {
                notes.push("shared".to_string());
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join(", "))
            };
            let _ = writeln!(
                out,
                "    memory {}: min {} pages, {max}{notes}",
                m["index"], m["min_pages"]
            );
        }
    }
    let _ = writeln!(out);
    let callable: Vec<&str> = report["callable"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let _ = writeln!(out, "callable functions: {}", none_or_list(&callable));
    let _ = writeln!(
        out,
        "needs WASI: {}",
        if report["needs_wasi"] == json!(true) {
            "yes (call with --wasi)"
        } else {
            "no"
        }
    );
    let host: Vec<&str> = report["host_functions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let _ = writeln!(out, "user host functions needed: {}", none_or_list(&host));
    let _ = writeln!(out, "engines:");
    for engine in report["engines"].as_array().into_iter().flatten() {
        let verdict = match engine["error"].as_str() {
            None => "loads".to_string(),
            Some(error) => format!("cannot load: {error}"),
        };
        let _ = writeln!(out, "  {:<9} {verdict}", str_of(&engine["engine"]));
    }
    out
}

fn str_of(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn none_or_list(items: &[&str]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// `function (i32) -> i64`, `memory`, … for the text form.
fn kind_text(item: &Value) -> String {
    match item["signature"].as_str() {
        Some(signature) => format!("function {signature}"),
        None => str_of(&item["kind"]).to_string(),
    }
}
