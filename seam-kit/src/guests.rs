//! Guests and host functions several test groups share.

use extism_core::{CurrentPlugin, Function, UserData};

/// Bytes in a wasm page.
pub const PAGE: u64 = 65_536;

/// A guest that spins, burns a known amount of fuel (`burn`: 300,000 iterations of a six-instruction loop), and calls
/// host functions (see [`host_functions`]) that go through the kernel from inside the host call (`ticks`: 5,000
/// times). Sized so that on wasmi each of `burn`, `ticks` and `alloc_many` spans more than one million-unit fuel
/// slice, and so that Pulley, interpreted in a debug build, runs the kit in seconds.
pub const BUSY: &str = r#"
(module
  (import "host" "tick" (func $tick))
  (import "host" "alloc_many" (func $alloc_many))
  (import "host" "alloc_big" (func $alloc_big))
  (memory (export "memory") 1)
  (func (export "answer") (result i32) (i32.const 42))
  (func (export "spin") (loop $l (br $l)))
  (func (export "burn") (local $i i32)
    (local.set $i (i32.const 300000))
    (loop $l (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $l (local.get $i))))
  (func (export "ticks") (local $i i32)
    (local.set $i (i32.const 5000))
    (loop $l (call $tick) (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $l (local.get $i))))
  (func (export "ticks_forever") (loop $l (call $tick) (br $l)))
  (func (export "alloc_many") (call $alloc_many))
  (func (export "alloc_big") (call $alloc_big)))
"#;

/// The host functions [`BUSY`] imports: `tick` allocates and frees 16 bytes of kernel memory, `alloc_many` does
/// that 3,000 times (64 bytes), `alloc_big` allocates 4 MiB (more than the kernel's memory holds at first).
pub fn host_functions() -> Vec<Function> {
    let tick = Function::new(
        "tick",
        [],
        [],
        UserData::new(()),
        |plugin: &mut CurrentPlugin, _, _, _| {
            let handle = plugin.memory_alloc(16)?;
            plugin.memory_free(handle)
        },
    );
    let alloc_many = Function::new(
        "alloc_many",
        [],
        [],
        UserData::new(()),
        |plugin: &mut CurrentPlugin, _, _, _| {
            for _ in 0..3_000 {
                let handle = plugin.memory_alloc(64)?;
                plugin.memory_free(handle)?;
            }
            Ok(())
        },
    );
    let alloc_big = Function::new(
        "alloc_big",
        [],
        [],
        UserData::new(()),
        |plugin: &mut CurrentPlugin, _, _, _| plugin.memory_alloc(4 << 20).map(|_| ()),
    );
    [tick, alloc_many, alloc_big]
        .into_iter()
        .map(|f| f.with_namespace("host"))
        .collect()
}

/// A module whose start function never returns.
pub const ENDLESS_START: &str = r#"(module (func $start (loop (br 0))) (start $start))"#;
