//! The rewrite's pass over a function body: which instructions it must change, found without building an
//! [`Operator`] for the others.
//!
//! Reading a body with [`wasmparser::OperatorsReader::read`] builds (and drops) an `Operator` for every
//! instruction; most of a module's instructions need nothing from the rewrite, and that pass alone cost more than
//! wasmi's validation of the whole module. [`Scanner`] is a [`VisitOperator`] whose methods only look at the
//! immediates the rewrite cares about (call targets and memory indices) and build an `Operator` only for an
//! instruction whose memory index moves. Every instruction wasmparser knows is visited (the methods are generated
//! from wasmparser's own instruction list), so a new proposal cannot slip past the memory shift: an immediate of
//! type [`MemArg`] is checked wherever it appears, and the instructions naming a memory by a bare index are listed
//! by name below.

use wasmparser::{MemArg, Operator, VisitOperator, VisitSimdOperator};

/// What one instruction asks of the rewrite (small, so that the nine in ten instructions that ask nothing cost
/// little to return).
#[derive(Clone, Copy)]
pub(super) enum Seen {
    /// Nothing: its bytes are copied.
    Plain,
    /// A direct call (`call`) to this function index.
    Call(u32),
    /// A `loop` with no parameters or results (which may be a copy loop: see [`super::copy_loop`]).
    Loop,
    /// Another call that comes back to the next instruction (`call_indirect`, `call_ref`).
    OtherCall,
    /// An instruction after which control may come back into the function elsewhere than at the next instruction
    /// (exception handling, stack switching).
    Unwinds,
    /// An instruction naming a memory at or above the kernel memory's index: it is re-encoded with the index moved.
    /// The instruction is in [`Scanner::shifted`].
    Shifts,
}

/// The visitor: `kernel_memory` is the index the kernel memory takes; memories at or above it move up by one.
pub(super) struct Scanner<'a> {
    pub kernel_memory: u32,
    /// The last instruction seen as [`Seen::Shifts`].
    pub shifted: Option<Operator<'a>>,
}

impl<'a> Scanner<'a> {
    fn shifts(&mut self, moves: bool, operator: impl FnOnce() -> Operator<'a>) -> Seen {
        if !moves {
            return Seen::Plain;
        }
        self.shifted = Some(operator());
        Seen::Shifts
    }
}

/// An immediate, for [`NamesMemory::moves`]: a method found on the `MemArg` immediates alone, and
/// [`NamesNoMemory::moves`] (reached through one more reference) on every other type.
struct Immediate<'r, T>(&'r T);

trait NamesMemory {
    fn moves(&self, kernel_memory: u32) -> bool;
}

impl NamesMemory for Immediate<'_, MemArg> {
    fn moves(&self, kernel_memory: u32) -> bool {
        // A memory argument may instead name a GC array type, which does not move.
        matches!(self.0.target, wasmparser::MemArgTarget::Memory(memory) if memory >= kernel_memory)
    }
}

trait NamesNoMemory {
    fn moves(&self, kernel_memory: u32) -> bool;
}

impl<T> NamesNoMemory for &Immediate<'_, T> {
    fn moves(&self, _: u32) -> bool {
        false
    }
}

/// The body of one visit method, from the instruction's name and immediates.
macro_rules! seen {
    ($s:ident, Call, $function:ident) => {
        Seen::Call($function)
    };
    ($s:ident, Loop, $blockty:ident) => {
        match $blockty {
            wasmparser::BlockType::Empty => Seen::Loop,
            _ => Seen::Plain,
        }
    };
    ($s:ident, CallIndirect $(, $a:ident)*) => {
        Seen::OtherCall
    };
    ($s:ident, CallRef $(, $a:ident)*) => {
        Seen::OtherCall
    };
    ($s:ident, TryTable $(, $a:ident)*) => { Seen::Unwinds };
    ($s:ident, Try $(, $a:ident)*) => { Seen::Unwinds };
    ($s:ident, Catch $(, $a:ident)*) => { Seen::Unwinds };
    ($s:ident, CatchAll $(, $a:ident)*) => { Seen::Unwinds };
    ($s:ident, Delegate $(, $a:ident)*) => { Seen::Unwinds };
    ($s:ident, ContNew $(, $a:ident)*) => { Seen::Unwinds };
    ($s:ident, ContBind $(, $a:ident)*) => { Seen::Unwinds };
    ($s:ident, Suspend $(, $a:ident)*) => { Seen::Unwinds };
    ($s:ident, Resume $(, $a:ident)*) => { Seen::Unwinds };
    ($s:ident, ResumeThrow $(, $a:ident)*) => { Seen::Unwinds };
    ($s:ident, ResumeThrowRef $(, $a:ident)*) => { Seen::Unwinds };
    ($s:ident, Switch $(, $a:ident)*) => { Seen::Unwinds };
    // The instructions that name a memory by a bare index.
    ($s:ident, MemorySize, $mem:ident) => {
        $s.shifts($mem >= $s.kernel_memory, || Operator::MemorySize { mem: $mem })
    };
    ($s:ident, MemoryGrow, $mem:ident) => {
        $s.shifts($mem >= $s.kernel_memory, || Operator::MemoryGrow { mem: $mem })
    };
    ($s:ident, MemoryFill, $mem:ident) => {
        $s.shifts($mem >= $s.kernel_memory, || Operator::MemoryFill { mem: $mem })
    };
    ($s:ident, MemoryDiscard, $mem:ident) => {
        $s.shifts($mem >= $s.kernel_memory, || Operator::MemoryDiscard { mem: $mem })
    };
    ($s:ident, MemoryInit, $data:ident, $mem:ident) => {
        $s.shifts($mem >= $s.kernel_memory, || Operator::MemoryInit {
            data_index: $data,
            mem: $mem,
        })
    };
    ($s:ident, MemoryCopy, $dst:ident, $src:ident) => {
        $s.shifts($dst >= $s.kernel_memory || $src >= $s.kernel_memory, || Operator::MemoryCopy {
            dst_mem: $dst,
            src_mem: $src,
        })
    };
    // Everything else: moves if one of its immediates is a `MemArg` naming a memory that moves.
    ($s:ident, $op:ident $(, $a:ident)*) => {
        $s.shifts(false $(|| (&Immediate(&$a)).moves($s.kernel_memory))*, || Operator::$op { $($a),* })
    };
}

/// One visit method per instruction of wasmparser's list (the shape of `wasmparser::for_each_visit_operator!`).
macro_rules! visit {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
        $(
            #[inline]
            fn $visit(&mut self $($(, $arg: $argty)*)?) -> Seen {
                seen!(self, $op $($(, $arg)*)?)
            }
        )*
    };
}

#[allow(unused_variables)]
impl<'a> VisitOperator<'a> for Scanner<'a> {
    type Output = Seen;

    fn simd_visitor(&mut self) -> Option<&mut dyn VisitSimdOperator<'a, Output = Self::Output>> {
        Some(self)
    }

    wasmparser::for_each_visit_operator!(visit);
}

#[allow(unused_variables)]
impl<'a> VisitSimdOperator<'a> for Scanner<'a> {
    wasmparser::for_each_visit_simd_operator!(visit);
}
