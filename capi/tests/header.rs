//! `capi/extism.h` is generated from the sources by cbindgen and committed: this test regenerates it and fails if
//! the committed file differs. Run with `EXTISM_UPDATE_HEADER=1` to rewrite it instead.

mod common;

use std::path::Path;

#[test]
fn committed_header_is_current() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("read capi/cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen failed on capi/src")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("the header is UTF-8");
    let path = crate_dir.join("extism.h");
    if std::env::var_os("EXTISM_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write capi/extism.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "capi/extism.h is stale: regenerate it with `EXTISM_UPDATE_HEADER=1 cargo test -p libextism --test header`"
    );
}

/// What a C header declares, as far as compatibility goes: function names, macro names, type names and each enum's
/// values in order. Parsed textually: both headers are plain cbindgen-style C with no conditional declarations.
#[derive(Debug, Default)]
struct Declarations {
    functions: Vec<String>,
    macros: Vec<String>,
    types: Vec<String>,
    enums: Vec<(String, Vec<String>)>,
}

fn declarations(header: &str) -> Declarations {
    let code = strip_comments(header);
    let mut found = Declarations::default();
    let identifier = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut enum_values: Option<Vec<String>> = None;
    for line in code.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#define ") {
            found.macros.push(identifier(rest));
        } else if line.starts_with("typedef enum") {
            enum_values = Some(Vec::new());
        } else if let Some(rest) = line.strip_prefix('}') {
            let name = identifier(rest.trim());
            if let Some(values) = enum_values.take() {
                found.enums.push((name.clone(), values));
            }
            if !name.is_empty() {
                found.types.push(name);
            }
        } else if let Some(values) = enum_values.as_mut() {
            let value = identifier(line);
            if !value.is_empty() {
                values.push(value);
            }
        } else if let Some(rest) = line.strip_prefix("typedef ") {
            // `typedef struct X X;`, `typedef uint64_t X;` or `typedef void (*X)(...`.
            let name = match rest.find("(*") {
                Some(at) => identifier(&rest[at + 2..]),
                None => identifier(rest.trim_end_matches(';').rsplit(' ').next().unwrap_or("")),
            };
            if !name.is_empty() {
                found.types.push(name);
            }
        }
        let mut rest = line;
        while let Some(at) = rest.find("extism_") {
            let name = identifier(&rest[at..]);
            rest = &rest[at + name.len()..];
            if rest.trim_start().starts_with('(') && !found.functions.contains(&name) {
                found.functions.push(name);
            }
        }
    }
    found
}

fn strip_comments(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        rest = rest[start..].find("*/").map_or("", |end| &rest[start + end + 2..]);
    }
    out.push_str(rest);
    out.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Our header declares every function, type, macro and enum value (in the same order) of upstream's, and the built
/// library exports every function upstream's header declares.
#[test]
#[cfg_attr(
    not(capi_upstream_header),
    ignore = "upstream's extism.h is missing: run capi/tests/upstream/fetch-header.sh"
)]
fn header_and_library_cover_upstreams_api() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let upstream_dir = common::upstream_header_dir();
    let upstream = declarations(&std::fs::read_to_string(upstream_dir.join("extism.h")).unwrap());
    let ours = declarations(&std::fs::read_to_string(crate_dir.join("extism.h")).unwrap());
    assert!(
        upstream.functions.len() >= 33,
        "parsed only {} functions from upstream's header: {:?}",
        upstream.functions.len(),
        upstream.functions
    );
    let missing = |what: &str, theirs: &[String], mine: &[String]| {
        let absent: Vec<&String> = theirs.iter().filter(|n| !mine.contains(n)).collect();
        assert!(absent.is_empty(), "our extism.h lacks upstream's {what}: {absent:?}");
    };
    missing("functions", &upstream.functions, &ours.functions);
    missing("macros", &upstream.macros, &ours.macros);
    missing("types", &upstream.types, &ours.types);
    for (name, values) in &upstream.enums {
        let mine = ours.enums.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        assert_eq!(mine, Some(values), "enum {name} differs from upstream's");
    }

    let lib = common::library_dir(false).join("libextism.so");
    let output = std::process::Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&lib)
        .output()
        .expect("run nm (binutils)");
    assert!(output.status.success(), "nm failed on {}", lib.display());
    let symbols = String::from_utf8_lossy(&output.stdout);
    let exported: Vec<String> = symbols
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(str::to_string)
        .collect();
    missing("functions in libextism.so", &upstream.functions, &exported);
}

/// The version scheme (`capi/src/version.rs`): our major.minor are those of the upstream release whose header the
/// tests compare against, the one `capi/tests/upstream/fetch-header.sh` pins.
#[test]
fn version_names_the_upstream_api_level() {
    let script = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upstream/fetch-header.sh"))
        .expect("read fetch-header.sh");
    let upstream = script
        .lines()
        .find_map(|l| l.strip_prefix("version="))
        .expect("fetch-header.sh pins version=X.Y.Z");
    let major_minor = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
    assert_eq!(major_minor(env!("CARGO_PKG_VERSION")), major_minor(upstream));
    assert!(
        env!("CARGO_PKG_VERSION").starts_with("1."),
        "the C API level is upstream's 1.x"
    );
}
