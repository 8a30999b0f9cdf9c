//! `weft bench instrument`: what instrumentation costs a program that is
//! never preempted.
//!
//! Every C program of a directory is compiled to a WASI command module and
//! run, in one process and interleaved, in nine configurations:
//!
//! | configuration | module | engine |
//! |---|---|---|
//! | original | as compiled | plain |
//! | weft fuel | instrumented with [`weft_instrument::Config::fuel`] (fuel stays at its initial maximum) | plain |
//! | weft flag | instrumented with [`weft_instrument::Config::flag`]`(false)` (the flag is never set) | plain |
//! | weft flag+count | instrumented with [`weft_instrument::Config::flag`]`(true)`: flag checks that also count fuel exactly, never yielding on it (the flag is never set) | plain |
//! | weft flag loops | as weft flag, with [`weft_instrument::Copies::Loops`] | plain |
//! | weft flag compact | as weft flag, with [`weft_instrument::Copies::None`]: one copy of all code | plain |
//! | wasmtime fuel | as compiled | `consume_fuel`, store fuel `u64::MAX` |
//! | wasmtime epoch | as compiled | `epoch_interruption`, deadline never reached |
//! | asyncify | `wasm-opt --asyncify -O2`, never unwound | plain |
//!
//! Each configuration's output is checked against the original's on every
//! run, so a figure never comes from code that computes something else.
//!
//! The measuring itself ([`Harness::measure_all`]) is shared with
//! [`modes::measure`], which gives `weft bench preempt` the time overhead of
//! every interruption mode without asyncify (and so without `wasm-opt`).

use crate::bench::programs::{self, Cache, Clang, Program, WasmOpt};
use crate::bench::runner::{
    Clock, Host, Mechanism, Outcome, Runnable, check_same_behaviour, on_large_stack,
};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::Duration;

// Nothing outside the tests uses it until `weft bench preempt` calls
// `modes::measure`.
pub(crate) mod modes;
mod report;

/// Where the C programs of the benchmark live, in the repository.
const DEFAULT_PROGRAMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../weft-conformance/programs");
/// Where compiled programs are cached, in the repository's target directory.
const DEFAULT_CACHE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/weft-bench");

/// Run times the automatic scale aims for, for the original module.
const TARGET_SECONDS: std::ops::Range<f64> = 0.3..1.0;
/// The run time the automatic scale extrapolates to.
const AIM_SECONDS: f64 = 0.5;
/// How many times the automatic scale may be adjusted.
const CALIBRATION_ROUNDS: usize = 12;
/// The largest scale a program is run with (it is parsed as a C `int`).
const MAX_SCALE: u32 = i32::MAX as u32;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The directory of C programs: every `*.c` file is one benchmark, taking
    /// an optional integer SCALE argument that multiplies its work.
    #[arg(long, default_value = DEFAULT_PROGRAMS)]
    programs: PathBuf,
    /// The SCALE argument of every program. By default it is chosen per
    /// program so that the original module runs for 0.3 to 1 s.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SCALE)))]
    scale: Option<u32>,
    /// Timed runs of every configuration (after one untimed warm-up run).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// What a run's time is: the CPU time of the thread running WebAssembly
    /// (robust against other processes sharing the machine) or wall-clock
    /// time.
    #[arg(long, value_enum, default_value_t = Clock::Cpu)]
    clock: Clock,
    /// Print one JSON object with per-program and geomean figures instead of
    /// tables.
    #[arg(long)]
    json: bool,
    /// Where compiled and asyncified modules are cached.
    #[arg(long, default_value = DEFAULT_CACHE)]
    cache_dir: PathBuf,
}

/// One configuration under comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    Original,
    WeftFuel,
    WeftFlag,
    WeftFlagCount,
    WeftFlagLoops,
    WeftFlagCompact,
    WasmtimeFuel,
    WasmtimeEpoch,
    Asyncify,
}

/// The number of [`Variant`]s.
pub(crate) const VARIANTS: usize = 9;

impl Variant {
    pub(crate) const ALL: [Variant; VARIANTS] = [
        Variant::Original,
        Variant::WeftFuel,
        Variant::WeftFlag,
        Variant::WeftFlagCount,
        Variant::WeftFlagLoops,
        Variant::WeftFlagCompact,
        Variant::WasmtimeFuel,
        Variant::WasmtimeEpoch,
        Variant::Asyncify,
    ];

    /// The position of the variant in [`Variant::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The name shown in tables.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Variant::Original => "original",
            Variant::WeftFuel => "weft fuel",
            Variant::WeftFlag => "weft flag",
            Variant::WeftFlagCount => "weft flag+count",
            Variant::WeftFlagLoops => "weft flag loops",
            Variant::WeftFlagCompact => "weft flag compact",
            Variant::WasmtimeFuel => "wasmtime fuel",
            Variant::WasmtimeEpoch => "wasmtime epoch",
            Variant::Asyncify => "asyncify",
        }
    }

    /// The key used in JSON output.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Variant::Original => "original",
            Variant::WeftFuel => "weft_fuel",
            Variant::WeftFlag => "weft_flag",
            Variant::WeftFlagCount => "weft_flag_count",
            Variant::WeftFlagLoops => "weft_flag_loops",
            Variant::WeftFlagCompact => "weft_flag_compact",
            Variant::WasmtimeFuel => "wasmtime_fuel",
            Variant::WasmtimeEpoch => "wasmtime_epoch",
            Variant::Asyncify => "asyncify",
        }
    }

    /// Whether the variant runs a transformed module (whose wasm code size
    /// therefore differs from the original's).
    pub(crate) fn transforms_module(self) -> bool {
        self.weft_config().is_some() || self == Variant::Asyncify
    }

    /// How weft instruments the module of the variant, if it does.
    fn weft_config(self) -> Option<weft_instrument::Config> {
        match self {
            Variant::WeftFuel => Some(weft_instrument::Config::fuel()),
            Variant::WeftFlag => Some(weft_instrument::Config::flag(false)),
            Variant::WeftFlagCount => Some(weft_instrument::Config::flag(true)),
            Variant::WeftFlagLoops => Some(
                weft_instrument::Config::flag(false).with_copies(weft_instrument::Copies::Loops),
            ),
            Variant::WeftFlagCompact => Some(
                weft_instrument::Config::flag(false).with_copies(weft_instrument::Copies::None),
            ),
            Variant::Original
            | Variant::WasmtimeFuel
            | Variant::WasmtimeEpoch
            | Variant::Asyncify => None,
        }
    }

    fn mechanism(self) -> Mechanism {
        match self {
            Variant::WasmtimeFuel => Mechanism::ConsumeFuel,
            Variant::WasmtimeEpoch => Mechanism::EpochInterruption,
            _ => Mechanism::None,
        }
    }
}

/// The size of one configuration's module.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Size {
    /// The whole wasm module.
    pub module_bytes: usize,
    /// The wasm code section (function bodies).
    pub code_bytes: usize,
    /// The machine code Wasmtime compiled.
    pub machine_code_bytes: usize,
}

/// Everything measured for one program, by [`Variant::index`]: a variant the
/// harness did not measure (asyncify without `wasm-opt`) has no size and no
/// samples.
#[derive(Debug, Clone)]
pub(crate) struct Measurement {
    pub name: String,
    pub scale: u32,
    pub stdout_bytes: usize,
    pub sizes: [Option<Size>; VARIANTS],
    /// The timed runs.
    pub samples: [Vec<Duration>; VARIANTS],
}

/// How every program is run.
#[derive(Debug, Clone, Copy)]
struct Options {
    /// The SCALE argument of every program; chosen per program when `None`.
    scale: Option<u32>,
    /// Timed runs of every variant, after one untimed warm-up run.
    runs: u32,
    clock: Clock,
}

/// The context of a whole benchmark run, for the report.
pub(crate) struct Setup {
    pub programs_dir: PathBuf,
    pub runs: u32,
    pub fixed_scale: Option<u32>,
    pub clock: Clock,
    pub clang: String,
    pub wasm_opt: String,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let programs_dir = normalize(&args.programs);
    let programs = programs::discover(&programs_dir)?;
    args.clock.check_supported()?;
    let clang = Clang::find()?;
    let wasm_opt = WasmOpt::find()?;
    let wasm_opt_version = wasm_opt.version().to_owned();
    let harness = Harness::new(clang, Some(wasm_opt), &args.cache_dir)?;
    let options = Options {
        scale: args.scale,
        runs: args.runs,
        clock: args.clock,
    };

    let progress = ProgressBar::new(0);
    progress.set_style(
        ProgressStyle::with_template(
            "{prefix:>12.bold} [{bar:30}] {pos}/{len} runs, {elapsed} {wide_msg}",
        )
        .context("invalid progress bar template")?
        .progress_chars("=> "),
    );
    progress.enable_steady_tick(Duration::from_millis(200));
    let measurements = harness.measure_all(&programs, &options, &progress);
    progress.finish_and_clear();
    let measurements = measurements?;

    let setup = Setup {
        programs_dir,
        runs: args.runs,
        fixed_scale: args.scale,
        clock: args.clock,
        clang: harness.clang.version().to_owned(),
        wasm_opt: wasm_opt_version,
    };
    if args.json {
        println!("{}", report::json(&setup, &measurements));
    } else {
        print!("{}", report::text(&setup, &measurements));
    }
    Ok(())
}

/// `path` made absolute and without `.` or `..` components where possible.
fn normalize(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// One engine per mechanism, identical otherwise.
struct Hosts {
    plain: Host,
    fuel: Host,
    epoch: Host,
}

impl Hosts {
    fn new() -> Result<Self> {
        Ok(Hosts {
            plain: Host::new(Mechanism::None)?,
            fuel: Host::new(Mechanism::ConsumeFuel)?,
            epoch: Host::new(Mechanism::EpochInterruption)?,
        })
    }

    fn for_variant(&self, variant: Variant) -> &Host {
        match variant.mechanism() {
            Mechanism::None => &self.plain,
            Mechanism::ConsumeFuel => &self.fuel,
            Mechanism::EpochInterruption => &self.epoch,
        }
    }
}

/// The tools and engines every program is measured with.
struct Harness {
    clang: Clang,
    /// Without it, asyncify is not measured.
    wasm_opt: Option<WasmOpt>,
    cache: Cache,
    hosts: Hosts,
}

impl Harness {
    fn new(clang: Clang, wasm_opt: Option<WasmOpt>, cache_dir: &Path) -> Result<Self> {
        Ok(Harness {
            clang,
            wasm_opt,
            cache: Cache::new(normalize(cache_dir))?,
            hosts: Hosts::new()?,
        })
    }

    /// The variants measured, in [`Variant::ALL`] order: all of them but
    /// asyncify when there is no `wasm-opt`. The first is always the original.
    fn variants(&self) -> Vec<Variant> {
        Variant::ALL
            .into_iter()
            .filter(|variant| *variant != Variant::Asyncify || self.wasm_opt.is_some())
            .collect()
    }

    /// Measures every program in turn, on a thread with a stack large enough
    /// for them.
    ///
    /// `progress` takes one step per run, warm-up runs included (calibration
    /// runs are not counted): its length, if it has one, grows by
    /// `(runs + 1) * variants` per program up front. Its prefix is set to the
    /// program's name and its message to what is being done.
    fn measure_all(
        &self,
        programs: &[Program],
        options: &Options,
        progress: &ProgressBar,
    ) -> Result<Vec<Measurement>> {
        let per_program = (u64::from(options.runs) + 1) * self.variants().len() as u64;
        progress.inc_length(per_program * programs.len() as u64);
        on_large_stack(|| {
            let mut measurements = Vec::with_capacity(programs.len());
            for program in programs {
                progress.set_prefix(program.name.clone());
                let measured = self
                    .measure(program, options, progress)
                    .with_context(|| format!("benchmark program {}", program.source.display()))?;
                measurements.push(measured);
            }
            Ok(measurements)
        })
    }

    /// The module `variant` runs, given the `original` module of `program`.
    fn module(&self, program: &Program, original: &[u8], variant: Variant) -> Result<Vec<u8>> {
        if let Some(config) = variant.weft_config() {
            return weft_instrument::instrument(original, &config)
                .map(|out| out.wasm)
                .with_context(|| format!("{}: cannot instrument the module", variant.label()));
        }
        match variant {
            Variant::Asyncify => {
                let wasm_opt = self
                    .wasm_opt
                    .as_ref()
                    .context("asyncify is measured only with wasm-opt")?;
                wasm_opt.asyncify(&self.cache, &program.name, original)
            }
            _ => Ok(original.to_vec()),
        }
    }

    /// Compiles, checks and times every variant of `program`.
    fn measure(
        &self,
        program: &Program,
        options: &Options,
        progress: &ProgressBar,
    ) -> Result<Measurement> {
        progress.set_message("compiling");
        let original_wasm = self.clang.compile(&self.cache, program)?;
        let variants = self.variants();
        let mut runnables = Vec::with_capacity(variants.len());
        let mut sizes = [None; VARIANTS];
        for &variant in &variants {
            let module = self.module(program, &original_wasm, variant)?;
            let runnable = self
                .hosts
                .for_variant(variant)
                .load(&module)
                .with_context(|| format!("{}: cannot load the module", variant.label()))?;
            sizes[variant.index()] = Some(Size {
                module_bytes: module.len(),
                code_bytes: code_section_bytes(&module)
                    .with_context(|| format!("{}: cannot parse the module", variant.label()))?,
                machine_code_bytes: runnable.machine_code_bytes(),
            });
            runnables.push((variant, runnable));
        }
        // `variants` starts with the original.
        let Some(((_, original), others)) = runnables.split_first() else {
            bail!("no variant to measure");
        };

        let scale = match options.scale {
            Some(scale) => scale,
            None => {
                progress.set_message("choosing the scale");
                calibrate(program, original, options.clock)?
            }
        };
        let argv = command_line(program, scale);

        progress.set_message(format!("scale {scale}: warm-up"));
        let reference = run_original(original, &argv, options.clock)?;
        for (variant, runnable) in others {
            let outcome = runnable
                .run(&argv, options.clock)
                .with_context(|| format!("{}: warm-up run", variant.label()))?;
            check_same_behaviour(&reference, &outcome).with_context(|| {
                format!("{} does not behave like the original", variant.label())
            })?;
        }
        progress.inc(runnables.len() as u64);

        let mut samples: [Vec<Duration>; VARIANTS] = Default::default();
        for round in 0..options.runs as usize {
            progress.set_message(format!("scale {scale}: run {}/{}", round + 1, options.runs));
            // Rotate the order so that no configuration always runs right
            // after the same other one.
            for k in 0..runnables.len() {
                let (variant, runnable) = &runnables[(k + round) % runnables.len()];
                let outcome = runnable
                    .run(&argv, options.clock)
                    .with_context(|| format!("{}: run {}", variant.label(), round + 1))?;
                check_same_behaviour(&reference, &outcome).with_context(|| {
                    format!(
                        "{} does not behave like the original in run {}",
                        variant.label(),
                        round + 1
                    )
                })?;
                samples[variant.index()].push(outcome.elapsed);
                progress.inc(1);
            }
        }

        Ok(Measurement {
            name: program.name.clone(),
            scale,
            stdout_bytes: reference.stdout.len(),
            sizes,
            samples,
        })
    }
}

fn command_line(program: &Program, scale: u32) -> Vec<String> {
    vec![format!("{}.wasm", program.name), scale.to_string()]
}

/// Runs the original module. Its exit code is the reference the other
/// configurations must reproduce, whatever it is: a program may report a
/// count through it.
fn run_original(original: &Runnable, argv: &[String], clock: Clock) -> Result<Outcome> {
    original
        .run(argv, clock)
        .context("the original module fails")
}

/// The scale at which the original module runs for about [`AIM_SECONDS`],
/// assuming the run time grows linearly with the scale.
fn calibrate(program: &Program, original: &Runnable, clock: Clock) -> Result<u32> {
    let mut scale: u32 = 1;
    for _ in 0..CALIBRATION_ROUNDS {
        let outcome = run_original(original, &command_line(program, scale), clock)
            .with_context(|| format!("while choosing the scale, at scale {scale}"))?;
        let seconds = outcome.elapsed.as_secs_f64();
        if seconds >= TARGET_SECONDS.start || scale == MAX_SCALE {
            break;
        }
        // Grow at least 2x so that fixed costs cannot stall the search, and
        // at most 100x so that a run time dominated by them cannot overshoot.
        let factor = (AIM_SECONDS / seconds.max(1e-9)).clamp(2.0, 100.0);
        scale = (f64::from(scale) * factor)
            .round()
            .min(f64::from(MAX_SCALE)) as u32;
    }
    Ok(scale)
}

/// The size of the contents of the code section of `wasm`, 0 without one.
fn code_section_bytes(wasm: &[u8]) -> Result<usize> {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::CodeSectionStart { range, .. } = payload? {
            return Ok(range.len());
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_section_size() {
        let empty = wat::parse_str("(module)").expect("valid text");
        assert_eq!(code_section_bytes(&empty).expect("valid module"), 0);
        // One body: size 2, no locals, `end`; plus the count of bodies.
        let one = wat::parse_str("(module (func))").expect("valid text");
        assert_eq!(code_section_bytes(&one).expect("valid module"), 4);
    }

    #[test]
    fn variants_are_in_index_order() {
        for (i, variant) in Variant::ALL.iter().enumerate() {
            assert_eq!(variant.index(), i);
        }
        assert_eq!(Variant::ALL[0], Variant::Original);
    }
}
