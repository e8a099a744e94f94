//! The seam kit (`seam-kit/`) on the pulley engine: the engine-generic tests of the seam every backend runs.

extism_seam_kit::seam_tests!(extism_pulley::Pulley);
