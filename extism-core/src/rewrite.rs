//! Taking the kernel's memory accessors off the call path.
//!
//! PDKs move bytes eight at a time through the kernel's exports (`input_load_u64`, `load_u64`, `store_u64` and the
//! `_u8` forms for the tail): ~4 million calls into another instance for 16 MiB in and out. When a plug-in is
//! compiled, [`rewrite_module`] turns each guest module's **direct calls** (`call`) to those six imports into calls to
//! small functions appended to the guest itself, which read and write the kernel's memory directly: the kernel's
//! memory is imported into the guest as an additional memory (multi-memory), under [`crate::EXTISM_ENV_MODULE`] /
//! [`crate::kernel::KERNEL_MEMORY`], a name the linking rules forbid guests to import themselves, so it cannot clash.
//! The engines may inline those functions (Cranelift does); the call into the kernel instance is gone either way.
//!
//! The local functions have exactly the kernel's semantics (see `kernel/src/mem.rs` and `kernel/src/exports.rs`):
//! - `load_u8(p)`, `load_u64(p)`: the bytes at `p` if `[p, p + size)` lies in `[heap start, end of memory)`, else 0;
//! - `store_u8(p, v)`, `store_u64(p, v)`: write only under the same condition, else do nothing;
//! - `input_load_u8(off)`: 0 unless `off < input length`; `input_load_u64(off)`: 0 unless `input length >= 8` and
//!   `off <= input length - 8`; otherwise `load_*(input offset + off)` (wrapping add, as the kernel does).
//!
//! The heap start and the addresses of the input offset and length in kernel memory are read from the kernel module
//! itself ([`KernelLayout::of`]): the `__heap_base` global it exports, and the bodies of its `input_offset` and
//! `input_length` exports, which load from a constant address. A kernel whose code no longer has that shape disables
//! the rewrite instead of guessing.
//!
//! Everything else keeps working unchanged: the imports stay (so function indices are stable, and calls through
//! tables, exports of the import and `return_call` still reach the kernel); only the memory index space shifts (the
//! kernel memory is imported after the guest's own imported memories, so the guest's defined memories move up by
//! one), which the re-encoder applies to every instruction, export and data segment.

use std::sync::OnceLock;

use wasm_encoder::reencode::{Reencode, utils};
use wasm_encoder::{BlockType, Function, Instruction, MemArg, MemoryType, ValType};
use wasmparser::{ExternalKind, Operator, Parser, Payload, TypeRef};

use crate::EXTISM_ENV_MODULE;
use crate::kernel::{KERNEL_MEMORY, KERNEL_WASM};

/// The environment variable that turns the rewrite off for every plug-in the process creates, whatever their
/// builders ask: set to anything but an empty string or `0`.
pub const NO_MEMORY_REWRITE_ENV: &str = "EXTISM_NO_MEMORY_REWRITE";

/// True if [`NO_MEMORY_REWRITE_ENV`] asks to turn the rewrite off.
pub(crate) fn disabled_by_env() -> bool {
    disables(std::env::var_os(NO_MEMORY_REWRITE_ENV).as_deref())
}

/// True if [`NO_MEMORY_REWRITE_ENV`] set to `value` turns the rewrite off.
fn disables(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "0")
}

/// The kernel accessors the rewrite replaces, with their wasm signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accessor {
    LoadU8,
    LoadU64,
    StoreU8,
    StoreU64,
    InputLoadU8,
    InputLoadU64,
}

impl Accessor {
    const ALL: [Accessor; 6] = [
        Accessor::LoadU8,
        Accessor::LoadU64,
        Accessor::StoreU8,
        Accessor::StoreU64,
        Accessor::InputLoadU8,
        Accessor::InputLoadU64,
    ];

    fn name(self) -> &'static str {
        match self {
            Accessor::LoadU8 => "load_u8",
            Accessor::LoadU64 => "load_u64",
            Accessor::StoreU8 => "store_u8",
            Accessor::StoreU64 => "store_u64",
            Accessor::InputLoadU8 => "input_load_u8",
            Accessor::InputLoadU64 => "input_load_u64",
        }
    }

    fn params(self) -> &'static [ValType] {
        match self {
            Accessor::LoadU8 | Accessor::LoadU64 | Accessor::InputLoadU8 | Accessor::InputLoadU64 => &[ValType::I64],
            Accessor::StoreU8 => &[ValType::I64, ValType::I32],
            Accessor::StoreU64 => &[ValType::I64, ValType::I64],
        }
    }

    fn results(self) -> &'static [ValType] {
        match self {
            Accessor::LoadU8 | Accessor::InputLoadU8 => &[ValType::I32],
            Accessor::LoadU64 | Accessor::InputLoadU64 => &[ValType::I64],
            Accessor::StoreU8 | Accessor::StoreU64 => &[],
        }
    }

    /// Bytes the access touches.
    fn size(self) -> i64 {
        match self {
            Accessor::LoadU8 | Accessor::StoreU8 | Accessor::InputLoadU8 => 1,
            Accessor::LoadU64 | Accessor::StoreU64 | Accessor::InputLoadU64 => 8,
        }
    }

    fn by_name(name: &str) -> Option<Accessor> {
        Accessor::ALL.into_iter().find(|a| a.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Where the kernel keeps what the accessors need, read from the kernel module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KernelLayout {
    /// First byte guests may read or write (`__heap_base` rounded up to 16, as `kernel/src/mem.rs` computes it).
    pub heap_start: u32,
    /// Address of the input offset (a little-endian u64).
    pub input_offset: u32,
    /// Address of the input length (a little-endian u64).
    pub input_length: u32,
}

impl KernelLayout {
    /// The layout of the embedded kernel, or `None` (and the rewrite stays off) if its code does not have the
    /// expected shape. Computed once per process.
    pub(crate) fn of_kernel() -> Option<KernelLayout> {
        static LAYOUT: OnceLock<Option<KernelLayout>> = OnceLock::new();
        *LAYOUT.get_or_init(|| {
            let layout = KernelLayout::of(KERNEL_WASM);
            if layout.is_none() {
                tracing::warn!("the Extism kernel's layout is not recognised: the memory accessor rewrite is off");
            }
            layout
        })
    }

    /// Read the layout from a kernel module: the `__heap_base` global's constant initialiser, and the constant
    /// addresses the `input_offset` and `input_length` exports load from (bodies `i32.const a; i64.load offset=o`).
    pub(crate) fn of(kernel: &[u8]) -> Option<KernelLayout> {
        let mut exports = std::collections::HashMap::new();
        let mut globals = Vec::new();
        let mut imported_funcs = 0u32;
        let mut bodies = Vec::new();
        for payload in Parser::new(0).parse_all(kernel) {
            match payload.ok()? {
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        if matches!(import.ok()?.ty, TypeRef::Func(_)) {
                            imported_funcs += 1;
                        }
                    }
                }
                Payload::GlobalSection(reader) => {
                    for global in reader {
                        let mut ops = global.ok()?.init_expr.get_operators_reader();
                        globals.push(match ops.read().ok()? {
                            Operator::I32Const { value } => Some(value as u32),
                            _ => None,
                        });
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export.ok()?;
                        exports.insert(export.name, (export.kind, export.index));
                    }
                }
                Payload::CodeSectionEntry(body) => bodies.push(body),
                _ => {}
            }
        }
        let heap_base = match exports.get("__heap_base")? {
            (ExternalKind::Global, index) => (*globals.get(*index as usize)?)?,
            _ => return None,
        };
        let constant_load = |name: &str| -> Option<u32> {
            let (ExternalKind::Func, index) = *exports.get(name)? else {
                return None;
            };
            let body = bodies.get(index.checked_sub(imported_funcs)? as usize)?;
            let mut ops = body.get_operators_reader().ok()?;
            let (Operator::I32Const { value }, Operator::I64Load { memarg }, Operator::End) =
                (ops.read().ok()?, ops.read().ok()?, ops.read().ok()?)
            else {
                return None;
            };
            if memarg.target != wasmparser::MemArgTarget::Memory(0) || !ops.eof() {
                return None;
            }
            u32::try_from(u64::from(value as u32).checked_add(memarg.offset)?).ok()
        };
        Some(KernelLayout {
            heap_start: heap_base.checked_add(15)? & !15,
            input_offset: constant_load("input_offset")?,
            input_length: constant_load("input_length")?,
        })
    }
}

/// What the first pass learns about a guest module.
struct Survey {
    /// Function index of each imported accessor (by [`Accessor::index`]), if the module imports it with the
    /// kernel's signature.
    imported: [Option<u32>; 6],
    /// Types in the type section (rec groups flattened).
    types: u32,
    /// Imported functions plus defined functions: the index of the first appended function.
    functions: u32,
    /// Imported memories: the index the kernel memory gets.
    imported_memories: u32,
}

/// Read what the rewrite needs to know; `None` if the module needs no rewrite (or cannot take one): it imports no
/// accessor with the kernel's signature, defines no function, already imports something named like the kernel
/// memory, or does not parse.
fn survey(wasm: &[u8], shadowed: &[&str]) -> Option<Survey> {
    let mut func_types: Vec<Option<(Vec<wasmparser::ValType>, Vec<wasmparser::ValType>)>> = Vec::new();
    let mut survey = Survey {
        imported: [None; 6],
        types: 0,
        functions: 0,
        imported_memories: 0,
    };
    let mut defined = 0u32;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.ok()? {
            Payload::Version { encoding, .. } if encoding != wasmparser::Encoding::Module => return None,
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group.ok()?.into_types() {
                        func_types.push(match &sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) if !sub.composite_type.shared => {
                                Some((f.params().to_vec(), f.results().to_vec()))
                            }
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.ok()?;
                    match import.ty {
                        TypeRef::Func(ty) | TypeRef::FuncExact(ty) => {
                            if import.module == EXTISM_ENV_MODULE
                                && !shadowed.contains(&import.name)
                                && let Some(accessor) = Accessor::by_name(import.name)
                                && let Some(Some((params, results))) = func_types.get(ty as usize)
                                && same_types(params, accessor.params())
                                && same_types(results, accessor.results())
                                && survey.imported[accessor.index()].is_none()
                            {
                                survey.imported[accessor.index()] = Some(survey.functions);
                            }
                            survey.functions += 1;
                        }
                        TypeRef::Memory(_) => survey.imported_memories += 1,
                        _ => {}
                    }
                    if import.module == EXTISM_ENV_MODULE && import.name == KERNEL_MEMORY {
                        return None;
                    }
                }
            }
            Payload::FunctionSection(reader) => defined += reader.count(),
            _ => {}
        }
    }
    survey.types = u32::try_from(func_types.len()).ok()?;
    survey.functions = survey.functions.checked_add(defined)?;
    (defined > 0 && survey.imported.iter().any(Option::is_some)).then_some(survey)
}

fn same_types(parsed: &[wasmparser::ValType], expected: &[ValType]) -> bool {
    parsed.len() == expected.len()
        && parsed.iter().zip(expected).all(|(p, e)| {
            matches!(
                (p, e),
                (wasmparser::ValType::I32, ValType::I32) | (wasmparser::ValType::I64, ValType::I64)
            )
        })
}

/// A guest module after the rewrite.
#[derive(Debug)]
pub(crate) struct Rewritten {
    /// The new module: it imports the kernel memory as [`crate::EXTISM_ENV_MODULE`] /
    /// [`crate::kernel::KERNEL_MEMORY`].
    pub wasm: Vec<u8>,
}

/// Rewrite the direct calls of `wasm` to the kernel's memory accessors (see the module documentation). `None` when
/// there is nothing to rewrite or the module cannot be re-encoded (it is then compiled as it is, and any error it has
/// is reported by the engine as usual). Accessors named in `shadowed` are left alone: a host function defined
/// under [`crate::EXTISM_ENV_MODULE`] with that name replaces the kernel's (users may shadow kernel exports), so
/// calls to it must stay calls.
pub(crate) fn rewrite_module(wasm: &[u8], layout: KernelLayout, shadowed: &[&str]) -> Option<Rewritten> {
    let survey = survey(wasm, shadowed)?;
    let mut rewriter = Rewriter {
        layout,
        survey: &survey,
        used: Vec::new(),
    };
    // Which accessors the module imports, in the order the local functions are appended.
    for accessor in Accessor::ALL {
        if survey.imported[accessor.index()].is_some() {
            rewriter.used.push(accessor);
        }
    }
    let mut module = wasm_encoder::Module::new();
    match rewriter.parse_core_module(&mut module, Parser::new(0), wasm) {
        Ok(()) => Some(Rewritten { wasm: module.finish() }),
        Err(error) => {
            tracing::debug!("memory accessor rewrite skipped: {error}");
            None
        }
    }
}

/// The re-encoder: adds the types, the memory import, the local functions and their bodies, redirects direct calls
/// and shifts memory indices.
struct Rewriter<'a> {
    layout: KernelLayout,
    survey: &'a Survey,
    /// The imported accessors, in the order their local functions are appended.
    used: Vec<Accessor>,
}

impl Rewriter<'_> {
    /// The kernel memory's index in the rewritten module.
    fn kernel_memory(&self) -> u32 {
        self.survey.imported_memories
    }

    /// The index of the local function that replaces `accessor`.
    fn local_function(&self, accessor: Accessor) -> Option<u32> {
        let position = self.used.iter().position(|a| *a == accessor)?;
        Some(self.survey.functions + position as u32)
    }

    fn accessor_of(&self, function: u32) -> Option<Accessor> {
        Accessor::ALL
            .into_iter()
            .find(|a| self.survey.imported[a.index()] == Some(function))
    }

    fn memarg(&self, align: u32) -> MemArg {
        MemArg {
            offset: 0,
            align,
            target: wasm_encoder::MemArgTarget::Memory(self.kernel_memory()),
            ordering: None,
        }
    }

    /// Push `1` if `[local p, local p + size)` lies inside `[heap start, end of kernel memory)`, else `0`.
    fn in_bounds(&self, f: &mut Function, p: u32, size: i64) {
        f.instruction(&Instruction::LocalGet(p));
        f.instruction(&Instruction::I64Const(i64::from(self.layout.heap_start)));
        f.instruction(&Instruction::I64GeU);
        f.instruction(&Instruction::LocalGet(p));
        f.instruction(&Instruction::MemorySize(self.kernel_memory()));
        f.instruction(&Instruction::I64ExtendI32U);
        f.instruction(&Instruction::I64Const(16));
        f.instruction(&Instruction::I64Shl);
        f.instruction(&Instruction::I64Const(size));
        f.instruction(&Instruction::I64Sub);
        f.instruction(&Instruction::I64LeU);
        f.instruction(&Instruction::I32And);
    }

    /// Push the `accessor`'s load at `local p` (a heap address), or 0 when out of bounds.
    fn checked_load(&self, f: &mut Function, accessor: Accessor, p: u32) {
        let result = accessor.results()[0];
        self.in_bounds(f, p, accessor.size());
        f.instruction(&Instruction::If(BlockType::Result(result)));
        f.instruction(&Instruction::LocalGet(p));
        f.instruction(&Instruction::I32WrapI64);
        if accessor.size() == 1 {
            f.instruction(&Instruction::I32Load8U(self.memarg(0)));
        } else {
            f.instruction(&Instruction::I64Load(self.memarg(0)));
        }
        f.instruction(&Instruction::Else);
        f.instruction(&zero(result));
        f.instruction(&Instruction::End);
    }

    /// Push the little-endian u64 at a constant kernel address.
    fn load_root_field(&self, f: &mut Function, address: u32) {
        f.instruction(&Instruction::I32Const(address as i32));
        f.instruction(&Instruction::I64Load(self.memarg(3)));
    }

    /// The body of the local function that replaces `accessor`.
    fn body(&self, accessor: Accessor) -> Function {
        match accessor {
            Accessor::LoadU8 | Accessor::LoadU64 => {
                let mut f = Function::new([]);
                self.checked_load(&mut f, accessor, 0);
                f.instruction(&Instruction::End);
                f
            }
            Accessor::StoreU8 | Accessor::StoreU64 => {
                let mut f = Function::new([]);
                self.in_bounds(&mut f, 0, accessor.size());
                f.instruction(&Instruction::If(BlockType::Empty));
                f.instruction(&Instruction::LocalGet(0));
                f.instruction(&Instruction::I32WrapI64);
                f.instruction(&Instruction::LocalGet(1));
                if accessor.size() == 1 {
                    f.instruction(&Instruction::I32Store8(self.memarg(0)));
                } else {
                    f.instruction(&Instruction::I64Store(self.memarg(0)));
                }
                f.instruction(&Instruction::End);
                f.instruction(&Instruction::End);
                f
            }
            Accessor::InputLoadU8 | Accessor::InputLoadU64 => {
                // Locals: 0 = off (param), 1 = input length, 2 = address.
                let mut f = Function::new([(2, ValType::I64)]);
                let result = accessor.results()[0];
                let size = accessor.size();
                self.load_root_field(&mut f, self.layout.input_length);
                f.instruction(&Instruction::LocalSet(1));
                if size == 1 {
                    // off < length
                    f.instruction(&Instruction::LocalGet(0));
                    f.instruction(&Instruction::LocalGet(1));
                    f.instruction(&Instruction::I64LtU);
                } else {
                    // length >= size && off <= length - size
                    f.instruction(&Instruction::LocalGet(1));
                    f.instruction(&Instruction::I64Const(size));
                    f.instruction(&Instruction::I64GeU);
                    f.instruction(&Instruction::LocalGet(0));
                    f.instruction(&Instruction::LocalGet(1));
                    f.instruction(&Instruction::I64Const(size));
                    f.instruction(&Instruction::I64Sub);
                    f.instruction(&Instruction::I64LeU);
                    f.instruction(&Instruction::I32And);
                }
                f.instruction(&Instruction::If(BlockType::Result(result)));
                self.load_root_field(&mut f, self.layout.input_offset);
                f.instruction(&Instruction::LocalGet(0));
                f.instruction(&Instruction::I64Add);
                f.instruction(&Instruction::LocalSet(2));
                let load = if size == 1 { Accessor::LoadU8 } else { Accessor::LoadU64 };
                self.checked_load(&mut f, load, 2);
                f.instruction(&Instruction::Else);
                f.instruction(&zero(result));
                f.instruction(&Instruction::End);
                f.instruction(&Instruction::End);
                f
            }
        }
    }
}

fn zero(ty: ValType) -> Instruction<'static> {
    match ty {
        ValType::I32 => Instruction::I32Const(0),
        _ => Instruction::I64Const(0),
    }
}

/// A memory index that cannot move up by one (only a name section can hold one; validation checks every other).
#[derive(Debug)]
struct MemoryIndexOverflow;

impl std::fmt::Display for MemoryIndexOverflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a memory index has no room for the kernel memory")
    }
}

type ReencodeError = wasm_encoder::reencode::Error<MemoryIndexOverflow>;

impl Reencode for Rewriter<'_> {
    type Error = MemoryIndexOverflow;

    fn memory_index(&mut self, memory: u32) -> Result<u32, ReencodeError> {
        if memory < self.kernel_memory() {
            return Ok(memory);
        }
        memory
            .checked_add(1)
            .ok_or(wasm_encoder::reencode::Error::UserError(MemoryIndexOverflow))
    }

    fn instruction<'a>(&mut self, arg: Operator<'a>) -> Result<Instruction<'a>, ReencodeError> {
        if let Operator::Call { function_index } = arg
            && let Some(accessor) = self.accessor_of(function_index)
            && let Some(local) = self.local_function(accessor)
        {
            return Ok(Instruction::Call(local));
        }
        utils::instruction(self, arg)
    }

    fn parse_type_section(
        &mut self,
        types: &mut wasm_encoder::TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), ReencodeError> {
        utils::parse_type_section(self, types, section)?;
        for accessor in &self.used {
            types
                .ty()
                .function(accessor.params().iter().copied(), accessor.results().iter().copied());
        }
        Ok(())
    }

    fn parse_import_section(
        &mut self,
        imports: &mut wasm_encoder::ImportSection,
        section: wasmparser::ImportSectionReader<'_>,
    ) -> Result<(), ReencodeError> {
        utils::parse_import_section(self, imports, section)?;
        imports.import(
            EXTISM_ENV_MODULE,
            KERNEL_MEMORY,
            MemoryType {
                minimum: 0,
                maximum: None,
                memory64: false,
                shared: false,
                page_size_log2: None,
            },
        );
        Ok(())
    }

    fn parse_function_section(
        &mut self,
        functions: &mut wasm_encoder::FunctionSection,
        section: wasmparser::FunctionSectionReader<'_>,
    ) -> Result<(), ReencodeError> {
        utils::parse_function_section(self, functions, section)?;
        for position in 0..self.used.len() {
            functions.function(self.survey.types + position as u32);
        }
        Ok(())
    }

    fn parse_code_section(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        section: wasmparser::CodeSectionReader<'_>,
    ) -> Result<(), ReencodeError> {
        utils::parse_code_section(self, code, section)?;
        for accessor in &self.used {
            code.function(&self.body(*accessor));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_variable_turns_it_off() {
        use std::ffi::OsStr;
        assert!(!disables(None));
        assert!(!disables(Some(OsStr::new(""))));
        assert!(!disables(Some(OsStr::new("0"))));
        assert!(disables(Some(OsStr::new("1"))));
        assert!(disables(Some(OsStr::new("yes"))));
    }

    #[test]
    fn the_kernel_layout_is_recognised() {
        let layout = KernelLayout::of_kernel().expect("the embedded kernel has the expected shape");
        assert_eq!(layout.heap_start % 16, 0);
        assert!(layout.heap_start > layout.input_length && layout.heap_start > layout.input_offset);
        assert_eq!(layout.input_length, layout.input_offset + 8);
    }

    #[test]
    fn a_module_without_accessor_imports_is_left_alone() {
        let wasm =
            wat::parse_str(r#"(module (import "extism:host/env" "alloc" (func (param i64) (result i64))) (func))"#)
                .unwrap();
        assert!(rewrite_module(&wasm, KernelLayout::of_kernel().unwrap(), &[]).is_none());
    }

    #[test]
    fn direct_calls_are_redirected_and_memories_shifted() {
        let wasm = wat::parse_str(
            r#"(module
                (import "extism:host/env" "load_u64" (func $load (param i64) (result i64)))
                (memory (export "memory") 1)
                (data (i32.const 8) "x")
                (table 1 funcref) (elem (i32.const 0) $load)
                (func (export "f") (result i64) i64.const 3 call $load i32.const 0 i64.load drop))"#,
        )
        .unwrap();
        let out = rewrite_module(&wasm, KernelLayout::of_kernel().unwrap(), &[]).unwrap();
        wasmparser::Validator::new().validate_all(&out.wasm).unwrap();
        let mut memory_imports = 0;
        let mut exported_memory = None;
        let mut calls = Vec::new();
        let mut loads = Vec::new();
        for payload in Parser::new(0).parse_all(&out.wasm) {
            match payload.unwrap() {
                Payload::ImportSection(r) => {
                    for i in r.into_imports() {
                        let i = i.unwrap();
                        if matches!(i.ty, TypeRef::Memory(_)) {
                            assert_eq!((i.module, i.name), (EXTISM_ENV_MODULE, KERNEL_MEMORY));
                            memory_imports += 1;
                        }
                    }
                }
                Payload::ExportSection(r) => {
                    for e in r {
                        let e = e.unwrap();
                        if e.kind == ExternalKind::Memory {
                            exported_memory = Some(e.index);
                        }
                    }
                }
                Payload::CodeSectionEntry(body) => {
                    let mut ops = body.get_operators_reader().unwrap();
                    while !ops.eof() {
                        match ops.read().unwrap() {
                            Operator::Call { function_index } => calls.push(function_index),
                            Operator::I64Load { memarg } => loads.push(memarg.target),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        assert_eq!(memory_imports, 1);
        // The guest's own memory moved from 0 to 1; the kernel memory is 0.
        assert_eq!(exported_memory, Some(1));
        // Function 0 is the import, 1 the export, 2 the appended `load_u64`.
        assert_eq!(calls, [2]);
        // The guest's load now names memory 1, the appended function's load the kernel memory 0.
        assert_eq!(
            loads,
            [wasmparser::MemArgTarget::Memory(1), wasmparser::MemArgTarget::Memory(0)]
        );
    }

    const LOAD_U64_GUEST: &str = r#"(module
        (import "extism:host/env" "load_u64" (func $load (param i64) (result i64)))
        (memory 1)
        (func (export "f") (result i64) i64.const 3 call $load))"#;

    /// A host function that replaces a kernel accessor keeps the calls to it (the kernel's code would bypass it).
    #[test]
    fn a_shadowed_accessor_is_left_alone() {
        let wasm = wat::parse_str(LOAD_U64_GUEST).unwrap();
        let layout = KernelLayout::of_kernel().unwrap();
        assert!(rewrite_module(&wasm, layout, &[]).is_some());
        assert!(rewrite_module(&wasm, layout, &["load_u64"]).is_none());
    }

    /// Only a name section can hold a memory index validation does not check; one with no room to move up makes
    /// the rewrite give up (not panic, not wrap).
    #[test]
    fn a_memory_index_without_room_gives_up_the_rewrite() {
        use wasm_encoder::Section;
        let mut wasm = wat::parse_str(LOAD_U64_GUEST).unwrap();
        let mut memories = wasm_encoder::NameMap::new();
        memories.append(u32::MAX, "far");
        let mut names = wasm_encoder::NameSection::new();
        names.memories(&memories);
        names.append_to(&mut wasm);
        wasmparser::Validator::new().validate_all(&wasm).unwrap();
        assert!(rewrite_module(&wasm, KernelLayout::of_kernel().unwrap(), &[]).is_none());
    }
}
