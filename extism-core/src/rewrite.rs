//! Taking the kernel's memory accessors off the call path.
//!
//! PDKs move bytes eight at a time through the kernel's exports (`input_load_u64`, `load_u64`, `store_u64` and the
//! `_u8` forms for the tail): ~4 million calls into another instance for 16 MiB in and out. When a plug-in is
//! compiled, [`rewrite_module`] replaces each of a guest module's **direct calls** (`call`) to those six imports by
//! the accessor's own code, in place, which reads and writes the kernel's memory directly: the kernel's memory is
//! imported into the guest as an additional memory (multi-memory), under [`crate::EXTISM_ENV_MODULE`] /
//! [`crate::kernel::KERNEL_MEMORY`], a name the linking rules forbid guests to import themselves, so it cannot clash.
//! Nothing is left to inline: no engine inlines calls across instances, and wasmtime 48 does not inline calls
//! within a module by default either (`Config::compiler_inlining` is off), so the code is put at the call site.
//!
//! The inlined code has exactly the kernel's semantics (see `kernel/src/mem.rs` and `kernel/src/exports.rs`):
//! - `load_u8(p)`, `load_u64(p)`: the bytes at `p` if `[p, p + size)` lies in `[heap start, end of memory)`, else 0;
//! - `store_u8(p, v)`, `store_u64(p, v)`: write only under the same condition, else do nothing;
//! - `input_load_u8(off)`: 0 unless `off < input length`; `input_load_u64(off)`: 0 unless `input length >= 8` and
//!   `off <= input length - 8`; otherwise `load_*(input offset + off)` (wrapping add, as the kernel does).
//!
//! It uses scratch locals appended to the function's own (whose indices do not change): the address, the value
//! being stored, and two caches, each of which starts at 0 in every call of the function and only ever admits
//! accesses the exact check would admit, sending the others to the exact check, which refreshes it:
//! - the kernel memory's size above the heap start (memories never shrink, so a size read earlier is a safe bound):
//!   a `load`/`store` is one unsigned comparison (`p - heap start <= limit`, which also rejects `p < heap start` as
//!   the subtraction wraps) and the access ([`Rewriter::guarded`]);
//! - the input region, for `input_load_*`: one comparison (`off < input length - 7`) and the load
//!   ([`InputCache`]); reset after every other call the function makes, the only place the input can change.
//!
//! The heap start and the addresses of the input offset and length in kernel memory are read from the kernel module
//! itself ([`KernelLayout::of`]): the `__heap_base` global it exports, and the bodies of its `input_offset` and
//! `input_length` exports, which load from a constant address. A kernel whose code no longer has that shape disables
//! the rewrite instead of guessing.
//!
//! Everything else keeps working unchanged: the imports stay (so function indices are stable, and calls through
//! tables, exports of the import, `return_call` and functions with no room left for the scratch locals still reach
//! the kernel). The kernel memory needs an index in the guest's memory index space, where imports come first:
//! - the plug-in's main module imports its own memories too, from a module that holds them and their active data
//!   ([`memory_module`], linked before it), so that no memory index moves: a byte search skips the function bodies
//!   without a direct call to an accessor, which are copied as they are, and only the others are decoded. This keeps
//!   the rewrite a small part of creation even on wasmi (whose creation is little more than validation), and the
//!   guest's memory at index 0, for one more instance per instantiation
//!   ([`crate::backend::Capabilities::memory_rewrite_moves_memories`], on every engine today);
//! - otherwise (engines that turn that off, linked modules, memories that cannot move: see [`memory_module`]) the
//!   kernel memory is imported after the guest's own imported memories, its defined memories move up by one, and
//!   the re-encoder applies the shift to every instruction, export and data segment, which takes decoding every
//!   function body.
//!
//! Function bodies are copied byte for byte but for the instructions that change (calls to the accessors,
//! instructions naming a memory that moves) and the PDKs' copy loops, which get a prologue that does their work in
//! one `memory.copy` when that is exactly what they would do ([`copy_loop`]).
//!
//! The rewrite is on by default on engines where it pays ([`crate::backend::Capabilities::memory_rewrite_pays`]),
//! never under a fuel limit (the inlined code does not burn the fuel the kernel's would), and off when
//! [`NO_MEMORY_REWRITE_ENV`] or the plug-in's options say so ([`crate::PluginOptions::memory_rewrite`]).

use std::sync::OnceLock;

use wasm_encoder::reencode::{Reencode, utils};
use wasm_encoder::{BlockType, Encode, Function, Instruction, MemArg, MemoryType, ValType};
use wasmparser::{ExternalKind, Operator, Parser, Payload, TypeRef};

use crate::EXTISM_ENV_MODULE;
use crate::kernel::{KERNEL_MEMORY, KERNEL_WASM};

mod copy_loop;
mod scan;

use copy_loop::CopyLoop;
use scan::Seen;

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
        let mut imported_memories = 0u32;
        let mut bodies = Vec::new();
        let mut memories = Vec::new();
        for payload in Parser::new(0).parse_all(kernel) {
            match payload.ok()? {
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        match import.ok()?.ty {
                            TypeRef::Func(_) => imported_funcs += 1,
                            TypeRef::Memory(_) => imported_memories += 1,
                            _ => {}
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
                Payload::MemorySection(reader) => {
                    for memory in reader {
                        memories.push(memory.ok()?.initial);
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
        let heap_start = heap_base.checked_add(15)? & !15;
        // The inlined bounds check needs the memory to hold at least `heap start + 8` bytes from the start (see
        // `Rewriter::checked_load`); the kernel defines its memory (it imports none).
        if imported_memories != 0 || memories.first()?.checked_mul(65536)? < u64::from(heap_start) + 8 {
            return None;
        }
        Some(KernelLayout {
            heap_start,
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
    /// Parameters of each type of the type section (rec groups flattened); 0 for types that are not functions.
    params: Vec<u32>,
    /// Type index of each defined function, in order.
    defined: Vec<u32>,
    /// Imported memories: the index the kernel memory gets when the module's own memories stay in it.
    imported_memories: u32,
    /// The memories the module defines, in order.
    defined_memories: Vec<wasmparser::MemoryType>,
    /// Every active data segment of a defined memory has a constant offset (see [`memory_module`]).
    constant_data: bool,
}

impl Survey {
    /// True if the module's defined memories can move to a module of their own (see [`memory_module`]).
    fn memories_can_move(&self) -> bool {
        memories_can_move(&self.defined_memories, self.constant_data)
    }
}

/// The condition for [`memory_module`]: the module defines memories, all plain (not shared, 32-bit, 64 KiB pages),
/// and every active data segment of them has a constant offset (so that it can initialise the memory from another
/// module).
fn memories_can_move(defined: &[wasmparser::MemoryType], constant_data: bool) -> bool {
    constant_data
        && !defined.is_empty()
        && defined
            .iter()
            .all(|m| !m.shared && !m.memory64 && m.page_size_log2.is_none())
}

/// True if a data segment's offset is a single constant.
fn constant_offset(expr: &wasmparser::ConstExpr<'_>) -> bool {
    let mut ops = expr.get_operators_reader();
    matches!(
        (ops.read(), ops.read()),
        (
            Ok(Operator::I32Const { .. } | Operator::I64Const { .. }),
            Ok(Operator::End)
        )
    ) && ops.eof()
}

/// Read what the rewrite needs to know; `None` if the module needs no rewrite (or cannot take one): it imports no
/// accessor with the kernel's signature, defines no function, already imports something named like the kernel
/// memory, or does not parse.
fn survey(wasm: &[u8], shadowed: &[&str]) -> Option<Survey> {
    let mut func_types: Vec<Option<(Vec<wasmparser::ValType>, Vec<wasmparser::ValType>)>> = Vec::new();
    let mut survey = Survey {
        imported: [None; 6],
        params: Vec::new(),
        defined: Vec::new(),
        imported_memories: 0,
        defined_memories: Vec::new(),
        constant_data: true,
    };
    let mut imported_functions = 0u32;
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
                                survey.imported[accessor.index()] = Some(imported_functions);
                            }
                            imported_functions = imported_functions.checked_add(1)?;
                        }
                        TypeRef::Memory(_) => survey.imported_memories += 1,
                        _ => {}
                    }
                    if import.module == EXTISM_ENV_MODULE && import.name == KERNEL_MEMORY {
                        return None;
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    survey.defined.push(ty.ok()?);
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    survey.defined_memories.push(memory.ok()?);
                }
            }
            Payload::DataSection(reader) => {
                for data in reader {
                    if let wasmparser::DataKind::Active {
                        memory_index,
                        offset_expr,
                    } = data.ok()?.kind
                        && memory_index >= survey.imported_memories
                    {
                        survey.constant_data &= constant_offset(&offset_expr);
                    }
                }
            }
            _ => {}
        }
    }
    survey.params = func_types
        .iter()
        .map(|ty| ty.as_ref().map_or(0, |(params, _)| params.len() as u32))
        .collect();
    (!survey.defined.is_empty() && survey.imported.iter().any(Option::is_some)).then_some(survey)
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

/// The compilation cache's key for `wasm` compiled through [`rewrite_module`] with `layout`, `shadowed` and
/// `memories_from`: a SHA-256 of the rewrite's source (this file and those in `rewrite/`: a changed rewrite must not
/// load code rewritten by an older one, even under the same crate version), the layout, the shadowed names and the
/// module. With it, a plug-in created from a warm cache skips the rewrite as well as the compilation.
pub(crate) fn cache_key(wasm: &[u8], layout: KernelLayout, shadowed: &[&str], memories_from: Option<&str>) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    static SOURCE: OnceLock<[u8; 32]> = OnceLock::new();
    let source = SOURCE.get_or_init(|| {
        let mut source = Sha256::new();
        source.update(include_bytes!("rewrite.rs"));
        source.update(include_bytes!("rewrite/scan.rs"));
        source.update(include_bytes!("rewrite/copy_loop.rs"));
        source.finalize().into()
    });
    let mut key = Sha256::new();
    key.update(b"extism memory accessor rewrite\0");
    key.update(source);
    for field in [layout.heap_start, layout.input_offset, layout.input_length] {
        key.update(field.to_le_bytes());
    }
    let mut shadowed = shadowed.to_vec();
    shadowed.sort_unstable();
    shadowed.dedup();
    for name in shadowed {
        key.update(name.as_bytes());
        key.update(b"\0");
    }
    // The module the memories may move to (see `memory_module`), which the rewritten module names.
    key.update(b"\x01");
    if let Some(module) = memories_from {
        key.update(module.as_bytes());
    }
    key.update(b"\0");
    key.update(wasm);
    key.finalize().into()
}

/// True if `wasm` may be rewritten: it imports one of the kernel's memory accessors not in `shadowed`, and not the
/// kernel memory itself (which [`rewrite_module`] refuses, and the linker rejects). Reads the import section alone,
/// so that a module with nothing to rewrite keeps the cache key of its bytes without paying for
/// [`rewrite_module`]'s scan of its code, and a module that imports the kernel memory is known not to be rewritten.
pub(crate) fn may_rewrite(wasm: &[u8], shadowed: &[&str]) -> bool {
    for payload in Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(Payload::ImportSection(reader)) => {
                let mut accessor = false;
                for import in reader.into_imports() {
                    let Ok(import) = import else { return false };
                    if import.module != EXTISM_ENV_MODULE {
                        continue;
                    }
                    match import.ty {
                        TypeRef::Memory(_) if import.name == KERNEL_MEMORY => return false,
                        TypeRef::Func(_) | TypeRef::FuncExact(_) => {
                            accessor |= Accessor::by_name(import.name).is_some() && !shadowed.contains(&import.name);
                        }
                        _ => {}
                    }
                }
                return accessor;
            }
            // Sections that come after the imports, or a module that does not parse (the engine will say why).
            Ok(Payload::FunctionSection(_) | Payload::CodeSectionStart { .. }) | Err(_) => return false,
            Ok(_) => {}
        }
    }
    false
}

/// Rewrite the direct calls of `wasm` to the kernel's memory accessors (see the module documentation). `None` when
/// there is nothing to rewrite or the module cannot be re-encoded (it is then compiled as it is, and any error it has
/// is reported by the engine as usual). Accessors named in `shadowed` are left alone: a host function defined
/// under [`crate::EXTISM_ENV_MODULE`] with that name replaces the kernel's (users may shadow kernel exports), so
/// calls to it must stay calls.
///
/// With `memories_from`, a module whose memories can move (see [`memory_module`]) imports them from the module of
/// that name instead of defining them, and nothing but its calls to the accessors changes; otherwise its memory
/// indices shift to make room for the kernel memory.
pub(crate) fn rewrite_module(
    wasm: &[u8],
    layout: KernelLayout,
    shadowed: &[&str],
    memories_from: Option<&str>,
) -> Option<Rewritten> {
    let survey = survey(wasm, shadowed)?;
    let memories_from = memories_from.filter(|_| survey.memories_can_move());
    // The bytes an LEB128 encoding of an accessor's index can begin with: its low seven bits with the continuation
    // bit set (a longer or padded encoding), or the index itself when it fits in one byte.
    let mut accessor_first_bytes = [false; 256];
    for &index in survey.imported.iter().flatten() {
        accessor_first_bytes[((index & 0x7f) | 0x80) as usize] = true;
        if index < 0x80 {
            accessor_first_bytes[index as usize] = true;
        }
    }
    let mut rewriter = Rewriter {
        layout,
        survey: &survey,
        memories_from,
        accessor_first_bytes,
        bodies: 0,
        shifted: false,
        inlined: 0,
    };
    let mut module = wasm_encoder::Module::new();
    match rewriter.parse_core_module(&mut module, Parser::new(0), wasm) {
        // No direct call to inline (the accessors are only called through tables, or from functions with no room
        // for the scratch locals): the module is better as it was, without the extra memory.
        Ok(()) if rewriter.inlined == 0 => None,
        Ok(()) => Some(Rewritten { wasm: module.finish() }),
        Err(error) => {
            tracing::debug!("memory accessor rewrite skipped: {error}");
            None
        }
    }
}

/// The name of the export of [`memory_module`] that holds the guest's `index`th defined memory.
fn moved_memory_name(index: usize) -> String {
    format!("memory{index}")
}

/// The module that holds a guest's memories when [`rewrite_module`] moves them out of it, or `None` if they cannot
/// move.
///
/// Why they move: the kernel memory is imported into the guest, and imports come first in the memory index space,
/// so a guest that keeps its memories sees them move up by one, and every instruction that names a memory has to be
/// found and re-encoded: a decoding of the whole code section, which costs about as much as wasmi's validation of
/// the module (that is, it doubles the creation of a plug-in on wasmi). When the guest imports its own memories
/// too, from this module (instantiated before it, as a linked module), no index moves: only the functions that call
/// an accessor are decoded (a byte search finds the others), and the rest of the code is copied as it is.
///
/// This module defines the same memories (their types unchanged) and exports them as `memory0`, `memory1`, …; the
/// guest's active data segments of them move here too, so that an engine that maps a memory's initial image from
/// its module (wasmtime's copy-on-write images) still does, and the guest keeps an empty passive segment in place
/// of each (data indices do not change, and `memory.init` or `data.drop` of a segment that was active behave as
/// before: an active segment is dropped once applied). They can move when every such segment has a constant
/// offset, and the memories are plain ones (not shared, 32-bit, 64 KiB pages).
pub(crate) fn memory_module(wasm: &[u8]) -> Option<Vec<u8>> {
    use wasm_encoder::reencode::RoundtripReencoder;
    let mut imported_memories = 0u32;
    let mut defined = Vec::new();
    let mut segments = Vec::new();
    let mut constant_data = true;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.ok()? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if let TypeRef::Memory(_) = import.ok()?.ty {
                        imported_memories += 1;
                    }
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    defined.push(memory.ok()?);
                }
            }
            Payload::DataSection(reader) => {
                for data in reader {
                    let data = data.ok()?;
                    if let wasmparser::DataKind::Active {
                        memory_index,
                        offset_expr,
                    } = data.kind
                        && memory_index >= imported_memories
                    {
                        constant_data &= constant_offset(&offset_expr);
                        segments.push((memory_index - imported_memories, offset_expr, data.data));
                    }
                }
            }
            _ => {}
        }
    }
    if !memories_can_move(&defined, constant_data) {
        return None;
    }
    let mut memories = wasm_encoder::MemorySection::new();
    let mut exports = wasm_encoder::ExportSection::new();
    for (index, memory) in defined.iter().enumerate() {
        memories.memory(RoundtripReencoder.memory_type(*memory).ok()?);
        exports.export(
            &moved_memory_name(index),
            wasm_encoder::ExportKind::Memory,
            index as u32,
        );
    }
    let mut data = wasm_encoder::DataSection::new();
    for (memory, offset, bytes) in segments {
        data.active(
            memory,
            &RoundtripReencoder.const_expr(offset).ok()?,
            bytes.iter().copied(),
        );
    }
    let mut module = wasm_encoder::Module::new();
    module.section(&memories).section(&exports).section(&data);
    Some(module.finish())
}

/// The re-encoder: adds the memory import, puts the accessors' code in place of the direct calls to them and shifts
/// memory indices.
struct Rewriter<'a> {
    layout: KernelLayout,
    survey: &'a Survey,
    /// The module the guest's defined memories are imported from, when they move (see [`memory_module`]).
    memories_from: Option<&'a str>,
    /// `accessor_first_bytes[b]`: some LEB128 encoding of an accessor's function index begins with `b`, for the
    /// byte search that skips bodies without a direct call to one.
    accessor_first_bytes: [bool; 256],
    /// Function bodies re-encoded so far: the defined function the next body belongs to.
    bodies: usize,
    /// Set by [`Reencode::memory_index`] when it moves an index: the instruction being re-encoded changed.
    shifted: bool,
    /// Direct calls to accessors replaced so far.
    inlined: usize,
}

/// The locals a function body's inlined accessors use, appended after the function's own (whose indices do not
/// change).
#[derive(Debug, Clone, Copy)]
struct Scratch {
    /// An `i64`: the address (or input offset) being accessed.
    address: u32,
    /// An `i64`: the value `store_u64` writes, or the input length in `input_load_*`.
    value: u32,
    /// An `i64`: the kernel memory's bytes above the heap start, less 8, as last read (see
    /// [`Rewriter::guarded`]).
    limit: u32,
    /// An `i32`: the value `store_u8` writes.
    byte: u32,
    /// The input region as last read, for functions that cache it (see [`InputCache`]).
    input: Option<InputCache>,
}

/// Two `i64` locals holding the input region as last read from the kernel's root: `end` is one past the last
/// offset at which `input_load_u64` may read (`input length - 7`), or 0 when nothing may be read without asking the
/// root again (fresh locals hold 0); `base` is the input offset. Set only when the whole input lies in the heap, so
/// that an offset below `end` reads exactly what the kernel would: the root changes only inside calls (guests'
/// stores cannot reach below the heap start), so `end` is set to 0 after every call the function makes, and
/// memories never shrink, so the input stays in the heap. Not used in functions that catch exceptions or switch
/// stacks (control can come back from a callee without passing the instruction after its call).
#[derive(Debug, Clone, Copy)]
struct InputCache {
    end: u32,
    base: u32,
}

/// One instruction of a function body that the rewrite replaces: the bytes `range` of the body (relative to its
/// start) become `with`.
struct Edit<'a> {
    range: std::ops::Range<usize>,
    with: Replacement<'a>,
}

enum Replacement<'a> {
    /// The instruction with its memory index shifted.
    Instruction(Instruction<'a>),
    /// A direct call to the accessor: its code in place.
    Accessor(Accessor),
    /// Any other call (kept as it is): the input cache is reset after it.
    Call,
    /// Before a copy loop (an empty range): the prologue that may do its work in one copy.
    CopyLoopStart(CopyLoop),
    /// After the copy loop's `end` (an empty range): the end of the blocks the prologue opened.
    CopyLoopEnd(CopyLoop),
}

impl Rewriter<'_> {
    /// The kernel memory's index in the rewritten module: after the guest's imported memories, and after its
    /// defined ones when they move to a module of their own (see [`memory_module`]).
    fn kernel_memory(&self) -> u32 {
        match self.memories_from {
            Some(_) => self.survey.imported_memories + self.survey.defined_memories.len() as u32,
            None => self.survey.imported_memories,
        }
    }

    /// Where in `body` the last direct call to an accessor may start: the last `call` opcode (0x10) followed by the
    /// LEB128 encoding of an accessor's index; `None` if there is none, and then the body has no such call. Other
    /// bytes can look like one (immediates, constants): those bodies are decoded, and decoding decides.
    fn last_accessor_call_candidate(&self, body: &[u8]) -> Option<usize> {
        memchr::memrchr_iter(0x10, body).find(|&at| {
            body.get(at + 1).is_some_and(|&b| self.accessor_first_bytes[b as usize])
                && wasmparser::BinaryReader::new(&body[at + 1..], 0)
                    .read_var_u32()
                    .is_ok_and(|index| self.accessor_of(index).is_some())
        })
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

    /// The kernel's `load_*` with the address on the stack (it ends up in `scratch.address`): the `size` bytes at
    /// the address if `[p, p + size)` lies in `[heap start, end of kernel memory)`, else 0.
    fn checked_load(&self, f: &mut Body, size: i64, scratch: Scratch) {
        let result = if size == 1 { ValType::I32 } else { ValType::I64 };
        let access = |f: &mut Body| {
            f.instruction(&Instruction::LocalGet(scratch.address));
            f.instruction(&Instruction::I32WrapI64);
            self.load(f, size);
        };
        self.guarded(f, size, scratch, Some(result), &access);
    }

    /// With an address `p` on the stack (it ends up in `scratch.address`): `access` if `[p, p + size)` lies in
    /// `[heap start, end of kernel memory)`, else nothing (`result: None`) or a zero of type `result`, which is left
    /// on the stack either way.
    ///
    /// One unsigned comparison checks both ends: `p - heap start <= memory bytes - heap start - size`. When
    /// `p < heap start`, the left side wraps to at least `2^64 - heap start`, more than the right side can be (the
    /// memory is at most 4 GiB); the right side never wraps, as the kernel memory always holds at least `heap start
    /// + 8` bytes ([`KernelLayout::of`] checks its initial size, and memories do not shrink).
    ///
    /// The right side is kept in `scratch.limit` (for 8 bytes: `memory bytes - heap start - 8`), read from
    /// `memory.size` only when the check against it fails: memories never shrink, so a limit read earlier in the
    /// call (or the 0 a fresh local holds: the heap start is always readable) is never larger than the true one,
    /// and an access it admits is in bounds. Only an access it refuses reads the size again and checks again.
    ///
    /// The common case is a straight line (see [`Rewriter::fast_path`]).
    fn guarded(&self, f: &mut Body, size: i64, scratch: Scratch, result: Option<ValType>, access: &dyn Fn(&mut Body)) {
        let heap_start = i64::from(self.layout.heap_start);
        let check = |f: &mut Body, slack: i64| {
            f.instruction(&Instruction::LocalGet(scratch.address));
            f.instruction(&Instruction::I64Const(heap_start));
            f.instruction(&Instruction::I64Sub);
            f.instruction(&Instruction::LocalGet(scratch.limit));
            if slack != 0 {
                f.instruction(&Instruction::I64Const(slack));
                f.instruction(&Instruction::I64Add);
            }
            f.instruction(&Instruction::I64LeU);
        };
        f.instruction(&Instruction::LocalSet(scratch.address));
        let slow = |f: &mut Body| {
            self.refresh_limit(f, scratch);
            check(f, 8 - size);
            match result {
                Some(ty) => {
                    f.instruction(&Instruction::If(BlockType::Result(ty)));
                    access(f);
                    f.instruction(&Instruction::Else);
                    f.instruction(&zero(ty));
                }
                None => {
                    f.instruction(&Instruction::If(BlockType::Empty));
                    access(f);
                }
            }
            f.instruction(&Instruction::End);
        };
        self.fast_path(f, result, &|f| check(f, 0), access, &slow);
    }

    /// `fast` if `admits` (which pushes an `i32`) says so, else `slow`; each leaves a value of type `result`, if
    /// any.
    ///
    /// Laid out for the interpreters: the common case is one fused compare-and-branch and the access, with no `if`
    /// (wasmi charges fuel at the start of every `if` and `else` arm, but not of a `block`) and no copy of its value
    /// (it is left where the block's result goes; only the slow arm's is moved there by its branch):
    ///
    /// ```text
    /// block $done (result)
    ///   block $fast
    ///     admits  br_if $fast
    ///     slow  br $done
    ///   end
    ///   fast
    /// end
    /// ```
    ///
    /// On `memory_rewrite 2 once wasmi 16777216 on` (two Rust PDK echoes of 16 MiB) this takes callgrind's count
    /// from 1.167G instructions (each accessor an `if` of type `result` with an `else`) to 1.033G.
    fn fast_path(
        &self,
        f: &mut Body,
        result: Option<ValType>,
        admits: &dyn Fn(&mut Body),
        fast: &dyn Fn(&mut Body),
        slow: &dyn Fn(&mut Body),
    ) {
        f.instruction(&Instruction::Block(result.map_or(BlockType::Empty, BlockType::Result)));
        f.instruction(&Instruction::Block(BlockType::Empty));
        admits(f);
        f.instruction(&Instruction::BrIf(0));
        slow(f);
        f.instruction(&Instruction::Br(1));
        f.instruction(&Instruction::End);
        fast(f);
        f.instruction(&Instruction::End);
    }

    /// Push the little-endian u64 at a constant kernel address.
    fn load_root_field(&self, f: &mut Body, address: u32) {
        f.instruction(&Instruction::I32Const(address as i32));
        f.instruction(&Instruction::I64Load(self.memarg(3)));
    }

    /// The code that replaces a direct call to `accessor`: it takes the call's arguments from the stack and leaves
    /// its result there, with the kernel's semantics (see the module documentation).
    fn inline(&self, f: &mut Body, accessor: Accessor, scratch: Scratch) {
        let size = accessor.size();
        match accessor {
            Accessor::LoadU8 | Accessor::LoadU64 => self.checked_load(f, size, scratch),
            Accessor::StoreU8 | Accessor::StoreU64 => {
                let value = if size == 1 { scratch.byte } else { scratch.value };
                let memarg = self.memarg(0);
                f.instruction(&Instruction::LocalSet(value));
                self.guarded(f, size, scratch, None, &|f| {
                    f.instruction(&Instruction::LocalGet(scratch.address));
                    f.instruction(&Instruction::I32WrapI64);
                    f.instruction(&Instruction::LocalGet(value));
                    if size == 1 {
                        f.instruction(&Instruction::I32Store8(memarg));
                    } else {
                        f.instruction(&Instruction::I64Store(memarg));
                    }
                });
            }
            Accessor::InputLoadU8 | Accessor::InputLoadU64 => {
                let result = accessor.results()[0];
                f.instruction(&Instruction::LocalSet(scratch.address));
                let Some(cache) = scratch.input else {
                    self.load_root_field(f, self.layout.input_length);
                    f.instruction(&Instruction::LocalSet(scratch.value));
                    self.exact_input_load(f, size, scratch, &|f| self.load_root_field(f, self.layout.input_offset));
                    return;
                };
                // off < end: inside the input, which lies in the heap.
                let admits = |f: &mut Body| {
                    f.instruction(&Instruction::LocalGet(scratch.address));
                    f.instruction(&Instruction::LocalGet(cache.end));
                    f.instruction(&Instruction::I64LtU);
                };
                let fast = |f: &mut Body| {
                    f.instruction(&Instruction::LocalGet(cache.base));
                    f.instruction(&Instruction::LocalGet(scratch.address));
                    f.instruction(&Instruction::I64Add);
                    f.instruction(&Instruction::I32WrapI64);
                    self.load(f, size);
                };
                let slow = |f: &mut Body| {
                    self.refresh_input(f, scratch, cache);
                    self.exact_input_load(f, size, scratch, &|f| {
                        f.instruction(&Instruction::LocalGet(cache.base));
                    });
                };
                self.fast_path(f, Some(result), &admits, &fast, &slow);
            }
        }
    }

    /// Push the kernel memory's `size` bytes at the `i32` address on the stack (unchecked).
    fn load(&self, f: &mut Body, size: i64) {
        if size == 1 {
            f.instruction(&Instruction::I32Load8U(self.memarg(0)));
        } else {
            f.instruction(&Instruction::I64Load(self.memarg(0)));
        }
    }

    /// The kernel's `input_load_*` with `off` in `scratch.address` and the input length in `scratch.value`:
    /// `load_*(input offset + off)` (the addition wrapping, as the kernel's does; `input_offset` pushes the offset)
    /// if `off < length` (one byte) or `length >= 8 && off <= length - 8` (eight bytes), else 0.
    fn exact_input_load(&self, f: &mut Body, size: i64, scratch: Scratch, input_offset: &dyn Fn(&mut Body)) {
        let result = if size == 1 { ValType::I32 } else { ValType::I64 };
        if size == 1 {
            f.instruction(&Instruction::LocalGet(scratch.address));
            f.instruction(&Instruction::LocalGet(scratch.value));
            f.instruction(&Instruction::I64LtU);
        } else {
            f.instruction(&Instruction::LocalGet(scratch.value));
            f.instruction(&Instruction::I64Const(size));
            f.instruction(&Instruction::I64GeU);
            f.instruction(&Instruction::LocalGet(scratch.address));
            f.instruction(&Instruction::LocalGet(scratch.value));
            f.instruction(&Instruction::I64Const(size));
            f.instruction(&Instruction::I64Sub);
            f.instruction(&Instruction::I64LeU);
            f.instruction(&Instruction::I32And);
        }
        f.instruction(&Instruction::If(BlockType::Result(result)));
        input_offset(f);
        f.instruction(&Instruction::LocalGet(scratch.address));
        f.instruction(&Instruction::I64Add);
        self.checked_load(f, size, scratch);
        f.instruction(&Instruction::Else);
        f.instruction(&zero(result));
        f.instruction(&Instruction::End);
    }

    /// Read the input region from the root into `scratch.value` (length) and `cache.base`, the memory's limit into
    /// `scratch.limit`, and set `cache.end` to `length - 7` if `length >= 8` and `[base, base + length)` lies in
    /// `[heap start, end of memory)`, else to 0.
    fn refresh_input(&self, f: &mut Body, scratch: Scratch, cache: InputCache) {
        let heap_start = i64::from(self.layout.heap_start);
        self.load_root_field(f, self.layout.input_length);
        f.instruction(&Instruction::LocalSet(scratch.value));
        self.load_root_field(f, self.layout.input_offset);
        f.instruction(&Instruction::LocalSet(cache.base));
        self.refresh_limit(f, scratch);
        // select(length - 7, 0, length >= 8 && base - heap start <= limit + 8 && length <= limit + heap start + 8 -
        // base). The last difference wraps only when the second comparison fails, which the `and` makes moot.
        f.instruction(&Instruction::LocalGet(scratch.value));
        f.instruction(&Instruction::I64Const(7));
        f.instruction(&Instruction::I64Sub);
        f.instruction(&Instruction::I64Const(0));
        f.instruction(&Instruction::LocalGet(scratch.value));
        f.instruction(&Instruction::I64Const(8));
        f.instruction(&Instruction::I64GeU);
        f.instruction(&Instruction::LocalGet(cache.base));
        f.instruction(&Instruction::I64Const(heap_start));
        f.instruction(&Instruction::I64Sub);
        f.instruction(&Instruction::LocalGet(scratch.limit));
        f.instruction(&Instruction::I64Const(8));
        f.instruction(&Instruction::I64Add);
        f.instruction(&Instruction::I64LeU);
        f.instruction(&Instruction::I32And);
        f.instruction(&Instruction::LocalGet(scratch.value));
        f.instruction(&Instruction::LocalGet(scratch.limit));
        f.instruction(&Instruction::I64Const(heap_start + 8));
        f.instruction(&Instruction::I64Add);
        f.instruction(&Instruction::LocalGet(cache.base));
        f.instruction(&Instruction::I64Sub);
        f.instruction(&Instruction::I64LeU);
        f.instruction(&Instruction::I32And);
        f.instruction(&Instruction::Select);
        f.instruction(&Instruction::LocalSet(cache.end));
    }

    /// Set `scratch.limit` to the kernel memory's bytes above the heap start, less 8.
    fn refresh_limit(&self, f: &mut Body, scratch: Scratch) {
        f.instruction(&Instruction::MemorySize(self.kernel_memory()));
        f.instruction(&Instruction::I64ExtendI32U);
        f.instruction(&Instruction::I64Const(16));
        f.instruction(&Instruction::I64Shl);
        f.instruction(&Instruction::I64Const(i64::from(self.layout.heap_start) + 8));
        f.instruction(&Instruction::I64Sub);
        f.instruction(&Instruction::LocalSet(scratch.limit));
    }
}

fn zero(ty: ValType) -> Instruction<'static> {
    match ty {
        ValType::I32 => Instruction::I32Const(0),
        _ => Instruction::I64Const(0),
    }
}

/// A function body being written: its locals, then its instructions, in one buffer.
struct Body(Vec<u8>);

impl Body {
    fn instruction(&mut self, instruction: &Instruction<'_>) -> &mut Self {
        instruction.encode(&mut self.0);
        self
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

/// Most locals (parameters included) a function may have: the limit of wasmparser's validator
/// (`MAX_WASM_FUNCTION_LOCALS`), which the engines apply.
const MAX_LOCALS: u32 = 50_000;

/// Why a module is left as it is.
#[derive(Debug)]
enum GiveUp {
    /// A memory index that cannot move up by one (only a name section can hold one; validation checks every
    /// other).
    MemoryIndexOverflow,
    /// A function body that belongs to no declared function, or more locals than a `u32` counts (the module does
    /// not validate).
    BadFunctionBody,
}

impl std::fmt::Display for GiveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GiveUp::MemoryIndexOverflow => "a memory index has no room for the kernel memory",
            GiveUp::BadFunctionBody => "a function body has no declared function or too many locals",
        })
    }
}

type ReencodeError = wasm_encoder::reencode::Error<GiveUp>;

impl Reencode for Rewriter<'_> {
    type Error = GiveUp;

    fn memory_index(&mut self, memory: u32) -> Result<u32, ReencodeError> {
        if memory < self.kernel_memory() {
            return Ok(memory);
        }
        self.shifted = true;
        memory
            .checked_add(1)
            .ok_or(wasm_encoder::reencode::Error::UserError(GiveUp::MemoryIndexOverflow))
    }

    fn parse_import_section(
        &mut self,
        imports: &mut wasm_encoder::ImportSection,
        section: wasmparser::ImportSectionReader<'_>,
    ) -> Result<(), ReencodeError> {
        utils::parse_import_section(self, imports, section)?;
        if let Some(module) = self.memories_from {
            for (index, memory) in self.survey.defined_memories.iter().enumerate() {
                let ty = self.memory_type(*memory)?;
                imports.import(module, &moved_memory_name(index), ty);
            }
        }
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

    /// Moved memories (see [`memory_module`]) are imported instead.
    fn parse_memory_section(
        &mut self,
        memories: &mut wasm_encoder::MemorySection,
        section: wasmparser::MemorySectionReader<'_>,
    ) -> Result<(), ReencodeError> {
        if self.memories_from.is_some() {
            return Ok(());
        }
        utils::parse_memory_section(self, memories, section)
    }

    /// An active segment of a moved memory moved with it (see [`memory_module`]): an empty passive segment keeps its
    /// index.
    fn parse_data(
        &mut self,
        data: &mut wasm_encoder::DataSection,
        datum: wasmparser::Data<'_>,
    ) -> Result<(), ReencodeError> {
        match datum.kind {
            wasmparser::DataKind::Active { memory_index, .. }
                if self.memories_from.is_some() && memory_index >= self.survey.imported_memories =>
            {
                data.passive([]);
                Ok(())
            }
            _ => utils::parse_data(self, data, datum),
        }
    }

    /// Copies the body's bytes but for the instructions that change (direct calls to the accessors, and
    /// instructions naming a memory whose index moves), which are re-encoded; a body with none is copied whole.
    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), ReencodeError> {
        let bad_body = || wasm_encoder::reencode::Error::UserError(GiveUp::BadFunctionBody);
        let params = (self.survey.defined.get(self.bodies))
            .and_then(|ty| self.survey.params.get(*ty as usize))
            .copied()
            .ok_or_else(bad_body)?;
        self.bodies += 1;
        let bytes = func.as_bytes();
        // When no memory index moves, only calls to accessors and the copy loops around them are edited: a body
        // without such a call stays as it is, and so does one whose decoding reaches past the last bytes that may be
        // such a call without having found one (those bytes were immediates or constants).
        let indices_move =
            self.kernel_memory() < self.survey.imported_memories + self.survey.defined_memories.len() as u32;
        let last_candidate = self.last_accessor_call_candidate(bytes);
        if !indices_move && last_candidate.is_none() {
            code.raw(bytes);
            return Ok(());
        }
        let base = func.range().start;
        let mut locals_reader = func.get_locals_reader()?;
        let mut locals = Vec::with_capacity(locals_reader.get_count() as usize + 2);
        let mut first_scratch = params;
        for _ in 0..locals_reader.get_count() {
            let (count, ty) = locals_reader.read()?;
            first_scratch = first_scratch.checked_add(count).ok_or_else(bad_body)?;
            locals.push((count, self.val_type(ty)?));
        }
        let mut reader = wasmparser::OperatorsReader::new(locals_reader.get_binary_reader());
        let operators_start = (reader.original_position() - base) as usize;
        // A function with no room for the scratch locals keeps its calls.
        let room = first_scratch <= MAX_LOCALS - 6;
        let mut edits = Vec::new();
        let (mut inlined, mut wide, mut byte, mut input, mut unwinds) = (false, false, false, false, false);
        let mut scanner = scan::Scanner {
            kernel_memory: self.kernel_memory(),
            shifted: None,
        };
        while !reader.eof() {
            let start = (reader.original_position() - base) as usize;
            if !indices_move && !inlined && last_candidate.is_some_and(|at| start > at) {
                code.raw(bytes);
                return Ok(());
            }
            let seen = reader.visit_operator(&mut scanner)?;
            let end = (reader.original_position() - base) as usize;
            let with = match seen {
                Seen::Plain => continue,
                Seen::Unwinds => {
                    unwinds = true;
                    continue;
                }
                Seen::Call(function) => match self.accessor_of(function) {
                    Some(accessor) if room => {
                        inlined = true;
                        self.inlined += 1;
                        match accessor {
                            Accessor::StoreU8 => byte = true,
                            Accessor::StoreU64 => wide = true,
                            Accessor::InputLoadU8 | Accessor::InputLoadU64 => input = true,
                            Accessor::LoadU8 | Accessor::LoadU64 => {}
                        }
                        Replacement::Accessor(accessor)
                    }
                    _ => Replacement::Call,
                },
                Seen::OtherCall => Replacement::Call,
                Seen::Shifts => match scanner.shifted.take() {
                    Some(operator) => Replacement::Instruction(self.instruction(operator)?),
                    None => return Err(bad_body()),
                },
                Seen::Loop => {
                    let found = room
                        .then(|| CopyLoop::find(&bytes[end..], |f| self.accessor_of(f), |m| self.copyable_memory(m)))
                        .flatten();
                    if let Some((copy, len)) = found {
                        // The loop's body follows; its own edits (the accessor call) fall between these two, which
                        // the sort below puts in place.
                        edits.push(Edit {
                            range: start..start,
                            with: Replacement::CopyLoopStart(copy),
                        });
                        edits.push(Edit {
                            range: end + len..end + len,
                            with: Replacement::CopyLoopEnd(copy),
                        });
                    }
                    continue;
                }
            };
            edits.push(Edit {
                range: start..end,
                with,
            });
        }
        // In body order; an insertion comes before an instruction that starts where it is.
        edits.sort_by_key(|e| (e.range.start, !e.range.is_empty()));
        if !inlined && edits.iter().all(|e| matches!(e.with, Replacement::Call)) {
            code.raw(bytes);
            return Ok(());
        }
        // Locals (room for them was checked above): the address and the limit; the value (store_u64, input loads);
        // the input cache; the byte (store_u8).
        let cache = input && !unwinds;
        let longs = 2 + u32::from(wide || input) + 2 * u32::from(cache);
        let scratch = Scratch {
            address: first_scratch,
            limit: first_scratch + 1,
            value: first_scratch + 2,
            byte: first_scratch + longs,
            input: cache.then_some(InputCache {
                end: first_scratch + longs - 2,
                base: first_scratch + longs - 1,
            }),
        };
        if inlined {
            locals.push((longs, ValType::I64));
            if byte {
                locals.push((1, ValType::I32));
            }
        }
        // The body is written into one buffer sized for it (the locals, the bytes, and room for the inlined code).
        let mut f = Body(Function::new(locals).into_raw_body());
        f.0.reserve(bytes.len() - operators_start + 64 * edits.len());
        let mut copied = operators_start;
        for edit in &edits {
            f.raw(&bytes[copied..edit.range.start]);
            match &edit.with {
                Replacement::Instruction(instruction) => {
                    f.instruction(instruction);
                }
                Replacement::Accessor(accessor) => self.inline(&mut f, *accessor, scratch),
                Replacement::CopyLoopStart(copy) => {
                    if copy.fits(scratch) {
                        self.copy_loop_start(&mut f, *copy, scratch);
                    }
                }
                Replacement::CopyLoopEnd(copy) => {
                    if copy.fits(scratch) {
                        self.copy_loop_end(&mut f);
                    }
                }
                Replacement::Call => {
                    f.raw(&bytes[edit.range.clone()]);
                    if let Some(cache) = scratch.input {
                        f.instruction(&Instruction::I64Const(0));
                        f.instruction(&Instruction::LocalSet(cache.end));
                    }
                }
            }
            copied = edit.range.end;
        }
        f.raw(&bytes[copied..]);
        code.raw(&f.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only modules that import an unshadowed accessor, and not the kernel memory, may be rewritten (and get the
    /// rewrite's cache key).
    #[test]
    fn may_rewrite_reads_the_imports() {
        let module = |imports: &str| wat::parse_str(format!("(module {imports} (func (export \"f\")))")).unwrap();
        let load = r#"(import "extism:host/env" "load_u64" (func (param i64) (result i64)))"#;
        let memory = r#"(import "extism:host/env" "memory" (memory 1))"#;
        let alloc = r#"(import "extism:host/env" "alloc" (func (param i64) (result i64)))"#;
        assert!(may_rewrite(&module(load), &[]));
        assert!(may_rewrite(&module(&format!("{alloc} {load}")), &["alloc"]));
        assert!(!may_rewrite(&module(load), &["load_u64"]));
        assert!(!may_rewrite(&module(&format!("{load} {memory}")), &[]));
        assert!(!may_rewrite(&module(alloc), &[]));
        assert!(!may_rewrite(&module(""), &[]));
        assert!(!may_rewrite(b"not wasm", &[]));
    }

    /// The Rust PDK's three copy loops get a prologue with one `memory.copy` each (kernel memory to guest memory
    /// for the input and the load loop, the other way for the store loop), in moved and in shifted memories; a
    /// loop of another shape, or one that steps by 4, does not (its accessor is still inlined).
    #[test]
    fn copy_loops_get_a_copy_and_other_loops_do_not() {
        let module = |step: i32, extra: &str| {
            wat::parse_str(format!(
                r#"(module
                (import "extism:host/env" "input_load_u64" (func $in (param i64) (result i64)))
                (import "extism:host/env" "store_u64" (func $store (param i64 i64)))
                (import "extism:host/env" "load_u64" (func $load (param i64) (result i64)))
                (memory (export "memory") 1)
                (func (export "copy_in") (param $p i32) (param $o i64) (param $l i64)
                  loop
                    local.get $p  local.get $o  call $in  i64.store offset=16
                    local.get $p  i32.const {step}  i32.add  local.set $p
                    local.get $l  local.get $o  i64.const 8  i64.add  local.tee $o  i64.ne  br_if 0
                  end)
                (func (export "dump") (param $a i64) (param $p i32) (param $n i64)
                  loop
                    local.get $a  local.get $p  i64.load  call $store
                    local.get $a  i64.const 8  i64.add  local.set $a
                    local.get $p  i32.const 8  i32.add  local.set $p
                    {extra}
                    local.get $n  i64.const -1  i64.add  local.tee $n  i64.const 0  i64.ne  br_if 0
                  end)
                (func (export "read") (param $a i64) (param $p i32) (param $n i64)
                  loop
                    local.get $p  local.get $a  call $load  i64.store offset=16
                    local.get $a  i64.const 8  i64.add  local.set $a
                    local.get $p  i32.const 8  i32.add  local.set $p
                    local.get $n  i64.const -1  i64.add  local.tee $n  i64.const 0  i64.ne  br_if 0
                  end))"#
            ))
            .unwrap()
        };
        let copies = |wasm: &[u8], memories_from: Option<&str>| -> Vec<Vec<String>> {
            let out = rewrite_module(wasm, KernelLayout::of_kernel().unwrap(), &[], memories_from).unwrap();
            wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
                .validate_all(&out.wasm)
                .unwrap();
            let bodies = bodies(&out.wasm);
            for body in &bodies {
                assert!(!body.iter().any(|op| op.starts_with("Call ")), "{body:?}");
            }
            bodies
                .iter()
                .map(|body| body.iter().filter(|op| op.starts_with("MemoryCopy")).cloned().collect())
                .collect()
        };
        let wasm = module(8, "");
        // Memories moved: the guest's memory keeps index 0, the kernel's is 1.
        let moved = copies(&wasm, Some("memories"));
        assert_eq!(moved[0], ["MemoryCopy { dst_mem: 0, src_mem: 1 }"]);
        assert_eq!(moved[1], ["MemoryCopy { dst_mem: 1, src_mem: 0 }"]);
        assert_eq!(moved[2], ["MemoryCopy { dst_mem: 0, src_mem: 1 }"]);
        // Memories shifted: the kernel's is 0, the guest's 1.
        let shifted = copies(&wasm, None);
        assert_eq!(shifted[0], ["MemoryCopy { dst_mem: 1, src_mem: 0 }"]);
        assert_eq!(shifted[1], ["MemoryCopy { dst_mem: 0, src_mem: 1 }"]);
        assert_eq!(shifted[2], ["MemoryCopy { dst_mem: 1, src_mem: 0 }"]);
        // Another step, or another instruction in the body: plain loops.
        let other = copies(&module(4, "nop"), Some("memories"));
        assert_eq!(other[..2], [Vec::<String>::new(), Vec::new()]);
    }

    /// Every source file of the rewrite is in the cache key: a change to one that is not would let a warm cache
    /// load code rewritten the old way.
    #[test]
    fn the_cache_key_covers_every_source_file_of_the_rewrite() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/rewrite");
        let this = include_str!("rewrite.rs");
        let mut files = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let included = format!("source.update(include_bytes!(\"rewrite/{name}\"));");
            assert!(this.contains(&included), "`cache_key` does not hash rewrite/{name}");
            files += 1;
        }
        assert!(files >= 2, "{files} files in {dir}");
    }

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
        assert!(rewrite_module(&wasm, KernelLayout::of_kernel().unwrap(), &[], None).is_none());
    }

    /// With `memories_from`, the guest imports its memory from that module (type unchanged), the kernel memory comes
    /// after it, its active data moves to [`memory_module`] (an empty passive segment keeps each index), and a body
    /// without a call to an accessor is copied byte for byte.
    #[test]
    fn memories_move_out_and_nothing_else_changes() {
        let wasm = wat::parse_str(
            r#"(module
                (import "extism:host/env" "load_u64" (func $load (param i64) (result i64)))
                (memory (export "memory") 1 3)
                (data (i32.const 8) "x")
                (data "passive")
                (func (export "f") (result i64) i64.const 3 call $load)
                (func (export "g") (result i32)
                    i32.const 16 i32.const 0 i32.load i32.add drop
                    i32.const 0 i32.const 0 i32.const 1 memory.init 1
                    memory.size))"#,
        )
        .unwrap();
        let layout = KernelLayout::of_kernel().unwrap();
        let out = rewrite_module(&wasm, layout, &[], Some("holder")).unwrap();
        wasmparser::Validator::new().validate_all(&out.wasm).unwrap();
        let mut memory_imports = Vec::new();
        let mut defined_memories = 0;
        let mut data = Vec::new();
        for payload in Parser::new(0).parse_all(&out.wasm) {
            match payload.unwrap() {
                Payload::ImportSection(r) => {
                    for i in r.into_imports() {
                        let i = i.unwrap();
                        if let TypeRef::Memory(ty) = i.ty {
                            memory_imports.push((i.module.to_string(), i.name.to_string(), ty.initial, ty.maximum));
                        }
                    }
                }
                Payload::MemorySection(r) => defined_memories += r.count(),
                Payload::DataSection(r) => {
                    for d in r {
                        let d = d.unwrap();
                        data.push((matches!(d.kind, wasmparser::DataKind::Passive), d.data.to_vec()));
                    }
                }
                _ => {}
            }
        }
        assert_eq!(
            memory_imports,
            [
                ("holder".to_string(), "memory0".to_string(), 1, Some(3)),
                (EXTISM_ENV_MODULE.to_string(), KERNEL_MEMORY.to_string(), 0, None),
            ]
        );
        assert_eq!(defined_memories, 0);
        assert_eq!(data, [(true, Vec::new()), (true, b"passive".to_vec())]);
        // `f`'s call became a load from the kernel memory (index 1); `g` is as it was, byte for byte.
        let body_bytes = |wasm: &[u8]| -> Vec<Vec<u8>> {
            Parser::new(0)
                .parse_all(wasm)
                .filter_map(|p| match p.unwrap() {
                    Payload::CodeSectionEntry(body) => Some(body.as_bytes().to_vec()),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(body_bytes(&out.wasm)[1], body_bytes(&wasm)[1]);
        let f = &bodies(&out.wasm)[0];
        assert!(!f.iter().any(|op| op.starts_with("Call")), "{f:?}");
        assert!(
            f.iter().any(|op| op.starts_with("I64Load") && op.contains("Memory(1)")),
            "{f:?}"
        );

        // The module that holds the memory: the same type, exported, with the active segment.
        let holder = memory_module(&wasm).unwrap();
        wasmparser::Validator::new().validate_all(&holder).unwrap();
        let mut exports = Vec::new();
        let mut segments = Vec::new();
        let mut memories = Vec::new();
        for payload in Parser::new(0).parse_all(&holder) {
            match payload.unwrap() {
                Payload::MemorySection(r) => memories.extend(r.into_iter().map(|m| {
                    let m = m.unwrap();
                    (m.initial, m.maximum)
                })),
                Payload::ExportSection(r) => exports.extend(r.into_iter().map(|e| {
                    let e = e.unwrap();
                    (e.name.to_string(), e.kind, e.index)
                })),
                Payload::DataSection(r) => {
                    for d in r {
                        let d = d.unwrap();
                        let wasmparser::DataKind::Active {
                            memory_index,
                            offset_expr,
                        } = d.kind
                        else {
                            panic!("a passive segment in the memory module");
                        };
                        let offset = match offset_expr.get_operators_reader().read().unwrap() {
                            Operator::I32Const { value } => value,
                            other => panic!("offset {other:?}"),
                        };
                        segments.push((memory_index, offset, d.data.to_vec()));
                    }
                }
                _ => {}
            }
        }
        assert_eq!(memories, [(1, Some(3))]);
        assert_eq!(exports, [("memory0".to_string(), ExternalKind::Memory, 0)]);
        assert_eq!(segments, [(0, 8, b"x".to_vec())]);
    }

    /// Memories stay (and their indices shift) when one of their active segments has a computed offset, or when no
    /// module to move them to is given; a module that defines no memory has nothing to move.
    #[test]
    fn memories_that_cannot_move_stay() {
        let layout = KernelLayout::of_kernel().unwrap();
        let module = |memory: &str| {
            wat::parse_str(format!(
                r#"(module
                    (import "extism:host/env" "load_u64" (func $load (param i64) (result i64)))
                    (import "env" "base" (global $base i32))
                    {memory}
                    (func (export "f") (result i64) i64.const 3 call $load))"#
            ))
            .unwrap()
        };
        let kernel_memory_index = |wasm: &[u8]| {
            let mut memories = 0;
            for payload in Parser::new(0).parse_all(wasm) {
                if let Payload::ImportSection(r) = payload.unwrap() {
                    for i in r.into_imports() {
                        let i = i.unwrap();
                        if let TypeRef::Memory(_) = i.ty {
                            if (i.module, i.name) == (EXTISM_ENV_MODULE, KERNEL_MEMORY) {
                                return memories;
                            }
                            memories += 1;
                        }
                    }
                }
            }
            panic!("no kernel memory import");
        };
        let computed = module(r#"(memory 1) (data (global.get $base) "x")"#);
        assert!(memory_module(&computed).is_none());
        let out = rewrite_module(&computed, layout, &[], Some("holder")).unwrap();
        wasmparser::Validator::new().validate_all(&out.wasm).unwrap();
        assert_eq!(
            kernel_memory_index(&out.wasm),
            0,
            "the guest's memory stays, after the kernel's"
        );

        let constant = module(r#"(memory 1) (data (i32.const 0) "x")"#);
        let out = rewrite_module(&constant, layout, &[], None).unwrap();
        assert_eq!(kernel_memory_index(&out.wasm), 0);
        let out = rewrite_module(&constant, layout, &[], Some("holder")).unwrap();
        assert_eq!(kernel_memory_index(&out.wasm), 1);

        let imported = module(r#"(import "env" "memory" (memory 1))"#);
        assert!(memory_module(&imported).is_none());
        let out = rewrite_module(&imported, layout, &[], Some("holder")).unwrap();
        wasmparser::Validator::new().validate_all(&out.wasm).unwrap();
        assert_eq!(
            kernel_memory_index(&out.wasm),
            1,
            "after the imported memory, nothing moved"
        );
    }

    /// Operators of each function body of `wasm`, in order.
    fn bodies(wasm: &[u8]) -> Vec<Vec<String>> {
        let mut bodies = Vec::new();
        for payload in Parser::new(0).parse_all(wasm) {
            if let Payload::CodeSectionEntry(body) = payload.unwrap() {
                let mut ops = body.get_operators_reader().unwrap();
                let mut names = Vec::new();
                while !ops.eof() {
                    names.push(format!("{:?}", ops.read().unwrap()));
                }
                bodies.push(names);
            }
        }
        bodies
    }

    /// Locals of each function body of `wasm` (declarations, params excluded).
    fn locals(wasm: &[u8]) -> Vec<Vec<(u32, wasmparser::ValType)>> {
        let mut all = Vec::new();
        for payload in Parser::new(0).parse_all(wasm) {
            if let Payload::CodeSectionEntry(body) = payload.unwrap() {
                all.push(
                    body.get_locals_reader()
                        .unwrap()
                        .into_iter()
                        .map(Result::unwrap)
                        .collect(),
                );
            }
        }
        all
    }

    #[test]
    fn direct_calls_are_inlined_and_memories_shifted() {
        let wasm = wat::parse_str(
            r#"(module
                (import "extism:host/env" "load_u64" (func $load (param i64) (result i64)))
                (memory (export "memory") 1)
                (data (i32.const 8) "x")
                (table 1 funcref) (elem (i32.const 0) $load)
                (func (export "f") (result i64) i64.const 3 call $load i32.const 0 i64.load drop))"#,
        )
        .unwrap();
        let out = rewrite_module(&wasm, KernelLayout::of_kernel().unwrap(), &[], None).unwrap();
        wasmparser::Validator::new().validate_all(&out.wasm).unwrap();
        let mut memory_imports = 0;
        let mut exported_memory = None;
        let mut elements = Vec::new();
        let mut calls = Vec::new();
        let mut loads = Vec::new();
        let mut sizes = Vec::new();
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
                Payload::ElementSection(r) => {
                    for e in r {
                        if let wasmparser::ElementItems::Functions(f) = e.unwrap().items {
                            elements.extend(f.into_iter().map(Result::unwrap));
                        }
                    }
                }
                Payload::CodeSectionEntry(body) => {
                    let mut ops = body.get_operators_reader().unwrap();
                    while !ops.eof() {
                        match ops.read().unwrap() {
                            Operator::Call { function_index } => calls.push(function_index),
                            Operator::I64Load { memarg } => loads.push(memarg.target),
                            Operator::MemorySize { mem } => sizes.push(mem),
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
        // No function was appended and no call is left: the accessor's code is in place.
        assert_eq!(bodies(&out.wasm).len(), 1);
        assert_eq!(calls, [] as [u32; 0]);
        // The table still holds the import, so calls through it reach the kernel.
        assert_eq!(elements, [0]);
        // The inlined load reads the kernel memory 0 (twice: the fast path, and the path that reads its size
        // again), the guest's own load memory 1.
        assert_eq!(
            loads,
            [
                wasmparser::MemArgTarget::Memory(0),
                wasmparser::MemArgTarget::Memory(0),
                wasmparser::MemArgTarget::Memory(1)
            ]
        );
        assert_eq!(sizes, [0]);
        // Two scratch locals (the address and the limit) after the function's own (none).
        assert_eq!(locals(&out.wasm), [vec![(2, wasmparser::ValType::I64)]]);
    }

    /// Scratch locals come after the function's parameters and locals, whose indices do not change; a function
    /// that calls no accessor and names no memory that moves is copied byte for byte.
    #[test]
    fn scratch_locals_follow_the_functions_own_and_untouched_bodies_are_copied() {
        let wasm = wat::parse_str(
            r#"(module
                (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
                (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
                (import "extism:host/env" "input_load_u8" (func $input_u8 (param i64) (result i32)))
                (import "memory" "m" (memory 1))
                (func $pure (param i32) (result i32) local.get 0 i32.const 1 i32.add)
                (func $own_memory (param i32) (result i32) local.get 0 i32.load)
                (func (export "f") (param $p i64) (param $q i32) (local $x f32) (local $y f32) (local $z v128)
                  local.get $p local.get $q call $store_u8
                  local.get $p i64.const 7 call $store_u64
                  local.get $p call $input_u8 drop
                  local.get $q call $own_memory drop))"#,
        )
        .unwrap();
        let out = rewrite_module(&wasm, KernelLayout::of_kernel().unwrap(), &[], None).unwrap();
        wasmparser::Validator::new().validate_all(&out.wasm).unwrap();
        use wasmparser::ValType::*;
        assert_eq!(
            locals(&out.wasm),
            [vec![], vec![], vec![(2, F32), (1, V128), (5, I64), (1, I32)]]
        );
        let (before, after) = (bodies(&wasm), bodies(&out.wasm));
        // The guest's memory is imported: its index (0) stays, the kernel's is 1.
        assert_eq!(before[0], after[0]);
        assert_eq!(before[1], after[1]);
        let f = &after[2];
        // Params 0-1 and locals 2-4 are the function's; 5 is the address, 6 the limit, 7 the stored u64, 8 and 9
        // the input cache (end and base), 10 the stored byte.
        assert_eq!(
            f[0..3],
            [
                "LocalGet { local_index: 0 }",
                "LocalGet { local_index: 1 }",
                "LocalSet { local_index: 10 }"
            ]
        );
        assert!(f.contains(&"LocalSet { local_index: 7 }".to_string()), "{f:?}");
        assert!(f.contains(&"LocalSet { local_index: 5 }".to_string()), "{f:?}");
        assert!(f.contains(&"LocalSet { local_index: 6 }".to_string()), "{f:?}");
        assert!(f.contains(&"LocalGet { local_index: 9 }".to_string()), "{f:?}");
        // The other call stays, and resets the input cache.
        let call = f
            .iter()
            .position(|op| op == "Call { function_index: 4 }")
            .expect("the call stays");
        assert_eq!(
            f[call + 1..call + 3],
            ["I64Const { value: 0 }", "LocalSet { local_index: 8 }"]
        );
    }

    /// A function with no room left for the scratch locals keeps its calls to the kernel (the module stays valid);
    /// the other functions are rewritten.
    #[test]
    fn a_function_without_room_for_locals_keeps_its_calls() {
        use wasm_encoder::{CodeSection, FunctionSection, ImportSection, Module, TypeSection};
        let mut types = TypeSection::new();
        types.ty().function([ValType::I64], [ValType::I64]);
        types.ty().function([ValType::I64], []);
        let mut imports = ImportSection::new();
        imports.import(EXTISM_ENV_MODULE, "load_u64", wasm_encoder::EntityType::Function(0));
        let mut functions = FunctionSection::new();
        let mut code = CodeSection::new();
        // One param: 49,993 locals leave room for the 6 scratch locals there may be, 49,994 do not.
        for declared in [MAX_LOCALS - 7, MAX_LOCALS - 6] {
            functions.function(1);
            let mut f = Function::new([(declared, ValType::I32)]);
            f.instruction(&Instruction::LocalGet(0));
            f.instruction(&Instruction::Call(0));
            f.instruction(&Instruction::Drop);
            f.instruction(&Instruction::End);
            code.function(&f);
        }
        let mut module = Module::new();
        module
            .section(&types)
            .section(&imports)
            .section(&functions)
            .section(&code);
        let wasm = module.finish();
        wasmparser::Validator::new().validate_all(&wasm).unwrap();
        let out = rewrite_module(&wasm, KernelLayout::of_kernel().unwrap(), &[], None).unwrap();
        wasmparser::Validator::new().validate_all(&out.wasm).unwrap();
        let after = bodies(&out.wasm);
        assert!(
            !after[0].contains(&"Call { function_index: 0 }".to_string()),
            "{:?}",
            after[0]
        );
        assert_eq!(after[1], bodies(&wasm)[1]);
        assert_eq!(locals(&out.wasm)[0].last(), Some(&(2, wasmparser::ValType::I64)));
    }

    /// Bytes that look like a call to an accessor but are not one (here `i32.const 16` before `end`, when the
    /// accessor's index is 11, the opcode of `end`) make a body be decoded; the decoding stops after the last of
    /// them, so a real call after such bytes is still inlined, and a body with only such bytes stays as it is. (The
    /// guest's memory is imported so that no memory index moves: otherwise every body is decoded to the end.)
    #[test]
    fn bytes_that_look_like_an_accessor_call_do_not_hide_real_calls() {
        let filler: String = (0..11).map(|i| format!("(import \"env\" \"f{i}\" (func))\n")).collect();
        let wasm = wat::parse_str(format!(
            r#"(module
                {filler}
                (import "extism:host/env" "load_u64" (func $load (param i64) (result i64)))
                (import "env" "memory" (memory 1))
                (func (export "look_alike_then_call") (result i64)
                  block (result i32) i32.const 16 end drop
                  i64.const 8 call $load)
                (func (export "call_then_look_alike") (result i64)
                  i64.const 8 call $load
                  block (result i32) i32.const 16 end drop)
                (func (export "look_alike_only") (result i32)
                  block (result i32) i32.const 16 end i32.const 1 i32.add))"#
        ))
        .unwrap();
        let body = bodies(&wasm);
        assert!(
            body[0].iter().any(|op| op == "Call { function_index: 11 }"),
            "{:?}",
            body[0]
        );
        let out = rewrite_module(&wasm, KernelLayout::of_kernel().unwrap(), &[], None).unwrap();
        wasmparser::Validator::new().validate_all(&out.wasm).unwrap();
        let after = bodies(&out.wasm);
        for f in &after[..2] {
            assert!(!f.iter().any(|op| op == "Call { function_index: 11 }"), "{f:?}");
        }
        assert_eq!(after[2], body[2]);
    }

    /// A module that calls the accessors only through a table has nothing to inline: it is left as it is (no
    /// extra memory).
    #[test]
    fn a_module_without_direct_accessor_calls_is_left_alone() {
        let wasm = wat::parse_str(
            r#"(module
                (import "extism:host/env" "load_u64" (func $load (param i64) (result i64)))
                (type $t (func (param i64) (result i64)))
                (table 1 funcref) (elem (i32.const 0) $load)
                (memory 1)
                (func (export "f") (result i64) i64.const 3 i32.const 0 call_indirect (type $t)))"#,
        )
        .unwrap();
        assert!(rewrite_module(&wasm, KernelLayout::of_kernel().unwrap(), &[], None).is_none());
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
        assert!(rewrite_module(&wasm, layout, &[], None).is_some());
        assert!(rewrite_module(&wasm, layout, &["load_u64"], None).is_none());
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
        assert!(rewrite_module(&wasm, KernelLayout::of_kernel().unwrap(), &[], None).is_none());
    }
}
