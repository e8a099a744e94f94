//! User host functions: namespaces, user data, memory access from the host, errors, linking checks.

use std::sync::{Arc, Mutex};

use crate::common::{root_cause, wasm};
use extism::{CurrentPlugin, Error, Function, PTR, PluginBuilder, UserData, Val, ValType};

/// `greet`: prefixes its argument with the prefix in its user data, and counts its calls there.
fn greet(
    plugin: &mut CurrentPlugin,
    inputs: &[Val],
    outputs: &mut [Val],
    data: UserData<(String, u32)>,
) -> Result<(), Error> {
    let name: String = plugin.memory_get_val(&inputs[0])?;
    let data = data.get()?;
    let mut data = data.lock().unwrap();
    data.1 += 1;
    let greeting = format!("{}{name}", data.0);
    plugin.memory_set_val(&mut outputs[0], greeting.as_str())
}

backend_test! {
    /// Two host functions with the same name in two namespaces, each with its own user data.
    fn same_name_in_two_namespaces_with_user_data(backend) {
        let user = UserData::new(("Hello, ".to_string(), 0u32));
        let custom = UserData::new(("Hi from my:ns, ".to_string(), 0u32));
        let mut p = PluginBuilder::new(wasm("host_functions"))
            .with_backend(backend)
            .with_function("greet", [PTR], [PTR], user.clone(), greet)
            .with_function_in_namespace("my:ns", "greet", [PTR], [PTR], custom.clone(), greet)
            .build()
            .unwrap();
        let out: String = p.call("greet_both", "Ada").unwrap();
        assert_eq!(out, "Hello, Ada|Hi from my:ns, Ada");
        let out: String = p.call("greet_user", "Grace").unwrap();
        assert_eq!(out, "Hello, Grace");
        // The host sees the user data the functions changed.
        assert_eq!(user.get().unwrap().lock().unwrap().1, 2);
        assert_eq!(custom.get().unwrap().lock().unwrap().1, 1);
    }
}

backend_test! {
    /// A host function's error fails the call with that error as root cause; the plug-in stays usable.
    fn host_function_error_fails_the_call(backend) {
        let calls = Arc::new(Mutex::new(0));
        let counter = calls.clone();
        let failing = Function::new("greet", [PTR], [PTR], UserData::new(()), move |_, _, _, _| {
            *counter.lock().unwrap() += 1;
            anyhow::bail!("the host says no")
        });
        let ok = Function::new("greet", [PTR], [PTR], UserData::new(("ok ".to_string(), 0)), greet).with_namespace("my:ns");
        let mut p = PluginBuilder::new(wasm("host_functions"))
            .with_backend(backend)
            .with_functions([failing, ok])
            .build()
            .unwrap();
        let (err, rc) = p.call_get_error_code::<&str, &[u8]>("greet_user", "x").unwrap_err();
        assert_eq!(root_cause(&err), "the host says no");
        assert_eq!(rc, -1);
        let (err, _) = p.call_get_error_code::<&str, &[u8]>("greet_user", "x").unwrap_err();
        assert_eq!(root_cause(&err), "the host says no");
        assert_eq!(*calls.lock().unwrap(), 2);
    }
}

backend_test! {
    /// A plug-in importing a function nobody provides fails at creation, naming the import.
    fn missing_import_fails_at_creation(backend) {
        let err = PluginBuilder::new(wasm("host_functions")).with_backend(backend).build().unwrap_err();
        assert!(
            err.to_string().contains("unknown import: `extism:host/user::greet` has not been defined")
                || err.to_string().contains("unknown import: `my:ns::greet` has not been defined"),
            "{err}"
        );
        let wat = r#"(module (import "nowhere" "nothing" (func)) (func (export "f")))"#;
        let err = PluginBuilder::new(wat).with_backend(backend).build().unwrap_err();
        assert_eq!(err.to_string(), "unknown import: `nowhere::nothing` has not been defined");
    }
}

backend_test! {
    /// A host function whose signature does not match the import is a creation error.
    fn signature_mismatch_fails_at_creation(backend) {
        let wrong = Function::new("greet", [ValType::I32], [], UserData::new(()), |_, _, _, _| Ok(()));
        let right = Function::new("greet", [PTR], [PTR], UserData::new(("".to_string(), 0)), greet).with_namespace("my:ns");
        let err = PluginBuilder::new(wasm("host_functions"))
            .with_backend(backend)
            .with_functions([wrong, right])
            .build()
            .unwrap_err();
        assert!(err.to_string().starts_with("incompatible import type for `extism:host/user::greet`"), "{err}");
    }
}

backend_test! {
    /// Unknown names in `extism:host/env` are rejected with upstream's message.
    fn invalid_env_import(backend) {
        let wat = r#"(module (import "extism:host/env" "not_a_kernel_function" (func (param i64))) (func (export "f")))"#;
        let err = PluginBuilder::new(wat).with_backend(backend).build().unwrap_err();
        assert!(err.to_string().starts_with("Invalid function import from extism:host/env: not_a_kernel_function"), "{err}");
        // The host-only kernel entry points are not importable.
        let wat = r#"(module (import "extism:host/env" "extism_host_call_begin" (func (param i64) (result i64))) (func (export "f")))"#;
        assert!(PluginBuilder::new(wat).with_backend(backend).build().is_err());
        let wat = r#"(module (import "extism:host/env" "memory" (memory 1)) (func (export "f")))"#;
        let err = PluginBuilder::new(wat).with_backend(backend).build().unwrap_err();
        assert!(err.to_string().starts_with("Invalid memory import from extism:host/env: memory"), "{err}");
    }
}

backend_test! {
    /// Host functions can allocate, read, measure and free kernel memory, and see the plug-in's vars and manifest.
    fn current_plugin_memory_api(backend) {
        let wat = r#"(module
            (import "extism:host/user" "inspect" (func $inspect (param i64) (result i64)))
            (import "extism:host/env" "input_offset" (func $input_offset (result i64)))
            (import "extism:host/env" "length" (func $length (param i64) (result i64)))
            (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
            (func (export "run") (result i32) (local $h i64)
                (local.set $h (call $inspect (call $input_offset)))
                (call $output_set (local.get $h) (call $length (local.get $h)))
                i32.const 0))"#;
        let inspect = Function::new("inspect", [PTR], [PTR], UserData::new(()), |plugin, inputs, outputs, _| {
            let handle = plugin.memory_from_val(&inputs[0]).expect("the input is a live handle");
            let text = plugin.memory_str(handle)?.to_string();
            assert_eq!(plugin.memory_length(handle.offset)?, text.len() as u64);
            assert!(plugin.memory_handle(handle.offset + 1).is_none(), "interior offsets are not handles");
            assert_eq!(plugin.memory_handle(0), Some(extism::MemoryHandle::null()));
            let scratch = plugin.memory_alloc(100)?;
            assert_eq!(plugin.memory_length(scratch.offset)?, 100);
            plugin.memory_free(scratch)?;
            assert_eq!(plugin.memory_length(scratch.offset)?, 0);
            // SAFETY: deliberately not a live allocation: `MemoryHandle::new` promises that reads through a wrong
            // handle are bounds-checked (an error, never undefined behaviour), which is what this checks.
            let wild = unsafe { extism::MemoryHandle::new(u64::MAX - 4, 10) };
            assert!(plugin.memory_bytes(wild).is_err());
            plugin.vars_mut().insert("seen".into(), text.clone().into_bytes());
            let config = plugin.manifest().config.get("suffix").cloned().unwrap_or_default();
            let id = plugin.id();
            let out = plugin.memory_new(format!("{text}{config} from {}", id.as_hyphenated()))?;
            outputs[0] = plugin.memory_to_val(out);
            Ok(())
        });
        let manifest = extism::Manifest::new([extism::Wasm::data(wat.as_bytes().to_vec())]).with_config_key("suffix", "!");
        let mut p = PluginBuilder::new(manifest).with_backend(backend).with_functions([inspect]).build().unwrap();
        let out: String = p.call("run", "hello").unwrap();
        assert_eq!(out, format!("hello! from {}", p.id.as_hyphenated()));
    }
}

backend_test! {
    /// A host function that writes a result of the wrong type is an error, not a silent conversion.
    fn wrong_result_type_is_an_error(backend) {
        let wat = r#"(module (import "extism:host/user" "f" (func $f (result i64))) (func (export "run") (drop (call $f))))"#;
        let f = Function::new("f", [], [ValType::I64], UserData::new(()), |_, _, outputs, _| {
            outputs[0] = Val::I32(1);
            Ok(())
        });
        let mut p = PluginBuilder::new(wat).with_backend(backend).with_functions([f]).build().unwrap();
        let err = p.call::<&str, &[u8]>("run", "").unwrap_err();
        assert!(err.to_string().contains("returned a I32 where its signature declares I64"), "{err}");
    }
}

backend_test! {
    /// Arguments and results of every value type and up to five parameters reach the host and come back unchanged
    /// and in order (backends may take different paths for different signatures).
    fn host_function_signatures(backend) {
        let wat = r#"(module
            (import "extism:host/user" "mixed" (func $mixed (param i32 f64 i64) (result f32)))
            (import "extism:host/user" "five" (func $five (param i64 i64 i64 i64 i64) (result i64)))
            (import "extism:host/user" "small" (func $small (param i64) (result i32)))
            (import "extism:host/user" "none" (func $none))
            (func (export "run") (result i32)
                i32.const 7 f64.const 2.5 i64.const 100 call $mixed
                f32.const 109.5 f32.ne if i32.const 1 return end
                i64.const 1 i64.const 2 i64.const 3 i64.const 4 i64.const 5 call $five
                i64.const 12345 i64.ne if i32.const 2 return end
                i64.const 41 call $small
                i32.const 42 i32.ne if i32.const 3 return end
                call $none
                i32.const 0))"#;
        let calls = UserData::new(0u32);
        let functions = [
            Function::new("mixed", [ValType::I32, ValType::F64, ValType::I64], [ValType::F32], UserData::new(()), |_, inputs, outputs, _| {
                let (Val::I32(a), Val::F64(b), Val::I64(c)) = (inputs[0], inputs[1], inputs[2]) else {
                    return Err(Error::msg(format!("unexpected arguments {inputs:?}")));
                };
                outputs[0] = Val::F32((a as f32 + f64::from_bits(b) as f32 + c as f32).to_bits());
                Ok(())
            }),
            Function::new("five", [ValType::I64; 5], [ValType::I64], UserData::new(()), |_, inputs, outputs, _| {
                outputs[0] = Val::I64(inputs.iter().fold(0, |acc, v| acc * 10 + v.i64().unwrap()));
                Ok(())
            }),
            Function::new("small", [ValType::I64], [ValType::I32], UserData::new(()), |_, inputs, outputs, _| {
                outputs[0] = Val::I32(inputs[0].i64().unwrap() as i32 + 1);
                Ok(())
            }),
            Function::new("none", [], [], calls.clone(), |_, _, _, calls| {
                *calls.get()?.lock().unwrap() += 1;
                Ok(())
            }),
        ];
        let mut p = PluginBuilder::new(wat).with_backend(backend).with_functions(functions).build().unwrap();
        // A wrong value makes `run` return the number of the failed check, which `call` turns into an error.
        if let Err(e) = p.call::<&str, &[u8]>("run", "") {
            panic!("{e:#}");
        }
        assert_eq!(*calls.get().unwrap().lock().unwrap(), 1);
    }
}

backend_test! {
    /// A host function with two results works where the engine supports it; wasmer's singlepass compiler cannot
    /// compile a module that imports one, which is a clear error when the plug-in is created.
    fn host_function_with_two_results(backend) {
        let wat = r#"(module
            (import "extism:host/user" "pair" (func $pair (param i64) (result i64 i32)))
            (func (export "run") (result i32)
                (local $a i64) (local $b i32)
                i64.const 5 call $pair local.set $b local.set $a
                local.get $a i64.const 10 i64.ne if i32.const 1 return end
                local.get $b i32.const 6 i32.ne if i32.const 2 return end
                i32.const 0))"#;
        let pair = Function::new("pair", [ValType::I64], [ValType::I64, ValType::I32], UserData::new(()), |_, inputs, outputs, _| {
            let n = inputs[0].i64().unwrap();
            outputs[0] = Val::I64(n * 2);
            outputs[1] = Val::I32(n as i32 + 1);
            Ok(())
        });
        let built = PluginBuilder::new(wat).with_backend(backend).with_functions([pair]).build();
        if backend.name() == "wasmer" {
            let err = built.expect_err("wasmer cannot import multi-result functions");
            assert!(format!("{err:#}").contains("more than one result"), "{err:#}");
            return;
        }
        let mut p = built.unwrap();
        if let Err(e) = p.call::<&str, &[u8]>("run", "") {
            panic!("{e:#}");
        }
    }
}

backend_test! {
    /// Result slots start as zeros of the declared types, on the typed trampolines (all-`i64` parameters, one `i64`
    /// or `i32` result) and on the dynamic ones alike, so a function that leaves a slot alone returns zero; its user
    /// data arrives on every call, and a successful call after an error or a panic still works.
    fn untouched_results_are_zeros_of_their_types(backend) {
        let multi = backend.name() != "wasmer"; // singlepass cannot import a function with two results
        let wat = format!(r#"(module
            (import "extism:host/user" "i64" (func $i64 (param i64) (result i64)))
            (import "extism:host/user" "i32" (func $i32 (param i64 i64) (result i32)))
            (import "extism:host/user" "f64" (func $f64 (param i32) (result f64)))
            (import "extism:host/user" "f32" (func $f32 (param f32) (result f32)))
            {multi_import}
            (func (export "run") (result i32)
                (if (i64.ne (call $i64 (i64.const -1)) (i64.const 0)) (then (return (i32.const 1))))
                (if (i32.ne (call $i32 (i64.const -1) (i64.const -2)) (i32.const 0)) (then (return (i32.const 2))))
                ;; Bit patterns, so that -0.0 or a NaN would not pass.
                (if (i64.ne (i64.reinterpret_f64 (call $f64 (i32.const -1))) (i64.const 0)) (then (return (i32.const 3))))
                (if (i32.ne (i32.reinterpret_f32 (call $f32 (f32.const -1))) (i32.const 0)) (then (return (i32.const 4))))
                {multi_call}
                (i32.const 0)))"#,
            multi_import = if multi {
                r#"(import "extism:host/user" "pair" (func $pair (param i64) (result i32 f64)))"#
            } else {
                ""
            },
            multi_call = if multi {
                r#"(if (i64.ne (i64.reinterpret_f64 (call $pair (i64.const -1))) (i64.const 0)) (then (return (i32.const 5))))
                   (if (i32.ne (i32.const 0)) (then (return (i32.const 6))))"#
            } else {
                ""
            },
        );
        let calls = UserData::new(0u32);
        let untouched = |name: &str, params: Vec<ValType>, results: Vec<ValType>| {
            let zeros: Vec<Val> = results.iter().map(|t| Val::default_for(*t).unwrap()).collect();
            Function::new(name, params, results, calls.clone(), move |_, _, outputs, calls| {
                // Each slot holds the zero of its declared type (not a zero of another type).
                if outputs != zeros.as_slice() {
                    anyhow::bail!("result slots hold {outputs:?}, not {zeros:?}");
                }
                *calls.get()?.lock().unwrap() += 1;
                Ok(())
            })
        };
        let mut functions = vec![
            untouched("i64", vec![ValType::I64], vec![ValType::I64]),
            untouched("i32", vec![ValType::I64, ValType::I64], vec![ValType::I32]),
            untouched("f64", vec![ValType::I32], vec![ValType::F64]),
            untouched("f32", vec![ValType::F32], vec![ValType::F32]),
        ];
        if multi {
            functions.push(untouched("pair", vec![ValType::I64], vec![ValType::I32, ValType::F64]));
        }
        let expected_calls = functions.len() as u32;
        let mut p = PluginBuilder::new(wat).with_backend(backend).with_functions(functions).build().unwrap();
        for round in 1..=2 {
            if let Err(e) = p.call::<&str, &[u8]>("run", "") {
                panic!("round {round}: {e:#}");
            }
            assert_eq!(*calls.get().unwrap().lock().unwrap(), expected_calls * round);
        }
    }
}

backend_test! {
    /// A result of the wrong type fails the call on every path the check takes: one result from a typed trampoline
    /// (`i64 -> i32`), one from a dynamic one (`f32 -> f32`), and the second of two results; the error names the
    /// function and both types, and the plug-in stays usable.
    fn wrong_result_types_on_every_path(backend) {
        let multi = backend.name() != "wasmer";
        let wat = format!(r#"(module
            (import "extism:host/user" "typed" (func $typed (param i64) (result i32)))
            (import "extism:host/user" "dynamic" (func $dynamic (param f32) (result f32)))
            {multi_import}
            (func (export "typed") (drop (call $typed (i64.const 0))))
            (func (export "dynamic") (drop (call $dynamic (f32.const 0))))
            {multi_export})"#,
            multi_import = if multi {
                r#"(import "extism:host/user" "pair" (func $pair (param i64) (result i64 f64)))"#
            } else {
                ""
            },
            multi_export = if multi { r#"(func (export "pair") (drop (call $pair (i64.const 0))) (drop))"# } else { "" },
        );
        // Wrong while `wrong` is set; otherwise right.
        let wrong = UserData::new(true);
        let functions = vec![
            Function::new("typed", [ValType::I64], [ValType::I32], wrong.clone(), |_, _, outputs, wrong| {
                outputs[0] = if *wrong.get()?.lock().unwrap() { Val::I64(1) } else { Val::I32(1) };
                Ok(())
            }),
            Function::new("dynamic", [ValType::F32], [ValType::F32], wrong.clone(), |_, _, outputs, wrong| {
                outputs[0] = if *wrong.get()?.lock().unwrap() { Val::F64(0) } else { Val::F32(0) };
                Ok(())
            }),
            Function::new("pair", [ValType::I64], [ValType::I64, ValType::F64], wrong.clone(), |_, _, outputs, wrong| {
                outputs[0] = Val::I64(1);
                outputs[1] = if *wrong.get()?.lock().unwrap() { Val::I32(2) } else { Val::F64(2) };
                Ok(())
            }),
        ];
        let functions = if multi { functions } else { functions[..2].to_vec() };
        let mut p = PluginBuilder::new(wat).with_backend(backend).with_functions(functions).build().unwrap();
        let mut cases = vec![("typed", "`typed` returned a I64 where its signature declares I32"), ("dynamic", "`dynamic` returned a F64 where its signature declares F32")];
        if multi {
            cases.push(("pair", "`pair` returned a I32 where its signature declares F64"));
        }
        for (export, message) in &cases {
            let err = p.call::<&str, &[u8]>(export, "").unwrap_err();
            assert!(format!("{err:#}").contains(message), "{export} on {backend}: {err:#}");
        }
        *wrong.get().unwrap().lock().unwrap() = false;
        for (export, _) in &cases {
            if let Err(e) = p.call::<&str, &[u8]>(export, "") {
                panic!("{export} on {backend}: {e:#}");
            }
        }
    }
}
