//! `extism call`: run one export of a plug-in and write its output to stdout unchanged.

use std::io::Write;

use clap::Args;
use extism::{Backend, CallError};

use crate::Failure;
use crate::load::{self, PluginArgs};

/// `extism call PLUGIN FUNCTION [flags]`.
#[derive(Args, Debug)]
pub(crate) struct CallArgs {
    #[command(flatten)]
    pub plugin: PluginArgs,
    /// The export to call.
    pub function: String,
    /// The engine: wasmtime, wasmer, wasmi or pulley (default: `EXTISM_BACKEND`, else the first compiled engine).
    #[arg(long, value_name = "ENGINE")]
    pub backend: Option<String>,
    /// Call the function this many times on the same plug-in instance, writing each output followed by a newline
    /// (at least once).
    #[arg(long = "loop", value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
}

/// Run `extism call`.
pub(crate) fn run(args: CallArgs) -> Result<(), Failure> {
    let backend = match &args.backend {
        Some(name) => load::parse_backend(name)?,
        None => Backend::from_env().map_err(|e| Failure::new(format!("{e:#}")))?,
    };
    args.plugin.install_logging()?;
    let manifest = args.plugin.manifest()?;
    let input = args.plugin.input.read()?;
    let mut plugin = args.plugin.build(&manifest, backend)?;
    load::check_function(&plugin, &manifest, &args.function)?;

    let mut stdout = std::io::stdout().lock();
    for _ in 0..args.repeat {
        let result = plugin.raw_call(&args.function, &input, None);
        // Output first, even from a call that returned a non-zero code with an output.
        write_output(&mut stdout, plugin.last_output(), args.repeat > 1)?;
        match result {
            Ok(0) => {}
            Ok(code) => return Err(Failure::with_code(format!("Returned non-zero exit code: {code}"), code)),
            Err((error, code)) => return Err(call_failure(error, code)),
        }
    }
    Ok(())
}

fn write_output(stdout: &mut impl Write, output: &[u8], newline: bool) -> Result<(), Failure> {
    let written = stdout
        .write_all(output)
        .and_then(|()| if newline { stdout.write_all(b"\n") } else { Ok(()) })
        .and_then(|()| stdout.flush());
    written.map_err(|e| Failure::new(format!("cannot write the output: {e}")))
}

/// The exit status of a failed call: the plug-in's own code (its return value alongside its error message, or its
/// WASI exit code), or 1 when the runtime stopped the call (trap, timeout, fuel, memory limit).
fn call_failure(error: extism::Error, code: i32) -> Failure {
    let message = format!("{error:#}");
    match error.chain().find_map(|e| e.downcast_ref::<CallError>()) {
        Some(CallError::Exit(exit)) => Failure::with_code(message, *exit),
        Some(_) => Failure::new(message),
        None => Failure::with_code(message, code),
    }
}
