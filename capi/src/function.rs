//! `extism_function_*`: host functions written in C, and the trampoline that runs them.

use std::ffi::{CStr, c_char, c_void};
use std::sync::Mutex;

use anyhow::{Error, anyhow};
use extism::{CurrentPlugin, Function, UserData, Val, ValType};

use crate::current_plugin::ActiveCall;
use crate::current_plugin::ExtismCurrentPlugin;
use crate::ffi::{array_len, guard, utf8_arg};
use crate::types::{ExtismFunctionType, ExtismSize, ExtismVal, ExtismValType, RawVal};

/// A host function created by `extism_function_new`. Creating a plug-in moves the function out of it (it is then
/// empty, and may still be freed), so that one function object serves one plug-in, as upstream.
pub struct ExtismFunction(Mutex<Option<Function>>);

impl ExtismFunction {
    /// Move the function out, for a plug-in; `None` if an earlier plug-in already took it.
    pub(crate) fn take(&self) -> Option<Function> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
    }
}

/// Read `n` value types from C, rejecting tags that are not `ExtismValType` values, a NULL array with a non-zero
/// count, and counts no array can have. The error says why, for the log.
///
/// # Safety
/// `types` is NULL or points to `n` readable `int`-sized values.
unsafe fn val_types(types: *const ExtismValType, n: ExtismSize, what: &str) -> Result<Vec<ValType>, String> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if types.is_null() {
        return Err(format!("{what} is NULL but its length is {n}"));
    }
    let n = array_len(types as usize, n, size_of::<ExtismValType>(), what)?;
    // SAFETY: the caller promises `n` readable values, and `n` is a length a slice may have (checked above); they
    // are read as plain integers (`ExtismValType` is `int` sized, checked in `types.rs`) so that an out-of-range tag
    // is an error instead of undefined behaviour.
    let raw = unsafe { std::slice::from_raw_parts(types.cast::<u32>(), n) };
    raw.iter()
        .map(|&t| {
            ExtismValType::from_raw(t)
                .map(ExtismValType::to_val_type)
                .ok_or_else(|| format!("{what} holds {t}, which is not an ExtismValType"))
        })
        .collect()
}

/// Create a new host function
///
/// Arguments
/// - `name`: function name, this should be valid UTF-8
/// - `inputs`: argument types
/// - `n_inputs`: number of argument types
/// - `outputs`: return types
/// - `n_outputs`: number of return types
/// - `func`: the function to call
/// - `user_data`: a pointer that will be passed to the function when it's called
///   this value should live as long as the function exists
/// - `free_user_data`: a callback to release the `user_data` value when the resulting
///   `ExtismFunction` is freed.
///
/// Returns a new `ExtismFunction` or `null` if the `name` argument is invalid.
///
/// `free_user_data` runs exactly once, when the last holder of the function (this object, or the plug-ins and
/// compiled plug-ins it was given to) is freed. When NULL is returned (invalid `name` or `func`, a type that is
/// not an `ExtismValType`, a NULL type array with a non-zero count, or a count no array can have, the reason then
/// going to the log), `user_data` stays the caller's and `free_user_data` is not called.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `inputs`/`outputs` are NULL or point to `n_inputs`/`n_outputs` values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_function_new(
    name: *const c_char,
    inputs: *const ExtismValType,
    n_inputs: ExtismSize,
    outputs: *const ExtismValType,
    n_outputs: ExtismSize,
    func: ExtismFunctionType,
    user_data: *mut c_void,
    free_user_data: Option<extern "C" fn(_: *mut c_void)>,
) -> *mut ExtismFunction {
    guard(std::ptr::null_mut(), || {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let Ok(name) = (unsafe { utf8_arg(name, "name") }) else {
            return std::ptr::null_mut();
        };
        let Some(func) = func else {
            return std::ptr::null_mut();
        };
        // SAFETY: the caller promises `n_inputs` and `n_outputs` readable values.
        let types = unsafe { val_types(inputs, n_inputs, "inputs") }.and_then(|params| {
            // SAFETY: as above.
            Ok((params, unsafe { val_types(outputs, n_outputs, "outputs") }?))
        });
        let (params, results) = match types {
            Ok(types) => types,
            Err(message) => {
                // No error channel but the log: NULL is the answer, as for an invalid name.
                tracing::error!(target: "extism::sdk", "extism_function_new({name}): {message}");
                return std::ptr::null_mut();
            }
        };
        let result_types: Vec<ExtismValType> = results.iter().map(|&t| ExtismValType::from_val_type(t)).collect();
        let user_data: UserData<()> = UserData::new_pointer(user_data, free_user_data);
        let function = Function::new(
            name,
            params,
            results,
            user_data,
            move |plugin: &mut CurrentPlugin, inputs: &[Val], outputs: &mut [Val], data: UserData<()>| {
                // A panic in this trampoline becomes the call's error in `Function::invoke`, which runs every host
                // function under `catch_unwind`.
                call_c(func, plugin, inputs, outputs, &result_types, data.as_ptr())
            },
        );
        Box::into_raw(Box::new(ExtismFunction(Mutex::new(Some(function)))))
    })
}

/// Run a C host function: arguments out as `ExtismVal`s, result slots pre-filled with zeros of their declared types,
/// results back after checking the types C left in them.
fn call_c(
    func: extern "C" fn(
        *mut ExtismCurrentPlugin,
        *const ExtismVal,
        ExtismSize,
        *mut ExtismVal,
        ExtismSize,
        *mut c_void,
    ),
    plugin: &mut CurrentPlugin<'_>,
    inputs: &[Val],
    outputs: &mut [Val],
    result_types: &[ExtismValType],
    user_data: *mut c_void,
) -> Result<(), Error> {
    let args = inputs
        .iter()
        .map(|v| {
            ExtismVal::from_val(v)
                .ok_or_else(|| anyhow!("a {:?} argument cannot be passed to a C host function", v.ty()))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let mut results: Vec<ExtismVal> = result_types.iter().map(|&t| ExtismVal::zero(t)).collect();
    // Empty arrays go to C as NULL, as upstream: a Vec's pointer is dangling when it is empty.
    let args_ptr = if args.is_empty() {
        std::ptr::null()
    } else {
        args.as_ptr()
    };
    let results_ptr = if results.is_empty() {
        std::ptr::null_mut()
    } else {
        results.as_mut_ptr()
    };
    {
        let (_active, plugin) = ActiveCall::enter(plugin);
        func(
            plugin,
            args_ptr,
            args.len() as ExtismSize,
            results_ptr,
            results.len() as ExtismSize,
            user_data,
        );
    }
    for (index, (slot, out)) in results.iter().zip(outputs.iter_mut()).enumerate() {
        // SAFETY: `ExtismVal` and `RawVal` have one layout (checked in `types.rs`); reading the tag as an integer
        // keeps a bad tag written by C from being an invalid enum value.
        let raw: RawVal = unsafe { std::ptr::read((slot as *const ExtismVal).cast::<RawVal>()) };
        let declared = out.ty();
        match raw.to_val() {
            Some(value) if value.ty() == declared => *out = value,
            _ => {
                return Err(anyhow!(
                    "the C host function left result {index} with type tag {} where a {declared:?} was declared",
                    raw.t
                ));
            }
        }
    }
    Ok(())
}

/// Free `ExtismFunction`
///
/// NULL-safe, and safe after the function was given to a plug-in.
///
/// # Safety
/// `f` is NULL or a function from `extism_function_new` not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_function_free(f: *mut ExtismFunction) {
    guard((), || {
        if !f.is_null() {
            // SAFETY: made by `Box::into_raw` in `extism_function_new` and not freed before (caller's promise).
            drop(unsafe { Box::from_raw(f) });
        }
    })
}

/// Set the namespace of an `ExtismFunction`
///
/// Ignored for NULL arguments and once the function was given to a plug-in. A non-UTF-8 namespace is converted
/// lossily, as upstream.
///
/// # Safety
/// `ptr` is NULL or a live function; `namespace_` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn extism_function_set_namespace(ptr: *mut ExtismFunction, namespace_: *const c_char) {
    guard((), || {
        if ptr.is_null() || namespace_.is_null() {
            return;
        }
        // SAFETY: non-NULL and NUL-terminated (caller's promise).
        let namespace = unsafe { CStr::from_ptr(namespace_) }.to_string_lossy().into_owned();
        // SAFETY: non-NULL and live (caller's promise); only shared access is needed.
        let function = unsafe { &*ptr };
        match function.0.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            Some(f) => f.set_namespace(namespace),
            None => tracing::debug!("Trying to set namespace of already registered function"),
        }
    })
}
