//! WebAssembly values as host functions see them, independent of any engine.

/// The type of a WebAssembly value.
///
/// The order of the variants is part of the C ABI (`ExtismValType`): do not reorder.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer; Extism memory handles are passed as `I64` (see [`PTR`]).
    I64,
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// 128-bit SIMD vector.
    V128,
    /// Function reference (not supported in host function signatures).
    FuncRef,
    /// External reference (not supported in host function signatures).
    ExternRef,
}

/// The value type of an Extism memory handle (an offset into kernel memory).
pub const PTR: ValType = ValType::I64;

/// A WebAssembly value passed to or returned from a host function.
///
/// Floats are stored as their bit patterns, like the engines do, so that NaN payloads survive a round trip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    /// A 32-bit integer.
    I32(i32),
    /// A 64-bit integer.
    I64(i64),
    /// The bits of a 32-bit float.
    F32(u32),
    /// The bits of a 64-bit float.
    F64(u64),
    /// A 128-bit vector.
    V128(u128),
}

impl Val {
    /// The type of this value.
    #[inline]
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::V128(_) => ValType::V128,
        }
    }

    /// The zero value of a type, or `None` for reference types.
    #[inline]
    pub fn default_for(ty: ValType) -> Option<Val> {
        Some(match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::V128 => Val::V128(0),
            ValType::FuncRef | ValType::ExternRef => return None,
        })
    }

    /// The value a host function's result slot of type `ty` holds before the function runs: the type's zero, and
    /// `I32(0)` for reference types (which host functions cannot return; the result check then reports the slot).
    #[inline]
    pub(crate) fn result_slot(ty: ValType) -> Val {
        Val::default_for(ty).unwrap_or(Val::I32(0))
    }

    /// The value if it is an `I32`.
    #[inline]
    pub fn i32(&self) -> Option<i32> {
        match *self {
            Val::I32(v) => Some(v),
            _ => None,
        }
    }

    /// The value if it is an `I64`.
    #[inline]
    pub fn i64(&self) -> Option<i64> {
        match *self {
            Val::I64(v) => Some(v),
            _ => None,
        }
    }

    /// The value if it is an `F32`.
    #[inline]
    pub fn f32(&self) -> Option<f32> {
        match *self {
            Val::F32(v) => Some(f32::from_bits(v)),
            _ => None,
        }
    }

    /// The value if it is an `F64`.
    #[inline]
    pub fn f64(&self) -> Option<f64> {
        match *self {
            Val::F64(v) => Some(f64::from_bits(v)),
            _ => None,
        }
    }

    /// The value if it is a `V128`.
    #[inline]
    pub fn v128(&self) -> Option<u128> {
        match *self {
            Val::V128(v) => Some(v),
            _ => None,
        }
    }

    /// The `I32` value; panics on another type.
    #[inline]
    pub fn unwrap_i32(&self) -> i32 {
        self.i32().expect("expected an i32 value")
    }

    /// The `I64` value; panics on another type.
    #[inline]
    pub fn unwrap_i64(&self) -> i64 {
        self.i64().expect("expected an i64 value")
    }

    /// The `F32` value; panics on another type.
    #[inline]
    pub fn unwrap_f32(&self) -> f32 {
        self.f32().expect("expected an f32 value")
    }

    /// The `F64` value; panics on another type.
    #[inline]
    pub fn unwrap_f64(&self) -> f64 {
        self.f64().expect("expected an f64 value")
    }
}

impl From<i32> for Val {
    #[inline]
    fn from(v: i32) -> Val {
        Val::I32(v)
    }
}

impl From<i64> for Val {
    #[inline]
    fn from(v: i64) -> Val {
        Val::I64(v)
    }
}

impl From<f32> for Val {
    #[inline]
    fn from(v: f32) -> Val {
        Val::F32(v.to_bits())
    }
}

impl From<f64> for Val {
    #[inline]
    fn from(v: f64) -> Val {
        Val::F64(v.to_bits())
    }
}

/// The signature of a function: parameter and result types.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FuncType {
    /// Parameter types.
    pub params: Vec<ValType>,
    /// Result types.
    pub results: Vec<ValType>,
}

impl FuncType {
    /// A signature from parameter and result types.
    pub fn new(params: impl IntoIterator<Item = ValType>, results: impl IntoIterator<Item = ValType>) -> FuncType {
        FuncType {
            params: params.into_iter().collect(),
            results: results.into_iter().collect(),
        }
    }
}

impl std::fmt::Display for FuncType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |types: &[ValType]| {
            types
                .iter()
                .map(|t| format!("{t:?}").to_lowercase())
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "({}) -> ({})", list(&self.params), list(&self.results))
    }
}
