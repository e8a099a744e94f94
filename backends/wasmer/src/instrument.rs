//! Code the compiler adds to every plug-in module (never to the kernel): interrupt checks and fuel metering.
//!
//! **Interrupts.** Each instrumented module gets a mutable `i32` global, exported as [`INTERRUPT_GLOBAL`], and
//! checks it at every function entry, every loop header and right after every `memory.grow` (a growth refused by
//! the memory budget raises it): a non-zero value traps. The host raises it from any
//! thread through a pointer captured at instantiation (see `tunables.rs`), so one plug-in is interrupted without
//! touching any other store, and without signals. wasmer's own mechanism (`experimental-host-interrupt`) is not
//! used: it sends `SIGUSR1` and, with the feature compiled in, any `SIGUSR1` the process receives from elsewhere
//! panics inside wasmer's signal handler and kills the process; a host's own `SIGUSR1` handler is never called.
//!
//! **Fuel.** With fuel enabled, each instrumented module also gets a mutable `i64` global, exported as
//! [`FUEL_GLOBAL`], holding the fuel left. Every basic block is charged at its end (before the branch, call or
//! `end` that closes it), at one unit per instruction except the structural ones (`nop`, `drop`, `block`, `loop`,
//! `else`, `end`, `return`, `unreachable`), as wasmtime counts. A block that costs more than what is left sets the
//! global to 0 and traps. The kernel is not metered: each kernel export does bounded work, and the guest pays for
//! calling it like for any other call.
//!
//! **Start functions.** An instrumented module's start function is exported as [`START_EXPORT`] instead of running
//! inside wasmer's instantiation, so that the store can arm its interrupt flag and set the fuel before any guest
//! code runs. The store calls it right after instantiating, which is what a start function means.
//!
//! wasmer hands a middleware no module information when it builds the per-function part, so the global indexes of
//! the module being compiled are kept in [`Instrumentation`] between the two steps. That is only correct if one
//! module is compiled at a time per engine: `WasmerEngine::compile` holds a lock for the whole compilation.

use std::sync::Mutex;

use wasmer::sys::wasmparser::{BlockType, Operator};
use wasmer::sys::{FunctionMiddleware, MiddlewareError, MiddlewareReaderState, ModuleMiddleware};
use wasmer_types::{ExportIndex, GlobalInit, GlobalType, LocalFunctionIndex, ModuleInfo, Mutability, Type};

/// Export name of the interrupt flag global.
pub(crate) const INTERRUPT_GLOBAL: &str = "extism-wasmer:interrupt";
/// Export name of the fuel global.
pub(crate) const FUEL_GLOBAL: &str = "extism-wasmer:fuel";
/// Export name of the module's start function, which no longer runs on its own.
pub(crate) const START_EXPORT: &str = "extism-wasmer:start";

/// True for the exports instrumentation adds, which the core must not see.
pub(crate) fn is_hidden_export(name: &str) -> bool {
    matches!(name, INTERRUPT_GLOBAL | FUEL_GLOBAL | START_EXPORT)
}

/// The globals of the module being compiled.
#[derive(Debug, Clone, Copy)]
struct Globals {
    interrupt: u32,
    fuel: Option<u32>,
}

/// The middleware. One per engine; see the module docs for why it carries per-module state.
#[derive(Debug)]
pub(crate) struct Instrumentation {
    fuel: bool,
    /// What to do with the next module: instrument it (plug-in modules) or not (the kernel).
    instrument_next: Mutex<bool>,
    /// The globals of the module being compiled, `None` when it is not instrumented.
    current: Mutex<Option<Globals>>,
}

impl Instrumentation {
    pub(crate) fn new(fuel: bool) -> Instrumentation {
        Instrumentation {
            fuel,
            instrument_next: Mutex::new(true),
            current: Mutex::new(None),
        }
    }

    /// Choose whether the next module compiled is instrumented. The caller holds the engine's compile lock.
    pub(crate) fn instrument_next(&self, instrument: bool) {
        *self.instrument_next.lock().unwrap_or_else(|e| e.into_inner()) = instrument;
    }

    fn add_global(module: &mut ModuleInfo, name: &str, ty: Type, init: GlobalInit) -> Result<u32, MiddlewareError> {
        if module.exports.contains_key(name) {
            return Err(MiddlewareError::new(
                "extism-wasmer",
                format!("the module already exports `{name}`, a name the wasmer backend reserves"),
            ));
        }
        let index = module.globals.push(GlobalType::new(ty, Mutability::Var));
        module.global_initializers.push(init);
        module.exports.insert(name.to_string(), ExportIndex::Global(index));
        Ok(index.as_u32())
    }
}

impl ModuleMiddleware for Instrumentation {
    fn transform_module_info(&self, module: &mut ModuleInfo) -> Result<(), MiddlewareError> {
        let instrument = *self.instrument_next.lock().unwrap_or_else(|e| e.into_inner());
        let globals = if instrument {
            let interrupt = Self::add_global(module, INTERRUPT_GLOBAL, Type::I32, GlobalInit::I32Const(0))?;
            let fuel = if self.fuel {
                Some(Self::add_global(
                    module,
                    FUEL_GLOBAL,
                    Type::I64,
                    GlobalInit::I64Const(0),
                )?)
            } else {
                None
            };
            if let Some(start) = module.start_function.take() {
                if module.exports.contains_key(START_EXPORT) {
                    return Err(MiddlewareError::new(
                        "extism-wasmer",
                        format!("the module already exports `{START_EXPORT}`, a name the wasmer backend reserves"),
                    ));
                }
                module
                    .exports
                    .insert(START_EXPORT.to_string(), ExportIndex::Function(start));
            }
            Some(Globals { interrupt, fuel })
        } else {
            None
        };
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = globals;
        Ok(())
    }

    fn generate_function_middleware<'a>(&self, _: LocalFunctionIndex) -> Box<dyn FunctionMiddleware<'a> + 'a> {
        let globals = *self.current.lock().unwrap_or_else(|e| e.into_inner());
        match globals {
            Some(globals) => Box::new(Checks {
                globals,
                entered: false,
                cost: 0,
            }),
            None => Box::new(PassThrough),
        }
    }
}

/// The function middleware of an uninstrumented module.
#[derive(Debug)]
struct PassThrough;

impl<'a> FunctionMiddleware<'a> for PassThrough {}

/// The function middleware of an instrumented module.
#[derive(Debug)]
struct Checks {
    globals: Globals,
    /// Whether the entry check has been emitted.
    entered: bool,
    /// Fuel cost of the instructions since the last charge.
    cost: u64,
}

impl Checks {
    /// `if (interrupt) unreachable`
    fn interrupt_check<'a>(&self, state: &mut MiddlewareReaderState<'a>) {
        state.extend([
            Operator::GlobalGet {
                global_index: self.globals.interrupt,
            },
            Operator::If {
                blockty: BlockType::Empty,
            },
            Operator::Unreachable,
            Operator::End,
        ]);
    }

    /// Charge the instructions seen since the last charge: trap with the fuel set to 0 if fewer are left.
    fn charge<'a>(&mut self, fuel: u32, state: &mut MiddlewareReaderState<'a>) {
        if self.cost == 0 {
            return;
        }
        // Fuel is unsigned: the host stores a u64 bit pattern in the i64 global.
        let cost = self.cost as i64;
        self.cost = 0;
        state.extend([
            Operator::GlobalGet { global_index: fuel },
            Operator::I64Const { value: cost },
            Operator::I64LtU,
            Operator::If {
                blockty: BlockType::Empty,
            },
            Operator::I64Const { value: 0 },
            Operator::GlobalSet { global_index: fuel },
            Operator::Unreachable,
            Operator::End,
            Operator::GlobalGet { global_index: fuel },
            Operator::I64Const { value: cost },
            Operator::I64Sub,
            Operator::GlobalSet { global_index: fuel },
        ]);
    }
}

/// What an instruction costs; structural instructions are free, as in wasmtime.
fn cost(op: &Operator<'_>) -> u64 {
    match op {
        Operator::Nop
        | Operator::Drop
        | Operator::Block { .. }
        | Operator::Loop { .. }
        | Operator::Else
        | Operator::End
        | Operator::Return
        | Operator::Unreachable => 0,
        _ => 1,
    }
}

/// True for instructions that end a basic block or start one that a branch can reach: the points where the cost
/// accumulated so far must be charged.
fn ends_block(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::Else
            | Operator::End
            | Operator::Br { .. }
            | Operator::BrIf { .. }
            | Operator::BrTable { .. }
            | Operator::BrOnNull { .. }
            | Operator::BrOnNonNull { .. }
            | Operator::BrOnCast { .. }
            | Operator::BrOnCastFail { .. }
            | Operator::Return
            | Operator::Unreachable
            | Operator::Call { .. }
            | Operator::CallIndirect { .. }
            | Operator::CallRef { .. }
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::ReturnCallRef { .. }
            | Operator::Throw { .. }
            | Operator::ThrowRef
            | Operator::Rethrow { .. }
            | Operator::Try { .. }
            | Operator::TryTable { .. }
            | Operator::Catch { .. }
            | Operator::CatchAll
            | Operator::Delegate { .. }
    )
}

impl<'a> FunctionMiddleware<'a> for Checks {
    fn feed(&mut self, op: Operator<'a>, state: &mut MiddlewareReaderState<'a>) -> Result<(), MiddlewareError> {
        if !self.entered {
            self.entered = true;
            self.interrupt_check(state);
        }
        if let Some(fuel) = self.globals.fuel {
            self.cost += cost(&op);
            if ends_block(&op) {
                self.charge(fuel, state);
            }
        }
        // After a loop header: inside the loop, so that every iteration (every branch back to the header) checks
        // again. After `memory.grow`: a growth the memory budget refused has raised the flag, so the call stops at the
        // grow (as on the other engines) instead of running on with -1.
        let check_after = matches!(op, Operator::Loop { .. } | Operator::MemoryGrow { .. });
        state.push_operator(op);
        if check_after {
            self.interrupt_check(state);
        }
        Ok(())
    }
}
