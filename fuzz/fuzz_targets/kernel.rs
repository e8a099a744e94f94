//! The kernel's allocator and memory model (kernel/, `extism-kernel.wasm`) driven through the engine seam by an
//! arbitrary sequence of guest and host operations, checked against a simple model: live blocks and their bytes.
//!
//! Every kernel export accepts arbitrary values and never traps (a trap is a finding). Until a "wild" store lands
//! outside every live block's data (it may forge a header or a free-list link, which a guest is free to do), the
//! model is exact: allocations do not overlap, lengths are exact, contents survive, freed and bogus handles have no
//! length, and the input/output/error registers follow their rules. After one, only what protects the host is
//! checked: no trap, and every region the kernel reports lies inside its memory.

#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use extism::Backend;
use extism_core::backend::{EngineApi, EngineOptions, LinkingInputs, PluginStore};
use extism_core::kernel::{CallRecord, KERNEL_WASM};
use extism_core::{Manifest, PluginState, Uuid, Val};
use libfuzzer_sys::fuzz_target;

/// Largest block the model asks for (the kernel's memory has no budget here).
const MAX_BLOCK: u64 = 1 << 20;
/// Live bytes the model keeps at most, so that one input cannot make the kernel grow to gigabytes.
const MAX_LIVE: u64 = 32 << 20;

/// A kernel instance on some engine.
trait Kernel {
    fn call(&mut self, name: &str, args: &[u64]) -> u64;
    fn memory(&self) -> &[u8];
}

struct Probe<B: EngineApi> {
    store: B::Store<PluginState>,
    instance: B::Instance,
}

impl<B: EngineApi> Kernel for Probe<B> {
    fn call(&mut self, name: &str, args: &[u64]) -> u64 {
        let args: Vec<Val> = args
            .iter()
            .enumerate()
            .map(|(i, a)| {
                if i == 1 && name == "store_u8" {
                    Val::I32(*a as u8 as i32)
                } else {
                    Val::I64(*a as i64)
                }
            })
            .collect();
        let results = self
            .store
            .call_function(&self.instance, name, &args)
            .unwrap_or_else(|e| panic!("kernel `{name}{args:?}` trapped (it never may): {}", e.into_error()));
        match results.first() {
            Some(Val::I64(v)) => *v as u64,
            Some(Val::I32(v)) => *v as u32 as u64,
            _ => 0,
        }
    }

    fn memory(&self) -> &[u8] {
        self.store.kernel_memory()
    }
}

/// A fresh kernel instance; the engine and the compiled kernel are made once per process.
fn probe<B: EngineApi>(
    compiled: &'static OnceLock<(B::Engine, B::Module, B::Functions<PluginState>)>,
) -> Box<dyn Kernel> {
    let (engine, kernel, functions) = compiled.get_or_init(|| {
        let engine = B::new_engine(&EngineOptions::default()).expect("engine");
        let kernel = B::compile(&engine, KERNEL_WASM).expect("the kernel compiles");
        let functions = B::prepare_functions(&engine, &LinkingInputs::kernel_only(&kernel)).expect("no functions");
        (engine, kernel, functions)
    });
    let state = PluginState::new(Uuid::new_v4(), &Manifest::default());
    let store = B::new_store(engine, kernel, functions, state).expect("a kernel store");
    let instance = store.kernel_instance();
    Box::new(Probe::<B> { store, instance })
}

fn kernel(backend: Backend) -> Box<dyn Kernel> {
    match backend {
        #[cfg(feature = "wasmtime")]
        Backend::Wasmtime => {
            static COMPILED: OnceLock<(
                <extism_wasmtime::Wasmtime as EngineApi>::Engine,
                <extism_wasmtime::Wasmtime as EngineApi>::Module,
                <extism_wasmtime::Wasmtime as EngineApi>::Functions<PluginState>,
            )> = OnceLock::new();
            probe::<extism_wasmtime::Wasmtime>(&COMPILED)
        }
        #[cfg(feature = "wasmer")]
        Backend::Wasmer => {
            static COMPILED: OnceLock<(
                <extism_wasmer::Wasmer as EngineApi>::Engine,
                <extism_wasmer::Wasmer as EngineApi>::Module,
                <extism_wasmer::Wasmer as EngineApi>::Functions<PluginState>,
            )> = OnceLock::new();
            probe::<extism_wasmer::Wasmer>(&COMPILED)
        }
        #[cfg(feature = "wasmi")]
        Backend::Wasmi => {
            static COMPILED: OnceLock<(
                <extism_wasmi::Wasmi as EngineApi>::Engine,
                <extism_wasmi::Wasmi as EngineApi>::Module,
                <extism_wasmi::Wasmi as EngineApi>::Functions<PluginState>,
            )> = OnceLock::new();
            probe::<extism_wasmi::Wasmi>(&COMPILED)
        }
        #[allow(unreachable_patterns)]
        other => panic!("no kernel probe for {other}"),
    }
}

/// One step: `block` picks a live block (modulo their number); raw values go to the kernel unchanged.
#[derive(Debug, Arbitrary)]
enum Op {
    Alloc(u32),
    AllocRaw(u64),
    Free { block: u8 },
    FreeRaw(u64),
    LengthRaw(u64),
    Store { block: u8, at: u32, value: u64, wide: bool },
    Load { block: u8, at: u32, wide: bool },
    WildStore { address: u64, value: u64, wide: bool },
    WildLoad { address: u64, wide: bool },
    InputSet { block: u8, at: u32, length: u32 },
    InputSetRaw(u64, u64),
    InputLoad { at: u64, wide: bool },
    OutputSet { block: u8, at: u32, length: u32 },
    OutputSetRaw(u64, u64),
    ErrorSet { block: u8 },
    ErrorSetRaw(u64),
    Reset,
    HostCallBegin(u32),
    HostCallEnd,
}

/// What the kernel should hold.
#[derive(Default)]
struct Model {
    /// Data offset → contents of each live block.
    live: BTreeMap<u64, Vec<u8>>,
    /// Handles that were live once and are not now.
    dead: Vec<u64>,
    /// Input, output and error registers: (offset, length), (offset, length), offset.
    input: (u64, u64),
    output: (u64, u64),
    error: u64,
    /// False once a wild store may have changed allocator state.
    exact: bool,
}

impl Model {
    fn pick(&self, block: u8) -> Option<(u64, usize)> {
        if self.live.is_empty() {
            return None;
        }
        let (&h, data) = self.live.iter().nth(block as usize % self.live.len())?;
        Some((h, data.len()))
    }

    fn live_bytes(&self) -> u64 {
        self.live.values().map(|d| d.len() as u64).sum()
    }

    /// The live block whose data holds `[address, address + size)`.
    fn containing(&self, address: u64, size: u64) -> Option<u64> {
        let (&h, data) = self.live.range(..=address).next_back()?;
        (address.checked_add(size)? <= h + data.len() as u64).then_some(h)
    }

    /// True if a header for a block at `p` would lie in some live block's data: the guest may have written a valid
    /// seal there (it owns those bytes), so the kernel may take `p` for a block. Only safety is checked for such `p`.
    fn forgeable(&self, p: u64) -> bool {
        p.checked_sub(16)
            .is_some_and(|header| (0..16).any(|i| self.containing(header + i, 1).is_some()))
    }

    fn forget_all(&mut self) {
        let live = std::mem::take(&mut self.live);
        self.dead.extend(live.into_keys());
        self.input = (0, 0);
        self.output = (0, 0);
        self.error = 0;
    }
}

/// Check a region the kernel reports against its memory.
fn inside(k: &dyn Kernel, offset: u64, length: u64, what: &str) {
    let end = k.memory().len() as u64;
    assert!(
        length == 0 || offset.checked_add(length).is_some_and(|e| e <= end),
        "{what} ({offset:#x}, {length}) is outside kernel memory ({end} bytes)"
    );
}

fn alloc(k: &mut dyn Kernel, m: &mut Model, size: u64) {
    let h = k.call("alloc", &[size]);
    if size == 0 || size >= 1 << 32 {
        assert_eq!(h, 0, "alloc({size:#x})");
        return;
    }
    if h == 0 {
        // Out of memory is only allowed for sizes the model never asks for.
        assert!(!m.exact || size > MAX_BLOCK, "alloc({size}) failed");
        return;
    }
    inside(k, h, size, "a new block");
    assert_eq!(k.call("length", &[h]), size, "length of a new block");
    if m.exact {
        assert_eq!(h % 8, 0, "handles are 8-byte aligned");
        assert!(m.containing(h, 1).is_none(), "{h:#x} starts inside a live block");
        if let Some((&next, _)) = m.live.range(h..).next() {
            assert!(h + size <= next, "{h:#x}+{size} overlaps {next:#x}");
        }
        // The new block starts with whatever was there: take the kernel's bytes as its contents.
        let contents = k.memory()[h as usize..(h + size) as usize].to_vec();
        m.dead.retain(|d| *d != h);
        m.live.insert(h, contents);
    }
}

fn store(k: &mut dyn Kernel, m: &mut Model, address: u64, value: u64, wide: bool) {
    let size = if wide { 8 } else { 1 };
    if wide {
        k.call("store_u64", &[address, value]);
    } else {
        k.call("store_u8", &[address, value & 0xFF]);
    }
    let past_end = address
        .checked_add(size)
        .is_none_or(|end| end > k.memory().len() as u64);
    match m.containing(address, size) {
        // A store past the end of memory is ignored.
        _ if past_end => {}
        Some(h) if m.exact => {
            let data = m.live.get_mut(&h).expect("live");
            let at = (address - h) as usize;
            data[at..at + size as usize].copy_from_slice(&value.to_le_bytes()[..size as usize]);
        }
        _ => m.exact = false,
    }
}

fn load(k: &mut dyn Kernel, m: &Model, address: u64, wide: bool) {
    let size = if wide { 8 } else { 1 };
    let value = k.call(if wide { "load_u64" } else { "load_u8" }, &[address]);
    if let Some(h) = m.containing(address, size)
        && m.exact
    {
        let at = (address - h) as usize;
        let mut bytes = [0u8; 8];
        bytes[..size as usize].copy_from_slice(&m.live[&h][at..at + size as usize]);
        assert_eq!(value, u64::from_le_bytes(bytes), "load at {address:#x}");
    }
    if address
        .checked_add(size)
        .is_none_or(|end| end > k.memory().len() as u64)
    {
        assert_eq!(value, 0, "a load past the end of memory reads 0");
    }
}

fn step(k: &mut dyn Kernel, m: &mut Model, op: Op) {
    match op {
        Op::Alloc(size) => {
            let size = u64::from(size) % (MAX_BLOCK + 1);
            if m.live_bytes() + size <= MAX_LIVE {
                alloc(k, m, size);
            }
        }
        Op::AllocRaw(size) => {
            // Sizes a 32-bit memory cannot hold must fail; others are kept small (no memory budget here).
            if size >= 1 << 32 {
                alloc(k, m, size);
            }
        }
        Op::Free { block } => {
            if let Some((h, _)) = m.pick(block) {
                k.call("free", &[h]);
                if m.exact {
                    m.live.remove(&h);
                    m.dead.push(h);
                    if m.input.0 == h {
                        m.input.1 = 0;
                    }
                }
            }
        }
        Op::FreeRaw(p) => {
            m.exact &= m.live.contains_key(&p) || !m.forgeable(p);
            k.call("free", &[p]);
            if m.exact && m.live.contains_key(&p) {
                m.live.remove(&p);
                m.dead.push(p);
                if m.input.0 == p {
                    m.input.1 = 0;
                }
            }
        }
        Op::LengthRaw(p) => {
            let length = k.call("length", &[p]);
            assert_eq!(length, k.call("length_unsafe", &[p]), "length and length_unsafe agree");
            inside(k, p, length, "a block");
            if m.exact && (m.live.contains_key(&p) || !m.forgeable(p)) {
                let expected = m.live.get(&p).map_or(0, |d| d.len() as u64);
                assert_eq!(length, expected, "length({p:#x})");
            }
        }
        Op::Store { block, at, value, wide } => {
            if let Some((h, len)) = m.pick(block) {
                let size = if wide { 8 } else { 1 };
                if len >= size {
                    store(k, m, h + u64::from(at) % (len - size + 1) as u64, value, wide);
                }
            }
        }
        Op::Load { block, at, wide } => {
            if let Some((h, len)) = m.pick(block) {
                let size = if wide { 8 } else { 1 };
                if len >= size {
                    load(k, m, h + u64::from(at) % (len - size + 1) as u64, wide);
                }
            }
        }
        Op::WildStore { address, value, wide } => store(k, m, address, value, wide),
        Op::WildLoad { address, wide } => load(k, m, address, wide),
        Op::InputSet { block, at, length } => {
            if let Some((h, len)) = m.pick(block) {
                let at = u64::from(at) % (len as u64 + 1);
                let length = u64::from(length) % (len as u64 - at + 1);
                k.call("input_set", &[h + at, length]);
                // A region inside a live block is inside the used heap.
                m.input = (h + at, length);
            }
        }
        Op::InputSetRaw(p, length) => {
            k.call("input_set", &[p, length]);
            m.exact &= p == 0 && length == 0;
            if m.exact {
                m.input = (0, 0);
            }
        }
        Op::InputLoad { at, wide } => {
            let value = k.call(if wide { "input_load_u64" } else { "input_load_u8" }, &[at]);
            if m.exact {
                let (offset, length) = m.input;
                let size = if wide { 8 } else { 1 };
                let expected = match at.checked_add(size) {
                    Some(end) if end <= length => {
                        let start = (offset + at) as usize;
                        let mut bytes = [0u8; 8];
                        bytes[..size as usize].copy_from_slice(&k.memory()[start..start + size as usize]);
                        u64::from_le_bytes(bytes)
                    }
                    _ => 0,
                };
                assert_eq!(value, expected, "input_load at {at}");
            }
        }
        Op::OutputSet { block, at, length } => {
            if let Some((h, len)) = m.pick(block) {
                let at = u64::from(at) % (len as u64 + 1);
                let length = u64::from(length) % (len as u64 - at + 1);
                k.call("output_set", &[h + at, length]);
                m.output = (h + at, length);
            }
        }
        Op::OutputSetRaw(p, length) => {
            k.call("output_set", &[p, length]);
            m.exact &= p == 0 && length == 0;
            if m.exact {
                m.output = (0, 0);
            }
        }
        Op::ErrorSet { block } => {
            if let Some((h, _)) = m.pick(block) {
                k.call("error_set", &[h]);
                m.error = h;
            }
        }
        Op::ErrorSetRaw(p) => {
            m.exact &= p == 0 || m.live.contains_key(&p) || !m.forgeable(p);
            k.call("error_set", &[p]);
            if m.exact && (p == 0 || m.live.contains_key(&p)) {
                m.error = p;
            }
        }
        Op::Reset => {
            k.call("reset", &[]);
            m.forget_all();
        }
        Op::HostCallBegin(length) => {
            let length = u64::from(length) % (MAX_BLOCK + 1);
            let h = k.call("extism_host_call_begin", &[length]);
            m.forget_all();
            if length == 0 {
                assert_eq!(h, 0, "begin(0) allocates nothing");
                return;
            }
            assert_ne!(h, 0, "begin({length})");
            inside(k, h, length, "the input block");
            assert_eq!(k.call("length", &[h]), length);
            if m.exact {
                m.live.insert(h, k.memory()[h as usize..(h + length) as usize].to_vec());
                m.input = (h, length);
            }
        }
        Op::HostCallEnd => {
            let at = k.call("extism_host_call_end", &[]);
            let record = CallRecord::read(k.memory(), at).expect("the call record lies inside kernel memory");
            inside(k, record.output_offset, record.output_length, "the output");
            inside(k, record.error_offset, record.error_length, "the error");
            if m.exact {
                let error_length = m.live.get(&m.error).map_or(0, |d| d.len() as u64);
                let expected = CallRecord {
                    output_offset: m.output.0,
                    output_length: m.output.1,
                    error_offset: m.error,
                    error_length,
                };
                assert_eq!(record, expected, "the call record");
            }
        }
    }
}

/// Everything the model knows, checked against the kernel.
fn check(k: &mut dyn Kernel, m: &Model) {
    let (input_offset, input_length) = (k.call("input_offset", &[]), k.call("input_length", &[]));
    inside(k, input_offset, input_length, "the input");
    let (output_offset, output_length) = (k.call("output_offset", &[]), k.call("output_length", &[]));
    inside(k, output_offset, output_length, "the output");
    if !m.exact {
        return;
    }
    assert_eq!((input_offset, input_length), m.input, "input register");
    assert_eq!((output_offset, output_length), m.output, "output register");
    assert_eq!(k.call("error_get", &[]), m.error, "error register");
    for (&h, data) in &m.live {
        assert_eq!(k.call("length", &[h]), data.len() as u64, "length({h:#x})");
        assert_eq!(
            &k.memory()[h as usize..h as usize + data.len()],
            &data[..],
            "contents of {h:#x}"
        );
    }
    for &d in &m.dead {
        if !m.live.contains_key(&d) && !m.forgeable(d) {
            assert_eq!(k.call("length", &[d]), 0, "length of dead handle {d:#x}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(selector) = u.arbitrary::<u8>() else {
        return;
    };
    let mut k = kernel(extism_fuzz::pick_engine(selector));
    let mut model = Model {
        exact: true,
        ..Model::default()
    };
    for _ in 0..512 {
        let Ok(op) = u.arbitrary::<Op>() else {
            break;
        };
        step(k.as_mut(), &mut model, op);
        check(k.as_mut(), &model);
    }
});
