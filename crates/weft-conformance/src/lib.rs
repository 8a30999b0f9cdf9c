//! Conformance tests for weft: the spec testsuite driven through the pass,
//! differential fuzzing against the original modules, C programs compared
//! with native builds, and fuzzing of snapshot decoding and restore.

pub mod fuzz;
pub mod programs;
pub mod snapshot_fuzz;
pub mod spec;
