//! Conversions between the core's value types and wasmi's.

use extism_core::backend::{ExportInfo, ExternKind, ImportInfo};
use extism_core::{FuncType, Val, ValType};

pub(crate) fn val_type(ty: wasmi::ValType) -> ValType {
    match ty {
        wasmi::ValType::I32 => ValType::I32,
        wasmi::ValType::I64 => ValType::I64,
        wasmi::ValType::F32 => ValType::F32,
        wasmi::ValType::F64 => ValType::F64,
        wasmi::ValType::V128 => ValType::V128,
        wasmi::ValType::FuncRef => ValType::FuncRef,
        wasmi::ValType::ExternRef => ValType::ExternRef,
    }
}

/// The wasmi type of a core value type.
pub(crate) fn to_wasmi_type(ty: ValType) -> wasmi::ValType {
    match ty {
        ValType::I32 => wasmi::ValType::I32,
        ValType::I64 => wasmi::ValType::I64,
        ValType::F32 => wasmi::ValType::F32,
        ValType::F64 => wasmi::ValType::F64,
        ValType::V128 => wasmi::ValType::V128,
        ValType::FuncRef => wasmi::ValType::FuncRef,
        ValType::ExternRef => wasmi::ValType::ExternRef,
    }
}

pub(crate) fn func_type(ty: &wasmi::FuncType) -> FuncType {
    FuncType {
        params: ty.params().iter().map(|t| val_type(*t)).collect(),
        results: ty.results().iter().map(|t| val_type(*t)).collect(),
    }
}

fn extern_kind(ty: &wasmi::ExternType) -> ExternKind {
    match ty {
        wasmi::ExternType::Func(f) => ExternKind::Func(func_type(f)),
        wasmi::ExternType::Memory(_) => ExternKind::Memory,
        wasmi::ExternType::Table(_) => ExternKind::Table,
        wasmi::ExternType::Global(_) => ExternKind::Global,
    }
}

pub(crate) fn imports(module: &wasmi::Module) -> Vec<ImportInfo> {
    module
        .imports()
        .map(|i| ImportInfo {
            module: i.module().to_string(),
            name: i.name().to_string(),
            kind: extern_kind(i.ty()),
        })
        .collect()
}

pub(crate) fn exports(module: &wasmi::Module) -> Vec<ExportInfo> {
    module
        .exports()
        .filter(|e| e.name() != crate::start::START_EXPORT)
        .map(|e| ExportInfo {
            name: e.name().to_string(),
            kind: extern_kind(e.ty()),
        })
        .collect()
}

/// A wasm value as the core sees it. Reference values cannot occur: the core rejects reference types in host
/// function signatures, and exports it calls take none.
pub(crate) fn from_wasmi(val: &wasmi::Val) -> Val {
    match val {
        wasmi::Val::I32(v) => Val::I32(*v),
        wasmi::Val::I64(v) => Val::I64(*v),
        wasmi::Val::F32(v) => Val::F32(v.to_bits()),
        wasmi::Val::F64(v) => Val::F64(v.to_bits()),
        wasmi::Val::V128(v) => Val::V128(v.as_u128()),
        wasmi::Val::FuncRef(_) | wasmi::Val::ExternRef(_) => Val::I64(0),
    }
}

pub(crate) fn to_wasmi(val: Val) -> wasmi::Val {
    match val {
        Val::I32(v) => wasmi::Val::I32(v),
        Val::I64(v) => wasmi::Val::I64(v),
        Val::F32(v) => wasmi::Val::F32(wasmi::F32::from_bits(v)),
        Val::F64(v) => wasmi::Val::F64(wasmi::F64::from_bits(v)),
        Val::V128(v) => wasmi::Val::V128(wasmi::V128::from(v)),
    }
}
