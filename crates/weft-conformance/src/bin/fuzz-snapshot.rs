//! `fuzz-snapshot`: mutates real snapshots and feeds them to decoding,
//! validation, restore and a run; any panic is a bug.
//!
//! ```text
//! fuzz-snapshot --cases 100000 --seed 7     # run cases 0..100000 of seed 7
//! fuzz-snapshot --seed 7 --only 4242        # re-run one case and describe it
//! ```

use anyhow::Result;
use clap::Parser;
use std::process::ExitCode;
use weft_conformance::snapshot_fuzz::{self, Case, Outcome};

#[derive(Parser, Debug)]
#[command(about = "Fuzz snapshot decoding, validation and restore with mutated real snapshots")]
struct Args {
    /// Number of cases to run.
    #[arg(long, default_value_t = 10_000)]
    cases: u64,
    /// The run seed: case `i` of seed `S` is the same on every machine.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Re-run only case `I` and describe it.
    #[arg(long, value_name = "I")]
    only: Option<u64>,
    /// How many refusal reasons to list.
    #[arg(long, default_value_t = 12)]
    reasons: usize,
}

fn describe(case: &Case) -> String {
    let mut out = format!(
        "case {} ({:?}, from {}):",
        case.index, case.family, case.base
    );
    for m in &case.mutations {
        out.push_str(&format!("\n  {m}"));
    }
    out.push_str(&format!("\n  => {:?}", case.outcome));
    out
}

fn main() -> Result<ExitCode> {
    let args = Args::parse();
    if let Some(index) = args.only {
        let summary =
            snapshot_fuzz::fuzz_snapshots_with(args.seed, index..index + 1, &mut |case| {
                println!("{}", describe(case))
            })?;
        return Ok(if summary.failures.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let summary = snapshot_fuzz::fuzz_snapshots_with(args.seed, 0..args.cases, &mut |case| {
        if matches!(case.outcome, Outcome::Failed(_)) {
            eprintln!("{}", describe(case));
        }
    })?;
    if args.json {
        println!("{}", summary.json());
    } else {
        let mut reasons: Vec<_> = summary.reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1));
        for (reason, n) in reasons.iter().take(args.reasons) {
            println!("{n:>7}  {reason}");
        }
        println!("{}", summary.lines());
    }
    Ok(if summary.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
