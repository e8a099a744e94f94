//! The seam kit (`seam-kit/`) on the wasmtime engine: the engine-generic tests of the seam every backend runs.

extism_seam_kit::seam_tests!(extism_wasmtime::Wasmtime);
