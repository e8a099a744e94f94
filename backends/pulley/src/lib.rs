//! The Pulley backend of the Extism runtime: wasmtime compiling plug-ins to Pulley, its portable bytecode, and running
//! them in its interpreter. No machine code is generated at run time, so it runs where a JIT is forbidden, with
//! wasmtime's semantics (fuel, epoch interruption, memory limits, the instance pool, all wasm proposals wasmtime
//! supports but threads). It is the wasmtime backend ([`extism_wasmtime`]) with another [`Target`]: all the code is
//! shared. Applications select it through the `extism` crate's `pulley` feature.

use anyhow::Error;
use extism_core::debug::Profiler;
use extism_wasmtime::{Target, WasmtimeOn};

/// Pulley for this host's pointer width and byte order.
#[derive(Debug)]
pub enum PulleyTarget {}

impl Target for PulleyTarget {
    const NAME: &'static str = "pulley";
    /// None: Pulley runs bytecode, not machine code a `perf` map could name, and wasmtime's Pulley profiler needs
    /// its `profile-pulley` cargo feature, which is off.
    const PROFILERS: &'static [Profiler] = &[];
    /// No: debug info describes machine code.
    const DEBUG_INFO: bool = false;
    /// Yes: echo runs 1.4-1.8× faster (`examples/memory_rewrite.rs`), as the inlined accessors replace a call into
    /// the kernel instance by a few bytecode instructions.
    const MEMORY_REWRITE_PAYS: bool = true;

    fn configure(config: &mut wasmtime::Config) -> Result<(), Error> {
        let triple = match (cfg!(target_pointer_width = "64"), cfg!(target_endian = "little")) {
            (true, true) => "pulley64",
            (true, false) => "pulley64be",
            (false, true) => "pulley32",
            (false, false) => "pulley32be",
        };
        config
            .target(triple)
            .map_err(|e| anyhow::anyhow!("the pulley engine cannot target {triple}: {e}"))?;
        Ok(())
    }
}

/// The Pulley engine: wasmtime's interpreter.
pub type Pulley = WasmtimeOn<PulleyTarget>;
