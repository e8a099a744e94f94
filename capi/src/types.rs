//! The C-visible value types of `extism.h`: sizes, handles, `ExtismValType`, `ExtismVal` and the callback types.
//!
//! Their names, layouts and enum order are upstream's: C code and foreign-function bindings (Python's cffi, Go, …)
//! compiled against upstream's header rely on them.

use std::ffi::{c_char, c_void};

use extism::{Val, ValType};

/// A size or length, in bytes.
pub type ExtismSize = u64;

/// An offset into the kernel's memory: an Extism memory handle (0 is the null/empty handle).
pub type ExtismMemoryHandle = u64;

/// An enumeration of all possible value types in WebAssembly.
///
/// The order is upstream's and part of the ABI.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtismValType {
    /// Signed 32 bit integer.
    I32,
    /// Signed 64 bit integer.
    I64,
    /// Floating point 32 bit integer.
    F32,
    /// Floating point 64 bit integer.
    F64,
    /// A 128 bit number.
    V128,
    /// A reference to a Wasm function.
    FuncRef,
    /// A reference to opaque data in the Wasm instance.
    ExternRef,
}

impl ExtismValType {
    /// The type whose C value (`int`) is `raw`, if it is one. C code can store any integer in an enum field, and a
    /// Rust enum holding an unlisted value is undefined behaviour, so every tag coming from C is read as an integer
    /// first.
    pub(crate) fn from_raw(raw: u32) -> Option<ExtismValType> {
        use ExtismValType::*;
        [I32, I64, F32, F64, V128, FuncRef, ExternRef]
            .get(raw as usize)
            .copied()
    }

    /// The runtime's value type.
    pub(crate) fn to_val_type(self) -> ValType {
        match self {
            ExtismValType::I32 => ValType::I32,
            ExtismValType::I64 => ValType::I64,
            ExtismValType::F32 => ValType::F32,
            ExtismValType::F64 => ValType::F64,
            ExtismValType::V128 => ValType::V128,
            ExtismValType::FuncRef => ValType::FuncRef,
            ExtismValType::ExternRef => ValType::ExternRef,
        }
    }

    /// The C type of a runtime value type.
    pub(crate) fn from_val_type(ty: ValType) -> ExtismValType {
        match ty {
            ValType::I32 => ExtismValType::I32,
            ValType::I64 => ExtismValType::I64,
            ValType::F32 => ExtismValType::F32,
            ValType::F64 => ExtismValType::F64,
            ValType::V128 => ExtismValType::V128,
            ValType::FuncRef => ExtismValType::FuncRef,
            ValType::ExternRef => ExtismValType::ExternRef,
        }
    }
}

/// A union type for host function argument/return values
#[repr(C)]
#[derive(Clone, Copy)]
pub union ExtismValUnion {
    /// An `I32` value.
    pub i32: i32,
    /// An `I64` value.
    pub i64: i64,
    /// An `F32` value.
    pub f32: f32,
    /// An `F64` value.
    pub f64: f64,
}

/// `ExtismVal` holds the type and value of a function argument/return
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ExtismVal {
    /// The value's type.
    pub t: ExtismValType,
    /// The value, read according to `t`.
    pub v: ExtismValUnion,
}

/// [`ExtismVal`] as the host reads it back from C: the tag as a plain integer (see [`ExtismValType::from_raw`]).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct RawVal {
    pub(crate) t: u32,
    pub(crate) v: ExtismValUnion,
}

// The host hands C an array of `ExtismVal` and reads it back as `RawVal`: the two must have one layout.
const _: () = {
    assert!(std::mem::size_of::<ExtismValType>() == std::mem::size_of::<u32>());
    assert!(std::mem::size_of::<ExtismVal>() == std::mem::size_of::<RawVal>());
    assert!(std::mem::align_of::<ExtismVal>() == std::mem::align_of::<RawVal>());
    assert!(std::mem::offset_of!(ExtismVal, v) == std::mem::offset_of!(RawVal, v));
};

impl ExtismVal {
    /// The C form of a runtime value; `None` for types the C API cannot pass (`V128`).
    pub(crate) fn from_val(value: &Val) -> Option<ExtismVal> {
        Some(match *value {
            Val::I32(i32) => ExtismVal {
                t: ExtismValType::I32,
                v: ExtismValUnion { i32 },
            },
            Val::I64(i64) => ExtismVal {
                t: ExtismValType::I64,
                v: ExtismValUnion { i64 },
            },
            Val::F32(bits) => ExtismVal {
                t: ExtismValType::F32,
                v: ExtismValUnion {
                    f32: f32::from_bits(bits),
                },
            },
            Val::F64(bits) => ExtismVal {
                t: ExtismValType::F64,
                v: ExtismValUnion {
                    f64: f64::from_bits(bits),
                },
            },
            Val::V128(_) => return None,
        })
    }

    /// A zero of the given type (result slots are pre-filled with these before a host callback runs).
    pub(crate) fn zero(t: ExtismValType) -> ExtismVal {
        ExtismVal {
            t,
            v: ExtismValUnion { i64: 0 },
        }
    }
}

impl RawVal {
    /// The runtime value C left in this slot; `None` if its tag is not a type the C API can pass.
    pub(crate) fn to_val(self) -> Option<Val> {
        // SAFETY: every field of the union is a plain number, valid for any bit pattern, and the union is 8 bytes
        // wide (zero-initialised by the host before C wrote to it), so reading any field reads initialised bytes.
        unsafe {
            Some(match ExtismValType::from_raw(self.t)? {
                ExtismValType::I32 => Val::I32(self.v.i32),
                ExtismValType::I64 => Val::I64(self.v.i64),
                ExtismValType::F32 => Val::F32(self.v.f32.to_bits()),
                ExtismValType::F64 => Val::F64(self.v.f64.to_bits()),
                ExtismValType::V128 | ExtismValType::FuncRef | ExtismValType::ExternRef => return None,
            })
        }
    }
}

/// Host function signature
// An `Option` in Rust only so that a NULL pointer from C is a checked `None`; in C it is a plain function pointer.
pub type ExtismFunctionType = Option<
    extern "C" fn(
        plugin: *mut crate::current_plugin::ExtismCurrentPlugin,
        inputs: *const ExtismVal,
        n_inputs: ExtismSize,
        outputs: *mut ExtismVal,
        n_outputs: ExtismSize,
        data: *mut c_void,
    ),
>;

/// Log drain callback
pub type ExtismLogDrainFunctionType = Option<extern "C" fn(data: *const c_char, size: ExtismSize)>;
