//! The `weft` binary's integration tests.

mod deterministic;
mod hostile;
mod instrument;
mod programs;
mod util;
