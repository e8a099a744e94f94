//! The engine-neutral wasm core dump writer, for engines that make none of their own.
//!
//! A core dump, as the WebAssembly tool-conventions define it (`Coredump.md`), is a wasm module: a `core` custom
//! section naming the process, `coremodules` and `coreinstances` sections listing the modules and their instances
//! (with the indices of each instance's memories and globals in the dump), a `corestack` section with the frames of
//! the trapping thread, and the state itself as ordinary sections: a memory section with each memory at its size at
//! the trap and data segments holding its non-zero bytes, and a global section with each global's value at the trap
//! as its initialiser.
//!
//! What the engines let us see bounds what this writer can include (wasmtime writes its own, complete dumps):
//! - memories and globals are those an instance **exports** (a plug-in's `memory` and the kernel's memory; globals
//!   such as the shadow stack pointer are rarely exported, so they are usually missing);
//! - reference-typed globals are written as null references;
//! - the `corestack` has no frames: wasmi exposes none, and wasmer's trap frames cannot be attributed to an instance
//!   (kernel or main module);
//! - instances of linked modules other than the main one are not included.

use wasm_encoder::{
    ConstExpr, CoreDumpInstancesSection, CoreDumpModulesSection, CoreDumpSection, CoreDumpStackSection, DataSection,
    GlobalSection, GlobalType, HeapType, Ieee32, Ieee64, MemorySection, MemoryType, Module, RefType,
};

use crate::val::{Val, ValType};

/// The wasm page size, in bytes.
const PAGE: usize = 65536;

/// Zero bytes a data segment may span before the writer starts a new one: fewer, larger segments for memories with
/// short runs of zeros, no bytes written for long ones.
const ZERO_RUN_SPLIT: usize = 256;

/// What one instance holds at a trap, as far as the engine lets the core see it (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct InstanceSnapshot {
    /// The bytes of each exported memory, in export order.
    pub memories: Vec<Vec<u8>>,
    /// Each exported global, in export order.
    pub globals: Vec<GlobalSnapshot>,
}

/// One global at a trap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GlobalSnapshot {
    /// Its type.
    pub ty: ValType,
    /// Whether it is mutable.
    pub mutable: bool,
    /// Its value; `None` for reference types (written as a null reference).
    pub value: Option<Val>,
}

/// The state of a plug-in at a trap, ready to write as a core dump.
#[derive(Debug, Clone, Default)]
pub struct CoreDump {
    /// The name written to the `core` section (the executable or service that ran).
    pub name: String,
    /// The instances, each with the name of its module (`extism:host/env` for the kernel).
    pub instances: Vec<(String, InstanceSnapshot)>,
}

impl CoreDump {
    /// The core dump as a wasm module (see the module docs for its layout).
    pub fn encode(&self) -> Vec<u8> {
        let mut modules = CoreDumpModulesSection::new();
        let mut instances = CoreDumpInstancesSection::new();
        let mut memory_section = MemorySection::new();
        let mut data = DataSection::new();
        let mut global_section = GlobalSection::new();
        for (index, (module, snapshot)) in self.instances.iter().enumerate() {
            modules.module(module);
            let first_memory = memory_section.len();
            for bytes in &snapshot.memories {
                let memory = memory_section.len();
                memory_section.memory(MemoryType {
                    minimum: bytes.len().div_ceil(PAGE) as u64,
                    maximum: None,
                    memory64: false,
                    shared: false,
                    page_size_log2: None,
                });
                for (offset, segment) in non_zero_segments(bytes) {
                    data.active(
                        memory,
                        &ConstExpr::i32_const(offset as u32 as i32),
                        segment.iter().copied(),
                    );
                }
            }
            let first_global = global_section.len();
            for global in &snapshot.globals {
                let (val_type, init) = global_init(global);
                global_section.global(
                    GlobalType {
                        val_type,
                        mutable: global.mutable,
                        shared: false,
                    },
                    &init,
                );
            }
            instances.instance(
                index as u32,
                first_memory..memory_section.len(),
                first_global..global_section.len(),
            );
        }
        let stack = CoreDumpStackSection::new("main");

        let mut module = Module::new();
        module.section(&CoreDumpSection::new(self.name.as_str()));
        module.section(&modules);
        module.section(&instances);
        module.section(&stack);
        module.section(&memory_section);
        module.section(&global_section);
        module.section(&data);
        module.finish()
    }
}

/// The global's wasm type and its value as a constant initialiser.
fn global_init(global: &GlobalSnapshot) -> (wasm_encoder::ValType, ConstExpr) {
    use wasm_encoder::ValType as W;
    let null = |heap: HeapType| ConstExpr::ref_null(heap);
    match (global.ty, global.value) {
        (_, Some(Val::I32(v))) => (W::I32, ConstExpr::i32_const(v)),
        (_, Some(Val::I64(v))) => (W::I64, ConstExpr::i64_const(v)),
        (_, Some(Val::F32(bits))) => (W::F32, ConstExpr::f32_const(Ieee32::new(bits))),
        (_, Some(Val::F64(bits))) => (W::F64, ConstExpr::f64_const(Ieee64::new(bits))),
        (_, Some(Val::V128(v))) => (W::V128, ConstExpr::v128_const(v as i128)),
        (ValType::FuncRef, None) => (W::Ref(RefType::FUNCREF), null(HeapType::FUNC)),
        (ValType::ExternRef, None) => (W::Ref(RefType::EXTERNREF), null(HeapType::EXTERN)),
        // A numeric global whose value the engine did not give: its zero value.
        (ty, None) => match Val::default_for(ty) {
            Some(zero) => global_init(&GlobalSnapshot {
                value: Some(zero),
                ..*global
            }),
            None => (W::Ref(RefType::EXTERNREF), null(HeapType::EXTERN)),
        },
    }
}

/// The non-zero parts of `bytes` as `(offset, bytes)` segments; runs of up to [`ZERO_RUN_SPLIT`] zeros stay inside a
/// segment.
fn non_zero_segments(bytes: &[u8]) -> Vec<(usize, &[u8])> {
    let mut segments = Vec::new();
    let mut start: Option<usize> = None;
    let mut last_non_zero = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == 0 {
            if let Some(s) = start
                && i - last_non_zero > ZERO_RUN_SPLIT
            {
                segments.push((s, &bytes[s..=last_non_zero]));
                start = None;
            }
            continue;
        }
        if start.is_none() {
            start = Some(i);
        }
        last_non_zero = i;
    }
    if let Some(s) = start {
        segments.push((s, &bytes[s..=last_non_zero]));
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cover_exactly_the_non_zero_bytes() {
        let mut bytes = vec![0u8; 3 * PAGE];
        bytes[10] = 1;
        bytes[12] = 2;
        bytes[10 + ZERO_RUN_SPLIT + 100] = 3;
        bytes[3 * PAGE - 1] = 4;
        let segments = non_zero_segments(&bytes);
        assert_eq!(
            segments,
            vec![
                (10, &[1u8, 0, 2][..]),
                (10 + ZERO_RUN_SPLIT + 100, &[3u8][..]),
                (3 * PAGE - 1, &[4u8][..])
            ]
        );
        assert!(non_zero_segments(&[0; 100]).is_empty());
    }

    #[test]
    fn a_dump_is_a_module_with_the_core_sections() {
        let mut memory = vec![0u8; PAGE];
        memory[100..105].copy_from_slice(b"hello");
        let dump = CoreDump {
            name: "test".into(),
            instances: vec![
                (
                    "kernel".into(),
                    InstanceSnapshot {
                        memories: vec![memory],
                        globals: vec![GlobalSnapshot {
                            ty: ValType::ExternRef,
                            mutable: true,
                            value: None,
                        }],
                    },
                ),
                (
                    "main".into(),
                    InstanceSnapshot {
                        memories: vec![vec![7; 2 * PAGE]],
                        globals: vec![GlobalSnapshot {
                            ty: ValType::I32,
                            mutable: true,
                            value: Some(Val::I32(42)),
                        }],
                    },
                ),
            ],
        }
        .encode();
        let mut custom = Vec::new();
        let mut memories = Vec::new();
        let mut data = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(&dump) {
            match payload.unwrap() {
                wasmparser::Payload::CustomSection(c) => custom.push(c.name().to_string()),
                wasmparser::Payload::MemorySection(s) => memories.extend(s.into_iter().map(|m| m.unwrap().initial)),
                wasmparser::Payload::DataSection(s) => data.extend(s.into_iter().map(|d| d.unwrap().data.to_vec())),
                _ => {}
            }
        }
        assert_eq!(custom, ["core", "coremodules", "coreinstances", "corestack"]);
        assert_eq!(memories, [1, 2]);
        assert!(data.iter().any(|d| d == b"hello"));
        assert!(data.iter().any(|d| d.len() == 2 * PAGE));
    }
}
