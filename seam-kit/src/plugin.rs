//! A store with one guest instantiated, driven the way the core drives it, and the checks the tests share.

use std::sync::Arc;

use extism_core::backend::{CallError, EngineApi, ExportShape, ExternKind, PluginStore};
use extism_core::{Function, Interrupt, PluginState, ValType};

use crate::setup::{Setup, begin_call, end_call};

/// A store of `B` with one guest module instantiated in it.
pub struct Plugin<B: EngineApi> {
    /// The store.
    pub store: B::Store<PluginState>,
    /// The guest's instance.
    pub instance: B::Instance,
    module: B::Module,
}

impl<B: EngineApi> Plugin<B> {
    /// Compile `wat`, make a store for it with `functions` prepared, and instantiate it; panics if any step fails.
    #[track_caller]
    pub fn new(setup: &Setup<B>, wat: &str, functions: &[Function]) -> Plugin<B> {
        let module = setup.compile(wat);
        let store = setup.store(&[&module], functions);
        Plugin::instantiate(store, module).unwrap_or_else(|e| panic!("{}: instantiating a kit guest: {e}", B::NAME))
    }

    /// Instantiate `module` in `store`.
    pub fn instantiate(mut store: B::Store<PluginState>, module: B::Module) -> Result<Plugin<B>, CallError> {
        let instance = store.instantiate(&module)?;
        Ok(Plugin {
            store,
            instance,
            module,
        })
    }

    /// A store in which `module` was instantiated as `instance`.
    pub fn from_parts(store: B::Store<PluginState>, instance: B::Instance, module: B::Module) -> Plugin<B> {
        Plugin {
            store,
            instance,
            module,
        }
    }

    /// Call the guest's export `name` (`() -> ()` or `() -> i32`).
    #[track_caller]
    pub fn call(&mut self, name: &str) -> Result<i32, CallError> {
        call::<B>(&mut self.store, &self.module, &self.instance, name)
    }

    /// Call `name` as the core does when a call may be interrupted: between `enter_call` and `leave_call`.
    #[track_caller]
    pub fn call_interruptible(&mut self, interrupt: &Interrupt, name: &str) -> Result<i32, CallError> {
        interrupt.enter_call();
        let result = self.call(name);
        interrupt.leave_call();
        result
    }

    /// Enable interrupts on the store; returns the flag that stops its calls.
    pub fn enable_interrupts(&mut self) -> Arc<Interrupt> {
        let interrupt = Arc::new(Interrupt::default());
        self.store
            .enable_interrupts(interrupt.clone())
            .unwrap_or_else(|e| panic!("{}: enabling interrupts: {e:#}", B::NAME));
        interrupt
    }

    /// Fuel one call of `name` uses, under a limit it cannot reach.
    #[track_caller]
    pub fn fuel_used_by(&mut self, name: &str) -> u64 {
        let limit = 1_000_000_000;
        self.store.set_fuel(limit).unwrap();
        self.call(name).unwrap_or_else(|e| panic!("{}: {name}: {e}", B::NAME));
        limit - self.store.fuel_remaining().expect("fuel is metered")
    }

    /// The store still works after whatever happened to it: the kernel starts and ends a call, and the guest's
    /// `answer` export (every kit guest that uses this has one) returns 42.
    #[track_caller]
    pub fn assert_usable(&mut self) {
        let input = begin_call::<B>(&mut self.store, 10)
            .unwrap_or_else(|e| panic!("{}: the kernel no longer starts a call: {e}", B::NAME));
        assert_ne!(input, 0, "{}: the kernel allocates the input", B::NAME);
        end_call::<B>(&mut self.store).unwrap_or_else(|e| panic!("{}: the kernel no longer ends a call: {e}", B::NAME));
        assert_eq!(
            self.call("answer").ok(),
            Some(42),
            "{}: the store stays usable",
            B::NAME
        );
    }
}

/// Call the export `name` of `instance` (of `module`) in `store`, with the shape its type says, as the core does.
#[track_caller]
pub fn call<B: EngineApi>(
    store: &mut B::Store<PluginState>,
    module: &B::Module,
    instance: &B::Instance,
    name: &str,
) -> Result<i32, CallError> {
    let export = store
        .export(instance, name, export_shape::<B>(module, name))
        .unwrap_or_else(|| panic!("{}: the guest's export `{name}` is not found", B::NAME));
    store.call(&export)
}

/// The shape of the function export `name` of `module`, from the module's exports as the engine lists them.
#[track_caller]
fn export_shape<B: EngineApi>(module: &B::Module, name: &str) -> ExportShape {
    let kind = B::exports(module)
        .into_iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("{}: the module does not list the export `{name}`", B::NAME))
        .kind;
    match kind {
        ExternKind::Func(ty) if ty.params.is_empty() && ty.results.is_empty() => ExportShape::NoResult,
        ExternKind::Func(ty) if ty.params.is_empty() && ty.results == [ValType::I32] => ExportShape::I32Result,
        other => panic!("the export `{name}` is a {other}, not a `() -> ()` or `() -> i32` function"),
    }
}

/// The limit a failed call stands for, as the core reads it: one the engine reports itself, or one carried by a host
/// function's error (a kernel call made inside the host function ran into it, and the core's `Function::invoke`
/// passes it on; wasmi also reports an interrupted start function this way, from its sliced nested call).
pub fn limit_of(error: &CallError) -> Option<CallError> {
    match error {
        CallError::Host(e) => CallError::limit_in(e),
        other => other.as_limit(),
    }
}

/// Assert that `result` failed with the limit `expected` picks out (see [`limit_of`]).
#[track_caller]
fn assert_limit<T>(result: Result<T, CallError>, expected: fn(&CallError) -> bool, what: &str, engine: &str) {
    match result {
        Err(e) if limit_of(&e).as_ref().is_some_and(expected) => {}
        Err(e) => panic!("{engine}: expected {what}, got the error {e:?}"),
        Ok(_) => panic!("{engine}: expected {what}, got success"),
    }
}

/// Assert that the call was interrupted.
#[track_caller]
pub fn assert_interrupted<B: EngineApi, T>(result: Result<T, CallError>) {
    assert_limit(result, |e| matches!(e, CallError::Interrupted), "an interrupt", B::NAME);
}

/// Assert that the call ran out of fuel.
#[track_caller]
pub fn assert_out_of_fuel<B: EngineApi, T>(result: Result<T, CallError>) {
    assert_limit(
        result,
        |e| matches!(e, CallError::OutOfFuel),
        "running out of fuel",
        B::NAME,
    );
}

/// Assert that the call hit the memory budget.
#[track_caller]
pub fn assert_memory_limit<B: EngineApi, T>(result: Result<T, CallError>) {
    assert_limit(
        result,
        |e| matches!(e, CallError::MemoryLimit),
        "the memory budget",
        B::NAME,
    );
}

/// Assert that the call trapped with a message containing one of `words` (engines word their traps differently).
#[track_caller]
pub fn assert_trap<B: EngineApi, T>(result: Result<T, CallError>, words: &[&str]) {
    match result {
        Err(CallError::Trap(message)) => {
            let lower = message.to_lowercase();
            assert!(
                words.iter().any(|w| lower.contains(w)),
                "{}: expected a trap saying one of {words:?}, got: {message}",
                B::NAME
            );
        }
        Err(e) => panic!(
            "{}: expected a trap saying one of {words:?}, got the error {e:?}",
            B::NAME
        ),
        Ok(_) => panic!("{}: expected a trap saying one of {words:?}, got success", B::NAME),
    }
}
