//! The PDKs' copy loops, done in one `memory.copy` when that is exactly what the loop would do.
//!
//! With the accessors inlined, a PDK still moves bytes eight at a time: the Rust PDK reads its input with a loop of
//! `input_load_u64` and `i64.store`, writes a block of kernel memory with a loop of `i64.load` and `store_u64`, and
//! reads one with a loop of `load_u64` and `i64.store`.
//! The loop costs a compare and branch, an interruption check and the induction updates per eight bytes. When a
//! loop has exactly one of the shapes below ([`CopyLoop::find`]: nothing else in its body, no other branch), a
//! prologue is put before it that checks, on the loop's own locals, that every iteration would read and write
//! inside its memories with no address wrapping and no access the kernel would refuse (so that the loop could not
//! trap part-way, and each `input_load_u64` and `store_u64` would do its plain memory access); if so, it copies the
//! bytes with one `memory.copy` between the kernel memory and the guest's, sets the loop's locals to the values
//! they have after the last iteration, and skips the loop. Otherwise (a loop that would trap, or read past the
//! input, or run `2^61` times) the loop runs as it was. No other state differs: the two memories are distinct, so
//! the order of the reads and writes does not matter, and the rewrite is never used under a fuel limit.
//!
//! The prologue and the loop are wrapped in two blocks; the loop's body branches only to itself (`br_if 0`), so no
//! branch depth inside it changes.

use wasm_encoder::{BlockType, Instruction};
use wasmparser::Operator;

use super::{Accessor, Body, Rewriter, Scratch};

/// A loop the rewrite can do in one `memory.copy`: the locals it uses and the guest memory access it makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CopyLoop {
    /// The input into guest memory (the Rust PDK's `input()`), with `p: i32`, `o: i64`, `l: i64`:
    ///
    /// ```text
    /// loop
    ///   local.get $p  local.get $o  call $input_load_u64  i64.store $memory offset=$offset
    ///   local.get $p  i32.const 8  i32.add  local.set $p
    ///   local.get $l  local.get $o  i64.const 8  i64.add  local.tee $o  i64.ne  br_if 0
    /// end
    /// ```
    Input {
        p: u32,
        o: u32,
        l: u32,
        memory: u32,
        offset: u64,
    },
    /// `n` u64s between kernel memory at `a: i64` and guest memory at `p: i32` (`n: i64`), guest memory into
    /// kernel memory (`into_kernel`: the Rust PDK's `Memory::from_bytes`) or the other way (`Memory::to_vec`):
    ///
    /// ```text
    /// loop
    ///   local.get $a  local.get $p  i64.load $memory offset=$offset  call $store_u64
    ///   (or: local.get $p  local.get $a  call $load_u64  i64.store $memory offset=$offset)
    ///   local.get $a  i64.const 8  i64.add  local.set $a
    ///   local.get $p  i32.const 8  i32.add  local.set $p
    ///   local.get $n  i64.const -1  i64.add  local.tee $n  i64.const 0  i64.ne  br_if 0
    /// end
    /// ```
    Counted {
        into_kernel: bool,
        a: u32,
        p: u32,
        n: u32,
        memory: u32,
        offset: u64,
    },
}

/// The most instructions a copy loop's body has (its `end` included).
const LONGEST: usize = 20;

impl CopyLoop {
    /// The copy loop whose body (after its `loop` instruction, with empty block type) starts `body`, and the length
    /// of that body in bytes (its `end` included); `memory` is the index
    /// the rewritten module gives a guest memory, or `None` for a memory whose copy the rewrite does not make (see
    /// [`Rewriter::copyable_memory`]).
    pub(super) fn find(
        body: &[u8],
        accessor_of: impl Fn(u32) -> Option<Accessor>,
        memory: impl Fn(u32) -> Option<u32>,
    ) -> Option<(CopyLoop, usize)> {
        use Operator as O;
        let mut reader = wasmparser::OperatorsReader::new(wasmparser::BinaryReader::new(body, 0));
        let mut ops = Vec::with_capacity(LONGEST);
        loop {
            let op = reader.read().ok()?;
            // Every shape starts with two `local.get` and then the call or the guest memory load: most loops are
            // given up after a few instructions.
            let plausible = match ops.len() {
                0 | 1 => matches!(op, O::LocalGet { .. }),
                2 => matches!(op, O::Call { .. } | O::I64Load { .. }),
                _ => true,
            };
            if !plausible {
                return None;
            }
            let end = matches!(op, O::End);
            ops.push(op);
            if end {
                break;
            }
            if ops.len() == LONGEST {
                return None;
            }
        }
        let len = reader.original_position() as usize;
        let memory_of = |target: &wasmparser::MemArgTarget| match target {
            wasmparser::MemArgTarget::Memory(m) => memory(*m),
            _ => None,
        };
        let found = match ops.as_slice() {
            [
                O::LocalGet { local_index: p },
                O::LocalGet { local_index: o },
                O::Call { function_index },
                O::I64Store { memarg },
                O::LocalGet { local_index: p2 },
                O::I32Const { value: 8 },
                O::I32Add,
                O::LocalSet { local_index: p3 },
                O::LocalGet { local_index: l },
                O::LocalGet { local_index: o2 },
                O::I64Const { value: 8 },
                O::I64Add,
                O::LocalTee { local_index: o3 },
                O::I64Ne,
                O::BrIf { relative_depth: 0 },
                O::End,
            ] if accessor_of(*function_index) == Some(Accessor::InputLoadU64)
                && (p, o) == (p2, o2)
                && (p, o) == (p3, o3)
                && distinct(&[*p, *o, *l]) =>
            {
                CopyLoop::Input {
                    p: *p,
                    o: *o,
                    l: *l,
                    memory: memory_of(&memarg.target)?,
                    offset: memarg.offset,
                }
            }
            [
                O::LocalGet { local_index: first },
                O::LocalGet { local_index: second },
                access,
                next,
                O::LocalGet { local_index: a2 },
                O::I64Const { value: 8 },
                O::I64Add,
                O::LocalSet { local_index: a3 },
                O::LocalGet { local_index: p2 },
                O::I32Const { value: 8 },
                O::I32Add,
                O::LocalSet { local_index: p3 },
                O::LocalGet { local_index: n },
                O::I64Const { value: -1 },
                O::I64Add,
                O::LocalTee { local_index: n2 },
                O::I64Const { value: 0 },
                O::I64Ne,
                O::BrIf { relative_depth: 0 },
                O::End,
            ] => {
                // Guest memory into kernel memory, or kernel memory into guest memory.
                let (into_kernel, a, p, memarg) = match (access, next) {
                    (O::I64Load { memarg }, O::Call { function_index })
                        if accessor_of(*function_index) == Some(Accessor::StoreU64) =>
                    {
                        (true, first, second, memarg)
                    }
                    (O::Call { function_index }, O::I64Store { memarg })
                        if accessor_of(*function_index) == Some(Accessor::LoadU64) =>
                    {
                        (false, second, first, memarg)
                    }
                    _ => return None,
                };
                if (a, p, n) != (a2, p2, n2) || (a, p) != (a3, p3) || !distinct(&[*a, *p, *n]) {
                    return None;
                }
                CopyLoop::Counted {
                    into_kernel,
                    a: *a,
                    p: *p,
                    n: *n,
                    memory: memory_of(&memarg.target)?,
                    offset: memarg.offset,
                }
            }
            _ => return None,
        };
        Some((found, len))
    }

    /// True if the prologue can be written with these scratch locals (the input loop uses the input cache).
    pub(super) fn fits(self, scratch: Scratch) -> bool {
        match self {
            CopyLoop::Input { .. } => scratch.input.is_some(),
            CopyLoop::Counted { .. } => true,
        }
    }
}

fn distinct(locals: &[u32]) -> bool {
    locals.iter().enumerate().all(|(i, a)| !locals[i + 1..].contains(a))
}

impl Rewriter<'_> {
    /// The index in the rewritten module of the guest's memory `memory`, if the rewrite makes copies into or out of
    /// it: a memory the module defines, with 64 KiB pages and 32-bit addresses (so that `memory.size` times 64 KiB
    /// is its length, and the copy loops' `i32` addresses are what they look like).
    pub(super) fn copyable_memory(&self, memory: u32) -> Option<u32> {
        let ty = self
            .survey
            .defined_memories
            .get(memory.checked_sub(self.survey.imported_memories)? as usize)?;
        let plain = !ty.memory64 && !ty.shared && ty.page_size_log2.is_none_or(|p| p == 16);
        if !plain {
            return None;
        }
        Some(if memory >= self.kernel_memory() {
            memory + 1
        } else {
            memory
        })
    }

    /// The code put before a copy loop (see the module documentation), which [`Rewriter::copy_loop_end`] closes
    /// after the loop's `end`. Only for a loop that [`CopyLoop::fits`] the scratch locals.
    pub(super) fn copy_loop_start(&self, f: &mut Body, copy: CopyLoop, scratch: Scratch) {
        use Instruction as I;
        let kernel = self.kernel_memory();
        let bytes_of = |f: &mut Body, memory: u32| {
            f.instruction(&I::MemorySize(memory));
            f.instruction(&I::I64ExtendI32U);
            f.instruction(&I::I64Const(16));
            f.instruction(&I::I64Shl);
        };
        // `br_if $slow` (to the loop) when the `i32` on the stack is true.
        let unless = |f: &mut Body| {
            f.instruction(&I::BrIf(0));
        };
        f.instruction(&I::Block(BlockType::Empty));
        f.instruction(&I::Block(BlockType::Empty));
        match copy {
            CopyLoop::Input {
                p,
                o,
                l,
                memory,
                offset,
            } => {
                let Some(cache) = scratch.input else {
                    unreachable!("copy_loop_start on a loop that does not fit")
                };
                // `d = l - o`: the bytes the loop copies if it is a multiple of 8 other than 0 (it adds 8 to `o`
                // until `o == l`).
                let d = |f: &mut Body| {
                    f.instruction(&I::LocalGet(l));
                    f.instruction(&I::LocalGet(o));
                    f.instruction(&I::I64Sub);
                };
                // The input's length in `scratch.value`, its offset in `cache.base`, and `cache.end` 0 unless the
                // input lies in the heap and is at least 8 bytes long (then every in-input load is a plain load).
                self.refresh_input(f, scratch, cache);
                f.instruction(&I::LocalGet(cache.end));
                f.instruction(&I::I64Eqz);
                unless(f);
                d(f);
                f.instruction(&I::I64Const(7));
                f.instruction(&I::I64And);
                f.instruction(&I::I32WrapI64);
                unless(f);
                d(f);
                f.instruction(&I::I64Eqz);
                unless(f);
                // Every load inside the input: `o + d <= length`, without overflow.
                f.instruction(&I::LocalGet(o));
                f.instruction(&I::LocalGet(scratch.value));
                f.instruction(&I::I64GtU);
                unless(f);
                d(f);
                f.instruction(&I::LocalGet(scratch.value));
                f.instruction(&I::LocalGet(o));
                f.instruction(&I::I64Sub);
                f.instruction(&I::I64GtU);
                unless(f);
                // Every store inside guest memory, with no `i32` wrap of `p`: `p + offset + d <= memory bytes`
                // (at most 2^32; `d` is below 2^32 here, so the sum cannot overflow).
                f.instruction(&I::LocalGet(p));
                f.instruction(&I::I64ExtendI32U);
                f.instruction(&I::I64Const(offset as i64));
                f.instruction(&I::I64Add);
                d(f);
                f.instruction(&I::I64Add);
                bytes_of(f, memory);
                f.instruction(&I::I64GtU);
                unless(f);
                // memory.copy(p + offset, input offset + o, d), then the locals as the loop leaves them.
                f.instruction(&I::LocalGet(p));
                f.instruction(&I::I32Const(offset as u32 as i32));
                f.instruction(&I::I32Add);
                f.instruction(&I::LocalGet(cache.base));
                f.instruction(&I::LocalGet(o));
                f.instruction(&I::I64Add);
                f.instruction(&I::I32WrapI64);
                d(f);
                f.instruction(&I::I32WrapI64);
                f.instruction(&I::MemoryCopy {
                    dst_mem: memory,
                    src_mem: kernel,
                });
                f.instruction(&I::LocalGet(p));
                d(f);
                f.instruction(&I::I32WrapI64);
                f.instruction(&I::I32Add);
                f.instruction(&I::LocalSet(p));
                f.instruction(&I::LocalGet(l));
                f.instruction(&I::LocalSet(o));
            }
            CopyLoop::Counted {
                into_kernel,
                a,
                p,
                n,
                memory,
                offset,
            } => {
                // The loop runs `n` times (it subtracts 1 until 0) and copies `8 n` bytes.
                let d = |f: &mut Body| {
                    f.instruction(&I::LocalGet(n));
                    f.instruction(&I::I64Const(3));
                    f.instruction(&I::I64Shl);
                };
                f.instruction(&I::LocalGet(n));
                f.instruction(&I::I64Eqz);
                unless(f);
                // At most 2^29 times (4 GiB), so that the sums below cannot overflow.
                f.instruction(&I::LocalGet(n));
                f.instruction(&I::I64Const(1 << 29));
                f.instruction(&I::I64GtU);
                unless(f);
                // Every guest access inside guest memory, with no `i32` wrap of `p`: `p + offset + 8 n <= memory
                // bytes`.
                f.instruction(&I::LocalGet(p));
                f.instruction(&I::I64ExtendI32U);
                f.instruction(&I::I64Const(offset as i64));
                f.instruction(&I::I64Add);
                d(f);
                f.instruction(&I::I64Add);
                bytes_of(f, memory);
                f.instruction(&I::I64GtU);
                unless(f);
                // Every `store_u64` one the kernel makes, every `load_u64` one that reads memory: `heap start <= a`
                // and `a + 8 n <= kernel memory bytes`.
                f.instruction(&I::LocalGet(a));
                f.instruction(&I::I64Const(i64::from(self.layout.heap_start)));
                f.instruction(&I::I64LtU);
                unless(f);
                f.instruction(&I::LocalGet(a));
                bytes_of(f, kernel);
                f.instruction(&I::I64GtU);
                unless(f);
                d(f);
                bytes_of(f, kernel);
                f.instruction(&I::LocalGet(a));
                f.instruction(&I::I64Sub);
                f.instruction(&I::I64GtU);
                unless(f);
                // memory.copy(a, p + offset, 8 n) or the other way, then the locals as the loop leaves them.
                let kernel_address = |f: &mut Body| {
                    f.instruction(&I::LocalGet(a));
                    f.instruction(&I::I32WrapI64);
                };
                let guest_address = |f: &mut Body| {
                    f.instruction(&I::LocalGet(p));
                    f.instruction(&I::I32Const(offset as u32 as i32));
                    f.instruction(&I::I32Add);
                };
                if into_kernel {
                    kernel_address(f);
                    guest_address(f);
                } else {
                    guest_address(f);
                    kernel_address(f);
                }
                d(f);
                f.instruction(&I::I32WrapI64);
                f.instruction(&if into_kernel {
                    I::MemoryCopy {
                        dst_mem: kernel,
                        src_mem: memory,
                    }
                } else {
                    I::MemoryCopy {
                        dst_mem: memory,
                        src_mem: kernel,
                    }
                });
                f.instruction(&I::LocalGet(a));
                d(f);
                f.instruction(&I::I64Add);
                f.instruction(&I::LocalSet(a));
                f.instruction(&I::LocalGet(p));
                d(f);
                f.instruction(&I::I32WrapI64);
                f.instruction(&I::I32Add);
                f.instruction(&I::LocalSet(p));
                f.instruction(&I::I64Const(0));
                f.instruction(&I::LocalSet(n));
            }
        }
        // Done: past the loop.
        f.instruction(&I::Br(1));
        f.instruction(&I::End);
    }

    /// Closes the block [`Rewriter::copy_loop_start`] opened, after the loop's `end`.
    pub(super) fn copy_loop_end(&self, f: &mut Body) {
        f.instruction(&Instruction::End);
    }
}
