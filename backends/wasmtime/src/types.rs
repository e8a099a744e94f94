//! Conversions between the core's value types and wasmtime's.

use extism_core::backend::{ExportInfo, ExternKind, ImportInfo};
use extism_core::{FuncType, Val, ValType};

pub(crate) fn val_type(ty: &wasmtime::ValType) -> ValType {
    match ty {
        wasmtime::ValType::I32 => ValType::I32,
        wasmtime::ValType::I64 => ValType::I64,
        wasmtime::ValType::F32 => ValType::F32,
        wasmtime::ValType::F64 => ValType::F64,
        wasmtime::ValType::V128 => ValType::V128,
        wasmtime::ValType::Ref(r) if r.heap_type().is_func() => ValType::FuncRef,
        wasmtime::ValType::Ref(_) => ValType::ExternRef,
    }
}

/// The wasmtime type of a core value type. Reference types never reach here: the core rejects them in host
/// function signatures.
pub(crate) fn to_wasmtime_type(ty: ValType) -> wasmtime::ValType {
    match ty {
        ValType::I32 => wasmtime::ValType::I32,
        ValType::I64 => wasmtime::ValType::I64,
        ValType::F32 => wasmtime::ValType::F32,
        ValType::F64 => wasmtime::ValType::F64,
        ValType::V128 => wasmtime::ValType::V128,
        ValType::FuncRef => wasmtime::ValType::FUNCREF,
        ValType::ExternRef => wasmtime::ValType::EXTERNREF,
    }
}

pub(crate) fn func_type(ty: &wasmtime::FuncType) -> FuncType {
    FuncType {
        params: ty.params().map(|t| val_type(&t)).collect(),
        results: ty.results().map(|t| val_type(&t)).collect(),
    }
}

fn extern_kind(ty: &wasmtime::ExternType) -> ExternKind {
    match ty {
        wasmtime::ExternType::Func(f) => ExternKind::Func(func_type(f)),
        wasmtime::ExternType::Memory(_) => ExternKind::Memory,
        wasmtime::ExternType::Table(_) => ExternKind::Table,
        wasmtime::ExternType::Global(_) => ExternKind::Global,
        _ => ExternKind::Other,
    }
}

pub(crate) fn imports(module: &wasmtime::Module) -> Vec<ImportInfo> {
    module
        .imports()
        .map(|i| ImportInfo {
            module: i.module().to_string(),
            name: i.name().to_string(),
            kind: extern_kind(&i.ty()),
        })
        .collect()
}

pub(crate) fn exports(module: &wasmtime::Module) -> Vec<ExportInfo> {
    module
        .exports()
        .map(|e| ExportInfo {
            name: e.name().to_string(),
            kind: extern_kind(&e.ty()),
        })
        .collect()
}

/// A wasm value as the core sees it. Reference values cannot occur (see [`to_wasmtime_type`]).
pub(crate) fn from_wasmtime(val: &wasmtime::Val) -> Val {
    match val {
        wasmtime::Val::I32(v) => Val::I32(*v),
        wasmtime::Val::I64(v) => Val::I64(*v),
        wasmtime::Val::F32(v) => Val::F32(*v),
        wasmtime::Val::F64(v) => Val::F64(*v),
        wasmtime::Val::V128(v) => Val::V128(v.as_u128()),
        _ => Val::I64(0),
    }
}

pub(crate) fn to_wasmtime(val: Val) -> wasmtime::Val {
    match val {
        Val::I32(v) => wasmtime::Val::I32(v),
        Val::I64(v) => wasmtime::Val::I64(v),
        Val::F32(v) => wasmtime::Val::F32(v),
        Val::F64(v) => wasmtime::Val::F64(v),
        Val::V128(v) => wasmtime::Val::V128(v.into()),
    }
}
