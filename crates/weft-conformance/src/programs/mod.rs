//! C programs as end-to-end conformance tests.
//!
//! Every program under `programs/` is a deterministic C program that uses
//! only libc and takes an optional `SCALE` argument. It is compiled twice:
//! with clang for `wasm32-wasi` and with gcc for the host. The native build
//! defines the expected standard output, standard error and exit status;
//! then the WebAssembly build runs
//!
//! * unmodified, on Wasmtime with WASI preview1;
//! * instrumented for fuel, never preempted;
//! * instrumented for fuel, driven in fuel slices of several sizes;
//! * instrumented for the interrupt flag, never preempted, with the flag set
//!   at a number of resumes, and with the flag set from a timer thread;
//!
//! and every run must reproduce the native output byte for byte. The sliced
//! and interrupted runs must actually have yielded, and the fuel counted by
//! the flag-instrumented module must not depend on where it was interrupted.

pub mod toolchain;
pub mod wasi;

use anyhow::{Context, Result, anyhow, bail, ensure};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use wasmtime::{Engine, Module};
use weft_instrument::{Config, Instrumented};

pub use toolchain::{Target, Toolchain};
pub use wasi::{Driver, Outcome, SliceSchedule};

/// The directory holding the C sources.
pub fn programs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("programs")
}

/// One C program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The file name without `.c`.
    pub name: String,
    /// The source file.
    pub source: PathBuf,
}

impl Program {
    /// The program called `name` in [`programs_dir`].
    pub fn named(name: &str) -> Result<Program> {
        let source = programs_dir().join(format!("{name}.c"));
        ensure!(
            source.is_file(),
            "no program `{name}`: {} does not exist",
            source.display()
        );
        Ok(Program {
            name: name.to_string(),
            source,
        })
    }

    /// The command line of a run: the program name, then `SCALE` if given.
    pub fn args(&self, scale: Option<u32>) -> Vec<String> {
        let mut args = vec![self.name.clone()];
        args.extend(scale.map(|s| s.to_string()));
        args
    }
}

/// Every program in [`programs_dir`], by name.
pub fn all() -> Result<Vec<Program>> {
    let dir = programs_dir();
    let mut programs = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "c") {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .context("non-UTF-8 program name")?;
            programs.push(Program {
                name: name.to_string(),
                source: path.clone(),
            });
        }
    }
    programs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(programs)
}

/// Runs a native executable with the given arguments (the first is only
/// the program name) and an empty environment.
pub fn run_native(executable: &Path, args: &[String]) -> Result<Outcome> {
    let started_at = Instant::now();
    let output = Command::new(executable)
        .args(args.iter().skip(1))
        .env_clear()
        .output()
        .with_context(|| format!("running {}", executable.display()))?;
    let exit_code = output.status.code().ok_or_else(|| {
        anyhow!(
            "{} was killed by a signal ({})",
            executable.display(),
            output.status
        )
    })?;
    Ok(Outcome {
        stdout: output.stdout,
        stderr: output.stderr,
        exit_code,
        yields: 0,
        fuel_consumed: None,
        elapsed: started_at.elapsed(),
    })
}

/// A program compiled both ways, and instrumented both ways.
pub struct Builds {
    /// The native executable.
    pub native: PathBuf,
    /// The WebAssembly module as clang produced it.
    pub wasm: Vec<u8>,
    /// Instrumented with [`Config::fuel`].
    pub fuel: Instrumented,
    /// Instrumented with [`Config::flag`], counting fuel.
    pub flag: Instrumented,
}

impl Builds {
    /// Compiles (or finds in the cache) and instruments `program`.
    pub fn new(toolchain: &Toolchain, program: &Program) -> Result<Builds> {
        let native = toolchain.compile(&program.source, Target::Native)?;
        let wasm_path = toolchain.compile(&program.source, Target::Wasm)?;
        let wasm = std::fs::read(&wasm_path)
            .with_context(|| format!("reading {}", wasm_path.display()))?;
        let fuel = weft_instrument::instrument(&wasm, &Config::fuel())
            .with_context(|| format!("instrumenting {} for fuel", program.name))?;
        let flag = weft_instrument::instrument(&wasm, &Config::flag(true))
            .with_context(|| format!("instrumenting {} for the interrupt flag", program.name))?;
        Ok(Builds {
            native,
            wasm,
            fuel,
            flag,
        })
    }
}

/// One run of a program and what it produced.
#[derive(Debug, Clone)]
pub struct Run {
    /// Which build ran, and how.
    pub mode: Mode,
    /// What it produced.
    pub outcome: Outcome,
}

/// Which build ran, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The gcc build.
    Native,
    /// The clang build, not instrumented.
    Original,
    /// The fuel-instrumented build.
    Fuel(Driver),
    /// The flag-instrumented build.
    Flag(Driver),
}

impl Mode {
    /// The never-preempted run of the same instrumented build, whose fuel
    /// consumption every other run of that build must match.
    pub fn unpreempted(self) -> Option<Mode> {
        match self {
            Mode::Native | Mode::Original => None,
            Mode::Fuel(_) => Some(Mode::Fuel(Driver::Unpreempted)),
            Mode::Flag(_) => Some(Mode::Flag(Driver::Unpreempted)),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Native => write!(f, "native"),
            Mode::Original => write!(f, "original wasm"),
            Mode::Fuel(driver) => write!(f, "fuel-instrumented, {driver}"),
            Mode::Flag(driver) => write!(f, "flag-instrumented, {driver}"),
        }
    }
}

/// The drivers every program runs under, with slice sizes derived from
/// `seed` so that each program sees different ones.
pub fn standard_modes(seed: u64) -> Vec<Mode> {
    let mut random = seed;
    let mut draw = |low: u64, high: u64| {
        random = random
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        low + (random >> 33) % (high - low + 1)
    };
    vec![
        Mode::Original,
        Mode::Fuel(Driver::Unpreempted),
        Mode::Fuel(Driver::FuelSlices(SliceSchedule::Fixed(1000))),
        Mode::Fuel(Driver::FuelSlices(SliceSchedule::Fixed(draw(1001, 9_999)))),
        Mode::Fuel(Driver::FuelSlices(SliceSchedule::Fixed(draw(
            10_000, 99_999,
        )))),
        Mode::Fuel(Driver::FuelSlices(SliceSchedule::Uniform {
            seed: draw(0, u64::MAX - 1),
            low: 1,
            high: 4_000,
        })),
        Mode::Fuel(Driver::FuelSlices(SliceSchedule::TinyPrefix {
            seed: draw(0, u64::MAX - 1),
            high: 40,
            count: 20_000,
            then: 25_000,
        })),
        Mode::Flag(Driver::Unpreempted),
        Mode::Flag(Driver::FlagRepeated { times: 25 }),
        Mode::Flag(Driver::FlagTimer {
            interval: Duration::from_micros(200),
            max_yields: 2_000,
        }),
    ]
}

/// An upper bound on the fuel one check charges in these programs, for
/// the minimum number of yields a sliced run must show.
pub const MAX_CHECK_COST: u64 = 10_000;

/// Every sliced run must yield at least this often.
pub const MIN_SLICED_YIELDS: u64 = 100;

/// The size of a module's code section in bytes.
pub fn code_size(wasm: &[u8]) -> Result<usize> {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::CodeSectionStart { size, .. } = payload? {
            return Ok(size as usize);
        }
    }
    Ok(0)
}

/// Everything one check of a program found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The program.
    pub name: String,
    /// The code section size of the module clang produced.
    pub original_size: usize,
    /// The code section size of the fuel-instrumented module.
    pub fuel_size: usize,
    /// The code section size of the flag-instrumented module.
    pub flag_size: usize,
    /// Every run, the native one first.
    pub runs: Vec<Run>,
}

impl Report {
    /// The native run.
    pub fn native(&self) -> &Outcome {
        &self.runs[0].outcome
    }

    /// The runs in `mode`.
    pub fn runs_in(&self, mode: Mode) -> impl Iterator<Item = &Outcome> {
        self.runs
            .iter()
            .filter(move |r| r.mode == mode)
            .map(|r| &r.outcome)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ratio = |size: usize| size as f64 / self.original_size.max(1) as f64;
        let native = self.native();
        writeln!(
            f,
            "{}: exit status {}, {} bytes of output; code section {} bytes, fuel-instrumented {} ({:.2}x), \
             flag-instrumented {} ({:.2}x)",
            self.name,
            native.exit_code,
            native.stdout.len(),
            self.original_size,
            self.fuel_size,
            ratio(self.fuel_size),
            self.flag_size,
            ratio(self.flag_size),
        )?;
        for run in &self.runs {
            let outcome = &run.outcome;
            write!(
                f,
                "  {:>9.1} ms  {:>9} yields",
                outcome.elapsed.as_secs_f64() * 1e3,
                outcome.yields
            )?;
            match outcome.fuel_consumed {
                Some(fuel) => write!(f, "  {fuel:>12} fuel")?,
                None => write!(f, "  {:>12}     ", "")?,
            }
            writeln!(f, "  {}", run.mode)?;
        }
        Ok(())
    }
}

/// Builds `program` and runs it natively and in every mode of
/// [`standard_modes`] with the default scale; [`verify`] checks the result.
pub fn run_standard(engine: &Engine, toolchain: &Toolchain, program: &Program) -> Result<Report> {
    let builds = Builds::new(toolchain, program)?;
    let modes = standard_modes(name_seed(&program.name));
    run_modes(engine, program, &builds, &modes, None)
}

/// Runs `program` natively and in each of `modes`.
pub fn run_modes(
    engine: &Engine,
    program: &Program,
    builds: &Builds,
    modes: &[Mode],
    scale: Option<u32>,
) -> Result<Report> {
    let args = program.args(scale);
    let compile = |wasm: &[u8], what: &str| {
        Module::new(engine, wasm)
            .map_err(|e| anyhow!("compiling the {what} module of {}: {e:?}", program.name))
    };
    let original = compile(&builds.wasm, "original")?;
    let fuel = compile(&builds.fuel.wasm, "fuel-instrumented")?;
    let flag = compile(&builds.flag.wasm, "flag-instrumented")?;

    let mut runs = vec![Run {
        mode: Mode::Native,
        outcome: run_native(&builds.native, &args)?,
    }];
    for &mode in modes {
        let outcome = wasi::on_large_stack(|| match mode {
            Mode::Native => run_native(&builds.native, &args),
            Mode::Original => wasi::run_original(engine, &original, &args),
            Mode::Fuel(driver) => {
                wasi::run_instrumented(engine, &fuel, &builds.fuel.info, &args, driver)
            }
            Mode::Flag(driver) => {
                wasi::run_instrumented(engine, &flag, &builds.flag.info, &args, driver)
            }
        })
        .with_context(|| format!("{} ({mode})", program.name))?;
        runs.push(Run { mode, outcome });
    }
    Ok(Report {
        name: program.name.clone(),
        original_size: code_size(&builds.wasm)?,
        fuel_size: code_size(&builds.fuel.wasm)?,
        flag_size: code_size(&builds.flag.wasm)?,
        runs,
    })
}

/// Checks a report: [`verify_output`], [`verify_yields`] and
/// [`verify_fuel`].
pub fn verify(report: &Report) -> Result<()> {
    fail_with(
        report,
        output_problems(report) + &yield_problems(report) + &fuel_problems(report),
    )
}

/// Every run printed exactly what the native build printed, on both
/// streams, and exited with the same status.
pub fn verify_output(report: &Report) -> Result<()> {
    fail_with(report, output_problems(report))
}

fn output_problems(report: &Report) -> String {
    let native = report.native();
    let mut problems = String::new();
    for run in &report.runs[1..] {
        for difference in differences(native, &run.outcome) {
            let _ = writeln!(problems, "{}: {difference}", run.mode);
        }
    }
    problems
}

/// The preempted runs yielded as often as their drivers require: sliced
/// runs at least once per slice's worth of fuel, the repeated flag exactly
/// once per setting, and the timer at least once.
pub fn verify_yields(report: &Report) -> Result<()> {
    fail_with(report, yield_problems(report))
}

fn yield_problems(report: &Report) -> String {
    let mut problems = String::new();
    let fuel_total = report
        .runs_in(Mode::Fuel(Driver::Unpreempted))
        .find_map(|o| o.fuel_consumed);
    for run in &report.runs {
        let yields = run.outcome.yields;
        match run.mode {
            Mode::Fuel(Driver::FuelSlices(schedule)) => {
                // Every slice but the last runs out of fuel. A slice consumes
                // what it was given plus at most the cost of the check that
                // stops it, which is charged in advance for the code the check
                // guards.
                let per_slice = schedule.largest() + MAX_CHECK_COST;
                let minimum = fuel_total
                    .map_or(0, |total| total / per_slice)
                    .max(MIN_SLICED_YIELDS);
                if yields < minimum {
                    let _ = writeln!(
                        problems,
                        "{}: only {yields} yields, expected at least {minimum} for {} units of fuel",
                        run.mode,
                        fuel_total.unwrap_or(0)
                    );
                }
            }
            Mode::Flag(Driver::FlagRepeated { times }) if yields != u64::from(times) + 1 => {
                let _ = writeln!(
                    problems,
                    "{}: {yields} yields, expected exactly {}",
                    run.mode,
                    times + 1
                );
            }
            Mode::Flag(Driver::FlagTimer { .. }) if yields == 0 => {
                let _ = writeln!(problems, "{}: never yielded", run.mode);
            }
            _ => {}
        }
    }
    problems
}

/// Fuel accounting does not depend on where a run was interrupted: every
/// run of an instrumented build consumed exactly the fuel its
/// never-preempted run consumed.
pub fn verify_fuel(report: &Report) -> Result<()> {
    fail_with(report, fuel_problems(report))
}

fn fuel_problems(report: &Report) -> String {
    let mut problems = String::new();
    for run in &report.runs {
        let Some(reference) = run.mode.unpreempted().filter(|&m| m != run.mode) else {
            continue;
        };
        let expected = report.runs_in(reference).find_map(|o| o.fuel_consumed);
        if run.outcome.fuel_consumed != expected {
            let show = |fuel: Option<u64>| fuel.map_or("no".to_string(), |f| f.to_string());
            let _ = writeln!(
                problems,
                "{}: consumed {} fuel, but {} when {reference}",
                run.mode,
                show(run.outcome.fuel_consumed),
                show(expected)
            );
        }
    }
    problems
}

fn fail_with(report: &Report, problems: String) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    bail!("{}: {}\n{report}", report.name, problems.trim_end())
}

/// How `actual` differs from `expected`, one description per stream.
pub fn differences(expected: &Outcome, actual: &Outcome) -> Vec<String> {
    let mut found = Vec::new();
    if expected.exit_code != actual.exit_code {
        found.push(format!(
            "exit status {} instead of {}",
            actual.exit_code, expected.exit_code
        ));
    }
    if let Some(d) = first_difference(&expected.stdout, &actual.stdout) {
        found.push(format!("stdout differs: {d}"));
    }
    if let Some(d) = first_difference(&expected.stderr, &actual.stderr) {
        found.push(format!("stderr differs: {d}"));
    }
    found
}

/// Where two outputs first differ, with the lines around it.
pub fn first_difference(expected: &[u8], actual: &[u8]) -> Option<String> {
    if expected == actual {
        return None;
    }
    let at = expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(actual.len()));
    let line_start = expected[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let line_number = expected[..at].iter().filter(|&&b| b == b'\n').count() + 1;
    let line_of = |text: &[u8]| {
        let rest = text.get(line_start..).unwrap_or_default();
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        String::from_utf8_lossy(&rest[..end]).into_owned()
    };
    Some(format!(
        "at byte {at} (line {line_number}; {} bytes expected, {} produced)\n  expected: {:?}\n  actual:   {:?}",
        expected.len(),
        actual.len(),
        line_of(expected),
        line_of(actual)
    ))
}

/// A seed derived from a program's name (FNV-1a).
pub fn name_seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
