//! Turning the command line into a plug-in: reading the file, applying the manifest flags, choosing engines, reading
//! the input, and explaining why a plug-in cannot be created (host functions this command does not provide).

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use extism::module_info::{ExternKind, ImportInfo};
use extism::{Backend, CompiledPlugin, EXTISM_ENV_MODULE, Manifest, Plugin, PluginBuilder, WasmInput};

use crate::Failure;

/// The module name of WASI preview 1 imports.
pub(crate) const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// The plug-in and the manifest settings shared by `call` and `bench` (names as in upstream's `extism call`).
#[derive(Args, Debug, Clone)]
pub(crate) struct PluginArgs {
    /// A wasm module, WAT text, or an Extism manifest (JSON or TOML).
    pub plugin: PathBuf,
    /// Config for the plug-in, `KEY=VALUE` (repeatable; the value may be empty).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// Give the plug-in WASI preview 1.
    #[arg(long)]
    pub wasi: bool,
    /// A host the plug-in may send HTTP requests to (repeatable; globs as in manifests, e.g. `*.example.com`).
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_host: Vec<String>,
    /// A host directory the plug-in may open through WASI, `HOST[:GUEST]` (repeatable; GUEST defaults to HOST;
    /// prefix `ro:` for read-only, as in manifests).
    #[arg(long = "allow-path", value_name = "HOST[:GUEST]")]
    pub allow_path: Vec<String>,
    /// Stop each call after this many milliseconds ("timeout").
    #[arg(long, value_name = "MS")]
    pub timeout: Option<u64>,
    /// Fuel for each call (refilled before every call); running out fails the call.
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,
    /// The most 64 KiB pages of memory the plug-in may grow to.
    #[arg(long = "memory-max", value_name = "PAGES")]
    pub memory_max: Option<u32>,
    /// Show the runtime's and the plug-in's log events at this level and above, on stderr.
    #[arg(long = "log-level", value_name = "LEVEL")]
    pub log_level: Option<LogLevel>,
    #[command(flatten)]
    pub input: InputArgs,
}

/// Where the call's input comes from (at most one; empty input by default).
#[derive(Args, Debug, Clone, Default)]
#[group(multiple = false)]
pub(crate) struct InputArgs {
    /// The input, as text.
    #[arg(short = 'i', long, value_name = "STR")]
    pub input: Option<String>,
    /// Read the input from this file (any bytes).
    #[arg(long = "input-file", value_name = "PATH")]
    pub input_file: Option<PathBuf>,
    /// Read the input from stdin (any bytes).
    #[arg(long)]
    pub stdin: bool,
}

/// A log level for `--log-level`.
#[derive(ValueEnum, Debug, Clone, Copy)]
pub(crate) enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    fn filter(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl InputArgs {
    /// The input bytes.
    pub(crate) fn read(&self) -> Result<Vec<u8>, Failure> {
        if let Some(text) = &self.input {
            return Ok(text.clone().into_bytes());
        }
        if let Some(path) = &self.input_file {
            return std::fs::read(path).map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())));
        }
        if self.stdin {
            let mut input = Vec::new();
            std::io::stdin()
                .read_to_end(&mut input)
                .map_err(|e| Failure::new(format!("cannot read stdin: {e}")))?;
            return Ok(input);
        }
        Ok(Vec::new())
    }
}

/// The manifest in the file at `path` (wasm, WAT or a manifest, JSON or TOML), read with the bounds of a manifest's
/// `path` entries: a regular file (a device or FIFO could block or never end) of at most [`extism::MAX_MODULE_BYTES`].
pub(crate) fn read_plugin(path: &std::path::Path) -> Result<Manifest, Failure> {
    let bytes =
        extism::read_module_file(path).map_err(|e| Failure::new(format!("cannot read {}: {e:#}", path.display())))?;
    WasmInput::from(bytes).into_manifest().map_err(|e| {
        Failure::new(format!(
            "{} is not a wasm module, WAT or Extism manifest: {e:#}",
            path.display()
        ))
    })
}

impl PluginArgs {
    /// The manifest: the file's own (a manifest) or a one-module manifest (wasm or WAT), with the flags applied.
    pub(crate) fn manifest(&self) -> Result<Manifest, Failure> {
        let mut manifest = read_plugin(&self.plugin)?;
        for entry in &self.config {
            let (key, value) = parse_key_value(entry)?;
            manifest.config.insert(key.to_string(), value.to_string());
        }
        for host in &self.allow_host {
            manifest = manifest.with_allowed_host(host.clone());
        }
        for entry in &self.allow_path {
            let (host, guest) = parse_allowed_path(entry)?;
            manifest = manifest.with_allowed_path(host, guest);
        }
        if let Some(ms) = self.timeout {
            manifest = manifest.with_timeout(Duration::from_millis(ms));
        }
        if let Some(pages) = self.memory_max {
            manifest = manifest.with_memory_max(pages);
        }
        Ok(manifest)
    }

    /// Install the log sink `--log-level` asks for (stderr), once per process.
    pub(crate) fn install_logging(&self) -> Result<(), Failure> {
        if let Some(level) = self.log_level {
            extism::logging::set_log_file(Some("stderr"), Some(level.filter()))?;
        }
        Ok(())
    }

    /// A builder for `manifest` on `backend` with this command's options (no host functions: only Extism's own).
    pub(crate) fn builder<'a>(&self, manifest: &'a Manifest, backend: Backend) -> PluginBuilder<'a> {
        let mut builder = PluginBuilder::new(manifest).with_backend(backend).with_wasi(self.wasi);
        if let Some(fuel) = self.fuel {
            builder = builder.with_fuel_limit(fuel);
        }
        builder
    }

    /// Create the plug-in on `backend`, explaining a failure to link.
    pub(crate) fn build(&self, manifest: &Manifest, backend: Backend) -> Result<Plugin, Failure> {
        self.builder(manifest, backend)
            .build()
            .map_err(|e| self.explain(manifest, backend, e))
    }

    /// Create the plug-in on `backend` without the compilation cache (compiling every module), explaining a failure
    /// to link: what `extism bench` times as a cold start.
    pub(crate) fn build_uncached(&self, manifest: &Manifest, backend: Backend) -> Result<Plugin, Failure> {
        self.builder(manifest, backend)
            .with_cache_disabled()
            .build()
            .map_err(|e| self.explain(manifest, backend, e))
    }

    /// Compile the plug-in on `backend`, explaining a failure to link.
    pub(crate) fn compile(&self, manifest: &Manifest, backend: Backend) -> Result<CompiledPlugin, Failure> {
        self.builder(manifest, backend)
            .compile()
            .map_err(|e| self.explain(manifest, backend, e))
    }

    /// Why `manifest` could not be created on `backend`: the imports this command cannot provide, if that is the
    /// reason (the core reports only the first), else the error as it is.
    fn explain(&self, manifest: &Manifest, backend: Backend, error: extism::Error) -> Failure {
        match unprovided_imports(manifest, backend, self.wasi) {
            Ok(missing) if !missing.is_empty() => Failure::new(missing_message(&missing, self.wasi)),
            _ => Failure::new(format!("cannot create the plug-in on {backend}: {error:#}")),
        }
    }
}

/// The function imports of `manifest`'s modules that neither Extism's built-ins, WASI (when `wasi`), nor another
/// module of the manifest provide, as `namespace::name` (from the engine's module info).
pub(crate) fn unprovided_imports(
    manifest: &Manifest,
    backend: Backend,
    wasi: bool,
) -> Result<Vec<String>, extism::Error> {
    let modules = extism::module_info(manifest, backend)?;
    let names: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
    let mut missing: Vec<String> = Vec::new();
    for import in modules.iter().flat_map(|m| &m.imports) {
        let name = format!("{}::{}", import.module, import.name);
        if !provided(import, &names, wasi) && !missing.contains(&name) {
            missing.push(name);
        }
    }
    Ok(missing)
}

fn provided(import: &ImportInfo, modules: &[&str], wasi: bool) -> bool {
    let module = import.module.as_str();
    module == EXTISM_ENV_MODULE
        || (wasi && module == WASI_MODULE)
        || modules.contains(&module)
        || !matches!(import.kind, ExternKind::Func(_))
}

/// The error for a plug-in that imports functions this command does not provide.
pub(crate) fn missing_message(missing: &[String], wasi: bool) -> String {
    let needs_wasi = missing.iter().any(|m| m.starts_with(&format!("{WASI_MODULE}::")));
    let others: Vec<&String> = missing
        .iter()
        .filter(|m| !m.starts_with(&format!("{WASI_MODULE}::")))
        .collect();
    let mut message = String::new();
    if !others.is_empty() {
        message = format!(
            "the plug-in imports host functions that the `extism` command cannot provide (it gives only Extism's \
             built-in functions{}): {}",
            if wasi { " and WASI" } else { "" },
            others.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    if needs_wasi && !wasi {
        if !message.is_empty() {
            message.push_str("; ");
        }
        message.push_str("the plug-in needs WASI (it imports from wasi_snapshot_preview1): pass --wasi");
    }
    message
}

/// `KEY=VALUE` (split at the first `=`; the key must not be empty).
pub(crate) fn parse_key_value(entry: &str) -> Result<(&str, &str), Failure> {
    match entry.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key, value)),
        _ => Err(Failure::new(format!(
            "invalid --config `{entry}`: expected KEY=VALUE with a non-empty KEY"
        ))),
    }
}

/// `[ro:]HOST[:GUEST]` into the manifest's form: the key is the host path (with its `ro:` prefix), the value the
/// guest path (the host path when GUEST is absent).
pub(crate) fn parse_allowed_path(entry: &str) -> Result<(String, PathBuf), Failure> {
    let (read_only, rest) = match entry.strip_prefix("ro:") {
        Some(rest) => (true, rest),
        None => (false, entry),
    };
    let (host, guest) = match rest.split_once(':') {
        Some((host, guest)) => (host, guest),
        None => (rest, rest),
    };
    if host.is_empty() || guest.is_empty() {
        return Err(Failure::new(format!(
            "invalid --allow-path `{entry}`: expected [ro:]HOST[:GUEST]"
        )));
    }
    let key = if read_only {
        format!("ro:{host}")
    } else {
        host.to_string()
    };
    Ok((key, PathBuf::from(guest)))
}

/// An engine by name, with the error listing the compiled ones for an unknown or not compiled name.
pub(crate) fn parse_backend(name: &str) -> Result<Backend, Failure> {
    name.parse::<Backend>()
        .map_err(|e| Failure::new(format!("--backend {name}: {e}")))
}

/// The names of the compiled engines.
pub(crate) fn compiled_engines() -> String {
    Backend::ALL.iter().map(|b| b.name()).collect::<Vec<_>>().join(", ")
}

/// The callable exports of `manifest`'s main module on `backend` (no parameters, no result or one `i32`).
pub(crate) fn callable_exports(manifest: &Manifest, backend: Backend) -> Result<Vec<String>, extism::Error> {
    let modules = extism::module_info(manifest, backend)?;
    let main = modules.last().expect("module_info returns the main module last");
    Ok(main
        .exports
        .iter()
        .filter(|e| matches!(&e.kind, ExternKind::Func(ty) if crate::format::is_callable(ty)))
        .map(|e| e.name.clone())
        .collect())
}

/// Fail unless `function` is a callable export of `plugin`, listing the callable exports.
pub(crate) fn check_function(plugin: &Plugin, manifest: &Manifest, function: &str) -> Result<(), Failure> {
    if plugin.function_exists(function) {
        return Ok(());
    }
    let callable = callable_exports(manifest, plugin.backend()).unwrap_or_default();
    let list = if callable.is_empty() {
        "none".to_string()
    } else {
        callable.join(", ")
    };
    Err(Failure::new(format!(
        "unknown function `{function}`; callable exports: {list}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `PluginArgs` alone, as `call` and `bench` parse them.
    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        args: PluginArgs,
    }

    fn manifest(flags: &[&str]) -> Result<Manifest, Failure> {
        let plugin = format!("{}/../tests/wasm/echo.wasm", env!("CARGO_MANIFEST_DIR"));
        let argv = ["extism", plugin.as_str()].into_iter().chain(flags.iter().copied());
        Flags::try_parse_from(argv).expect("valid flags").args.manifest()
    }

    #[test]
    fn flags_become_manifest_settings() {
        let m = manifest(&[
            "--config",
            "a=1",
            "--config",
            "b=x=y",
            "--config",
            "empty=",
            "--allow-host",
            "*.example.com",
            "--allow-path",
            "/srv/data:/data",
            "--allow-path",
            "ro:/etc/app",
            "--timeout",
            "250",
            "--memory-max",
            "16",
        ])
        .map_err(|f| f.message)
        .unwrap();
        assert_eq!(m.config["a"], "1");
        assert_eq!(m.config["b"], "x=y", "split at the first `=`");
        assert_eq!(m.config["empty"], "");
        assert_eq!(m.allowed_hosts, Some(vec!["*.example.com".to_string()]));
        let paths = m.allowed_paths.unwrap();
        assert_eq!(paths["/srv/data"], PathBuf::from("/data"));
        assert_eq!(
            paths["ro:/etc/app"],
            PathBuf::from("/etc/app"),
            "GUEST defaults to HOST; `ro:` stays on the key"
        );
        assert_eq!(m.timeout_ms, Some(250));
        assert_eq!(m.memory.max_pages, Some(16));
    }

    #[test]
    fn bad_flags_are_named() {
        for (flags, expected) in [
            (vec!["--config", "novalue"], "invalid --config `novalue`"),
            (vec!["--config", "=v"], "invalid --config `=v`"),
            (vec!["--allow-path", "/a:"], "invalid --allow-path `/a:`"),
            (vec!["--allow-path", "ro:"], "invalid --allow-path `ro:`"),
        ] {
            let failure = manifest(&flags).expect_err("refused");
            assert!(failure.message.starts_with(expected), "{flags:?}: {}", failure.message);
            assert_eq!(failure.status, 1);
        }
    }
}
