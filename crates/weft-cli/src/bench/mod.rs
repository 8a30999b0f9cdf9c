//! `weft bench ...`: benchmarks that print their baselines beside them.
//!
//! Every benchmark measures its baseline in the same run as the thing it
//! evaluates and reports ratios against it, so that a figure never depends on
//! a number measured on another day or another machine.

use anyhow::Result;
use clap::Subcommand;

mod instrument;
mod programs;
mod runner;
mod snapshot;
mod stats;
mod table;

#[derive(Subcommand)]
pub(crate) enum Bench {
    /// Run-time and code-size overhead of instrumented modules that are never
    /// preempted, against the original module, Wasmtime's fuel and epoch
    /// interruption, and Binaryen's asyncify.
    Instrument(instrument::Args),
    /// Snapshot size and encode / decode / restore time by memory size,
    /// pause latency, the cost of a pause plus resume by call depth, and
    /// instantiation, each against a baseline (memcpy and zstd, a native
    /// thread, an unpreempted run, Wasmtime's own instantiation).
    Snapshot(snapshot::Args),
}

pub(crate) fn run(which: Bench) -> Result<()> {
    match which {
        Bench::Instrument(args) => instrument::run(args),
        Bench::Snapshot(args) => snapshot::run(args),
    }
}
