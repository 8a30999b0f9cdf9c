//! `fuzz-diff`: differential fuzzing of the weft pass.
//!
//! Generates modules with `wasm-smith`, runs each one unmodified and
//! instrumented (under random fuel slices, interrupt flags, import
//! suspensions and state round trips), and reports every difference.
//!
//! ```text
//! fuzz-diff --modules 100000 --seed 7            # run modules 0..100000 of seed 7
//! fuzz-diff --seed 7 --only 4242                  # re-run one module, verbosely
//! fuzz-diff --seed 7 --only 4242 --wasm small.wat # the same plan on another module
//! ```

use anyhow::{Context, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::PathBuf;
use weft_conformance::fuzz::{self, Case, Options, Outcome, Summary};

#[derive(Parser, Debug)]
#[command(about = "Differential fuzzing: wasm-smith modules, original vs instrumented")]
struct Args {
    /// Number of modules to test.
    #[arg(long, default_value_t = 1000)]
    modules: u64,
    /// The run seed: module `i` of seed `S` is the same on every machine.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The first module index.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Re-run only module `I` and describe it.
    #[arg(long, value_name = "I")]
    only: Option<u64>,
    /// With `--only`: test this module (`.wasm` or `.wat`) with the plan of
    /// module `I` instead of the generated one.
    #[arg(long, requires = "only")]
    wasm: Option<PathBuf>,
    /// With `--only`: print the instrumented module as text first.
    #[arg(long, requires = "only")]
    show_instrumented: bool,
    /// Where divergent modules are written.
    #[arg(long, default_value = "target/fuzz-divergences")]
    out: PathBuf,
    /// Also set interrupt flags from a background thread at random moments
    /// (flag-mode modules only; such runs are not reproducible).
    #[arg(long)]
    async_flag: bool,
    /// Do not draw a progress bar.
    #[arg(long)]
    quiet: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(index) = args.only {
        return run_one(&args, index);
    }
    let bar = if args.quiet || args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.modules)
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {per_sec} {msg}")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    let divergences = std::sync::atomic::AtomicU64::new(0);
    let options = Options {
        seed: args.seed,
        first: args.first,
        modules: args.modules,
        threads: args.threads,
        async_flag: args.async_flag,
    };
    let summary = fuzz::run(&options, &|outcome| {
        if let Outcome::Divergence(d) = outcome {
            let n = divergences.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            bar.set_message(format!("{n} divergences"));
            bar.println(format!("divergence in module {}: {}", d.index, d.class));
        }
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    for d in &summary.divergences {
        fuzz::save_divergence(&args.out, d)?;
    }
    if args.json {
        println!("{}", json(&args, &summary));
    } else {
        print_classes(&args, &summary);
        println!("{}", summary.line());
    }
    Ok(())
}

fn classes(summary: &Summary) -> BTreeMap<&str, Vec<u64>> {
    let mut classes: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for d in &summary.divergences {
        classes.entry(d.class.as_str()).or_default().push(d.index);
    }
    classes
}

fn print_classes(args: &Args, summary: &Summary) {
    for (class, modules) in classes(summary) {
        let shown: Vec<String> = modules.iter().take(8).map(u64::to_string).collect();
        let more = if modules.len() > 8 { ", ..." } else { "" };
        println!(
            "{:>6}  {class}  (modules {}{more})",
            modules.len(),
            shown.join(", ")
        );
    }
    for (reason, n) in &summary.skip_reasons {
        println!("{n:>6}  skipped: {reason}");
    }
    if let Some(d) = summary.divergences.first() {
        println!(
            "divergent modules are in {}; reproduce one with",
            args.out.display()
        );
        println!("  {}", fuzz::reproduce_command(d));
    }
}

fn json(args: &Args, summary: &Summary) -> serde_json::Value {
    let classes: serde_json::Map<String, serde_json::Value> = classes(summary)
        .into_iter()
        .map(|(class, modules)| (class.to_string(), serde_json::json!(modules)))
        .collect();
    serde_json::json!({
        "seed": args.seed,
        "first": args.first,
        "modules": summary.modules,
        "agreed": summary.agreed,
        "divergences": summary.divergences.len(),
        "inconclusive": summary.inconclusive,
        "skipped": summary.skipped,
        "seconds": summary.elapsed.as_secs_f64(),
        "modules_per_second": summary.throughput(),
        "resumes": summary.resumes,
        "round_trips": summary.round_trips,
        "suspensions": summary.suspensions,
        "classes": classes,
    })
}

fn run_one(args: &Args, index: u64) -> Result<()> {
    let engine = fuzz::engine()?;
    let generated = Case::generate(args.seed, index)?;
    let case = match &args.wasm {
        Some(path) => {
            let wasm =
                wat::parse_file(path).with_context(|| format!("cannot read {}", path.display()))?;
            Case::with_module(
                args.seed,
                index,
                wasm,
                generated.calls.fuel_export.clone(),
                generated.calls.fuel_budget,
            )
        }
        None => generated,
    };
    println!(
        "module {index} of seed {}: {} bytes",
        args.seed,
        case.wasm.len()
    );
    println!("drive plan: {:?}", case.plan);
    if args.show_instrumented {
        let instrumented = weft_instrument::instrument(&case.wasm, &case.plan.config)?;
        println!("{}", wasmprinter::print_bytes(&instrumented.wasm)?);
    }
    let poker = args
        .async_flag
        .then(|| fuzz::poker::Poker::start(std::time::Duration::from_micros(50)));
    match case.run_catching_panics(&engine, poker.as_ref()) {
        Outcome::Agree(stats) => println!("agree ({stats:?})"),
        Outcome::Inconclusive => println!("inconclusive: a run exhausted the native stack"),
        Outcome::Skipped(why) => println!("skipped: {why}"),
        Outcome::Divergence(d) => {
            let path = fuzz::save_divergence(&args.out, &d)?;
            println!(
                "DIVERGENCE: {}\n{}\nwritten to {}",
                d.class,
                d.detail,
                path.display()
            );
            std::process::exit(1);
        }
    }
    Ok(())
}
