//! The committed kernel, driven through the engine seam: allocation and reuse, reset, bounds, out-of-memory, input
//! and output rules, and a randomized sequence checked against a simple model.

use extism::{Backend, EngineVisitor};
use extism_core::backend::{EngineApi, EngineOptions, LinkingInputs, PluginStore};
use extism_core::kernel::{CallRecord, KERNEL_WASM};
use extism_core::{Manifest, PluginState, Uuid, Val};

/// A kernel instance on some backend, called by export name.
trait Kernel {
    /// Call an export with i64 arguments (i32 where the signature says so); returns its result or 0.
    fn call(&mut self, name: &str, args: &[u64]) -> u64;
    fn memory(&self) -> Vec<u8>;
    fn memory_len(&self) -> u64;
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
                    Val::I32(*a as i32)
                } else {
                    Val::I64(*a as i64)
                }
            })
            .collect();
        let results = self
            .store
            .call_function(&self.instance, name, &args)
            .unwrap_or_else(|e| {
                panic!(
                    "kernel `{name}{args:?}` failed (it must never trap): {}",
                    e.into_error()
                )
            });
        match results.first() {
            Some(Val::I64(v)) => *v as u64,
            Some(Val::I32(v)) => *v as u32 as u64,
            _ => 0,
        }
    }

    fn memory(&self) -> Vec<u8> {
        self.store.kernel_memory().to_vec()
    }

    fn memory_len(&self) -> u64 {
        self.store.kernel_memory().len() as u64
    }
}

fn probe<B: EngineApi>() -> Box<dyn Kernel> {
    let engine = B::new_engine(&EngineOptions::default()).unwrap();
    let kernel = B::compile(&engine, KERNEL_WASM).unwrap();
    let functions = B::prepare_functions(&engine, &LinkingInputs::kernel_only(&kernel)).unwrap();
    let state = PluginState::new(Uuid::new_v4(), &Manifest::default());
    let store = B::new_store(&engine, &kernel, &functions, state).unwrap();
    let instance = store.kernel_instance();
    Box::new(Probe::<B> { store, instance })
}

/// A kernel probe on `backend`'s engine.
struct KernelProbe;

impl EngineVisitor for KernelProbe {
    type Output = Box<dyn Kernel>;

    fn visit<E: EngineApi>(self) -> Box<dyn Kernel> {
        probe::<E>()
    }
}

fn kernel(backend: Backend) -> Box<dyn Kernel> {
    backend.visit(KernelProbe)
}

backend_test! {
    fn alloc_length_free_and_reuse(backend) {
        let mut k = kernel(backend);
        assert_eq!(k.call("alloc", &[0]), 0, "alloc(0) is null");
        let a = k.call("alloc", &[100]);
        assert_ne!(a, 0);
        assert_eq!(a % 8, 0, "handles are 8-byte aligned");
        assert_eq!(k.call("length", &[a]), 100);
        assert_eq!(k.call("length_unsafe", &[a]), 100);
        let b = k.call("alloc", &[7]);
        assert!(b >= a + 100, "blocks do not overlap");
        assert_eq!(k.call("length", &[b]), 7);

        k.call("free", &[a]);
        assert_eq!(k.call("length", &[a]), 0, "freed blocks have no length");
        k.call("free", &[a]); // double free is a no-op
        assert_eq!(k.call("alloc", &[100]), a, "the same size reuses the freed block");
        k.call("free", &[a]);
        let smaller = k.call("alloc", &[76]);
        assert_eq!(smaller, a, "a slightly smaller size reuses it too");
        assert_eq!(k.call("length", &[smaller]), 76, "length is the requested size, not the capacity");

        for bogus in [0, 1, a + 1, a + 8, a - 8, b + 3, u64::MAX, u64::MAX - 7, k.memory_len(), k.memory_len() + 8] {
            assert_eq!(k.call("length", &[bogus]), 0, "length({bogus})");
            assert_eq!(k.call("length_unsafe", &[bogus]), 0, "length_unsafe({bogus})");
            k.call("free", &[bogus]); // ignored, never traps
        }
        assert_eq!(k.call("length", &[b]), 7, "bogus frees did not touch live blocks");
        assert!(k.call("memory_bytes", &[]) > 0);
    }
}

backend_test! {
    fn reset_invalidates_every_handle(backend) {
        let mut k = kernel(backend);
        let first = k.call("alloc", &[4096]);
        let handles: Vec<u64> = (1..50).map(|i| k.call("alloc", &[i * 3])).collect();
        k.call("input_set", &[handles[3], 12]);
        k.call("output_set", &[handles[4], 15]);
        k.call("error_set", &[handles[5]]);
        k.call("reset", &[]);
        for h in handles.iter().chain([&first]) {
            assert_eq!(k.call("length", &[*h]), 0, "handle {h} after reset");
        }
        assert_eq!(k.call("input_length", &[]), 0);
        assert_eq!(k.call("output_length", &[]), 0);
        assert_eq!(k.call("output_offset", &[]), 0);
        assert_eq!(k.call("error_get", &[]), 0);
        assert_eq!(k.call("alloc", &[5000]), first, "after a reset the heap starts over");
        // Blocks from before the reset that lie inside new blocks' data are not mistaken for live ones.
        assert_eq!(k.call("length", &[handles[0]]), 0);
    }
}

backend_test! {
    fn out_of_memory_returns_zero(backend) {
        let mut k = kernel(backend);
        // Sizes that cannot fit in a 4 GiB wasm32 memory (the last one fits in a u32 but not beside the heap start).
        for n in [1u64 << 32, u64::MAX, u64::MAX - 11, 1 << 40, (1 << 32) - 64] {
            assert_eq!(k.call("alloc", &[n]), 0, "alloc({n:#x})");
        }
        let h = k.call("alloc", &[10]);
        assert_ne!(h, 0, "the kernel is still usable after failed allocations");
        assert_eq!(k.call("length", &[h]), 10);
        // A large allocation that can succeed grows memory.
        let before = k.memory_len();
        let big = k.call("alloc", &[8 << 20]);
        assert_ne!(big, 0);
        assert!(k.memory_len() >= before + (8 << 20));
    }
}

backend_test! {
    fn loads_and_stores_are_bounds_checked(backend) {
        let mut k = kernel(backend);
        let h = k.call("alloc", &[16]);
        k.call("store_u64", &[h, 0x0102030405060708]);
        k.call("store_u8", &[h + 8, 0xAB]);
        assert_eq!(k.call("load_u64", &[h]), 0x0102030405060708);
        assert_eq!(k.call("load_u8", &[h]), 0x08);
        assert_eq!(k.call("load_u8", &[h + 8]), 0xAB);
        assert_eq!(k.memory()[h as usize..h as usize + 8], 0x0102030405060708u64.to_le_bytes(), "little-endian");

        let end = k.memory_len();
        for p in [end, end - 4, end - 7, u64::MAX, u64::MAX - 3] {
            assert_eq!(k.call("load_u64", &[p]), 0, "load_u64({p:#x})");
            k.call("store_u64", &[p, u64::MAX]);
        }
        for p in [end, u64::MAX] {
            assert_eq!(k.call("load_u8", &[p]), 0);
            k.call("store_u8", &[p, 1]);
        }
        // The last byte and the last word of memory are in range.
        k.call("store_u8", &[end - 1, 0x5A]);
        assert_eq!(k.call("load_u8", &[end - 1]), 0x5A);
        k.call("store_u64", &[end - 8, 42]);
        assert_eq!(k.call("load_u64", &[end - 8]), 42);
        // Stores below the heap cannot corrupt the allocator: the block survives.
        let before = k.memory();
        for p in 0..64 {
            k.call("store_u8", &[p, 0xFF]);
        }
        assert_eq!(&k.memory()[..64], &before[..64], "the reserved area is read-only to guests");
        assert_eq!(k.call("length", &[h]), 16);
    }
}

backend_test! {
    fn input_output_and_error_rules(backend) {
        let mut k = kernel(backend);
        let h = k.call("alloc", &[11]);
        for (i, b) in b"hello world".iter().enumerate() {
            k.call("store_u8", &[h + i as u64, *b as u64]);
        }
        k.call("input_set", &[h, 11]);
        assert_eq!((k.call("input_offset", &[]), k.call("input_length", &[])), (h, 11));
        assert_eq!(k.call("input_load_u8", &[0]), b'h' as u64);
        assert_eq!(k.call("input_load_u8", &[10]), b'd' as u64);
        assert_eq!(k.call("input_load_u8", &[11]), 0);
        assert_eq!(k.call("input_load_u64", &[3]), u64::from_le_bytes(*b"lo world"));
        assert_eq!(k.call("input_load_u64", &[4]), 0, "a word past the end of input reads 0");
        assert_eq!(k.call("input_load_u64", &[u64::MAX - 2]), 0);

        // Regions outside the heap are ignored.
        k.call("input_set", &[h, 1 << 40]);
        assert_eq!(k.call("input_length", &[]), 11);
        k.call("output_set", &[u64::MAX - 1, 4]);
        assert_eq!(k.call("output_length", &[]), 0);
        k.call("output_set", &[h + 6, 5]);
        assert_eq!((k.call("output_offset", &[]), k.call("output_length", &[])), (h + 6, 5));

        let e = k.call("alloc", &[3]);
        k.call("error_set", &[e]);
        assert_eq!(k.call("error_get", &[]), e);
        k.call("error_set", &[u64::MAX]);
        assert_eq!(k.call("error_get", &[]), e, "an error outside the heap is ignored");
        k.call("error_set", &[0]);
        assert_eq!(k.call("error_get", &[]), 0);

        // Freeing the input block clears the input length.
        k.call("free", &[h]);
        assert_eq!(k.call("input_length", &[]), 0);
    }
}

backend_test! {
    /// The host's two entry points: begin = reset + input allocation; end = a record of output and error.
    fn host_call_begin_and_end(backend) {
        let mut k = kernel(backend);
        let first = k.call("alloc", &[10]);
        let second = k.call("alloc", &[10]);
        let input = k.call("extism_host_call_begin", &[5]);
        assert_eq!(input, first, "begin resets the heap, then allocates the input");
        assert_eq!(k.call("length", &[second]), 0, "begin resets");
        assert_eq!((k.call("input_offset", &[]), k.call("input_length", &[])), (input, 5));
        let out = k.call("alloc", &[3]);
        k.call("output_set", &[out, 3]);
        let err = k.call("alloc", &[9]);
        k.call("error_set", &[err]);
        let at = k.call("extism_host_call_end", &[]);
        let record = CallRecord::read(&k.memory(), at).expect("the record is inside memory");
        assert_eq!(record, CallRecord { output_offset: out, output_length: 3, error_offset: err, error_length: 9 });
        assert_eq!(k.call("extism_host_call_begin", &[0]), 0, "empty input allocates nothing");
        assert_eq!(k.call("input_length", &[]), 0);
        let at = k.call("extism_host_call_end", &[]);
        assert_eq!(CallRecord::read(&k.memory(), at).unwrap(), CallRecord::default());
        assert_eq!(k.call("extism_host_call_begin", &[1 << 33]), 0, "an impossible input size fails cleanly");
    }
}

backend_test! {
    /// Thousands of random operations, checked after each step against a model of live blocks and their bytes.
    fn randomized_against_model(backend) {
        let mut k = kernel(backend);
        let mut rng = fastrand::Rng::with_seed(0x5eed_cafe);
        // offset -> contents
        let mut live: std::collections::BTreeMap<u64, Vec<u8>> = Default::default();
        let mut freed: Vec<u64> = Vec::new();
        for step in 0..4000 {
            match rng.u32(0..100) {
                0..=34 => {
                    let size = match rng.u32(0..20) { 0 => rng.u64(4096..300_000), 1 => 0, _ => rng.u64(1..600) };
                    let h = k.call("alloc", &[size]);
                    if size == 0 {
                        assert_eq!(h, 0);
                        continue;
                    }
                    assert_ne!(h, 0, "step {step}: alloc({size})");
                    // The new block overlaps no live block.
                    if let Some((&prev, data)) = live.range(..=h).next_back() {
                        assert!(prev + data.len() as u64 <= h, "step {step}: {h} overlaps {prev}");
                    }
                    if let Some((&next, _)) = live.range(h..).next() {
                        assert!(h + size <= next, "step {step}: {h}+{size} overlaps {next}");
                    }
                    // Fill it with known bytes through the host's view and through stores.
                    let contents: Vec<u8> = (0..size).map(|_| rng.u8(..)).collect();
                    for (i, chunk) in contents.chunks(8).enumerate() {
                        let at = h + 8 * i as u64;
                        if chunk.len() == 8 {
                            k.call("store_u64", &[at, u64::from_le_bytes(chunk.try_into().unwrap())]);
                        } else {
                            for (j, b) in chunk.iter().enumerate() {
                                k.call("store_u8", &[at + j as u64, *b as u64]);
                            }
                        }
                    }
                    freed.retain(|f| *f != h);
                    live.insert(h, contents);
                }
                35..=59 if !live.is_empty() => {
                    let index = rng.usize(..live.len());
                    let h = *live.keys().nth(index).unwrap();
                    k.call("free", &[h]);
                    live.remove(&h);
                    freed.push(h);
                }
                60..=79 if !live.is_empty() => {
                    // Read a random word or byte back.
                    let index = rng.usize(..live.len());
                    let (&h, data) = live.iter().nth(index).unwrap();
                    let i = rng.usize(..data.len());
                    assert_eq!(k.call("load_u8", &[h + i as u64]), data[i] as u64, "step {step}");
                    if i + 8 <= data.len() {
                        let word = u64::from_le_bytes(data[i..i + 8].try_into().unwrap());
                        assert_eq!(k.call("load_u64", &[h + i as u64]), word, "step {step}");
                    }
                }
                80..=97 => {
                    // Garbage frees and lengths never disturb live blocks.
                    let bogus = rng.u64(..k.memory_len() + 100);
                    if !live.contains_key(&bogus) {
                        assert_eq!(k.call("length", &[bogus]), 0, "step {step}: length({bogus})");
                        k.call("free", &[bogus]);
                    }
                }
                98..=99 => {
                    k.call("reset", &[]);
                    freed.extend(live.keys());
                    live.clear();
                }
                _ => {}
            }
            // Every live block reports its exact length and holds its bytes; freed ones report 0.
            if step % 50 == 0 || live.len() < 8 {
                let memory = k.memory();
                for (&h, data) in &live {
                    assert_eq!(k.call("length", &[h]), data.len() as u64, "step {step}: length({h})");
                    assert_eq!(&memory[h as usize..h as usize + data.len()], &data[..], "step {step}: contents of {h}");
                }
                for &f in &freed {
                    if !live.contains_key(&f) {
                        assert_eq!(k.call("length", &[f]), 0, "step {step}: freed {f}");
                    }
                }
            }
        }
    }
}
