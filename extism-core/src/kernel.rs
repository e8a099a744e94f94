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
