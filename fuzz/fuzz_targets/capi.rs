//! Sequences of C API calls (libextism, linked as a Rust library) with arbitrary arguments: NULL and live handles,
//! buffers cut to any length, arbitrary names, JSON and value types, and host functions written against the C API
//! that poke the running plug-in's memory with arbitrary handles, re-enter the plug-in and cancel it.
//!
//! Lengths no buffer can have (above `isize::MAX`, e.g. `UINT64_MAX` or a negative size cast to unsigned) come with
//! valid pointers and must fail cleanly. Out of scope, because they break the C caller's side of the contract
//! (undefined behaviour in any C library): dangling or forged pointers, and lengths longer than their buffers that a
//! buffer could have.

#![no_main]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::{CStr, CString, c_char, c_void};

use arbitrary::{Arbitrary, Unstructured};
use extism::Backend;
use extism_capi::*;
use libfuzzer_sys::fuzz_target;

/// The plug-in every sequence works with: kernel calls, a C host function, config, errors, traps and a loop.
const MODULE: &str = r#"(module
  (import "extism:host/user" "host" (func $host (param i64) (result i64)))
  (import "extism:host/env" "input_offset" (func $input_offset (result i64)))
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "length" (func $length (param i64) (result i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/env" "error_set" (func $error_set (param i64)))
  (import "extism:host/env" "config_get" (func $config_get (param i64) (result i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (memory (export "memory") 1 4)
  (func (export "echo") (result i32)
    (call $output_set (call $input_offset) (call $input_length))
    (i32.const 0))
  (func (export "via_host") (result i32) (local $h i64)
    (local.set $h (call $host (call $input_offset)))
    (call $output_set (local.get $h) (call $length (local.get $h)))
    (i32.const 0))
  (func (export "fail") (result i32)
    (call $error_set (call $input_offset))
    (i32.const 7))
  (func (export "config") (result i32) (local $h i64)
    (local.set $h (call $config_get (call $input_offset)))
    (call $output_set (local.get $h) (call $length (local.get $h)))
    (i32.const 0))
  (func (export "alloc_loop") (result i32) (local $h i64)
    (loop $again
      (local.set $h (call $alloc (i64.const 65536)))
      (call $store_u8 (local.get $h) (i32.const 1))
      (br_if $again (i64.ne (local.get $h) (i64.const 0))))
    (i32.const 0))
  (func (export "trap") (result i32) unreachable)
  (func (export "spin") (result i32) (loop $l (br $l)) (i32.const 0))
  (func (export "params") (param i32) (result i32) (local.get 0))
)"#;

/// The module's exports and other names a call may use.
const NAMES: &[&str] = &[
    "echo",
    "via_host",
    "fail",
    "config",
    "alloc_loop",
    "trap",
    "spin",
    "params",
    "",
    "nope",
];

/// Engine names passed to the `_with_backend` functions (NULL is one more choice).
const BACKENDS: &[&str] = &["wasmtime", "wasmer", "wasmi", "", "WASMI", "nope"];

/// What a host function does, in order, when the plug-in calls it.
#[derive(Debug, Arbitrary)]
enum HostOp {
    Length(u64),
    Alloc(u32),
    AllocRaw(u64),
    Free(u64),
    /// Write into a block the host allocated (or the argument) through `extism_current_plugin_memory`.
    Write {
        block: u8,
        byte: u8,
    },
    /// Output the block (or the argument).
    Return {
        block: u8,
    },
    HostContext,
    /// Call the running plug-in again: it is in use, so this must fail cleanly.
    Reenter,
    /// Cancel the running call: it fails with "timeout".
    Cancel,
    NullPlugin,
}

#[derive(Debug, Arbitrary)]
enum Source {
    Wat,
    Binary,
    /// A JSON manifest around the binary module, with settings.
    Manifest {
        timeout_ms: Option<u16>,
        max_pages: Option<u8>,
        config: Vec<(String, String)>,
        max_var_bytes: Option<u16>,
    },
    Bytes(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Create {
    source: Source,
    /// Bytes cut off the end of the source (a truncated module or manifest).
    cut: u16,
    null_wasm: bool,
    wasi: bool,
    /// Which live functions to pass (bit mask over the first eight), and a NULL entry.
    functions: u8,
    null_function: bool,
    /// Engine: index into [`BACKENDS`], or NULL past its end.
    backend: u8,
    fuel: Option<u32>,
    null_errmsg: bool,
    /// A length no buffer can have in place of the source's (see [`impossible_length`]).
    impossible_length: Option<u64>,
}

/// A length above `isize::MAX` from `bits`: what a C caller passes as `UINT64_MAX` or as a negative size cast to
/// unsigned. The library must refuse it before it builds a slice.
fn impossible_length(bits: u64) -> u64 {
    bits | (1 << 63)
}

#[derive(Debug, Arbitrary)]
enum Op {
    New(Create),
    Compile(Create),
    NewFromCompiled {
        compiled: u8,
    },
    FreeCompiled {
        compiled: u8,
    },
    FreePlugin {
        plugin: u8,
    },
    NewFunction {
        name: u8,
        namespace: Option<String>,
        inputs: Vec<u32>,
        outputs: Vec<u32>,
        null_types: bool,
        free_user_data: bool,
    },
    FreeFunction {
        function: u8,
    },
    Call {
        plugin: u8,
        name: u8,
        raw_name: Option<Vec<u8>>,
        input: Vec<u8>,
        null_input_length: Option<u32>,
        /// Passed with `input`'s pointer (see [`impossible_length`]).
        impossible_input_length: Option<u64>,
        host: Vec<HostOp>,
        context: bool,
    },
    Config {
        plugin: u8,
        json: Vec<u8>,
        structured: Option<Vec<(String, Option<String>)>>,
        null: bool,
        /// Passed with the JSON's pointer (see [`impossible_length`]).
        impossible_length: Option<u64>,
    },
    FunctionExists {
        plugin: u8,
        name: u8,
    },
    Inspect {
        plugin: u8,
    },
    Reset {
        plugin: u8,
    },
    AllowHeaders {
        plugin: u8,
    },
    CancelIdle {
        plugin: u8,
    },
}

/// A live plug-in: whether its calls are bounded (fuel), so that `spin` may be called, and whether it is [`MODULE`]
/// (fuzzed bytes may happen to form another valid module, whose exports are unknown).
#[derive(Clone, Copy)]
struct Live {
    plugin: *mut ExtismPlugin,
    bounded: bool,
    known: bool,
}

/// What the running host function works with.
struct HostScript {
    ops: VecDeque<HostOp>,
    plugin: *mut ExtismPlugin,
}

thread_local! {
    static SCRIPT: RefCell<Option<HostScript>> = const { RefCell::new(None) };
}

extern "C" fn host(
    current: *mut ExtismCurrentPlugin,
    inputs: *const ExtismVal,
    n_inputs: ExtismSize,
    outputs: *mut ExtismVal,
    n_outputs: ExtismSize,
    _user_data: *mut c_void,
) {
    // Only the module's `host` (i64) -> i64 import runs this; other signatures fail to link.
    assert_eq!((n_inputs, n_outputs), (1, 1), "the host function's signature");
    // SAFETY: the library passes one input and one output, as declared.
    let argument = unsafe { (*inputs).v.i64 } as u64;
    let (mut ops, plugin) = SCRIPT.with(|s| {
        let script = s.borrow_mut().take();
        script.map_or((VecDeque::new(), std::ptr::null_mut()), |s| (s.ops, s.plugin))
    });
    let mut blocks = vec![argument];
    let mut result = argument;
    while let Some(op) = ops.pop_front() {
        // SAFETY (every call below): `current` is what the library passed to this running host function.
        unsafe {
            match op {
                HostOp::Length(h) => {
                    let length = extism_current_plugin_memory_length(current, h);
                    let memory = extism_current_plugin_memory(current);
                    if length != 0 {
                        // A live block lies inside kernel memory: its last byte is readable.
                        std::hint::black_box(*memory.add((h + length - 1) as usize));
                    }
                }
                HostOp::Alloc(n) => blocks.push(extism_current_plugin_memory_alloc(current, u64::from(n) % 70_000)),
                HostOp::AllocRaw(n) => {
                    let h = extism_current_plugin_memory_alloc(current, n);
                    assert!(n < 1 << 32 || h == 0, "alloc({n:#x}) cannot succeed in a 32-bit memory");
                    blocks.push(h);
                }
                HostOp::Free(h) => extism_current_plugin_memory_free(current, h),
                HostOp::Write { block, byte } => {
                    let h = blocks[block as usize % blocks.len()];
                    let length = extism_current_plugin_memory_length(current, h);
                    let memory = extism_current_plugin_memory(current);
                    if length != 0 {
                        std::ptr::write_bytes(memory.add(h as usize), byte, length as usize);
                    }
                }
                HostOp::Return { block } => result = blocks[block as usize % blocks.len()],
                HostOp::HostContext => {
                    std::hint::black_box(extism_current_plugin_host_context(current));
                }
                HostOp::Reenter => {
                    let name = c"echo";
                    let rc = extism_plugin_call(plugin, name.as_ptr(), std::ptr::null(), 0);
                    assert_eq!(rc, -1, "a plug-in cannot be called from its own host function");
                }
                HostOp::Cancel => {
                    extism_plugin_cancel(extism_plugin_cancel_handle(plugin));
                }
                HostOp::NullPlugin => {
                    let null = std::ptr::null_mut();
                    assert!(extism_current_plugin_memory(null).is_null());
                    assert_eq!(extism_current_plugin_memory_alloc(null, 8), 0);
                    assert_eq!(extism_current_plugin_memory_length(null, argument), 0);
                    extism_current_plugin_memory_free(null, argument);
                }
            }
        }
    }
    // SAFETY: one output, as declared.
    unsafe {
        (*outputs).t = ExtismValType::I64;
        (*outputs).v.i64 = result as i64;
    }
}

extern "C" fn free_user_data(data: *mut c_void) {
    // SAFETY: made by `Box::into_raw` below and freed once (the library's promise).
    drop(unsafe { Box::from_raw(data.cast::<u64>()) });
}

/// Everything a sequence has made, freed at its end.
#[derive(Default)]
struct World {
    plugins: Vec<Live>,
    compiled: Vec<(*mut ExtismCompiledPlugin, bool, bool)>,
    functions: Vec<*mut ExtismFunction>,
}

fn pick<T: Copy>(items: &[T], index: u8) -> Option<T> {
    // One choice in 16 is NULL, and so is every choice when nothing is live.
    if items.is_empty() || index % 16 == 15 {
        None
    } else {
        Some(items[index as usize % items.len()])
    }
}

fn source_bytes(source: &Source) -> Vec<u8> {
    let binary = || wat::parse_str(MODULE).expect("the module is valid WAT");
    match source {
        Source::Wat => MODULE.as_bytes().to_vec(),
        Source::Binary => binary(),
        Source::Manifest {
            timeout_ms,
            max_pages,
            config,
            max_var_bytes,
        } => {
            let mut manifest = extism::Manifest::new([extism::Wasm::data(binary())]).disallow_all_hosts();
            manifest.timeout_ms = timeout_ms.map(u64::from);
            manifest.memory.max_pages = max_pages.map(u32::from);
            manifest.memory.max_var_bytes = max_var_bytes.map(u64::from);
            manifest.config = config.iter().cloned().collect();
            serde_json::to_vec(&manifest).expect("a manifest serializes")
        }
        // Not a manifest: manifests could name files and URLs (the `manifest` target parses those).
        Source::Bytes(bytes) => [b"\0asm".as_slice(), bytes].concat(),
    }
}

/// Create a plug-in (`compile == false`) or a compiled plug-in; returns the pointer, whether calls are bounded and
/// whether it is [`MODULE`].
unsafe fn create(world: &mut World, c: &Create, compile: bool) -> (*mut c_void, bool, bool) {
    let mut bytes = source_bytes(&c.source);
    bytes.truncate(bytes.len().saturating_sub(c.cut as usize));
    let wasm = if c.null_wasm { std::ptr::null() } else { bytes.as_ptr() };
    let mut functions: Vec<*const ExtismFunction> = world
        .functions
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| c.functions & (1 << i) != 0)
        .map(|(_, f)| f.cast_const())
        .collect();
    if c.null_function {
        functions.push(std::ptr::null());
    }
    let backend_name = BACKENDS
        .get(c.backend as usize)
        .map(|b| CString::new(*b).expect("no NUL"));
    let backend = backend_name.as_ref().map_or(std::ptr::null(), |b| b.as_ptr());
    let fuel = c.fuel.map(u64::from);
    let fuel_ptr = fuel.as_ref().map_or(std::ptr::null(), |f| f as *const u64);
    let mut errmsg: *mut c_char = std::ptr::null_mut();
    let errmsg_ptr = if c.null_errmsg {
        std::ptr::null_mut()
    } else {
        &raw mut errmsg
    };
    let (fptr, n) = (functions.as_mut_ptr(), functions.len() as u64);
    let len = c.impossible_length.map_or(bytes.len() as u64, impossible_length);
    // SAFETY: every pointer is NULL or valid for its length (or the length is impossible, which the library refuses
    // before reading); the functions are live.
    // Upstream's entry points where they fit the request, else the one taking an engine name and optional fuel.
    let made: *mut c_void = unsafe {
        match (compile, c.backend % 3, fuel) {
            (false, 0, None) => extism_plugin_new(wasm, len, fptr, n, c.wasi, errmsg_ptr).cast(),
            (false, 1, Some(f)) => extism_plugin_new_with_fuel_limit(wasm, len, fptr, n, c.wasi, f, errmsg_ptr).cast(),
            (false, ..) => {
                extism_plugin_new_with_backend(wasm, len, fptr, n, c.wasi, backend, fuel_ptr, errmsg_ptr).cast()
            }
            (true, 0, None) => extism_compiled_plugin_new(wasm, len, fptr, n, c.wasi, errmsg_ptr).cast(),
            (true, 1, Some(f)) => {
                extism_compiled_plugin_new_with_fuel_limit(wasm, len, fptr, n, c.wasi, f, errmsg_ptr).cast()
            }
            (true, ..) => {
                extism_compiled_plugin_new_with_backend(wasm, len, fptr, n, c.wasi, backend, fuel_ptr, errmsg_ptr)
                    .cast()
            }
        }
    };
    if !errmsg.is_null() {
        assert!(made.is_null(), "an error message comes only with a failure");
        // SAFETY: a NUL-terminated message from the library, freed once.
        unsafe {
            std::hint::black_box(CStr::from_ptr(errmsg).to_bytes().len());
            extism_plugin_new_error_free(errmsg);
        }
    } else if made.is_null() {
        assert!(c.null_errmsg, "a failure comes with an error message");
    }
    if c.impossible_length.is_some() {
        assert!(made.is_null(), "a plug-in was made from a buffer of {len} bytes");
    }
    let known = c.cut == 0 && !matches!(c.source, Source::Bytes(_));
    (made, fuel.is_some(), known)
}

unsafe fn run(world: &mut World, op: Op) {
    // SAFETY (every call below): handles are NULL or live in `world`; buffers are valid for their lengths.
    unsafe {
        match op {
            Op::New(c) => {
                let (plugin, bounded, known) = create(world, &c, false);
                if !plugin.is_null() {
                    world.plugins.push(Live {
                        plugin: plugin.cast(),
                        bounded,
                        known,
                    });
                }
            }
            Op::Compile(c) => {
                let (compiled, bounded, known) = create(world, &c, true);
                if !compiled.is_null() {
                    world.compiled.push((compiled.cast(), bounded, known));
                }
            }
            Op::NewFromCompiled { compiled } => {
                let (compiled, bounded, known) =
                    pick(&world.compiled, compiled).unwrap_or((std::ptr::null_mut(), false, false));
                let mut errmsg: *mut c_char = std::ptr::null_mut();
                let plugin = extism_plugin_new_from_compiled(compiled, &mut errmsg);
                if plugin.is_null() {
                    assert!(!errmsg.is_null(), "a failure comes with an error message");
                    extism_plugin_new_error_free(errmsg);
                } else {
                    world.plugins.push(Live { plugin, bounded, known });
                }
            }
            Op::FreeCompiled { compiled } => {
                if world.compiled.is_empty() || compiled % 16 == 15 {
                    extism_compiled_plugin_free(std::ptr::null_mut());
                } else {
                    let (c, ..) = world.compiled.remove(compiled as usize % world.compiled.len());
                    extism_compiled_plugin_free(c);
                }
            }
            Op::FreePlugin { plugin } => {
                if world.plugins.is_empty() || plugin % 16 == 15 {
                    extism_plugin_free(std::ptr::null_mut());
                } else {
                    let live = world.plugins.remove(plugin as usize % world.plugins.len());
                    extism_plugin_free(live.plugin);
                }
            }
            Op::NewFunction {
                name,
                namespace,
                inputs,
                outputs,
                null_types,
                free_user_data: with_free,
            } => {
                let name = match name % 4 {
                    0 | 1 => Some(c"host"),
                    2 => Some(c"other"),
                    _ => None,
                };
                let (inputs, outputs) = if name.is_some() && inputs.is_empty() && outputs.is_empty() {
                    // The module's signature most of the time.
                    (vec![ExtismValType::I64 as u32], vec![ExtismValType::I64 as u32])
                } else {
                    (inputs, outputs)
                };
                let types = |t: &Vec<u32>| {
                    if null_types {
                        std::ptr::null()
                    } else {
                        t.as_ptr().cast::<ExtismValType>()
                    }
                };
                // With a release callback the user data is ours until the library calls it; without one it must
                // outlive the function, so it is static.
                static STATIC_USER_DATA: u64 = 42;
                let user_data: *mut c_void = if with_free {
                    Box::into_raw(Box::new(42u64)).cast()
                } else {
                    (&raw const STATIC_USER_DATA).cast_mut().cast()
                };
                let function = extism_function_new(
                    name.map_or(std::ptr::null(), |n| n.as_ptr()),
                    types(&inputs),
                    inputs.len() as u64,
                    types(&outputs),
                    outputs.len() as u64,
                    Some(host),
                    user_data,
                    if with_free { Some(free_user_data) } else { None },
                );
                if function.is_null() {
                    if with_free {
                        // Not taken: still ours.
                        drop(Box::from_raw(user_data.cast::<u64>()));
                    }
                    return;
                }
                if let Some(namespace) = namespace.and_then(|n| CString::new(n).ok()) {
                    extism_function_set_namespace(function, namespace.as_ptr());
                }
                extism_function_set_namespace(function, std::ptr::null());
                world.functions.push(function);
            }
            Op::FreeFunction { function } => {
                if world.functions.is_empty() || function % 16 == 15 {
                    extism_function_free(std::ptr::null_mut());
                } else {
                    let f = world.functions.remove(function as usize % world.functions.len());
                    extism_function_free(f);
                }
            }
            Op::Call {
                plugin,
                name,
                raw_name,
                input,
                null_input_length,
                impossible_input_length,
                host: ops,
                context,
            } => {
                let null = Live {
                    plugin: std::ptr::null_mut(),
                    bounded: false,
                    known: false,
                };
                let Live { plugin, bounded, known } = pick(&world.plugins, plugin).unwrap_or(null);
                let name = match raw_name {
                    Some(raw) => CString::new(raw.into_iter().filter(|b| *b != 0).collect::<Vec<u8>>()).ok(),
                    None => Some(CString::new(NAMES[name as usize % NAMES.len()]).expect("no NUL")),
                };
                let Some(name) = name else { return };
                // Only plug-ins with fuel may loop forever (or allocate until their memory is full); an unknown module
                // may loop in any export.
                if !plugin.is_null() && !bounded && (!known || matches!(name.to_bytes(), b"spin" | b"alloc_loop")) {
                    return;
                }
                let (data, len) = match (null_input_length, impossible_input_length) {
                    (Some(len), _) => (std::ptr::null(), u64::from(len)),
                    (None, Some(bits)) => (input.as_ptr(), impossible_length(bits)),
                    (None, None) => (input.as_ptr(), input.len() as u64),
                };
                SCRIPT.with(|s| {
                    *s.borrow_mut() = Some(HostScript {
                        ops: ops.into(),
                        plugin,
                    })
                });
                let mut context_value = 7u64;
                let context = if context {
                    (&raw mut context_value).cast()
                } else {
                    std::ptr::null_mut()
                };
                let rc = extism_plugin_call_with_host_context(plugin, name.as_ptr(), data, len, context);
                SCRIPT.with(|s| s.borrow_mut().take());
                if null_input_length.is_none() && impossible_input_length.is_some() {
                    assert_eq!(rc, -1, "a call with {len} bytes of input ran");
                }
                let error = extism_plugin_error(plugin);
                if plugin.is_null() {
                    assert_eq!(rc, -1);
                } else if rc != 0 && known && name.to_bytes() != b"fail" {
                    // Every failure but a guest's own non-zero code with no error comes with a message.
                    assert!(
                        !error.is_null(),
                        "call of {name:?} failed ({rc}) without an error message"
                    );
                }
                if !error.is_null() {
                    std::hint::black_box(CStr::from_ptr(error).to_bytes().len());
                }
                let length = extism_plugin_output_length(plugin);
                let output = extism_plugin_output_data(plugin);
                if length != 0 {
                    assert!(!output.is_null());
                    std::hint::black_box(std::slice::from_raw_parts(output, length as usize).iter().sum::<u8>());
                }
                if rc == 0
                    && known
                    && name.to_bytes() == b"echo"
                    && null_input_length.is_none()
                    && impossible_input_length.is_none()
                {
                    assert_eq!(std::slice::from_raw_parts(output, length as usize), &input[..], "echo");
                }
            }
            Op::Config {
                plugin,
                json,
                structured,
                null,
                impossible_length: impossible,
            } => {
                let plugin = pick(&world.plugins, plugin).map_or(std::ptr::null_mut(), |l| l.plugin);
                let json = match structured {
                    Some(map) => serde_json::to_vec(&map.into_iter().collect::<std::collections::BTreeMap<_, _>>())
                        .expect("a map serializes"),
                    None => json,
                };
                let ok = extism_plugin_config(
                    plugin,
                    if null { std::ptr::null() } else { json.as_ptr() },
                    impossible.map_or(json.len() as u64, impossible_length),
                );
                if plugin.is_null() || impossible.is_some() {
                    assert!(!ok);
                }
            }
            Op::FunctionExists { plugin, name } => {
                let live = pick(&world.plugins, plugin);
                let plugin = live.map_or(std::ptr::null_mut(), |l| l.plugin);
                let name = CString::new(NAMES[name as usize % NAMES.len()]).expect("no NUL");
                let exists = extism_plugin_function_exists(plugin, name.as_ptr());
                let callable = ["echo", "via_host", "fail", "config", "alloc_loop", "trap", "spin"];
                if live.is_some_and(|l| l.known) {
                    assert_eq!(
                        exists,
                        callable.contains(&name.to_str().unwrap()),
                        "function_exists({name:?})"
                    );
                }
                assert!(!extism_plugin_function_exists(plugin, std::ptr::null()));
            }
            Op::Inspect { plugin } => {
                let plugin = pick(&world.plugins, plugin).map_or(std::ptr::null_mut(), |l| l.plugin);
                let id = extism_plugin_id(plugin);
                if !id.is_null() {
                    std::hint::black_box(std::slice::from_raw_parts(id, 16).iter().sum::<u8>());
                }
                let backend = extism_plugin_backend(plugin);
                if !backend.is_null() {
                    let name = CStr::from_ptr(backend).to_str().expect("an engine name is UTF-8");
                    assert!(Backend::ALL.iter().any(|b| b.name() == name), "unknown engine {name}");
                }
                assert_eq!(plugin.is_null(), id.is_null());
                assert_eq!(plugin.is_null(), backend.is_null());
                std::hint::black_box(CStr::from_ptr(extism_version()));
                std::hint::black_box(CStr::from_ptr(extism_backends()));
            }
            Op::Reset { plugin } => {
                let plugin = pick(&world.plugins, plugin).map_or(std::ptr::null_mut(), |l| l.plugin);
                assert_eq!(extism_plugin_reset(plugin), !plugin.is_null(), "reset");
            }
            Op::AllowHeaders { plugin } => {
                let plugin = pick(&world.plugins, plugin).map_or(std::ptr::null_mut(), |l| l.plugin);
                extism_plugin_allow_http_response_headers(plugin);
            }
            Op::CancelIdle { plugin } => {
                let plugin = pick(&world.plugins, plugin).map_or(std::ptr::null_mut(), |l| l.plugin);
                let handle = extism_plugin_cancel_handle(plugin);
                assert_eq!(handle.is_null(), plugin.is_null());
                extism_plugin_cancel(handle);
                // A cancel with no call running is not remembered: the next call runs.
                if !plugin.is_null() {
                    let rc = extism_plugin_call(plugin, c"echo".as_ptr(), b"x".as_ptr(), 1);
                    assert_eq!(rc, 0, "a call after an idle cancel");
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut world = World::default();
    for _ in 0..24 {
        let Ok(op) = u.arbitrary::<Op>() else {
            break;
        };
        // SAFETY: `run` keeps to the C API's contract (see the module comment).
        unsafe { run(&mut world, op) };
    }
    // SAFETY: everything in `world` is live and freed once.
    unsafe {
        for live in world.plugins {
            extism_plugin_free(live.plugin);
        }
        for (compiled, ..) in world.compiled {
            extism_compiled_plugin_free(compiled);
        }
        for function in world.functions {
            extism_function_free(function);
        }
    }
});
