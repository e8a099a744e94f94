//! The `extism` binary, run as a user runs it, on the committed test plug-ins (`tests/wasm`), once per compiled
//! engine: output bytes, exit statuses, messages on stderr, and the `inspect` and `bench` reports.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use extism::Backend;
use serde_json::Value;

/// Declare a test that runs once for each engine compiled into this build of `extism` (from its engine registry), as
/// separate rstest cases named after the engine.
macro_rules! backend_test {
    ($(#[$meta:meta])* fn $name:ident($backend:ident) $body:block) => {
        extism::compiled_engines! { backend_test { $(#[$meta])* fn $name($backend) $body } }
    };
    ({ $(#[$meta:meta])* fn $name:ident($backend:ident) $body:block } [$(($case:ident $variant:ident))*] [$($missing:tt)*]) => {
        $(#[$meta])*
        #[rstest::rstest]
        $(#[case::$case(extism::Backend::$variant)])*
        fn $name(#[case] $backend: extism::Backend) $body
    };
}

/// A test that needs the wasmer engine compiled into `extism`, ignored (with the reason) in builds without it.
macro_rules! needs_wasmer_test {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        extism::compiled_engines! { needs_wasmer_test { @find { $(#[$meta])* fn $name() $body } } }
    };
    ({ @find $test:tt } [$(($compiled:ident $variant:ident))*] $missing:tt) => {
        needs_wasmer_test! { @find $test $($compiled)* }
    };
    (@find { $($test:tt)* } wasmer $($rest:ident)*) => {
        #[test]
        $($test)*
    };
    (@find $test:tt $other:ident $($rest:ident)*) => {
        needs_wasmer_test! { @find $test $($rest)* }
    };
    (@find { $(#[$meta:meta])* fn $name:ident() $body:block }) => {
        $(#[$meta])*
        #[test]
        #[ignore = "the wasmer engine is not compiled into this build"]
        fn $name() $body
    };
}

/// Every run gets this long: a regression that hangs fails its test instead of the suite.
const DEADLINE: Duration = Duration::from_secs(120);

/// A committed test plug-in.
fn wasm(name: &str) -> String {
    format!("{}/../tests/wasm/{name}.wasm", env!("CARGO_MANIFEST_DIR"))
}

/// Run `extism ARGS` with `stdin` and the deadline; never inherits `EXTISM_BACKEND` from the test's environment.
fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_extism"))
        .args(args)
        .env_remove("EXTISM_BACKEND")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the extism binary");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    // Threads feed stdin and drain stdout and stderr, so that neither side blocks on a full pipe.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout is piped")));
    let err = drain(Box::new(child.stderr.take().expect("stderr is piped")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            child.kill().expect("kill the child");
            let _ = child.wait();
            panic!("extism {args:?} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

fn run(args: &[&str]) -> Output {
    run_with_stdin(args, b"")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[track_caller]
fn assert_status(output: &Output, status: i32) {
    assert_eq!(
        output.status.code(),
        Some(status),
        "stdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
}

/// A fresh directory for one test case.
fn temp_dir(name: &str, backend: Backend) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("extism-cli-{name}-{backend}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

backend_test! {
    fn call_prints_the_plugins_output(backend) {
        let out = run(&["call", &wasm("count_vowels"), "count_vowels", "--input", "Hello, world!", "--backend", backend.name()]);
        assert_status(&out, 0);
        assert_eq!(stdout(&out), r#"{"count":3,"total":3,"vowels":"aeiouAEIOU"}"#);
        assert_eq!(stderr(&out), "");
    }
}

backend_test! {
    fn call_passes_binary_input_and_output_unchanged(backend) {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let dir = temp_dir("binary", backend);
        let file = dir.join("input.bin");
        std::fs::write(&file, &bytes).unwrap();
        let from_file = run(&["call", &wasm("echo"), "echo", "--input-file", file.to_str().unwrap(), "--backend", backend.name()]);
        assert_status(&from_file, 0);
        assert!(from_file.stdout == bytes, "--input-file: {} bytes out", from_file.stdout.len());
        let from_stdin = run_with_stdin(&["call", &wasm("echo"), "echo", "--stdin", "--backend", backend.name()], &bytes);
        assert_status(&from_stdin, 0);
        assert!(from_stdin.stdout == bytes, "--stdin: {} bytes out", from_stdin.stdout.len());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

backend_test! {
    fn call_loop_calls_the_same_instance_again(backend) {
        // `counter` keeps its count in a var: the same instance counts 1, 2, 3.
        let out = run(&["call", &wasm("kitchen"), "counter", "--loop", "3", "--backend", backend.name()]);
        assert_status(&out, 0);
        assert_eq!(stdout(&out), "1\n2\n3\n");
    }
}

backend_test! {
    fn call_config_reaches_the_plugin(backend) {
        let out = run(&[
            "call", &wasm("count_vowels"), "count_vowels", "--input", "xyzzy", "--config", "vowels=yz",
            "--backend", backend.name(),
        ]);
        assert_status(&out, 0);
        assert_eq!(stdout(&out), r#"{"count":4,"total":4,"vowels":"yz"}"#);
    }
}

backend_test! {
    fn call_failure_exits_with_the_plugins_return_code(backend) {
        // `fail` returns -1 with its input as the error: -1 is 255 as an exit status.
        let out = run(&["call", &wasm("kitchen"), "fail", "--input", "it broke", "--backend", backend.name()]);
        assert_status(&out, 255);
        assert_eq!(stderr(&out), "error: it broke\n");
        assert_eq!(stdout(&out), "");
    }
}

backend_test! {
    fn call_wasi_exit_code_is_the_exit_status(backend) {
        // WASI allows exit codes 0..126 only (codes outside 0..=255 are covered by the unit test of `exit_status`).
        for (code, status) in [("7", 7), ("125", 125)] {
            let out = run(&["call", &wasm("wasip1"), "exit_with", "--input", code, "--wasi", "--backend", backend.name()]);
            assert_status(&out, status);
            assert!(stderr(&out).contains(&format!("exit status {code}")), "{}", stderr(&out));
        }
    }
}

backend_test! {
    fn call_trap_timeout_and_fuel_exit_1(backend) {
        let trap = run(&["call", &wasm("kitchen"), "trap", "--backend", backend.name()]);
        assert_status(&trap, 1);
        assert!(stderr(&trap).starts_with("error: "), "{}", stderr(&trap));

        let timeout = run(&["call", &wasm("kitchen"), "loop_forever", "--timeout", "200", "--backend", backend.name()]);
        assert_status(&timeout, 1);
        assert_eq!(stderr(&timeout), "error: timeout\n");

        let fuel = run(&["call", &wasm("kitchen"), "loop_forever", "--fuel", "100000", "--backend", backend.name()]);
        assert_status(&fuel, 1);
        assert_eq!(stderr(&fuel), "error: plugin ran out of fuel\n");
    }
}

backend_test! {
    fn call_memory_max_limits_the_plugin(backend) {
        // `alloc_bomb` allocates 1 MiB blocks until it gets none: past 64 MiB of pages the call fails with "oom".
        let out = run(&["call", &wasm("kitchen"), "alloc_bomb", "--memory-max", "1024", "--backend", backend.name()]);
        assert_status(&out, 1);
        assert_eq!(stderr(&out), "error: oom\n");
    }
}

backend_test! {
    fn call_allow_path_preopens_a_directory(backend) {
        let dir = temp_dir("allow-path", backend);
        std::fs::write(dir.join("hello.txt"), "from the host").unwrap();
        let mapping = format!("ro:{}:/data", dir.display());
        let out = run(&[
            "call", &wasm("wasip1"), "read_file", "--input", "/data/hello.txt", "--wasi", "--allow-path", &mapping,
            "--backend", backend.name(),
        ]);
        assert_status(&out, 0);
        assert_eq!(stdout(&out), "from the host");
        // Read-only: writing fails inside the plug-in, which returns -1.
        let write = run(&[
            "call", &wasm("wasip1"), "write_file", "--input", "/data/new.txt=x", "--wasi", "--allow-path", &mapping,
            "--backend", backend.name(),
        ]);
        assert_status(&write, 255);
        assert!(!dir.join("new.txt").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

backend_test! {
    fn call_log_level_shows_plugin_logs_on_stderr(backend) {
        let out = run(&["call", &wasm("logging"), "log_all", "--input", "note", "--log-level", "warn", "--backend", backend.name()]);
        assert_status(&out, 0);
        let err = stderr(&out);
        assert!(err.contains("note at warn") && err.contains("note at error"), "{err}");
        assert!(!err.contains("note at info"), "{err}");
        // get_log_level: 3 = warn.
        assert_eq!(stdout(&out), "3");
    }
}

backend_test! {
    fn call_reads_a_manifest(backend) {
        let dir = temp_dir("manifest", backend);
        let manifest = dir.join("manifest.json");
        let body = serde_json::json!({"wasm": [{"path": wasm("count_vowels")}], "config": {"vowels": "o"}});
        std::fs::write(&manifest, body.to_string()).unwrap();
        let out = run(&["call", manifest.to_str().unwrap(), "count_vowels", "--input", "foo", "--backend", backend.name()]);
        assert_status(&out, 0);
        assert_eq!(stdout(&out), r#"{"count":2,"total":2,"vowels":"o"}"#);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// A device or FIFO named as the plug-in is refused at once (before, `/dev/zero` was read until memory ran out and a
/// FIFO blocked forever); engine-independent: nothing reaches an engine.
#[test]
fn special_files_are_refused_as_plugins() {
    let dir = std::env::temp_dir().join(format!("extism-cli-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("plugin.wasm");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for path in ["/dev/zero", fifo.to_str().unwrap()] {
        for command in [vec!["call", path, "f"], vec!["inspect", path]] {
            let out = run(&command);
            assert_status(&out, 1);
            assert!(
                stderr(&out).contains("not a regular file"),
                "{command:?}: {}",
                stderr(&out)
            );
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

backend_test! {
    fn call_errors_are_clear(backend) {
        let engine = backend.name();
        let cases: Vec<(Vec<String>, &str)> = vec![
            (vec!["call".into(), "/nonexistent/plugin.wasm".into(), "f".into()], "error: cannot read /nonexistent/plugin.wasm: "),
            (
                vec!["call".into(), format!("{}/Cargo.toml", env!("CARGO_MANIFEST_DIR")), "f".into()],
                "is not a wasm module, WAT or Extism manifest",
            ),
            (
                vec!["call".into(), wasm("count_vowels"), "nope".into()],
                "error: unknown function `nope`; callable exports: count_vowels\n",
            ),
            (
                vec!["call".into(), wasm("count_vowels"), "count_vowels".into(), "--config".into(), "novalue".into()],
                "error: invalid --config `novalue`: expected KEY=VALUE",
            ),
            (
                vec!["call".into(), wasm("count_vowels"), "count_vowels".into(), "--backend".into(), "v8".into()],
                "error: --backend v8: unknown engine `v8`; compiled engines: ",
            ),
            (
                vec!["call".into(), wasm("host_functions"), "greet_user".into()],
                "cannot provide (it gives only Extism's built-in functions): extism:host/user::greet, my:ns::greet\n",
            ),
            (
                vec!["call".into(), wasm("wasip1"), "print".into()],
                "the plug-in needs WASI (it imports from wasi_snapshot_preview1): pass --wasi",
            ),
        ];
        for (mut args, expected) in cases {
            if !args.iter().any(|a| a == "--backend") {
                args.extend(["--backend".to_string(), engine.to_string()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = run(&args);
            assert_status(&out, 1);
            assert!(stderr(&out).contains(expected), "{args:?}: {}", stderr(&out));
            assert_eq!(stdout(&out), "", "{args:?}");
        }
    }
}

#[test]
fn unknown_engine_lists_the_compiled_ones() {
    let out = run(&["call", &wasm("count_vowels"), "count_vowels", "--backend", "v8"]);
    assert_status(&out, 1);
    let names: Vec<&str> = Backend::ALL.iter().map(|b| b.name()).collect();
    assert!(
        stderr(&out).ends_with(&format!("compiled engines: {}\n", names.join(", "))),
        "{}",
        stderr(&out)
    );
}

/// The engines `extism` knows that this build lacks, from its engine registry; and `engine_not_compiled_in_is_named`,
/// ignored when there is none.
macro_rules! missing_engines {
    ({} [$($compiled:tt)*] [$(($case:ident $variant:ident))*]) => {
        const MISSING_ENGINES: &[&str] = &[$(stringify!($case)),*];
        missing_engines! { @test [$($case)*] }
    };
    (@test []) => {
        #[test]
        #[ignore = "every engine is compiled into this build"]
        fn engine_not_compiled_in_is_named() {
            engine_not_compiled_in_is_named_body()
        }
    };
    (@test [$($missing:ident)+]) => {
        #[test]
        fn engine_not_compiled_in_is_named() {
            engine_not_compiled_in_is_named_body()
        }
    };
}

extism::compiled_engines! { missing_engines {} }

/// Only meaningful in a build that lacks an engine; with every engine compiled in there is none to name.
fn engine_not_compiled_in_is_named_body() {
    let missing = MISSING_ENGINES.first().expect("an engine is missing from this build");
    let out = run(&["call", &wasm("count_vowels"), "count_vowels", "--backend", missing]);
    assert_status(&out, 1);
    assert!(
        stderr(&out).contains(&format!("the `{missing}` engine is not compiled into this build")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let both = run(&["call", &wasm("echo"), "echo", "--input", "a", "--stdin"]);
    assert_status(&both, 1);
    assert!(stderr(&both).contains("cannot be used with"), "{}", stderr(&both));
    let no_calls = run(&["call", &wasm("echo"), "echo", "--loop", "0"]);
    assert_status(&no_calls, 1);
    assert!(stderr(&no_calls).contains("--loop"), "{}", stderr(&no_calls));
    let help = run(&["call", "--help"]);
    assert_status(&help, 0);
    for flag in [
        "--input",
        "--input-file",
        "--stdin",
        "--config",
        "--wasi",
        "--allow-host",
        "--allow-path",
        "--timeout",
        "--fuel",
        "--memory-max",
        "--log-level",
        "--backend",
        "--loop",
    ] {
        assert!(stdout(&help).contains(flag), "{flag} missing from --help");
    }
}

backend_test! {
    fn inspect_json_describes_the_plugin(backend) {
        // The report covers every compiled engine; the case's engine must be among those that load it.
        let out = run(&["inspect", &wasm("host_functions"), "--json"]);
        assert_status(&out, 0);
        let report: Value = serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON");
        assert_eq!(report["callable"], serde_json::json!(["greet_both", "greet_user"]));
        assert_eq!(report["needs_wasi"], false);
        assert_eq!(report["host_functions"], serde_json::json!(["extism:host/user::greet", "my:ns::greet"]));
        let engine = report["engines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["engine"] == backend.name())
            .expect("a row per compiled engine");
        assert_eq!(engine["loads"], true, "{engine}");
        let main = &report["modules"][0];
        assert_eq!(main["name"], "main");
        let kernel: Vec<&str> = main["imports"]["kernel"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        assert!(kernel.contains(&"input_length") && kernel.contains(&"output_set"), "{kernel:?}");
        assert_eq!(main["imports"]["host_functions"][1]["module"], "my:ns");
        assert_eq!(main["imports"]["host_functions"][1]["params"], serde_json::json!(["i64"]));
        let memory = &main["memories"][0];
        assert_eq!(memory["export"], "memory");
        assert!(memory["min_pages"].as_u64().unwrap() > 0, "{memory}");
        let exports = main["exports"].as_array().unwrap();
        let greet = exports.iter().find(|e| e["name"] == "greet_both").unwrap();
        assert_eq!(greet["callable"], true);
        let heap = exports.iter().find(|e| e["name"] == "__heap_base").unwrap();
        assert_eq!(heap["callable"], false);
    }
}

#[test]
fn inspect_text_reports_wasi_and_limits() {
    let dir = temp_dir("inspect", Backend::ALL[0]);
    let wat = dir.join("limits.wat");
    std::fs::write(
        &wat,
        r#"(module
             (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
             (memory (export "memory") 2 5)
             (func (export "run") (result i32) (i32.const 0))
             (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))"#,
    )
    .unwrap();
    let out = run(&["inspect", wat.to_str().unwrap()]);
    assert_status(&out, 0);
    let text = stdout(&out);
    for expected in [
        "run function () -> i32  [callable]\n",
        "add function (i32, i32) -> i32\n",
        "WASI (1):\n      wasi_snapshot_preview1::fd_write function (i32, i32, i32, i32) -> i32\n",
        "memory 0: min 2 pages, max 5 pages (exported as `memory`)\n",
        "needs WASI: yes (call with --wasi)\n",
        "callable functions: run\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    for engine in Backend::ALL {
        assert!(text.contains(&format!("  {:<9} loads\n", engine.name())), "{text}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

needs_wasmer_test! {
/// wasmer alone refuses SIMD: the report names the proposal for it and lets the other engines load the module.
fn inspect_names_the_proposal_an_engine_refuses() {
    let dir = temp_dir("simd", Backend::ALL[0]);
    let wat = dir.join("simd.wat");
    std::fs::write(
        &wat,
        r#"(module (func (export "run") (result i32) (drop (v128.const i32x4 1 2 3 4)) (i32.const 0)))"#,
    )
    .unwrap();
    let out = run(&["inspect", wat.to_str().unwrap(), "--json"]);
    assert_status(&out, 0);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for engine in report["engines"].as_array().unwrap() {
        if engine["engine"] == "wasmer" {
            assert_eq!(engine["loads"], false);
            assert!(engine["error"].as_str().unwrap().contains("SIMD"), "{engine}");
        } else {
            assert_eq!(engine["loads"], true, "{engine}");
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}
}

#[test]
fn bench_prints_a_row_per_engine_and_a_verdict() {
    let out = run(&[
        "bench",
        &wasm("count_vowels"),
        "count_vowels",
        "--input",
        "Hello, world!",
        "--iterations",
        "3",
    ]);
    assert_status(&out, 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("engine") && lines[0].contains("first call") && lines[0].contains("throughput"),
        "{text}"
    );
    for engine in Backend::ALL {
        let row = lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(engine.name()))
            .unwrap_or_else(|| panic!("no row for {engine}:\n{text}"));
        assert!(row.contains("/s"), "{row}");
        // The calls column: exactly the 3 iterations asked for.
        assert!(row.split_whitespace().any(|cell| cell == "3"), "{row}");
    }
    let verdict = lines.last().unwrap();
    assert!(verdict.starts_with("fastest: create "), "{text}");
    assert!(
        Backend::ALL.iter().any(|b| verdict.contains(&format!("median {b}"))),
        "{verdict}"
    );
}

backend_test! {
    fn bench_json_for_one_engine(backend) {
        let out = run(&[
            "bench", &wasm("echo"), "echo", "--input", "1234", "--iterations", "5", "--backends", backend.name(), "--json",
        ]);
        assert_status(&out, 0);
        let report: Value = serde_json::from_slice(&out.stdout).expect("bench --json prints JSON");
        let results = report["results"].as_array().unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0]["engine"], backend.name());
        assert_eq!(results[0]["calls"], 5);
        assert!(results[0]["median_ns"].as_f64().unwrap() > 0.0);
        assert!(results[0]["p95_ns"].as_f64().unwrap() >= results[0]["median_ns"].as_f64().unwrap());
        assert!(results[0]["throughput_bytes_per_second"].as_f64().unwrap() > 0.0);
        assert_eq!(report["fastest"]["median"], backend.name());
        assert_eq!(report["input_bytes"], 4);
    }
}

#[test]
fn bench_refuses_unknown_engines_and_functions() {
    let known_and_unknown = format!("{},v8", Backend::ALL[0].name());
    let engine = run(&[
        "bench",
        &wasm("echo"),
        "echo",
        "--backends",
        &known_and_unknown,
        "--iterations",
        "1",
    ]);
    assert_status(&engine, 1);
    assert!(
        stderr(&engine).contains("unknown engine `v8`; compiled engines: "),
        "{}",
        stderr(&engine)
    );
    let function = run(&["bench", &wasm("echo"), "nope", "--iterations", "1"]);
    assert_status(&function, 1);
    assert!(
        stderr(&function).contains("unknown function `nope`; callable exports: echo, noop"),
        "{}",
        stderr(&function)
    );
}
