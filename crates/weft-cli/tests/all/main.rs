//! The `weft` binary's integration tests.

mod hostile;
mod instrument;
mod programs;
mod util;
