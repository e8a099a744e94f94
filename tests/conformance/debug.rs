//! Debugging options: wasm core dumps on trap (`with_coredump`, `DebugOptions::coredump`), and the engine-specific
//! options (profiler, debug info, a `wasmtime::Config`) each engine takes or refuses by name.

use extism::{Backend, DebugOptions, Manifest, PluginBuilder, ProfilingStrategy, Wasm};

use crate::common::{TempDir, root_cause};

/// A plug-in that leaves marks in its own memory, its exported global and (through its input) the kernel's memory,
/// then traps; `ok` succeeds, `fails` returns a non-zero code (a guest error, not a trap).
const TRAPPING: &str = r#"(module
    (import "extism:host/env" "input_length" (func $input_length (result i64)))
    (memory (export "memory") 1)
    (global $marked (export "marked") (mut i32) (i32.const 0))
    (data (i32.const 1024) "guest-memory-marker")
    (func (export "boom") (result i32)
        (global.set $marked (i32.const 1234567))
        (i32.store (i32.const 2048) (i32.const 0x2a2a2a2a))
        (drop (call $input_length))
        unreachable)
    (func (export "ok") (result i32) (i32.const 0))
    (func (export "fails") (result i32) (i32.const 1)))"#;

/// What a core dump holds, as read back with wasmparser.
#[derive(Debug, Default)]
pub(crate) struct ParsedDump {
    /// Custom section names, in order.
    pub(crate) custom: Vec<String>,
    /// The name in the `core` section.
    pub(crate) name: String,
    /// Frames in the `corestack` section.
    pub(crate) frames: usize,
    /// Bytes of every data segment.
    pub(crate) data: Vec<Vec<u8>>,
    /// Memories (initial pages).
    pub(crate) memories: Vec<u64>,
    /// The `i32.const` initialisers of the globals.
    pub(crate) i32_globals: Vec<i32>,
}

impl ParsedDump {
    /// True if some data segment contains `needle`.
    pub(crate) fn holds(&self, needle: &[u8]) -> bool {
        self.data.iter().any(|d| d.windows(needle.len()).any(|w| w == needle))
    }
}

/// Parse `bytes` as a core dump: a wasm module whose every section parses, with the tool-conventions custom sections.
pub(crate) fn parse_dump(bytes: &[u8]) -> ParsedDump {
    use wasmparser::{KnownCustom, Operator, Payload};
    let mut dump = ParsedDump::default();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.expect("the core dump parses as a wasm module") {
            Payload::Version { encoding, .. } => assert_eq!(encoding, wasmparser::Encoding::Module),
            Payload::CustomSection(section) => {
                dump.custom.push(section.name().to_string());
                match section.as_known() {
                    KnownCustom::CoreDump(core) => dump.name = core.name.to_string(),
                    KnownCustom::CoreDumpStack(stack) => dump.frames = stack.frames.len(),
                    KnownCustom::CoreDumpModules(_) | KnownCustom::CoreDumpInstances(_) => {}
                    _ => assert!(
                        !["core", "coremodules", "coreinstances", "corestack"].contains(&section.name()),
                        "the `{}` section does not parse",
                        section.name()
                    ),
                }
            }
            Payload::MemorySection(s) => dump.memories.extend(s.into_iter().map(|m| m.unwrap().initial)),
            Payload::DataSection(s) => dump.data.extend(s.into_iter().map(|d| d.unwrap().data.to_vec())),
            Payload::GlobalSection(s) => {
                for global in s {
                    let mut ops = global.unwrap().init_expr.get_operators_reader();
                    if let Ok(Operator::I32Const { value }) = ops.read() {
                        dump.i32_globals.push(value);
                    }
                }
            }
            _ => {}
        }
    }
    dump
}

/// Check the dump `bytes` a trap of [`TRAPPING`]'s `boom` with input `input` wrote.
pub(crate) fn check_trap_dump(backend: Backend, bytes: &[u8], input: &[u8]) {
    let dump = parse_dump(bytes);
    assert_eq!(
        dump.custom.first().map(String::as_str),
        Some("core"),
        "{backend}: {:?}",
        dump.custom
    );
    assert!(
        dump.custom.iter().any(|c| c == "corestack"),
        "{backend}: {:?}",
        dump.custom
    );
    assert!(
        dump.memories.len() >= 2,
        "{backend}: the kernel's and the plug-in's memories: {:?}",
        dump.memories
    );
    assert!(
        dump.holds(b"guest-memory-marker"),
        "{backend}: the plug-in's data segment"
    );
    assert!(
        dump.holds(b"****"),
        "{backend}: what the plug-in stored before trapping"
    );
    assert!(dump.holds(input), "{backend}: the input, in kernel memory");
    assert!(
        dump.i32_globals.contains(&1234567),
        "{backend}: the global's value at the trap: {:?}",
        dump.i32_globals
    );
    if matches!(backend.name(), "wasmtime" | "pulley") {
        // wasmtime's own dumps have the trap's frames; the core's writer has none to give on other engines.
        assert!(dump.frames >= 1, "{backend}: frames of the trap");
    }
}

backend_test! {
    /// A dump path that cannot take a dump (a FIFO nobody reads, a directory) costs the trapping call nothing but a
    /// logged error: the call fails with its own error, without hanging, and the plug-in stays usable.
    fn an_unwritable_coredump_path_leaves_the_call_alone(backend) {
        crate::deadline::with_deadline(std::time::Duration::from_secs(120), move || {
            let dir = TempDir::new("coredump");
            let fifo = dir.path().join("fifo");
            #[cfg(unix)]
            assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
            for path in [fifo, dir.path().to_path_buf()] {
                let mut p = PluginBuilder::new(TRAPPING).with_backend(backend).with_coredump(&path).build().unwrap();
                let err = p.call::<&str, &[u8]>("boom", "").unwrap_err();
                assert!(root_cause(&err).contains("unreachable"), "{backend}: {err:#}");
                p.call::<&str, &[u8]>("ok", "").unwrap();
            }
        });
    }
}

backend_test! {
    /// `with_coredump` writes a wasm core dump (tool-conventions format) when a call traps, and only then.
    fn coredump_on_trap(backend) {
        let dir = TempDir::new("coredump");
        let path = dir.path().join("core.wasm");
        let mut p = PluginBuilder::new(TRAPPING).with_backend(backend).with_coredump(&path).build().unwrap();
        p.call::<&str, &[u8]>("ok", "").unwrap();
        let err = p.call::<&str, &[u8]>("fails", "").unwrap_err();
        assert_eq!(err.to_string(), "Returned non-zero exit code: 1");
        assert!(!path.exists(), "{backend}: no dump after a success or a guest error");

        let input = b"kernel-input-marker";
        let err = p.call::<&[u8], &[u8]>("boom", input).unwrap_err();
        assert!(root_cause(&err).contains("unreachable"), "{backend}: {err:#}");
        check_trap_dump(backend, &std::fs::read(&path).unwrap(), input);

        // The plug-in stays usable, and a later trap writes a new dump.
        std::fs::remove_file(&path).unwrap();
        p.call::<&str, &[u8]>("ok", "").unwrap();
        p.call::<&[u8], &[u8]>("boom", b"second-input").unwrap_err();
        check_trap_dump(backend, &std::fs::read(&path).unwrap(), b"second-input");
    }
}

backend_test! {
    /// A limit that stops guest code (here fuel) is a trap too: it writes a core dump.
    fn coredump_on_fuel_exhaustion(backend) {
        let dir = TempDir::new("coredump-fuel");
        let path = dir.path().join("core.wasm");
        let wat = r#"(module (memory (export "memory") 1) (data (i32.const 8) "spinning-guest")
            (func (export "spin") (result i32) (loop $l (br $l)) (i32.const 0)))"#;
        let mut p = PluginBuilder::new(wat)
            .with_backend(backend)
            .with_fuel_limit(100_000)
            .with_coredump(&path)
            .build()
            .unwrap();
        let err = p.call::<&str, &[u8]>("spin", "").unwrap_err();
        assert_eq!(root_cause(&err), "plugin ran out of fuel", "{backend}");
        let dump = parse_dump(&std::fs::read(&path).unwrap());
        assert_eq!(dump.custom.first().map(String::as_str), Some("core"), "{backend}");
        assert!(dump.holds(b"spinning-guest"), "{backend}");
    }
}

backend_test! {
    /// A timeout is a trap too (upstream's own core dump test: a loop stopped by the manifest's timeout).
    fn coredump_on_timeout(backend) {
        let dir = TempDir::new("coredump-timeout");
        let path = dir.path().join("core.wasm");
        let wat = r#"(module (memory (export "memory") 1) (data (i32.const 8) "looping-guest")
            (func (export "loop_forever") (result i32) (loop $l (br $l)) (i32.const 0)))"#;
        let manifest = Manifest::new([Wasm::data(wat.as_bytes().to_vec())])
            .with_timeout(std::time::Duration::from_millis(100));
        let mut p = PluginBuilder::new(manifest).with_backend(backend).with_coredump(&path).build().unwrap();
        let err = p.call::<&str, &[u8]>("loop_forever", "abc123").unwrap_err();
        assert_eq!(root_cause(&err), "timeout", "{backend}");
        let dump = parse_dump(&std::fs::read(&path).unwrap());
        assert_eq!(dump.custom.first().map(String::as_str), Some("core"), "{backend}");
        assert!(dump.holds(b"looping-guest"), "{backend}");
        assert!(dump.holds(b"abc123"), "{backend}: the input, in kernel memory");
    }
}

backend_test! {
    /// `DebugOptions`' `coredump` and `memdump` drive the same dumps as `with_coredump` / `with_memdump`.
    fn debug_options_dumps(backend) {
        let dir = TempDir::new("debug-options");
        let (core, mem) = (dir.path().join("core.wasm"), dir.path().join("memory.bin"));
        let options = DebugOptions {
            profiling_strategy: ProfilingStrategy::None,
            coredump: Some(core.clone()),
            memdump: Some(mem.clone()),
            debug_info: false,
        };
        let mut p = PluginBuilder::new(TRAPPING).with_backend(backend).with_debug_options(options).build().unwrap();
        p.call::<&[u8], &[u8]>("boom", b"options-input").unwrap_err();
        check_trap_dump(backend, &std::fs::read(&core).unwrap(), b"options-input");
        let memory = std::fs::read(&mem).unwrap();
        assert!(memory.windows(13).any(|w| w == b"options-input"), "{backend}: the kernel memory dump");
    }
}

/// Whether `backend` supports a profiler, debug info, and a `wasmtime::Config`, as this build has them.
fn supports(backend: Backend) -> (bool, bool, bool) {
    match backend.name() {
        "wasmtime" => (cfg!(unix), true, true),
        "pulley" => (false, false, true),
        _ => (false, false, false),
    }
}

/// Check that `built` succeeded and runs if `supported`, else that it failed naming the engine and `words`.
fn check_support(backend: Backend, built: Result<extism::Plugin, extism::Error>, supported: bool, words: &[&str]) {
    match built {
        Ok(mut p) => {
            assert!(
                supported,
                "{backend} accepted an option it does not support ({words:?})"
            );
            p.call::<&str, &[u8]>("ok", "").unwrap();
        }
        Err(e) => {
            assert!(!supported, "{backend}: {e:#}");
            let text = e.to_string();
            assert!(
                text.contains(&format!("the {backend} backend does not support")),
                "{text}"
            );
            for word in words {
                assert!(text.contains(word), "{text} should name {word}");
            }
        }
    }
}

backend_test! {
    /// A profiler or debug info the engine cannot provide fails the build, naming the engine and the option; where
    /// it can, the plug-in builds and runs.
    fn profiler_and_debug_info_by_engine(backend) {
        let (profiler, debug_info, _) = supports(backend);
        // A function name no other test (or earlier run, through the compilation cache) has compiled.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let marker = format!("perf_map_marker_{backend}_{nanos}");
        let wat = format!(r#"(module (func ${marker} (export "ok") (result i32) (i32.const 0)))"#);
        let built = PluginBuilder::new(wat.as_str())
            .with_backend(backend)
            .with_profiling_strategy(ProfilingStrategy::PerfMap)
            .build();
        check_support(backend, built, profiler, &["PerfMap", "profiling_strategy"]);
        if profiler {
            // wasmtime's perf map agent names the generated functions in /tmp/perf-<pid>.map.
            let map = std::fs::read_to_string(format!("/tmp/perf-{}.map", std::process::id())).unwrap();
            assert!(map.contains(&marker), "{backend}: {marker} is not in the perf map");
        }
        // JitDump needs wasmtime's `profiling` feature, which no engine here has.
        let built = PluginBuilder::new(TRAPPING)
            .with_backend(backend)
            .with_profiling_strategy(ProfilingStrategy::JitDump)
            .build();
        check_support(backend, built, false, &["JitDump"]);
        let built = PluginBuilder::new(TRAPPING).with_backend(backend).with_debug_info().build();
        check_support(backend, built, debug_info, &["debug info"]);
        // `ProfilingStrategy::None` and no debug info are fine everywhere.
        let built = PluginBuilder::new(TRAPPING)
            .with_backend(backend)
            .with_debug_options(DebugOptions {
                profiling_strategy: ProfilingStrategy::None,
                coredump: None,
                memdump: None,
                debug_info: false,
            })
            .build();
        check_support(backend, built, true, &[]);
    }
}

#[cfg(feature = "wasmtime")]
backend_test! {
    /// `with_wasmtime_config`: the wasmtime engines build on the given configuration (a setting Extism leaves alone
    /// takes effect); the others refuse it by name.
    fn wasmtime_config_by_engine(backend) {
        let (_, _, native) = supports(backend);
        let built = PluginBuilder::new(TRAPPING)
            .with_backend(backend)
            .with_wasmtime_config(extism::wasmtime::Config::new())
            .build();
        check_support(backend, built, native, &["with_wasmtime_config", "wasmtime::Config"]);
        if !native {
            return;
        }
        // Multi-value off: a module with a two-result function no longer compiles.
        let two = r#"(module (func $two (result i32 i32) (i32.const 1) (i32.const 2))
            (func (export "ok") (result i32) (call $two) (drop)))"#;
        PluginBuilder::new(two).with_backend(backend).build().unwrap();
        let mut config = extism::wasmtime::Config::new();
        config.wasm_multi_value(false);
        let err = PluginBuilder::new(two)
            .with_backend(backend)
            .with_wasmtime_config(config)
            .build()
            .expect_err("the configuration's multi-value setting was ignored");
        assert!(format!("{err:#}").contains("multi"), "{backend}: {err:#}");
    }
}
