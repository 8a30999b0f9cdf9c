//! Running a WASI command module on Wasmtime under one configuration, and
//! timing it.
//!
//! Modules are compiled once, ahead of the timed region. A timed run covers
//! what a user of the module pays for every execution: instantiation and the
//! call to `_start` (after `__weft_start`, the deferred start function of an
//! instrumented module, when there is one). Standard output and standard
//! error go to memory so that every run can be checked against the original.

use anyhow::{Context, Result, bail};
use std::time::{Duration, Instant};
use wasmtime::{Engine, Instance, InstancePre, Linker, Module, OptLevel, Store, Strategy};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};
use weft_instrument::abi;

/// The most output a benchmark program may write to stdout or stderr.
const OUTPUT_CAPACITY: usize = 64 << 20;

/// How much stack WebAssembly may use: the programs recurse far deeper than
/// Wasmtime's default of 512 KiB allows, and instrumented functions have
/// larger frames than the originals.
const WASM_STACK: usize = 64 << 20;

/// The stack of the thread that runs WebAssembly: Wasmtime runs it on the
/// calling thread's stack, which must hold [`WASM_STACK`] and the host's own
/// frames.
const THREAD_STACK: usize = WASM_STACK + (16 << 20);

/// Runs `f` on a new thread whose stack can hold [`WASM_STACK`].
pub(crate) fn on_large_stack<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("wasm".into())
            .stack_size(THREAD_STACK)
            .spawn_scoped(scope, f)
            .context("cannot start a thread to run WebAssembly")?;
        match thread.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// What a timed run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Clock {
    /// CPU time (user and system) of the thread that runs WebAssembly: less
    /// affected than wall-clock time by other processes competing for the
    /// CPUs.
    Cpu,
    /// Elapsed wall-clock time.
    Wall,
}

impl Clock {
    /// The name shown in reports.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Clock::Cpu => "thread CPU time",
            Clock::Wall => "wall-clock time",
        }
    }

    /// Fails if this platform cannot read the clock.
    pub(crate) fn check_supported(self) -> Result<()> {
        if self == Clock::Cpu && thread_cpu_time().is_none() {
            bail!("this platform cannot read a thread's CPU time; use `--clock wall`");
        }
        Ok(())
    }

    fn start(self) -> Stopwatch {
        match (self, thread_cpu_time()) {
            (Clock::Cpu, Some(cpu)) => Stopwatch::Cpu(cpu),
            _ => Stopwatch::Wall(Instant::now()),
        }
    }
}

/// A running measurement of one [`Clock`].
enum Stopwatch {
    Cpu(Duration),
    Wall(Instant),
}

impl Stopwatch {
    fn elapsed(&self) -> Duration {
        match self {
            Stopwatch::Cpu(start) => {
                thread_cpu_time().map_or(Duration::ZERO, |now| now.saturating_sub(*start))
            }
            Stopwatch::Wall(start) => start.elapsed(),
        }
    }
}

/// The CPU time the calling thread has used.
#[cfg(any(target_os = "linux", target_os = "macos", target_os = "freebsd"))]
fn thread_cpu_time() -> Option<Duration> {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Some(Duration::new(
        u64::try_from(now.tv_sec).ok()?,
        u32::try_from(now.tv_nsec).ok()?,
    ))
}

/// The CPU time the calling thread has used.
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "freebsd")))]
fn thread_cpu_time() -> Option<Duration> {
    None
}

/// The interruption mechanism a Wasmtime engine compiles into the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mechanism {
    /// None: the code runs as compiled from the module.
    None,
    /// `Config::consume_fuel`, with the store's fuel set to `u64::MAX`.
    ConsumeFuel,
    /// `Config::epoch_interruption`, with a deadline that is never reached.
    EpochInterruption,
}

/// An engine configured for one [`Mechanism`], with WASI preview 1 linked.
pub(crate) struct Host {
    mechanism: Mechanism,
    engine: Engine,
    linker: Linker<WasiP1Ctx>,
}

impl Host {
    /// An engine that differs from every other host's only by `mechanism`:
    /// Cranelift, optimizing for speed, multi-memory enabled (the
    /// instrumented modules add a state memory), a [`WASM_STACK`] stack.
    /// Modules must run inside [`on_large_stack`].
    pub(crate) fn new(mechanism: Mechanism) -> Result<Self> {
        let mut config = wasmtime::Config::new();
        config
            .strategy(Strategy::Cranelift)
            .cranelift_opt_level(OptLevel::Speed)
            .wasm_multi_memory(true);
        // With asynchronous support compiled in (WASI needs it), Wasmtime
        // requires the asynchronous stack to be at least as large as the
        // WebAssembly stack, even though nothing runs asynchronously here.
        config
            .max_wasm_stack(WASM_STACK)
            .async_stack_size(THREAD_STACK);
        match mechanism {
            Mechanism::None => {}
            Mechanism::ConsumeFuel => {
                config.consume_fuel(true);
            }
            Mechanism::EpochInterruption => {
                config.epoch_interruption(true);
            }
        }
        let engine = Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("cannot create a Wasmtime engine")?;
        let mut linker = Linker::new(&engine);
        p1::add_to_linker_sync(&mut linker, |cx| cx)
            .map_err(anyhow::Error::from)
            .context("cannot link WASI preview 1")?;
        Ok(Host {
            mechanism,
            engine,
            linker,
        })
    }

    /// Compiles `wasm` and resolves its imports.
    pub(crate) fn load(&self, wasm: &[u8]) -> Result<Runnable> {
        let module = Module::new(&self.engine, wasm)
            .map_err(anyhow::Error::from)
            .context("cannot compile the module")?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(anyhow::Error::from)
            .context("cannot link the module with WASI preview 1")?;
        Ok(Runnable {
            mechanism: self.mechanism,
            pre,
        })
    }
}

/// A compiled module, ready to be instantiated and run any number of times.
pub(crate) struct Runnable {
    mechanism: Mechanism,
    pre: InstancePre<WasiP1Ctx>,
}

/// What one run of a program did.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// Instantiation and execution, on the [`Clock`] the run was timed with.
    pub elapsed: Duration,
    /// The exit code (0 when `_start` returned).
    pub exit_code: i32,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
}

impl Runnable {
    /// The size of the machine code Cranelift produced for the module's
    /// functions (trampolines excluded).
    pub(crate) fn machine_code_bytes(&self) -> usize {
        self.pre.module().functions().map(|f| f.len).sum()
    }

    /// Instantiates the module in a fresh store and runs it with `args` as
    /// its command line (`args[0]` is the program name), timing it on `clock`.
    pub(crate) fn run(&self, args: &[String], clock: Clock) -> Result<Outcome> {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let wasi = WasiCtxBuilder::new()
            .args(args)
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build_p1();
        let mut store = Store::new(self.pre.module().engine(), wasi);
        match self.mechanism {
            Mechanism::None => {}
            Mechanism::ConsumeFuel => store.set_fuel(u64::MAX).map_err(anyhow::Error::from)?,
            // The engine's epoch is never incremented, so a deadline this
            // far away is never reached.
            Mechanism::EpochInterruption => store.set_epoch_deadline(u64::MAX / 2),
        }

        let stopwatch = clock.start();
        let ran = self.pre.instantiate(&mut store).map(|instance| {
            let result = call_entry(&mut store, &instance);
            (instance, result)
        });
        let elapsed = stopwatch.elapsed();

        let (instance, result) = ran
            .map_err(anyhow::Error::from)
            .context("cannot instantiate the module")?;
        self.check_mechanism(&mut store, &instance)?;
        let exit_code = match result {
            Ok(()) => 0,
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(exit) => exit.0,
                None => {
                    let stderr = String::from_utf8_lossy(&stderr.contents()).into_owned();
                    let e = anyhow::Error::from(e);
                    return Err(if stderr.is_empty() {
                        e
                    } else {
                        e.context(format!("stderr:\n{stderr}"))
                    });
                }
            },
        };
        Ok(Outcome {
            elapsed,
            exit_code,
            stdout: stdout.contents().to_vec(),
            stderr: stderr.contents().to_vec(),
        })
    }

    /// Fails unless the mechanism under test was active during the run and
    /// left the instance as expected, so that a configuration never measures
    /// code that does less than it claims.
    fn check_mechanism(&self, store: &mut Store<WasiP1Ctx>, instance: &Instance) -> Result<()> {
        if self.mechanism == Mechanism::ConsumeFuel {
            let fuel = store.get_fuel().map_err(anyhow::Error::from)?;
            if fuel == u64::MAX {
                bail!("Wasmtime consumed no fuel");
            }
        }
        // An instrumented module that is never asked to yield must finish in
        // the normal state, and count fuel if it was instrumented to.
        if let Some(state) = instance.get_global(&mut *store, abi::STATE_GLOBAL) {
            let state = state.get(&mut *store).i32();
            if state != Some(abi::STATE_NORMAL) {
                bail!(
                    "the instrumented module ended in state {state:?} without being asked to yield"
                );
            }
        }
        if let Some(fuel) = instance.get_global(&mut *store, abi::FUEL_GLOBAL) {
            let fuel = fuel.get(&mut *store).i64();
            if fuel.is_none_or(|fuel| fuel == i64::MAX) {
                bail!("the instrumented module counted no fuel (fuel is {fuel:?})");
            }
        }
        Ok(())
    }
}

/// Runs the deferred start function of an instrumented module, if any, and
/// then the command's entry point.
fn call_entry(store: &mut Store<WasiP1Ctx>, instance: &Instance) -> wasmtime::Result<()> {
    if let Some(start) = instance.get_func(&mut *store, abi::START_EXPORT) {
        start.typed::<(), ()>(&*store)?.call(&mut *store, ())?;
    }
    instance
        .get_typed_func::<(), ()>(&mut *store, "_start")?
        .call(&mut *store, ())
}

/// Fails unless `outcome` printed the same and exited the same as `reference`.
pub(crate) fn check_same_behaviour(reference: &Outcome, outcome: &Outcome) -> Result<()> {
    if reference.exit_code != outcome.exit_code {
        bail!(
            "exit code {} instead of {}",
            outcome.exit_code,
            reference.exit_code
        );
    }
    check_same_output("stdout", &reference.stdout, &outcome.stdout)?;
    check_same_output("stderr", &reference.stderr, &outcome.stderr)
}

fn check_same_output(stream: &str, reference: &[u8], output: &[u8]) -> Result<()> {
    if reference != output {
        let expected = String::from_utf8_lossy(reference);
        let actual = String::from_utf8_lossy(output);
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a);
        let detail = match line {
            Some(n) => format!(
                "line {} is {:?} instead of {:?}",
                n + 1,
                actual.lines().nth(n).unwrap_or_default(),
                expected.lines().nth(n).unwrap_or_default()
            ),
            None => format!(
                "{} lines ({} bytes) instead of {} lines ({} bytes)",
                actual.lines().count(),
                output.len(),
                expected.lines().count(),
                reference.len()
            ),
        };
        bail!("{stream} differs from the original's: {detail}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(exit_code: i32, stdout: &str) -> Outcome {
        Outcome {
            elapsed: Duration::ZERO,
            exit_code,
            stdout: stdout.into(),
            stderr: Vec::new(),
        }
    }

    #[test]
    fn same_behaviour_requires_same_exit_code_and_output() {
        let reference = outcome(6, "a\nb\n");
        check_same_behaviour(&reference, &outcome(6, "a\nb\n")).expect("identical runs");
        let exit =
            check_same_behaviour(&reference, &outcome(0, "a\nb\n")).expect_err("other exit code");
        assert_eq!(exit.to_string(), "exit code 0 instead of 6");
        let line = check_same_behaviour(&reference, &outcome(6, "a\nc\n")).expect_err("other line");
        assert_eq!(
            line.to_string(),
            r#"stdout differs from the original's: line 2 is "c" instead of "b""#
        );
        let short = check_same_behaviour(&reference, &outcome(6, "a\n")).expect_err("missing line");
        assert!(
            short
                .to_string()
                .contains("1 lines (2 bytes) instead of 2 lines (4 bytes)"),
            "{short}"
        );
    }
}
