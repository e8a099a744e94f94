//! The Extism kernel: the wasm module that owns the memory plug-ins and the host exchange bytes through.
//!
//! It is built from `kernel/` by `kernel/build.sh` and embedded here. Every store instantiates it once and registers
//! its function exports under `extism:host/env`; plug-ins import them directly (wasm-to-wasm calls).

/// The kernel module, binary wasm.
pub const KERNEL_WASM: &[u8] = include_bytes!("../../kernel/extism-kernel.wasm");

/// Kernel exports a plug-in may import, with their wasm signatures (`I` = i64, `i` = i32).
///
/// The kernel also exports `extism_host_call_begin` and `extism_host_call_end`, which only the host calls; plug-ins
/// importing them are rejected like any unknown name.
pub(crate) const GUEST_EXPORTS: &[(&str, &str, &str)] = &[
    ("alloc", "I", "I"),
    ("free", "I", ""),
    ("length", "I", "I"),
    ("length_unsafe", "I", "I"),
    ("load_u8", "I", "i"),
    ("load_u64", "I", "I"),
    ("store_u8", "Ii", ""),
    ("store_u64", "II", ""),
    ("input_set", "II", ""),
    ("input_length", "", "I"),
    ("input_offset", "", "I"),
    ("input_load_u8", "I", "i"),
    ("input_load_u64", "I", "I"),
    ("output_set", "II", ""),
    ("output_length", "", "I"),
    ("output_offset", "", "I"),
    ("error_set", "I", ""),
    ("error_get", "", "I"),
    ("reset", "", ""),
    ("memory_bytes", "", "I"),
];

/// What `extism_host_call_end` reports about the call that just finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallRecord {
    /// Output offset (0 if none).
    pub output_offset: u64,
    /// Output length.
    pub output_length: u64,
    /// Offset of the guest's error message (0 if none).
    pub error_offset: u64,
    /// Length of the error message (0 if none or no longer live).
    pub error_length: u64,
}

impl CallRecord {
    /// Size of the record in kernel memory.
    pub const SIZE: usize = 32;

    /// Read the record at `address` in kernel memory: four little-endian u64s.
    pub fn read(memory: &[u8], address: u64) -> Option<CallRecord> {
        let start = usize::try_from(address).ok()?;
        let bytes = memory.get(start..start.checked_add(Self::SIZE)?)?;
        let word = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        Some(CallRecord {
            output_offset: word(0),
            output_length: word(1),
            error_offset: word(2),
            error_length: word(3),
        })
    }
}

/// The kernel's memory export: every Extism handle is an offset into it.
pub const KERNEL_MEMORY: &str = "memory";

/// The kernel functions the host calls: the protocol between the core and the kernel, owned by the core.
///
/// A backend never names a kernel export: it looks up each of [`KernelFn::ALL`] by [`KernelFn::name`], keeps its
/// engine's typed handle for [`KernelFn::signature`] in an array indexed by [`KernelFn::index`], and calls it when
/// [`crate::backend::KernelAccess::call_kernel`] asks. What the functions mean is the core's business alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelFn {
    /// `alloc(n) -> offset`: a block of `n` bytes (0 when the kernel memory cannot grow).
    Alloc,
    /// `free(offset)`.
    Free,
    /// `length(offset) -> n`: the length of a live block, 0 for anything else.
    Length,
    /// `error_set(offset)`: record the block at `offset` as the call's error (0 clears it).
    ErrorSet,
    /// `error_get() -> offset`: the recorded error, 0 if none.
    ErrorGet,
    /// `reset()`: free everything (between calls).
    Reset,
    /// `extism_host_call_begin(input_len) -> input_offset`: reset, allocate the input, record it.
    CallBegin,
    /// `extism_host_call_end() -> record`: the address of the call's [`CallRecord`].
    CallEnd,
}

/// The wasm signature of a [`KernelFn`]: every kernel function the host calls takes at most one `i64` and returns at
/// most one `i64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelSignature {
    /// `(i64) -> i64`
    I64ToI64,
    /// `(i64) -> ()`
    I64ToUnit,
    /// `() -> i64`
    UnitToI64,
    /// `() -> ()`
    UnitToUnit,
}

impl KernelFn {
    /// How many there are: the length of a backend's handle array.
    pub const COUNT: usize = 8;

    /// Every kernel function the host calls, in [`KernelFn::index`] order.
    pub const ALL: [KernelFn; KernelFn::COUNT] = [
        KernelFn::Alloc,
        KernelFn::Free,
        KernelFn::Length,
        KernelFn::ErrorSet,
        KernelFn::ErrorGet,
        KernelFn::Reset,
        KernelFn::CallBegin,
        KernelFn::CallEnd,
    ];

    /// The kernel export's name.
    pub const fn name(self) -> &'static str {
        match self {
            KernelFn::Alloc => "alloc",
            KernelFn::Free => "free",
            KernelFn::Length => "length",
            KernelFn::ErrorSet => "error_set",
            KernelFn::ErrorGet => "error_get",
            KernelFn::Reset => "reset",
            KernelFn::CallBegin => "extism_host_call_begin",
            KernelFn::CallEnd => "extism_host_call_end",
        }
    }

    /// The export's wasm signature.
    pub const fn signature(self) -> KernelSignature {
        match self {
            KernelFn::Alloc | KernelFn::Length | KernelFn::CallBegin => KernelSignature::I64ToI64,
            KernelFn::Free | KernelFn::ErrorSet => KernelSignature::I64ToUnit,
            KernelFn::ErrorGet | KernelFn::CallEnd => KernelSignature::UnitToI64,
            KernelFn::Reset => KernelSignature::UnitToUnit,
        }
    }

    /// Position in [`KernelFn::ALL`], for a backend's handle array.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Build a backend's handle array: `lookup` is called once per function, in [`KernelFn::ALL`] order, and its
    /// error is given the export's name.
    pub fn handles<H, E: Into<anyhow::Error>>(
        mut lookup: impl FnMut(KernelFn) -> Result<H, E>,
    ) -> Result<[H; KernelFn::COUNT], anyhow::Error> {
        let mut handles = Vec::with_capacity(KernelFn::COUNT);
        for f in KernelFn::ALL {
            let handle = lookup(f).map_err(|e| e.into().context(format!("the Extism kernel export `{}`", f.name())))?;
            handles.push(handle);
        }
        Ok(handles
            .try_into()
            .unwrap_or_else(|_| unreachable!("one handle per kernel function")))
    }
}

#[cfg(test)]
mod kernel_fn_tests {
    use super::*;

    /// The protocol matches the kernel: each function exists with the declared signature, and `index` is the
    /// position in `ALL`.
    #[test]
    fn kernel_functions_match_the_kernel_module() {
        let parser = wasmparser::Parser::new(0);
        let mut types = Vec::new();
        let mut funcs = Vec::new();
        let mut imported = 0u32;
        let mut exports = std::collections::HashMap::new();
        for payload in parser.parse_all(KERNEL_WASM) {
            match payload.unwrap() {
                wasmparser::Payload::TypeSection(reader) => {
                    for group in reader {
                        for ty in group.unwrap().into_types() {
                            types.push(ty.unwrap_func().clone());
                        }
                    }
                }
                wasmparser::Payload::ImportSection(reader) => imported += reader.count(),
                wasmparser::Payload::FunctionSection(reader) => {
                    funcs.extend(reader.into_iter().map(|t| t.unwrap()));
                }
                wasmparser::Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export.unwrap();
                        exports.insert(export.name.to_string(), (export.kind, export.index));
                    }
                }
                _ => {}
            }
        }
        assert_eq!(imported, 0, "the kernel imports nothing");
        assert!(matches!(
            exports.get(KERNEL_MEMORY),
            Some((wasmparser::ExternalKind::Memory, _))
        ));
        for (i, f) in KernelFn::ALL.into_iter().enumerate() {
            assert_eq!(f.index(), i);
            let Some(&(wasmparser::ExternalKind::Func, index)) = exports.get(f.name()) else {
                panic!("the kernel does not export function `{}`", f.name());
            };
            let ty = &types[funcs[index as usize] as usize];
            let i64s = |n: usize| vec![wasmparser::ValType::I64; n];
            let (params, results) = match f.signature() {
                KernelSignature::I64ToI64 => (1, 1),
                KernelSignature::I64ToUnit => (1, 0),
                KernelSignature::UnitToI64 => (0, 1),
                KernelSignature::UnitToUnit => (0, 0),
            };
            assert_eq!(ty.params(), i64s(params), "params of {}", f.name());
            assert_eq!(ty.results(), i64s(results), "results of {}", f.name());
        }
    }
}
