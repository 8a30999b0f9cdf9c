//! Conformance tests for weft: the spec testsuite driven through the pass,
//! differential fuzzing against the original modules, and C programs
//! compared with native builds.

pub mod fuzz;
pub mod programs;
pub mod spec;
