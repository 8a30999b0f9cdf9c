//! The conformance test binary: one module per topic.

mod c_programs;
mod fuzz;
mod snapshot_fuzz;
mod spec;
