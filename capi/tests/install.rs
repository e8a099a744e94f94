//! The documented install (`capi/install.sh`) and what it installs, used the ways C and C++ users do: into a temporary
//! prefix, then hosts built with nothing but pkg-config (`extism` shared, `extism-static` static) or CMake's
//! `find_package(extism 1.0 CONFIG)`, run on every engine compiled in. Checked: the version each reports, the
//! engines, the SONAME, that a static host does not depend on `libextism.so`, and that uninstall removes exactly
//! what was installed.
//!
//! The install is of the library the other C tests built (`--lib-dir`, the test profile), not a release build:
//! install.sh's own release build adds nothing to test but build time.
//!
//! Tests needing pkg-config, cmake or a C++ compiler are built ignored where these are missing (see `capi/build.rs`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;

/// The expected output of the host programs' count_vowels call.
const COUNT_VOWELS: &str = r#"{"count":3,"total":3,"vowels":"aeiouAEIOU"}"#;

/// Run `capi/install.sh` with `args`.
fn install_sh_output(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new("bash")
        .arg(capi_dir().join("install.sh"))
        .args(args)
        .output()
        .expect("run capi/install.sh")
}

/// Run `capi/install.sh` with `args`, panicking with its output on failure.
fn install_sh(args: &[&std::ffi::OsStr]) {
    assert_success("capi/install.sh", &install_sh_output(args));
}

/// The arguments that install the test-profile library into `prefix`, then `extra`.
fn install_args<'a>(prefix: &'a Path, features: &'a str, extra: &[&'a str]) -> Vec<&'a std::ffi::OsStr> {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "--prefix".as_ref(),
        prefix.as_os_str(),
        "--features".as_ref(),
        features.as_ref(),
        "--lib-dir".as_ref(),
        library_dir(false).as_os_str(),
    ];
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    args
}

/// Install the test-profile library into `prefix`.
fn install_into(prefix: &Path) {
    let features = engine_features().join(",");
    install_sh(&install_args(prefix, &features, &[]));
}

/// The prefix the host tests share, installed once per test binary.
fn prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let prefix = target_dir().join("capi-tests/install/prefix");
        let _ = std::fs::remove_dir_all(&prefix);
        install_into(&prefix);
        prefix
    })
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn major() -> &'static str {
    version().split('.').next().unwrap()
}

/// Run a tool, returning its stdout; panics with its output on failure.
fn run(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn pkg_config(args: &[&str]) -> String {
    run(Command::new("pkg-config")
        .args(args)
        .env("PKG_CONFIG_PATH", prefix().join("lib/pkgconfig")))
    .trim()
    .to_string()
}

/// The shared libraries `exe` needs (its `DT_NEEDED` entries).
fn needed(exe: &Path) -> Vec<String> {
    run(Command::new("readelf").arg("-d").arg(exe))
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split('[').nth(1)?.trim_end_matches(']').to_string()))
        .collect()
}

/// Run a host program and check what it reports: this library's version and engines, and count_vowels on each.
fn check_host(exe: &Path, linked: Linked) {
    let out = run(test_command(exe).arg(wasm_dir().join("count_vowels.wasm")));
    let engines = engine_features().join(",");
    let mut expected = vec![format!("version {}", version()), format!("engines {engines}")];
    expected.extend(engine_features().iter().map(|e| format!("{e} {COUNT_VOWELS}")));
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "{}", exe.display());
    let needed = needed(exe);
    // Static hosts are large: keep the target directory from filling up.
    let _ = std::fs::remove_file(exe);
    match linked {
        Linked::Shared => assert!(
            needed.contains(&format!("libextism.so.{}", major())),
            "{} links libextism through its SONAME, libextism.so.{}: needs {needed:?}",
            exe.display(),
            major()
        ),
        Linked::Static => assert!(
            !needed.iter().any(|n| n.starts_with("libextism")),
            "{} is linked statically yet needs {needed:?}",
            exe.display()
        ),
    }
}

#[derive(Clone, Copy)]
enum Linked {
    Shared,
    Static,
}

/// Compile `source` (C or C++ by its extension) to `exe` with `flags` (pkg-config's output) only.
fn compile(source: &Path, exe: &Path, flags: &str) {
    let (compiler, std) = if source.extension().is_some_and(|e| e == "cpp") {
        (std::env::var("CXX").unwrap_or_else(|_| "g++".into()), "-std=c++17")
    } else {
        (std::env::var("CC").unwrap_or_else(|_| "cc".into()), "-std=c11")
    };
    std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
    run(Command::new(compiler)
        .args([std, "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(exe)
        .arg(source)
        .args(flags.split_whitespace()));
}

fn source(name: &str) -> PathBuf {
    capi_dir().join("tests/install").join(name)
}

fn out_dir() -> PathBuf {
    target_dir().join("capi-tests/install/build")
}

#[test]
fn installs_a_versioned_library_with_soname_and_links() {
    let lib = prefix().join("lib");
    let real = format!("libextism.so.{}", version());
    assert!(lib.join(&real).is_file());
    assert_eq!(
        std::fs::read_link(lib.join(format!("libextism.so.{}", major()))).unwrap(),
        Path::new(&real)
    );
    assert_eq!(
        std::fs::read_link(lib.join("libextism.so")).unwrap(),
        PathBuf::from(format!("libextism.so.{}", major()))
    );
    let dynamic = run(Command::new("readelf").arg("-d").arg(lib.join(&real)));
    assert!(
        dynamic.contains(&format!("Library soname: [libextism.so.{}]", major())),
        "no SONAME libextism.so.{} in:\n{dynamic}",
        major()
    );
    for file in [
        "include/extism.h",
        "lib/libextism.a",
        "lib/pkgconfig/extism.pc",
        "lib/pkgconfig/extism-static.pc",
        "lib/cmake/extism/extism-config.cmake",
        "lib/cmake/extism/extism-config-version.cmake",
    ] {
        assert!(prefix().join(file).is_file(), "install.sh did not install {file}");
    }
}

#[test]
#[cfg_attr(not(capi_pkg_config), ignore = "pkg-config is not installed")]
fn pkg_config_describes_the_library() {
    for package in ["extism", "extism-static"] {
        assert_eq!(pkg_config(&["--modversion", package]), version());
        assert_eq!(
            pkg_config(&["--variable=engines", package]),
            engine_features().join(",")
        );
        // What build scripts written for upstream's 1.x API ask (pkg_check_modules(extism>=1.0)).
        pkg_config(&["--atleast-version=1.0", package]);
    }
}

#[test]
#[cfg_attr(not(capi_pkg_config), ignore = "pkg-config is not installed")]
fn c_host_with_pkg_config_shared() {
    let exe = out_dir().join("pkg-config/host_c_shared");
    let rpath = format!("-Wl,-rpath,{}", prefix().join("lib").display());
    let flags = format!("{} {rpath}", pkg_config(&["--cflags", "--libs", "extism"]));
    compile(&source("host_check.c"), &exe, &flags);
    check_host(&exe, Linked::Shared);
}

#[test]
#[cfg_attr(not(capi_pkg_config), ignore = "pkg-config is not installed")]
fn c_host_with_pkg_config_static() {
    let exe = out_dir().join("pkg-config/host_c_static");
    compile(
        &source("host_check.c"),
        &exe,
        &pkg_config(&["--static", "--cflags", "--libs", "extism-static"]),
    );
    check_host(&exe, Linked::Static);
}

#[test]
#[cfg_attr(
    not(all(capi_pkg_config, capi_cxx)),
    ignore = "pkg-config or a C++ compiler (g++, or $CXX) is not installed"
)]
fn cxx_host_with_pkg_config_shared_and_static() {
    let shared = out_dir().join("pkg-config/host_cxx_shared");
    let rpath = format!("-Wl,-rpath,{}", prefix().join("lib").display());
    let flags = format!("{} {rpath}", pkg_config(&["--cflags", "--libs", "extism"]));
    compile(&source("host_check.cpp"), &shared, &flags);
    check_host(&shared, Linked::Shared);
    let statically = out_dir().join("pkg-config/host_cxx_static");
    compile(
        &source("host_check.cpp"),
        &statically,
        &pkg_config(&["--cflags", "--libs", "extism-static"]),
    );
    check_host(&statically, Linked::Static);
}

#[test]
#[cfg_attr(
    not(all(capi_cmake, capi_cxx, capi_pkg_config)),
    ignore = "cmake, a C++ compiler or pkg-config is not installed"
)]
fn c_and_cxx_hosts_with_cmake_find_package() {
    let build = out_dir().join("cmake");
    let _ = std::fs::remove_dir_all(&build);
    std::fs::create_dir_all(&build).unwrap();
    run(Command::new("cmake")
        .arg("-S")
        .arg(capi_dir().join("tests/install"))
        .arg("-B")
        .arg(&build)
        .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix().display()))
        .env("PKG_CONFIG_PATH", prefix().join("lib/pkgconfig")));
    run(Command::new("cmake").arg("--build").arg(&build));
    for (exe, linked) in [
        ("host_c_shared", Linked::Shared),
        ("host_c_static", Linked::Static),
        ("host_cxx_shared", Linked::Shared),
        ("host_cxx_static", Linked::Static),
        ("host_c_pkg_config", Linked::Shared),
    ] {
        check_host(&build.join(exe), linked);
    }
    let _ = std::fs::remove_dir_all(&build);
}

/// Every path under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().to_path_buf());
            if path.is_dir() && !path.is_symlink() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

#[test]
fn uninstall_removes_exactly_what_was_installed() {
    let root = target_dir().join("capi-tests/install/uninstall");
    let _ = std::fs::remove_dir_all(&root);
    // A prefix holding other software, some of it in the directories the install uses.
    let prefix = root.join("usr");
    for (file, text) in [
        ("include/zlib.h", "/* zlib */"),
        ("lib/pkgconfig/zlib.pc", "Name: zlib"),
        ("share/doc/zlib/README", "zlib"),
    ] {
        std::fs::create_dir_all(prefix.join(file).parent().unwrap()).unwrap();
        std::fs::write(prefix.join(file), text).unwrap();
    }
    let before = tree(&prefix);
    install_into(&prefix);
    // Installing twice (an upgrade) leaves one install to remove.
    install_into(&prefix);
    assert!(tree(&prefix).len() > before.len() + 8, "{:?}", tree(&prefix));
    install_sh(&["--uninstall".as_ref(), "--prefix".as_ref(), prefix.as_os_str()]);
    assert_eq!(tree(&prefix), before);

    // A prefix the install created goes entirely.
    let fresh = root.join("fresh/prefix");
    install_into(&fresh);
    install_sh(&["--uninstall".as_ref(), "--prefix".as_ref(), fresh.as_os_str()]);
    assert!(!fresh.exists(), "left behind: {:?}", tree(&fresh));
}

/// Files the install did not write are not its to replace or remove: a foreign `extism.h` stops the install (nothing
/// is written) unless `--force`; a file changed after the install is left by the uninstall; a prefix pkg-config
/// files cannot carry is refused.
#[test]
fn install_and_uninstall_leave_other_files_alone() {
    let root = target_dir().join("capi-tests/install/foreign");
    let _ = std::fs::remove_dir_all(&root);
    let prefix = root.join("usr");
    let foreign = prefix.join("include/extism.h");
    std::fs::create_dir_all(foreign.parent().unwrap()).unwrap();
    std::fs::write(&foreign, "/* an older extism.h */").unwrap();
    let before = tree(&prefix);
    let features = engine_features().join(",");

    let refused = install_sh_output(&install_args(&prefix, &features, &[]));
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("was not installed by this script"),
        "{refused:?}"
    );
    assert_eq!(tree(&prefix), before, "a refused install wrote something");

    install_sh(&install_args(&prefix, &features, &["--force"]));
    let pc = prefix.join("lib/pkgconfig/extism.pc");
    let edited = format!("{}# edited by the user\n", std::fs::read_to_string(&pc).unwrap());
    std::fs::write(&pc, &edited).unwrap();
    install_sh(&["--uninstall".as_ref(), "--prefix".as_ref(), prefix.as_os_str()]);
    assert_eq!(
        std::fs::read_to_string(&pc).unwrap(),
        edited,
        "the uninstall removed a file changed since"
    );
    assert!(!prefix.join("lib/libextism.a").exists() && !prefix.join("lib/libextism.so").exists());

    let spaced = root.join("with space");
    let refused = install_sh_output(&install_args(&spaced, &features, &[]));
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(!spaced.exists());
}

/// The README shows `capi/examples/host.c` verbatim: keep them one program.
#[test]
fn readme_shows_the_example_host() {
    let readme = std::fs::read_to_string(capi_dir().join("../README.md")).unwrap();
    let host = std::fs::read_to_string(capi_dir().join("examples/host.c")).unwrap();
    assert!(
        readme.contains(&host),
        "README.md must contain capi/examples/host.c verbatim"
    );
}
