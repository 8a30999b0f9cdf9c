//! Runs the WebAssembly spec testsuite through the weft pass in every mode
//! and prints failures, skipped files and `spec: N passed, M failed, K skipped`.

use clap::Parser;
use std::process::ExitCode;
use weft_conformance::spec::{self, Mode, Options};

/// Run the spec testsuite on instrumented modules.
#[derive(Parser)]
struct Args {
    /// Modes to run (plain, yield, round-trip, flag); all by default.
    #[arg(long = "mode", value_name = "MODE")]
    modes: Vec<Mode>,
    /// Only run files whose `suite/name` contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Worker threads; the number of CPUs by default.
    #[arg(long)]
    threads: Option<usize>,
    /// Print each file to stderr as it finishes.
    #[arg(long)]
    progress: bool,
    /// Print every directive to stderr before it runs.
    #[arg(long)]
    trace: bool,
    /// Failures printed per file.
    #[arg(long, default_value_t = 20)]
    max_failures: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut options = Options::default();
    if !args.modes.is_empty() {
        options.modes = args.modes;
    }
    options.filter = args.filter;
    options.progress = args.progress;
    options.trace = args.trace;
    if let Some(threads) = args.threads {
        options.threads = threads;
    }
    let report = match spec::run(&options) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("spec: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = report.print(&mut std::io::stdout().lock(), args.max_failures) {
        eprintln!("spec: {e}");
        return ExitCode::FAILURE;
    }
    if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
