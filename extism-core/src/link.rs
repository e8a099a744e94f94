//! Linking rules, checked once per compiled plug-in before any instance exists, so that a plug-in whose imports
//! cannot be satisfied fails at creation with a message that names the import.

use std::collections::{HashMap, HashSet};

use anyhow::{Error, bail};

use crate::EXTISM_ENV_MODULE;
use crate::backend::{ExportInfo, ExternKind, ImportInfo};
use crate::function::Function;
use crate::val::{FuncType, ValType};

/// A compiled manifest module with what it imports and exports.
pub(crate) struct ModuleInfo<M> {
    pub name: String,
    pub module: M,
    pub imports: Vec<ImportInfo>,
    pub exports: Vec<ExportInfo>,
}

impl<M> ModuleInfo<M> {
    /// A command module exports a `_start` function: linked into other modules, each call into it runs on a fresh
    /// instance (as wasmtime's linker, and so upstream, treats it). Says nothing about the main module, whose `_start`
    /// is an ordinary export.
    pub(crate) fn is_command(&self) -> bool {
        self.exports
            .iter()
            .any(|e| e.name == "_start" && matches!(e.kind, ExternKind::Func(_)))
    }
}

fn kernel_signature(name: &str) -> Option<FuncType> {
    let (_, params, results) = crate::kernel::GUEST_EXPORTS.iter().find(|(n, _, _)| *n == name)?;
    let decode = |s: &str| {
        s.chars()
            .map(|c| if c == 'I' { ValType::I64 } else { ValType::I32 })
            .collect::<Vec<_>>()
    };
    Some(FuncType {
        params: decode(params),
        results: decode(results),
    })
}

/// Check every import of every module and return the order to instantiate the non-main modules in (dependencies
/// first). `modules` has the main module last; `functions` are the user's host functions; `wasi` the WASI functions
/// if the plug-in has WASI.
pub(crate) fn check_imports<M>(
    modules: &[ModuleInfo<M>],
    functions: &[Function],
    builtins: &[Function],
    wasi: Option<&[Function]>,
) -> Result<Vec<usize>, Error> {
    let by_name: HashMap<&str, usize> = modules.iter().enumerate().map(|(i, m)| (m.name.as_str(), i)).collect();
    // Later definitions shadow earlier ones, as in the linker: built-ins, then user functions.
    let mut host: HashMap<(&str, &str), &FuncType> = HashMap::new();
    for f in builtins.iter().chain(wasi.unwrap_or_default()).chain(functions) {
        host.insert((f.effective_namespace(), f.name()), f.ty());
    }

    for module in modules {
        for import in &module.imports {
            check_import(import, &host, &by_name, modules, wasi.is_some())?;
        }
    }

    // Instantiation order of the non-main modules: depth-first over module-to-module imports.
    let main = modules.len() - 1;
    let mut order = Vec::new();
    let mut done = HashSet::new();
    let mut visiting = HashSet::new();
    for index in 0..main {
        visit(index, modules, &by_name, &mut order, &mut done, &mut visiting)?;
    }
    // The main module's dependencies are all in `order` (every non-main module is).
    Ok(order)
}

fn visit<M>(
    index: usize,
    modules: &[ModuleInfo<M>],
    by_name: &HashMap<&str, usize>,
    order: &mut Vec<usize>,
    done: &mut HashSet<usize>,
    visiting: &mut HashSet<usize>,
) -> Result<(), Error> {
    if done.contains(&index) {
        return Ok(());
    }
    if !visiting.insert(index) {
        bail!(
            "Cyclic imports between modules of the manifest involving `{}`",
            modules[index].name
        );
    }
    for import in &modules[index].imports {
        if let Some(&dep) = by_name.get(import.module.as_str()) {
            if dep == modules.len() - 1 {
                bail!(
                    "Module `{}` imports from the main module, which is not allowed",
                    modules[index].name
                );
            }
            visit(dep, modules, by_name, order, done, visiting)?;
        }
    }
    visiting.remove(&index);
    done.insert(index);
    order.push(index);
    Ok(())
}

fn check_import<M>(
    import: &ImportInfo,
    host: &HashMap<(&str, &str), &FuncType>,
    by_name: &HashMap<&str, usize>,
    modules: &[ModuleInfo<M>],
    wasi: bool,
) -> Result<(), Error> {
    let (module, name) = (import.module.as_str(), import.name.as_str());
    if module == EXTISM_ENV_MODULE {
        let expected = host
            .get(&(module, name))
            .map(|t| (*t).clone())
            .or_else(|| kernel_signature(name));
        return match (&import.kind, expected) {
            (ExternKind::Func(ty), Some(expected)) if *ty == expected => Ok(()),
            (ExternKind::Func(ty), _) => bail!(
                "Invalid function import from {EXTISM_ENV_MODULE}: {name} {ty}\n\n\
                 Note: This may indicate that the PDK the plug-in was built with is newer than this runtime, \
                 or that the import is not part of the Extism kernel. Try updating the SDK."
            ),
            (kind, _) => bail!(
                "Invalid {kind} import from {EXTISM_ENV_MODULE}: {name}\n\n\
                 Note: linked modules cannot access non-function exports of the Extism kernel"
            ),
        };
    }
    if let Some(&dep) = by_name.get(module) {
        let export = modules[dep].exports.iter().find(|e| e.name == name);
        return match export {
            Some(e) if e.kind == import.kind || !matches!(import.kind, ExternKind::Func(_)) => Ok(()),
            Some(e) => bail!(
                "incompatible import type for `{module}::{name}`: the module `{module}` exports a {} of another type",
                e.kind
            ),
            None => bail!("unknown import: `{module}::{name}` has not been defined"),
        };
    }
    match (&import.kind, host.get(&(module, name))) {
        (ExternKind::Func(ty), Some(defined)) if ty == *defined => Ok(()),
        (_, None) if module == crate::WASI_MODULE && !wasi => bail!(
            "the plug-in imports WASI (`{module}::{name}`) but was created without WASI: \
             create it with WASI enabled (`with_wasi(true)`)"
        ),
        (ExternKind::Func(ty), Some(defined)) => bail!(
            "incompatible import type for `{module}::{name}`: the plug-in expects {ty} but the host function is {defined}"
        ),
        _ => bail!("unknown import: `{module}::{name}` has not been defined"),
    }
}
