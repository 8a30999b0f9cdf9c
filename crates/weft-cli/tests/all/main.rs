//! The `weft` binary's integration tests.

mod bench;
mod client;
mod compile;
mod demo;
mod deterministic;
mod examples;
mod hostile;
mod instrument;
mod migrate;
mod programs;
mod serve;
mod util;
