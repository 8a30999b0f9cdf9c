//! `weft bench ...`: benchmarks that print their baselines beside them.
//!
//! Every benchmark measures its baseline in the same run as the thing it
//! evaluates and reports ratios against it, so that a figure never depends on
//! a number measured on another day or another machine.

use anyhow::{Context, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

mod fairness;
mod instrument;
mod migrate;
mod preempt;
mod programs;
mod runner;
mod snapshot;
mod stats;
pub(crate) mod table;

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
    /// Preemptible function calls: launch, resume and cancel against a
    /// native thread and a fork, timeout accuracy, the overhead of each
    /// interruption mode against Wasmtime's fuel and epochs, and a server
    /// of short and long requests with and without preemption.
    Preempt(preempt::Args),
    /// Thousands of scripts spinning in `while (true)` under the scheduler,
    /// one owner holding most of them: CPU share per owner against its
    /// target, Jain's fairness index, scheduler overhead, slice lengths,
    /// pause latency and memory per script.
    Fairness(fairness::Args),
    /// Two `weft serve` nodes on 127.0.0.1: migration latency of scripts
    /// with 64 KiB, 1 MiB and 16 MiB of memory against a local snapshot,
    /// and checkpoint throughput of 1,000 scripts, on the way and on stop.
    Migrate(migrate::Args),
}

pub(crate) fn run(which: Bench) -> Result<()> {
    match which {
        Bench::Instrument(args) => instrument::run(args),
        Bench::Snapshot(args) => snapshot::run(args),
        Bench::Preempt(args) => preempt::run(args),
        Bench::Fairness(args) => fairness::run(args),
        Bench::Migrate(args) => migrate::run(args),
    }
}

/// The progress bar of a benchmark of `steps` steps: a bar with the step's
/// name in a column `prefix_width` wide, the elapsed time and a message;
/// hidden when the report goes out as JSON. It ticks on its own, so a long
/// step does not look stuck.
pub(crate) fn progress_bar(steps: u64, prefix_width: usize, json: bool) -> Result<ProgressBar> {
    let progress = match json {
        true => ProgressBar::hidden(),
        false => ProgressBar::new(steps),
    };
    let template = format!(
        "{{prefix:>{prefix_width}.bold}} [{{bar:30}}] {{pos}}/{{len}}, {{elapsed}} {{wide_msg}}"
    );
    progress.set_style(
        ProgressStyle::with_template(&template)
            .context("invalid progress bar template")?
            .progress_chars("=> "),
    );
    progress.enable_steady_tick(Duration::from_millis(200));
    Ok(progress)
}
