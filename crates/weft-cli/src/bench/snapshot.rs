//! `weft bench snapshot`: what pausing, saving, restoring and starting a
//! script costs, each beside a baseline measured in the same run.
//!
//! | section | measured | baseline |
//! |---|---|---|
//! | [`capture`] | [`Script::snapshot`], [`weft_snapshot::encode`], [`weft_snapshot::decode`], [`Script::restore`] and the encoded size, for 1, 16, 64 and 256 MiB of linear memory | a `Vec::clone` of the same memory bytes; zstd level 3 of them, and back |
//! | [`pause`] | time from [`weft_runtime::InterruptHandle::interrupt`] on another thread to [`Script::run`] returning `Paused`, flag mode, a script spinning in `while (true)` | the same protocol with a native thread spinning on an `AtomicBool`, interleaved with it |
//! | [`switch`] | one pause plus resume of a fuel-mode script at call depth 1, 10 and 100, from many short slices | the same fuel run in one slice |
//! | [`instantiate`] | [`Script::spawn`] of a loaded module; [`Runtime::load`] from a warm disk cache | Wasmtime's `InstancePre::instantiate` of the original module (also `Instance::new`, and the pooling allocator); `Runtime::load` compiling from scratch |
//!
//! Times are wall-clock; each figure is the median over `--runs` runs, the
//! pause latencies are percentiles over all requests. Every section
//! measures its baseline interleaved with what it evaluates, so that both
//! see the same machine. Every timed operation allocates its output (the
//! memcpy too), so page faults count on both sides.

use crate::bench::runner::on_large_stack;
use crate::bench::stats::Summary;
use anyhow::{Context, Result, bail, ensure};
use indicatif::ProgressBar;
use serde::Serialize;
use std::time::{Duration, Instant};
use weft_runtime::{Budget, Runtime, RuntimeConfig, Script, Status};

mod capture;
mod instantiate;
mod pause;
mod switch;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Print one JSON object with every figure instead of tables.
    #[arg(long)]
    json: bool,
    /// Timed runs of every measurement; the median is reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
}

/// Everything measured; the JSON output.
#[derive(Serialize)]
struct Report {
    runs: u32,
    snapshot: Vec<capture::Figures>,
    pause: pause::Figures,
    switch: Vec<switch::Figures>,
    instantiate: instantiate::Figures,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let runs = u64::from(args.runs);
    let steps = (capture::MEMORY_MIB.len() + switch::DEPTHS.len() + 1) as u64 * runs
        + pause::PROGRESS_STEPS;
    let progress = super::progress_bar(steps, 12, args.json)?;
    let report = measure(args.runs, &progress);
    progress.finish_and_clear();
    let report = report?;

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "weft bench snapshot: wall-clock medians of {runs} runs; \
         ratio = value / baseline of the same run\n"
    );
    println!("{}", capture::table(&report.snapshot).render());
    println!("{}", report.pause.table().render());
    println!("{}", switch::table(&report.switch).render());
    print!("{}", report.instantiate.table().render());
    println!(
        "\npublished figures to compare with (not measured here): Binaryen Asyncify ~0.6 µs \
         per switch; Wasmtime pooled instantiation ~5 µs"
    );
    Ok(())
}

fn measure(runs: u32, progress: &ProgressBar) -> Result<Report> {
    let (snapshot, switch, instantiate) = on_large_stack(|| {
        let runtime = runtime(None, weft_instrument::Config::fuel())?;
        progress.set_prefix("snapshot");
        let snapshot = capture::MEMORY_MIB
            .iter()
            .map(|&mib| {
                capture::measure(&runtime, mib, runs, progress)
                    .with_context(|| format!("snapshot of a script with {mib} MiB of memory"))
            })
            .collect::<Result<_>>()?;
        progress.set_prefix("switch");
        let switch = switch::DEPTHS
            .iter()
            .map(|&depth| {
                switch::measure(&runtime, depth, runs, progress)
                    .with_context(|| format!("pause and resume at call depth {depth}"))
            })
            .collect::<Result<_>>()?;
        progress.set_prefix("instantiate");
        let instantiate = instantiate::measure(runs, progress).context("instantiation")?;
        Ok((snapshot, switch, instantiate))
    })?;
    // The pause section starts threads of its own, with stacks for scripts.
    progress.set_prefix("pause");
    let pause = pause::measure(progress).context("pause latency")?;
    Ok(Report {
        runs,
        snapshot,
        pause,
        switch,
        instantiate,
    })
}

/// A runtime without a disk cache unless given one.
fn runtime(
    cache_dir: Option<std::path::PathBuf>,
    instrumentation: weft_instrument::Config,
) -> Result<Runtime> {
    Runtime::new(RuntimeConfig {
        instrumentation,
        cache_dir,
        ..RuntimeConfig::default()
    })
    .context("cannot create a runtime")
}

/// Times `f`.
fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, Duration)> {
    let started = Instant::now();
    let value = f()?;
    Ok((value, started.elapsed()))
}

/// The medians of `N` lists of samples, in milliseconds.
fn medians_ms<const N: usize>(samples: [Vec<Duration>; N]) -> [f64; N] {
    samples.map(|s| Summary::of(&s).map_or(0.0, |s| s.median.as_secs_f64() * 1e3))
}

/// A time given in milliseconds, with a unit that keeps about three digits.
fn human_ms(ms: f64) -> String {
    match ms {
        ms if ms < 1.0 => format!("{:.2} µs", ms * 1e3),
        ms if ms < 1e3 => format!("{ms:.2} ms"),
        ms => format!("{:.2} s", ms / 1e3),
    }
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b < 10 << 10 => format!("{b} B"),
        b if b < 10 << 20 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
    }
}

/// A table row of fixed cells.
fn strings<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.map(str::to_owned).to_vec()
}

fn expect_paused(status: &Status) -> Result<()> {
    ensure!(*status == Status::Paused, "the script stopped: {status:?}");
    Ok(())
}

/// Runs `script` in slices of `fuel` until it is paused with `frames`
/// frames on its call stack, in at most `max_slices` slices.
fn run_until_frames(script: &mut Script, fuel: u64, max_slices: u32, frames: usize) -> Result<()> {
    for _ in 0..max_slices {
        expect_paused(script.run(Budget::Fuel(fuel)).context("run a slice")?)?;
        if script.call_stack().context("read the call stack")?.len() == frames {
            return Ok(());
        }
    }
    bail!("the script did not get there in {max_slices} slices of {fuel} fuel")
}
