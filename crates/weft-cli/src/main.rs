//! The `weft` command-line tool.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

mod bench;
mod client;
mod compile;
mod demo;
mod inspect;
mod script;
mod serve;
mod up;

#[derive(Parser)]
#[command(
    name = "weft",
    version,
    about = "Preemptible, persistent, movable WebAssembly scripts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Instrument a module so that it can be preempted, paused and resumed.
    Instrument {
        /// The input module (.wasm or .wat).
        input: PathBuf,
        /// Where to write the instrumented module: WebAssembly text when the
        /// name ends in `.wat`, binary otherwise.
        #[arg(short, long)]
        output: PathBuf,
        /// What makes a check yield.
        #[arg(long, value_enum, default_value_t = Mode::Fuel)]
        mode: Mode,
        /// In flag mode, also count fuel for accounting.
        #[arg(long)]
        count_fuel: bool,
        /// What gets a second copy without rewind dispatches: more code
        /// that runs faster.
        #[arg(long, value_enum, default_value_t = Copies::All)]
        copies: Copies,
        /// Print a summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Build a script module from a source file (.c, .cc, .cpp, .zig, .ts,
    /// .rs, .wat) with its language's toolchain and weft's host API SDK.
    Compile {
        /// The source file; its extension names the language.
        source: PathBuf,
        /// Where to write the module.
        #[arg(short, long)]
        output: PathBuf,
        /// Build even if the cache holds the result, and do not store it.
        #[arg(long)]
        no_cache: bool,
        /// Print a summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Run a script (a WASI command module), preempted, saved and resumed as asked.
    Run(script::RunOptions),
    /// Continue a script saved by `weft run --stop-after N --save PATH`, or
    /// resume a paused script on a node (`weft resume [--node URL] ID`).
    Resume(client::ResumeArgs),
    /// Show what a snapshot holds: module, sizes, fuel used, state, call stack.
    Inspect {
        /// The snapshot.
        snapshot: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Thousands of scripts (spinning, sleeping, talking) share the CPU
    /// live under the scheduler; all are snapshotted to disk, dropped,
    /// restored into a fresh runtime, and continue where they were.
    Demo(demo::Args),
    /// Run several scripts together under the scheduler; they talk through
    /// the weft host API (messages, timers, spawn). The world can be saved
    /// and continued.
    Up(up::Args),
    /// Host scripts behind an HTTP + JSON API (docs/node-api.md), with a
    /// durable store: scripts survive restarts and crashes.
    Serve(serve::Args),
    #[command(flatten)]
    Node(client::NodeCommand),
    /// Measure weft against baselines.
    Bench {
        #[command(subcommand)]
        which: bench::Bench,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Deterministic fuel counting.
    Fuel,
    /// An interrupt flag set by another thread.
    Flag,
}

#[derive(Clone, Copy, ValueEnum)]
enum Copies {
    /// One copy of everything: the smallest code.
    None,
    /// Loops that a rewind can enter in the middle, and functions without
    /// loops.
    Loops,
    /// Also every other function with a rewind dispatch: the fastest code.
    All,
}

/// Reads a module from a `.wasm` or `.wat` file, or builds it from a source
/// file (through the cache of `weft compile`).
pub(crate) fn read_module(path: &Path) -> Result<Vec<u8>> {
    if compile::Language::of(path).is_some_and(compile::Language::needs_toolchain) {
        return compile::read_source(path);
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    let is_text = path.extension().is_some_and(|e| e == "wat" || e == "wast");
    if !is_text {
        bail!(
            "{}: not a WebAssembly module (no `\\0asm` magic) and not a .wat file",
            path.display()
        );
    }
    wat::parse_bytes(&bytes)
        .map(|b| b.into_owned())
        .with_context(|| format!("{}: cannot parse WebAssembly text", path.display()))
}

fn main() {
    let cli = Cli::parse();
    match run(cli) {
        Ok(status) => {
            use std::io::Write;
            let _ = std::io::stdout().flush();
            std::process::exit(status);
        }
        Err(e) => {
            eprintln!("weft: error: {e:#}");
            std::process::exit(1);
        }
    }
}

/// Runs a command and returns the process's exit status.
fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Compile {
            source,
            output,
            no_cache,
            json,
        } => compile::run(&source, &output, no_cache, json).map(|()| 0),
        Command::Run(options) => script::run(options),
        Command::Resume(args) => client::resume(args),
        Command::Inspect { snapshot, json } => inspect::run(&snapshot, json).map(|()| 0),
        Command::Instrument {
            input,
            output,
            mode,
            count_fuel,
            copies,
            json,
        } => {
            let wasm = read_module(&input)?;
            let config = match mode {
                Mode::Fuel => weft_instrument::Config::fuel(),
                Mode::Flag => weft_instrument::Config::flag(count_fuel),
            }
            .with_copies(match copies {
                Copies::None => weft_instrument::Copies::None,
                Copies::Loops => weft_instrument::Copies::Loops,
                Copies::All => weft_instrument::Copies::All,
            });
            let out = weft_instrument::instrument(&wasm, &config)
                .with_context(|| format!("cannot instrument {}", input.display()))?;
            let bytes = if output.extension().is_some_and(|e| e == "wat") {
                wasmprinter::print_bytes(&out.wasm)
                    .context("cannot print the instrumented module as text")?
                    .into_bytes()
            } else {
                out.wasm.clone()
            };
            std::fs::write(&output, &bytes)
                .with_context(|| format!("cannot write {}", output.display()))?;
            let instrumented = out.info.functions.iter().filter(|f| f.instrumented).count();
            let defined = out.info.functions.iter().filter(|f| !f.imported).count();
            if json {
                let summary = serde_json::json!({
                    "input": input, "output": output,
                    "input_bytes": wasm.len(), "output_bytes": out.wasm.len(),
                    "size_ratio": out.wasm.len() as f64 / wasm.len() as f64,
                    "functions": defined, "instrumented_functions": instrumented,
                    "resume_points": out.info.functions.iter().map(|f| u64::from(f.resume_points)).sum::<u64>(),
                });
                println!("{summary}");
            } else {
                eprintln!(
                    "weft: {} -> {}: {} -> {} bytes ({:.2}x), {instrumented} of {defined} functions instrumented",
                    input.display(),
                    output.display(),
                    wasm.len(),
                    out.wasm.len(),
                    out.wasm.len() as f64 / wasm.len() as f64
                );
            }
            Ok(0)
        }
        Command::Demo(args) => demo::run(args).map(|()| 0),
        Command::Serve(args) => serve::run(args),
        Command::Up(args) => up::run(args),
        Command::Node(command) => client::run(command).map(|()| 0),
        Command::Bench { which } => bench::run(which).map(|()| 0),
    }
}
