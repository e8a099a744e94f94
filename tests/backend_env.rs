//! `EXTISM_BACKEND`: the run-time default engine, and its errors.
//!
//! A test binary of its own, with a single test, because it changes the process environment: no other test can run
//! concurrently and see (or race with) the changes.

use extism::{Backend, PluginBuilder};

const PLUGIN: &str = r#"(module (func (export "run") (result i32) (i32.const 0)))"#;

fn set(value: Option<&str>) {
    // SAFETY: this binary has a single test, so no other thread reads or writes the environment meanwhile.
    unsafe {
        match value {
            Some(v) => std::env::set_var("EXTISM_BACKEND", v),
            None => std::env::remove_var("EXTISM_BACKEND"),
        }
    }
}

fn build_error() -> String {
    let err = PluginBuilder::new(PLUGIN).build().expect_err("the plug-in was created");
    err.to_string()
}

#[test]
fn extism_backend_chooses_the_default_engine() {
    let first = Backend::ALL[0];

    set(None);
    assert_eq!(Backend::from_env().unwrap(), first);
    assert_eq!(Backend::default(), first);
    set(Some(""));
    assert_eq!(Backend::from_env().unwrap(), first, "empty means unset");

    for &backend in Backend::ALL {
        // Names are case-insensitive and may carry spaces.
        set(Some(&format!(" {} ", backend.name().to_uppercase())));
        assert_eq!(Backend::from_env().unwrap(), backend);
        assert_eq!(Backend::default(), backend);
        let plugin = PluginBuilder::new(PLUGIN).build().unwrap();
        assert_eq!(plugin.backend(), backend, "built on the engine EXTISM_BACKEND names");
    }

    set(Some("nonsense"));
    let err = build_error();
    assert!(
        err.contains("EXTISM_BACKEND") && err.contains("unknown engine `nonsense`"),
        "{err}"
    );
    assert_eq!(
        Backend::default(),
        first,
        "Default falls back; build() reports the error"
    );
    // An explicit choice does not look at the variable.
    let plugin = PluginBuilder::new(PLUGIN).with_backend(first).build().unwrap();
    assert_eq!(plugin.backend(), first);

    for &known in MISSING_ENGINES {
        set(Some(known));
        let err = build_error();
        assert!(
            err.contains(&format!("the `{known}` engine is not compiled into this build")),
            "{err}"
        );
    }
    set(None);
}

/// The engines `extism` knows that this build lacks, from its engine registry.
macro_rules! missing_engines {
    ({} [$($compiled:tt)*] [$(($case:ident $variant:ident))*]) => {
        const MISSING_ENGINES: &[&str] = &[$(stringify!($case)),*];
    };
}

extism::compiled_engines! { missing_engines {} }
