//! The `weft` binary's integration tests.

mod demo;
mod deterministic;
mod hostile;
mod instrument;
mod programs;
mod util;
