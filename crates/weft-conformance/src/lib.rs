//! Conformance tests for weft: the spec testsuite, differential fuzzing and C programs.
