//! The seam kit (`seam-kit/`) on the wasmer engine: the engine-generic tests of the seam every backend runs.

extism_seam_kit::seam_tests!(extism_wasmer::Wasmer);
