//! The `weft` binary's integration tests.

mod compile;
mod demo;
mod deterministic;
mod examples;
mod hostile;
mod instrument;
mod programs;
mod util;
