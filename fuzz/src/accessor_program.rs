//! Accessor programs: generated guests that do nothing but call the kernel's memory accessors at addresses near every
//! boundary that matters (the heap start, the input region, the last allocation, the end of kernel memory, the ends
//! of the address space), interleaved with the calls that move those boundaries (`alloc`, which grows kernel memory,
//! `free`, `input_set`) and calls to a second function that does the same, and fold every value they read into the
//! return code and the output.
//!
//! wasm-smith rarely routes what an accessor returns into what a plug-in outputs; these programs always do, so a
//! rewrite that reads one wrong byte, misses a bound or keeps a stale limit across a call changes the answer.

use std::fmt::Write;

use arbitrary::{Result, Unstructured};

/// Operations per function, at most.
const MAX_OPS: usize = 48;

/// Where an address starts before its offset is added.
fn base(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0..=7)? {
        0 => "(i64.const 0)".to_string(),
        1 => "(call $input_offset)".to_string(),
        2 => "(i64.add (call $input_offset) (call $input_length))".to_string(),
        3 => "(local.get $p)".to_string(),
        4 => "(call $memory_bytes)".to_string(),
        5 => format!("(i64.const {})", 1u64 << u.int_in_range(12..=63)?),
        6 => format!("(i64.const {})", u.arbitrary::<u64>()? as i64),
        _ => "(i64.const -1)".to_string(),
    })
}

/// A small offset most of the time (boundaries are where the bugs are), any offset sometimes.
fn offset(u: &mut Unstructured) -> Result<i64> {
    Ok(if u.ratio(7, 8)? {
        u.int_in_range(-16..=16)?
    } else {
        u.arbitrary()?
    })
}

/// An address: a base plus an offset, wrapping as i64 arithmetic does.
fn address(u: &mut Unstructured) -> Result<String> {
    Ok(format!("(i64.add {} (i64.const {}))", base(u)?, offset(u)?))
}

/// An input offset: from the start or the end of the input.
fn input_offset(u: &mut Unstructured) -> Result<String> {
    let base = if u.arbitrary()? {
        "(i64.const 0)"
    } else {
        "(call $input_length)"
    };
    Ok(format!("(i64.add {base} (i64.const {}))", offset(u)?))
}

/// Fold an i64 value on the stack into `$acc`.
const FOLD: &str = "(local.set $acc (i64.xor (i64.mul (local.get $acc) (i64.const 1099511628211)) (local.get $v)))";

/// The body of one function: up to [`MAX_OPS`] operations; `sub` says whether it may call `$sub`.
fn body(u: &mut Unstructured, sub: bool) -> Result<String> {
    let mut out = String::new();
    let ops = u.int_in_range(1..=MAX_OPS)?;
    for _ in 0..ops {
        if u.is_empty() {
            break;
        }
        let op = u.int_in_range(0..=11)?;
        let _ = match op {
            0 => writeln!(
                out,
                "(local.set $v (i64.extend_i32_u (call $load_u8 {})))\n{FOLD}",
                address(u)?
            ),
            1 => writeln!(out, "(local.set $v (call $load_u64 {}))\n{FOLD}", address(u)?),
            2 => writeln!(
                out,
                "(call $store_u8 {} (i32.const {}))",
                address(u)?,
                u.arbitrary::<u8>()?
            ),
            3 => writeln!(
                out,
                "(call $store_u64 {} (i64.const {}))",
                address(u)?,
                u.arbitrary::<i64>()?
            ),
            4 => writeln!(
                out,
                "(local.set $v (i64.extend_i32_u (call $input_load_u8 {})))\n{FOLD}",
                input_offset(u)?
            ),
            5 => writeln!(
                out,
                "(local.set $v (call $input_load_u64 {}))\n{FOLD}",
                input_offset(u)?
            ),
            6 => {
                // Mostly small blocks; sometimes enough to grow kernel memory by a few pages.
                let size: u64 = if u.ratio(3, 4)? {
                    u.int_in_range(0..=64)?
                } else {
                    u.int_in_range(1..=4)? << 16
                };
                writeln!(
                    out,
                    "(local.set $p (call $alloc (i64.const {size})))\n(local.set $v (local.get $p))\n{FOLD}"
                )
            }
            7 => writeln!(out, "(call $free (local.get $p))"),
            8 => writeln!(
                out,
                "(call $input_set (local.get $p) (i64.const {}))",
                u.int_in_range(0..=24)?
            ),
            9 if sub => writeln!(out, "(local.set $acc (call $sub (local.get $acc)))"),
            10 => writeln!(out, "(local.set $v (call $input_length))\n{FOLD}"),
            _ => writeln!(out, "(local.set $v (call $length (local.get $p)))\n{FOLD}"),
        };
    }
    Ok(out)
}

/// A guest module whose export `run` runs a generated accessor program (its loop one to three times) and returns the
/// low 32 bits of the folded values as its return code, after writing all 64 as its output.
pub fn module(u: &mut Unstructured) -> Result<Vec<u8>> {
    let sub = body(u, false)?;
    let main = body(u, true)?;
    let rounds = u.int_in_range(1..=3)?;
    let wat = format!(
        r#"(module
  (import "extism:host/env" "load_u8" (func $load_u8 (param i64) (result i32)))
  (import "extism:host/env" "load_u64" (func $load_u64 (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/env" "input_offset" (func $input_offset (result i64)))
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_set" (func $input_set (param i64 i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "free" (func $free (param i64)))
  (import "extism:host/env" "length" (func $length (param i64) (result i64)))
  (import "extism:host/env" "memory_bytes" (func $memory_bytes (result i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 1)
  (func $sub (param $acc i64) (result i64) (local $v i64) (local $p i64)
{sub}
    (local.get $acc))
  (func (export "run") (result i32) (local $acc i64) (local $v i64) (local $p i64) (local $round i32)
    (loop $again
{main}
      (br_if $again (i32.lt_u (local.tee $round (i32.add (local.get $round) (i32.const 1))) (i32.const {rounds}))))
    (local.set $p (call $alloc (i64.const 8)))
    (call $store_u64 (local.get $p) (local.get $acc))
    (call $output_set (local.get $p) (i64.const 8))
    (i32.wrap_i64 (local.get $acc))))
"#
    );
    Ok(wat::parse_str(&wat).expect("generated accessor programs are valid WAT"))
}
