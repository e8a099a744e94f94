//! Conversions between the core's value types and wasmer's.

use extism_core::backend::{ExportInfo, ExternKind, ImportInfo};
use extism_core::{FuncType, Val, ValType};
use wasmer::{ExternType, Type, Value};

use crate::instrument::is_hidden_export;

pub(crate) fn val_type(ty: Type) -> ValType {
    match ty {
        Type::I32 => ValType::I32,
        Type::I64 => ValType::I64,
        Type::F32 => ValType::F32,
        Type::F64 => ValType::F64,
        Type::V128 => ValType::V128,
        Type::FuncRef => ValType::FuncRef,
        // Exception references are a kind of external reference as far as Extism is concerned: nothing the host
        // can pass or receive.
        Type::ExternRef | Type::ExceptionRef => ValType::ExternRef,
    }
}

/// The wasmer type of a core value type. Reference types never reach here from host functions: the core rejects
/// them in host function signatures.
pub(crate) fn to_wasmer_type(ty: ValType) -> Type {
    match ty {
        ValType::I32 => Type::I32,
        ValType::I64 => Type::I64,
        ValType::F32 => Type::F32,
        ValType::F64 => Type::F64,
        ValType::V128 => Type::V128,
        ValType::FuncRef => Type::FuncRef,
        ValType::ExternRef => Type::ExternRef,
    }
}

pub(crate) fn func_type(ty: &wasmer::FunctionType) -> FuncType {
    FuncType {
        params: ty.params().iter().map(|t| val_type(*t)).collect(),
        results: ty.results().iter().map(|t| val_type(*t)).collect(),
    }
}

pub(crate) fn to_wasmer_func_type(params: &[ValType], results: &[ValType]) -> wasmer::FunctionType {
    wasmer::FunctionType::new(
        params.iter().map(|t| to_wasmer_type(*t)).collect::<Vec<_>>(),
        results.iter().map(|t| to_wasmer_type(*t)).collect::<Vec<_>>(),
    )
}

fn extern_kind(ty: &ExternType) -> ExternKind {
    match ty {
        ExternType::Function(f) => ExternKind::Func(func_type(f)),
        ExternType::Memory(_) => ExternKind::Memory,
        ExternType::Table(_) => ExternKind::Table,
        ExternType::Global(_) => ExternKind::Global,
        ExternType::Tag(_) => ExternKind::Other,
    }
}

pub(crate) fn imports(module: &wasmer::Module) -> Vec<ImportInfo> {
    module
        .imports()
        .map(|i| ImportInfo {
            module: i.module().to_string(),
            name: i.name().to_string(),
            kind: extern_kind(i.ty()),
        })
        .collect()
}

/// The module's exports as the plug-in declared them: the globals and the start export that instrumentation adds
/// are left out.
pub(crate) fn exports(module: &wasmer::Module) -> Vec<ExportInfo> {
    module
        .exports()
        .filter(|e| !is_hidden_export(e.name()))
        .map(|e| ExportInfo {
            name: e.name().to_string(),
            kind: extern_kind(e.ty()),
        })
        .collect()
}

/// A wasm value as the core sees it. Reference values cannot occur (see [`to_wasmer_type`]); should one appear,
/// it reads as zero rather than aborting the host.
pub(crate) fn from_wasmer(val: &Value) -> Val {
    match val {
        Value::I32(v) => Val::I32(*v),
        Value::I64(v) => Val::I64(*v),
        Value::F32(v) => Val::F32(v.to_bits()),
        Value::F64(v) => Val::F64(v.to_bits()),
        Value::V128(v) => Val::V128(*v),
        _ => Val::I64(0),
    }
}

pub(crate) fn to_wasmer(val: Val) -> Value {
    match val {
        Val::I32(v) => Value::I32(v),
        Val::I64(v) => Value::I64(v),
        Val::F32(v) => Value::F32(f32::from_bits(v)),
        Val::F64(v) => Value::F64(f64::from_bits(v)),
        Val::V128(v) => Value::V128(v),
    }
}
