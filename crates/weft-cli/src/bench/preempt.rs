//! `weft bench preempt`: preemptible functions ([`weft_runtime::Runtime::launch`]).
//!
//! | section | measured | baseline |
//! |---|---|---|
//! | [`costs`] | launch, resume and cancel of a function call; timeouts of 100 µs, 1 ms and 10 ms, requested against actual | `pthread_create` + join and `fork` + wait, measured in the same run; the published libinger figures |
//! | interruption modes ([`crate::bench::instrument::modes`]) | the C programs of `weft bench instrument`, never preempted, instrumented with fuel checks, flag checks, and flag checks counting fuel | the original module, and under Wasmtime's `consume_fuel` and `epoch_interruption`, in the same run |
//! | [`server`] | short (~0.5 ms) and long (~50 ms) requests served by a fixed set of workers, preempted every 1 ms, as the share of long ones grows from 0 to 50 % | the same arrivals served run to completion |

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use serde::Serialize;
use std::path::PathBuf;
use weft_runtime::{Runtime, RuntimeConfig};

mod costs;
mod server;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Print one JSON object with every figure instead of tables.
    #[arg(long)]
    json: bool,
    /// Seconds of arrivals per point of the server experiment (each of its
    /// 6 points is served once per policy).
    #[arg(long, value_name = "F", default_value_t = 4.0, value_parser = server::parse_seconds)]
    server_seconds: f64,
    /// Write the server experiment's plot (SVG) to this file.
    #[arg(long, value_name = "PATH")]
    plot: Option<PathBuf>,
    /// Timed runs of each C program per interruption mode.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
}

/// Everything measured; the JSON output.
#[derive(Serialize)]
struct Report {
    launch_us: f64,
    resume_us: f64,
    cancel_us: f64,
    timeout_overshoot_p99_us: f64,
    costs: costs::Figures,
    modes: crate::bench::instrument::modes::Modes,
    server: server::Figures,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let steps = costs::progress_steps() + server::progress_steps();
    let progress = super::progress_bar(steps, 12, args.json)?;
    let report = measure(&progress, args.server_seconds, args.runs);
    progress.finish_and_clear();
    let report = report?;
    if let Some(path) = &args.plot {
        report.server.plot(path)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("weft bench preempt: preemptible function calls (flag mode)\n");
    println!("{}", report.costs.table().render());
    println!("{}", report.costs.timeout_table().render());
    println!("{}\n", report.costs.stalls.describe());
    println!(
        "interruption modes: the C programs of `weft bench instrument`, never preempted \
         ({}, median of {} runs; ratio to the original)",
        report.modes.clock, report.modes.runs
    );
    println!("{}", report.modes.table().render());
    println!("server: short and long requests, run to completion against preemptive");
    print!("{}", report.server.describe());
    print!("{}", report.server.table().render());
    Ok(())
}

fn measure(progress: &ProgressBar, server_seconds: f64, runs: u32) -> Result<Report> {
    let runtime = Runtime::new(RuntimeConfig {
        instrumentation: weft_instrument::Config::flag(false),
        cache_dir: None,
        ..RuntimeConfig::default()
    })
    .context("cannot create a runtime")?;
    progress.set_prefix("costs");
    let costs = crate::bench::runner::on_large_stack(|| costs::measure(&runtime, progress))?;
    let modes = crate::bench::instrument::modes::measure(runs, progress)
        .context("the interruption modes")?;
    progress.set_prefix("server");
    let server = server::measure(&runtime, progress, server_seconds)?;
    Ok(Report {
        launch_us: costs.launch_us.p50,
        resume_us: costs.resume_us.p50,
        cancel_us: costs.cancel_us.p50,
        timeout_overshoot_p99_us: costs.timeout_overshoot_p99_us(),
        costs,
        modes,
        server,
    })
}
