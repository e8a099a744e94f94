//! Host functions: functions the host gives a plug-in to import, with user data.

use std::any::Any;
use std::ffi::c_void;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use anyhow::Error;

use crate::backend::{HostCallback, HostFunction, KernelAccess};
use crate::current_plugin::CurrentPlugin;
use crate::state::PluginState;
use crate::val::{FuncType, Val, ValType};

/// The namespace host functions are defined in unless another is set.
pub const EXTISM_USER_MODULE: &str = "extism:host/user";

/// Data shared between a host function and the host: Rust data behind a mutex, or a C pointer with a destructor.
///
/// Clones share the same data. A C pointer's free callback runs once, when the last clone is dropped.
pub enum UserData<T> {
    /// Data owned by C code (used by the C API).
    C(Arc<CPtr>),
    /// Rust data.
    Rust(Arc<Mutex<T>>),
}

/// A pointer owned by C code and the function that frees it.
pub struct CPtr {
    ptr: *mut c_void,
    free: Option<extern "C" fn(*mut c_void)>,
}

// SAFETY: a `CPtr` is only a pointer value plus a destructor; the C caller that hands it over promises (as upstream's
// C API documents) that the pointee may be used and freed from any thread. Rust code never dereferences it.
unsafe impl Send for CPtr {}
// SAFETY: as above; shared references only read the pointer value.
unsafe impl Sync for CPtr {}

impl CPtr {
    /// The raw pointer.
    pub fn as_ptr(&self) -> *mut c_void {
        self.ptr
    }
}

impl Drop for CPtr {
    fn drop(&mut self) {
        if let Some(free) = self.free.take()
            && !self.ptr.is_null()
        {
            free(self.ptr);
        }
    }
}

impl<T> UserData<T> {
    /// Wrap Rust data.
    pub fn new(x: T) -> Self {
        UserData::Rust(Arc::new(Mutex::new(x)))
    }

    /// Wrap a C pointer; `free` (if any) runs when the last clone is dropped.
    pub fn new_pointer(ptr: *mut c_void, free: Option<extern "C" fn(*mut c_void)>) -> Self {
        UserData::C(Arc::new(CPtr { ptr, free }))
    }

    /// The Rust data. Fails for C data.
    pub fn get(&self) -> Result<Arc<Mutex<T>>, Error> {
        match self {
            UserData::Rust(data) => Ok(data.clone()),
            UserData::C(_) => anyhow::bail!("C UserData should not be used from Rust"),
        }
    }

    /// The C pointer, or null for Rust data.
    pub fn as_ptr(&self) -> *mut c_void {
        match self {
            UserData::C(c) => c.as_ptr(),
            UserData::Rust(_) => std::ptr::null_mut(),
        }
    }
}

impl<T> Clone for UserData<T> {
    fn clone(&self) -> Self {
        match self {
            UserData::C(c) => UserData::C(c.clone()),
            UserData::Rust(r) => UserData::Rust(r.clone()),
        }
    }
}

impl<T: Default> Default for UserData<T> {
    fn default() -> Self {
        UserData::new(T::default())
    }
}

impl<T> std::fmt::Debug for UserData<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserData::C(c) => write!(f, "UserData::C({:p})", c.ptr),
            UserData::Rust(_) => f.write_str("UserData::Rust(..)"),
        }
    }
}

/// The shared implementation of a built-in host function.
pub(crate) type HostFunctionImpl =
    Arc<dyn Fn(&mut CurrentPlugin<'_>, &[Val], &mut [Val]) -> Result<(), Error> + Send + Sync>;

/// A host function a plug-in can import: a name, a namespace, a signature and the code.
#[derive(Clone)]
pub struct Function {
    name: String,
    namespace: Option<String>,
    ty: FuncType,
    /// The code with the names its errors give, as the callback backends link ([`Function::to_host`]).
    code: Arc<dyn Code>,
}

impl Function {
    /// A host function `name` with the given signature. `f` receives the plug-in, the arguments, the result slots
    /// (pre-filled with zeros of the declared types) and a clone of `user_data`. Returning `Err` fails the call.
    ///
    /// Unlike upstream, `T` must be `Send`: plug-ins (and so their host functions) move between threads, and the
    /// data is reached from whichever thread runs the call.
    pub fn new<T: Send + 'static, F>(
        name: impl Into<String>,
        params: impl IntoIterator<Item = ValType>,
        results: impl IntoIterator<Item = ValType>,
        user_data: UserData<T>,
        f: F,
    ) -> Function
    where
        F: Fn(&mut CurrentPlugin, &[Val], &mut [Val], UserData<T>) -> Result<(), Error> + Send + Sync + 'static,
    {
        // The closure owns `user_data`: dropping the last `Function` drops it (and runs a C free callback).
        Function::with_code(
            name.into(),
            None,
            FuncType::new(params, results),
            move |plugin: &mut CurrentPlugin, params: &[Val], results: &mut [Val]| {
                f(plugin, params, results, user_data.clone())
            },
        )
    }

    fn with_code<G>(name: String, namespace: Option<String>, ty: FuncType, code: G) -> Function
    where
        G: Fn(&mut CurrentPlugin, &[Val], &mut [Val]) -> Result<(), Error> + Send + Sync + 'static,
    {
        let label = Label::new(&name, namespace.as_deref(), &ty);
        Function {
            name,
            namespace,
            ty,
            code: Arc::new(Labelled {
                label: Arc::new(label),
                code: Arc::new(code),
            }),
        }
    }

    /// The function name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace, if one was set (otherwise [`EXTISM_USER_MODULE`]).
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The namespace the function is defined in.
    pub fn effective_namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or(EXTISM_USER_MODULE)
    }

    /// Set the namespace.
    pub fn set_namespace(&mut self, namespace: impl Into<String>) {
        self.namespace = Some(namespace.into());
        self.code = self
            .code
            .relabelled(Label::new(&self.name, self.namespace.as_deref(), &self.ty));
    }

    /// Set the namespace, builder style.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.set_namespace(namespace);
        self
    }

    /// Parameter types.
    pub fn params(&self) -> &[ValType] {
        &self.ty.params
    }

    /// Result types.
    pub fn results(&self) -> &[ValType] {
        &self.ty.results
    }

    /// The signature.
    pub fn ty(&self) -> &FuncType {
        &self.ty
    }

    /// Run the function, with one slot in `results` per declared result: the slots are reset to zeros of the
    /// declared types first, and a result the function leaves with another type than declared fails the call (a C
    /// host function can do that). Backends run host functions through [`Function::to_host`]'s callback, which
    /// does the same.
    ///
    /// A panic in the function does not leave this method: it fails the call with the error
    /// "host function `namespace::name` panicked: <message>", and the plug-in stays usable. Panics must not unwind
    /// through an engine's frames (on some engines that aborts the process), and this is the one place where the
    /// runtime runs host-function code, built-in or user-supplied.
    pub fn invoke(&self, plugin: &mut CurrentPlugin, params: &[Val], results: &mut [Val]) -> Result<(), Error> {
        self.code.invoke(plugin, params, results)
    }

    /// The function as a backend links it: its name, namespace and type, and its code as an opaque callback over
    /// raw values (which runs [`Function::invoke`]'s checks).
    pub fn to_host(&self) -> HostFunction<PluginState> {
        HostFunction {
            namespace: self.effective_namespace().to_string(),
            name: self.name.clone(),
            ty: self.ty.clone(),
            callback: self.code.clone(),
        }
    }

    /// A function from a shared implementation (for built-in host functions).
    pub(crate) fn from_impl(namespace: &str, name: &str, ty: FuncType, f: HostFunctionImpl) -> Function {
        Function::with_code(
            name.to_string(),
            Some(namespace.to_string()),
            ty,
            move |plugin: &mut CurrentPlugin, params: &[Val], results: &mut [Val]| f(plugin, params, results),
        )
    }
}

/// What a host function's errors name and its results' types: fixed when it is created or its namespace changes.
struct Label {
    name: String,
    qualified_name: String,
    results: Vec<ValType>,
    /// The zero of each result type (`I32(0)` for reference types), in which results start out.
    zeros: Box<[Val]>,
    /// How [`Label::check_results`] tests the results' types.
    check: ResultCheck,
}

/// The test of a host function's result types on its success path, chosen once per signature.
enum ResultCheck {
    /// No results.
    None,
    /// One result of a type some [`Val`] has: compare the result's variant with it.
    One(std::mem::Discriminant<Val>),
    /// Several results, or a reference-typed one (which no [`Val`] matches): compare each with its declared type.
    Each,
}

impl Label {
    fn new(name: &str, namespace: Option<&str>, ty: &FuncType) -> Label {
        let check = match ty.results[..] {
            [] => ResultCheck::None,
            [one] => match Val::default_for(one) {
                Some(zero) => ResultCheck::One(std::mem::discriminant(&zero)),
                None => ResultCheck::Each,
            },
            _ => ResultCheck::Each,
        };
        Label {
            name: name.to_string(),
            qualified_name: format!("{}::{name}", namespace.unwrap_or(EXTISM_USER_MODULE)),
            results: ty.results.clone(),
            zeros: ty.results.iter().map(|t| Val::result_slot(*t)).collect(),
            check,
        }
    }

    /// Fail if a result has another type than declared (a C host function can leave one). The common signatures
    /// (no result, one result) take a test of one variant; others, and a mismatch, take
    /// [`Label::check_each_result`], out of line, which makes the error.
    #[inline(always)]
    fn check_results(&self, results: &[Val]) -> Result<(), Error> {
        let matches = match (&self.check, results) {
            (ResultCheck::None, _) => true,
            (ResultCheck::One(expected), [out, ..]) => std::mem::discriminant(out) == *expected,
            _ => false,
        };
        if matches {
            Ok(())
        } else {
            self.check_each_result(results)
        }
    }

    /// Compare each result's type with the declared one: the error names the first that differs.
    #[inline(never)]
    fn check_each_result(&self, results: &[Val]) -> Result<(), Error> {
        for (out, ty) in results.iter().zip(&self.results) {
            if out.ty() != *ty {
                anyhow::bail!(
                    "host function `{}` returned a {:?} where its signature declares {ty:?}",
                    self.name,
                    out.ty()
                );
            }
        }
        Ok(())
    }

    /// The error for a host function that failed with `error`: a limit hit by one of its kernel calls is what
    /// stopped it, whatever error it made of it.
    #[cold]
    #[inline(never)]
    fn failure(&self, plugin: &mut CurrentPlugin, error: Error) -> Error {
        match plugin.take_limit() {
            Some(limit) => Error::new(limit).context(format!("host function `{}` failed: {error:#}", self.name)),
            None => error,
        }
    }

    /// The error for a host function that panicked with `payload`.
    #[cold]
    #[inline(never)]
    fn panicked(&self, payload: Box<dyn Any + Send>) -> Error {
        let message = format!(
            "host function `{}` panicked: {}",
            self.qualified_name,
            panic_message(payload.as_ref())
        );
        drop_panic_payload(payload);
        anyhow::anyhow!(message)
    }
}

/// A host function's code behind one dynamic call: the user's closure is monomorphised into [`Labelled`], whose
/// [`HostCallback::call`] is what a backend calls.
trait Code: HostCallback<PluginState> {
    /// Run the code with the checks [`Function::invoke`] documents.
    fn invoke(&self, plugin: &mut CurrentPlugin, params: &[Val], results: &mut [Val]) -> Result<(), Error>;

    /// The same code under another label.
    fn relabelled(&self, label: Label) -> Arc<dyn Code>;
}

struct Labelled<G> {
    label: Arc<Label>,
    code: Arc<G>,
}

impl<G> Labelled<G>
where
    G: Fn(&mut CurrentPlugin, &[Val], &mut [Val]) -> Result<(), Error> + Send + Sync + 'static,
{
    /// Run the code on results that hold zeros of the declared types, catching a panic, and check the results'
    /// types. Inlined into both entry points, so that a host call from a backend is one function call
    /// ([`HostCallback::call`]) around the user's closure, with the error paths out of line.
    #[inline(always)]
    fn run(&self, plugin: &mut CurrentPlugin, params: &[Val], results: &mut [Val]) -> Result<(), Error> {
        // Unwind safety: after a panic the plug-in's state is whatever the function left, as after an error return
        // part-way through; the call fails either way and the next call starts from the kernel's reset.
        match std::panic::catch_unwind(AssertUnwindSafe(|| (self.code)(plugin, params, results))) {
            Ok(Ok(())) => self.label.check_results(results),
            Ok(Err(e)) => Err(self.label.failure(plugin, e)),
            Err(payload) => Err(self.label.panicked(payload)),
        }
    }
}

impl<G> Code for Labelled<G>
where
    G: Fn(&mut CurrentPlugin, &[Val], &mut [Val]) -> Result<(), Error> + Send + Sync + 'static,
{
    fn invoke(&self, plugin: &mut CurrentPlugin, params: &[Val], results: &mut [Val]) -> Result<(), Error> {
        for (slot, zero) in results.iter_mut().zip(self.label.zeros.iter()) {
            *slot = *zero;
        }
        self.run(plugin, params, results)
    }

    fn relabelled(&self, label: Label) -> Arc<dyn Code> {
        Arc::new(Labelled {
            label: Arc::new(label),
            code: self.code.clone(),
        })
    }
}

impl<G> HostCallback<PluginState> for Labelled<G>
where
    G: Fn(&mut CurrentPlugin, &[Val], &mut [Val]) -> Result<(), Error> + Send + Sync + 'static,
{
    /// Backends hand over results that already hold zeros of the declared types (see [`HostCallback::call`]), so
    /// unlike [`Function::invoke`] this does not reset them.
    fn call(
        &self,
        kernel: &mut dyn KernelAccess<PluginState>,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<(), Error> {
        self.run(&mut CurrentPlugin::new(kernel), params, results)
    }
}

fn drop_panic_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = std::panic::catch_unwind(AssertUnwindSafe(|| drop(payload))) {
        std::mem::forget(again);
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "a panic payload that is not text"
    }
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Function({}::{} {})", self.effective_namespace(), self.name, self.ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CallError;
    use crate::kernel::KernelFn;
    use crate::manifest::Manifest;

    /// A kernel view for running host functions outside any engine: no memory, no kernel calls.
    struct NoKernel(PluginState);

    impl KernelAccess<PluginState> for NoKernel {
        fn memory_and_state(&mut self) -> (&mut [u8], &mut PluginState) {
            (&mut [], &mut self.0)
        }

        fn call_kernel(&mut self, _: KernelFn, _: u64) -> Result<u64, CallError> {
            Err(CallError::Trap("no kernel here".into()))
        }
    }

    fn no_kernel() -> NoKernel {
        NoKernel(PluginState::new(uuid::Uuid::new_v4(), &Manifest::default()))
    }

    /// A function that writes `value` into result `index` (if given) and reports the slots it was handed.
    fn writer(results: Vec<ValType>, write: Option<(usize, Val)>, seen: Arc<Mutex<Vec<Val>>>) -> Function {
        Function::new("w", [], results, UserData::new(()), move |_, _, outputs, _| {
            *seen.lock().unwrap() = outputs.to_vec();
            if let Some((index, value)) = write {
                outputs[index] = value;
            }
            Ok(())
        })
    }

    #[test]
    fn invoke_resets_results_to_zeros_of_the_declared_types() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let f = writer(vec![ValType::F64, ValType::I32, ValType::V128], None, seen.clone());
        let mut kernel = no_kernel();
        let mut results = [Val::I64(7), Val::F32(1), Val::I32(3)];
        f.invoke(&mut CurrentPlugin::new(&mut kernel), &[], &mut results)
            .unwrap();
        let zeros = [Val::F64(0), Val::I32(0), Val::V128(0)];
        assert_eq!(*seen.lock().unwrap(), zeros, "what the function was handed");
        assert_eq!(results, zeros, "what it left");
    }

    #[test]
    fn the_host_callback_keeps_the_zeros_it_is_handed_and_checks_every_result() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut kernel = no_kernel();
        // One result (the single-variant check) and three (the check of each), right and wrong.
        for (types, write, error) in [
            (vec![ValType::I64], Some((0, Val::I64(5))), None),
            (
                vec![ValType::I64],
                Some((0, Val::I32(5))),
                Some("returned a I32 where its signature declares I64"),
            ),
            (
                vec![ValType::F32, ValType::I64, ValType::F64],
                Some((2, Val::F64(9))),
                None,
            ),
            (
                vec![ValType::F32, ValType::I64, ValType::F64],
                Some((1, Val::F64(9))),
                Some("returned a F64 where its signature declares I64"),
            ),
            (vec![], None, None),
        ] {
            let callback = writer(types.clone(), write, seen.clone()).to_host().callback;
            let mut results: Vec<Val> = types.iter().map(|t| Val::default_for(*t).unwrap()).collect();
            let handed = results.clone();
            let outcome = callback.call(&mut kernel, &[], &mut results);
            assert_eq!(*seen.lock().unwrap(), handed, "{types:?}");
            match (outcome, error) {
                (Ok(()), None) => {
                    let (index, value) = write.unwrap_or((0, Val::I32(0)));
                    if !types.is_empty() {
                        assert_eq!(results[index], value, "{types:?}");
                    }
                }
                (Err(e), Some(message)) => assert!(e.to_string().contains(message), "{types:?}: {e}"),
                (outcome, _) => panic!("{types:?}: {outcome:?}"),
            }
        }
    }

    #[test]
    fn a_reference_typed_result_always_fails_the_check() {
        // Plug-ins refuse such signatures; `Function::invoke` can still run one, and no value has a reference type.
        let f = writer(vec![ValType::FuncRef], None, Arc::new(Mutex::new(Vec::new())));
        let mut kernel = no_kernel();
        let mut results = [Val::I32(0)];
        let err = f
            .invoke(&mut CurrentPlugin::new(&mut kernel), &[], &mut results)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("returned a I32 where its signature declares FuncRef"),
            "{err}"
        );
    }

    #[test]
    fn errors_and_panics_become_errors_naming_the_function() {
        let mut kernel = no_kernel();
        let failing = Function::new("f", [ValType::I64], [ValType::I64], UserData::new(()), |_, _, _, _| {
            anyhow::bail!("no thanks")
        })
        .with_namespace("ns");
        let panicking = Function::new("p", [ValType::I64], [ValType::I64], UserData::new(()), |_, _, _, _| {
            panic!("boom {}", 1)
        })
        .with_namespace("ns");
        let mut results = [Val::I64(0)];
        let err = failing
            .to_host()
            .callback
            .call(&mut kernel, &[Val::I64(1)], &mut results)
            .unwrap_err();
        assert_eq!(err.to_string(), "no thanks");
        let err = panicking
            .to_host()
            .callback
            .call(&mut kernel, &[Val::I64(1)], &mut results)
            .unwrap_err();
        assert_eq!(err.to_string(), "host function `ns::p` panicked: boom 1");
    }
}
