//! `extism`: call, inspect and benchmark Extism plug-ins on every engine compiled into this build.
//!
//! - `extism call PLUGIN FUNCTION`: the output bytes to stdout; an error to stderr and a non-zero exit status.
//! - `extism inspect PLUGIN`: exports, imports by namespace, memories, WASI, and which engines can load it.
//! - `extism bench PLUGIN FUNCTION`: creation, instantiation, first call and per-call times on each engine.
//!
//! PLUGIN is a wasm module, WAT text, or an Extism manifest (JSON or TOML). The command provides Extism's built-in
//! host functions (and WASI with `--wasi`) only: a plug-in that imports other host functions is refused with an error
//! naming them.
//!
//! Exit status: 0 on success. A failed or non-zero call exits with the plug-in's own return code: the export's
//! non-zero `i32` result (with or without an error message) or its WASI `proc_exit` code. Process exit statuses are
//! 0–255, so the code is taken modulo 256 (two's complement: -1 → 255, -2 → 254, 256 → 0), and a code that maps to 0
//! exits 1 instead. Everything else (bad arguments, unreadable files, traps, timeouts, fuel, memory limits, an
//! unknown function) exits 1.

mod bench;
mod call;
mod format;
mod inspect;
mod load;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Command-line parsing (clap derive).
#[derive(Parser, Debug)]
#[command(
    name = "extism",
    version,
    about = "Call, inspect and benchmark Extism plug-ins on every compiled engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Call a function of a plug-in and write its output to stdout.
    Call(call::CallArgs),
    /// Describe a plug-in: exports, imports, memories, WASI, and which compiled engines can load it.
    Inspect(inspect::InspectArgs),
    /// Time a function of a plug-in on each chosen engine and print one comparison table.
    Bench(bench::BenchArgs),
}

/// A failure to report: the message for stderr and the process exit status.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong, for stderr (without the `error: ` prefix).
    pub message: String,
    /// The exit status, never 0.
    pub status: u8,
}

impl Failure {
    /// A failure that exits 1.
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            status: 1,
        }
    }

    /// A failure that exits with a plug-in's return code, mapped to 1–255 (see [`exit_status`]).
    pub fn with_code(message: impl Into<String>, code: i32) -> Failure {
        Failure {
            message: message.into(),
            status: exit_status(code),
        }
    }
}

impl From<extism::Error> for Failure {
    fn from(e: extism::Error) -> Failure {
        Failure::new(format!("{e:#}"))
    }
}

/// A plug-in's return code as a process exit status: modulo 256 (two's complement, so -1 → 255), and 1 for a code
/// that would map to 0, so that a failure never looks like success.
pub fn exit_status(code: i32) -> u8 {
    match code as u8 {
        0 => 1,
        status => status,
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` go to stdout and succeed; usage errors exit 1 like every other failure.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Call(args) => call::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::exit_status;

    #[test]
    fn return_codes_map_to_nonzero_exit_statuses() {
        assert_eq!(exit_status(1), 1);
        assert_eq!(exit_status(42), 42);
        assert_eq!(exit_status(255), 255);
        assert_eq!(exit_status(-1), 255);
        assert_eq!(exit_status(-2), 254);
        assert_eq!(
            exit_status(256),
            1,
            "256 mod 256 is 0, which must not look like success"
        );
        assert_eq!(exit_status(257), 1);
        assert_eq!(exit_status(i32::MIN), 1);
    }
}
