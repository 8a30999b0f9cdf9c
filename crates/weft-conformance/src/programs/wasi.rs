//! Running WASI preview1 command modules on Wasmtime with their output
//! captured in memory: the original module as it is, and an instrumented
//! module driven through [`weft_runtime::Controls`] with fuel slices or the
//! interrupt flag.

use anyhow::{Context, Result, anyhow, bail, ensure};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wasmtime::{Config, Engine, Func, Instance, Linker, Module, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use weft_instrument::ModuleInfo;
use weft_runtime::{Controls, Step};

/// How much stack WebAssembly may use: the programs recurse more than ten
/// thousand levels deep, beyond Wasmtime's default of 512 KiB.
pub const WASM_STACK: usize = 64 << 20;

/// The stack of the threads that run WebAssembly: Wasmtime runs it on the
/// calling thread's stack, which must hold [`WASM_STACK`] and the host's
/// own frames.
pub const THREAD_STACK: usize = WASM_STACK + (16 << 20);

/// Captured output streams are limited to this size.
pub const OUTPUT_CAPACITY: usize = 64 << 20;

/// A driver that needs more yields than this is considered stuck.
pub const MAX_YIELDS: u64 = 20_000_000;

/// The exported entry point of a WASI command.
pub const ENTRY_POINT: &str = "_start";

/// An engine able to run the programs: deep recursion needs a larger
/// WebAssembly stack than the default.
pub fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config.max_wasm_stack(WASM_STACK);
    // With asynchronous support compiled in, Wasmtime requires the
    // asynchronous stack to be at least as large as the WebAssembly stack.
    config.async_stack_size(THREAD_STACK);
    Engine::new(&config).map_err(|e| anyhow!("creating the Wasmtime engine: {e}"))
}

/// What a run of a program produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Everything written to standard output.
    pub stdout: Vec<u8>,
    /// Everything written to standard error.
    pub stderr: Vec<u8>,
    /// The exit status (0 when `_start` returned normally).
    pub exit_code: i32,
    /// How many times the call unwound before finishing.
    pub yields: u64,
    /// Fuel consumed according to the instrumented module's own counter.
    pub fuel_consumed: Option<u64>,
    /// Wall-clock time of the run, instantiation included.
    pub elapsed: Duration,
}

/// How the size of each fuel slice is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceSchedule {
    /// Every slice has this much fuel.
    Fixed(u64),
    /// Each slice is drawn uniformly from `low..=high`.
    Uniform {
        /// Seed of the generator.
        seed: u64,
        /// The smallest slice.
        low: u64,
        /// The largest slice.
        high: u64,
    },
    /// The first `count` slices are drawn uniformly from `1..=high`, so that
    /// the start of the program yields at almost every check; the rest of
    /// the run gets slices of `then` fuel.
    TinyPrefix {
        /// Seed of the generator.
        seed: u64,
        /// The largest tiny slice.
        high: u64,
        /// How many tiny slices.
        count: u64,
        /// The size of every later slice.
        then: u64,
    },
}

impl SliceSchedule {
    /// The largest slice the schedule gives after its prefix; with slices no
    /// larger than this, a run of `fuel` units must yield at least about
    /// `fuel / largest` times.
    pub fn largest(&self) -> u64 {
        match *self {
            SliceSchedule::Fixed(n) => n,
            SliceSchedule::Uniform { high, .. } => high,
            SliceSchedule::TinyPrefix { then, high, .. } => then.max(high),
        }
    }

    fn slices(&self) -> impl Iterator<Item = u64> + use<> {
        let schedule = *self;
        let seed = match schedule {
            SliceSchedule::Fixed(_) => 0,
            SliceSchedule::Uniform { seed, .. } | SliceSchedule::TinyPrefix { seed, .. } => seed,
        };
        let mut random = SplitMix64(seed);
        let mut index = 0u64;
        std::iter::from_fn(move || {
            let slice = match schedule {
                SliceSchedule::Fixed(n) => n,
                SliceSchedule::Uniform { low, high, .. } => random.in_range(low, high),
                SliceSchedule::TinyPrefix {
                    high, count, then, ..
                } => {
                    if index < count {
                        random.in_range(1, high)
                    } else {
                        then
                    }
                }
            };
            index += 1;
            Some(slice)
        })
    }
}

impl std::fmt::Display for SliceSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            SliceSchedule::Fixed(n) => write!(f, "fuel slices of {n}"),
            SliceSchedule::Uniform { low, high, .. } => write!(f, "fuel slices in {low}..={high}"),
            SliceSchedule::TinyPrefix {
                high, count, then, ..
            } => {
                write!(f, "{count} fuel slices in 1..={high}, then {then}")
            }
        }
    }
}

/// How an instrumented module is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// One call with the fuel counter at its initial maximum (or the flag
    /// never set): it must finish without unwinding.
    Unpreempted,
    /// Fuel slices: set the fuel, call, and while the call unwinds, set the
    /// fuel again and resume.
    FuelSlices(SliceSchedule),
    /// The interrupt flag is set before the call and before each of the
    /// first `times` resumes, so the run unwinds `times + 1` times at the
    /// same check before it is let go.
    FlagRepeated {
        /// How many resumes find the flag set.
        times: u32,
    },
    /// A host thread sets the interrupt flag through
    /// [`Controls::flag_address`] once `interval` has passed since each
    /// resume, until `max_yields` unwinds happened; the flag is also set
    /// before the first call so that at least one unwind happens.
    FlagTimer {
        /// How long each resumed slice runs before the flag is set.
        interval: Duration,
        /// After this many unwinds the thread stops interrupting.
        max_yields: u64,
    },
}

impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Driver::Unpreempted => write!(f, "unpreempted"),
            Driver::FuelSlices(schedule) => write!(f, "{schedule}"),
            Driver::FlagRepeated { times } => write!(f, "flag set at the first {times} resumes"),
            Driver::FlagTimer {
                interval,
                max_yields,
            } => {
                write!(
                    f,
                    "flag set every {interval:?} from a thread (up to {max_yields} times)"
                )
            }
        }
    }
}

/// Runs `f` on a new thread whose stack can hold [`WASM_STACK`].
pub fn on_large_stack<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("wasm".into())
            .stack_size(THREAD_STACK)
            .spawn_scoped(scope, f)
            .context("spawning a thread for WebAssembly")?;
        handle.join().map_err(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            anyhow!("the thread running WebAssembly panicked: {message}")
        })?
    })
}

/// A store with WASI set up for one run, and its captured output.
struct WasiRun {
    store: Store<WasiP1Ctx>,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    instance: Instance,
    start: Func,
    started_at: Instant,
}

impl WasiRun {
    fn new(engine: &Engine, module: &Module, args: &[String]) -> Result<Self> {
        let started_at = Instant::now();
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let wasi = WasiCtxBuilder::new()
            .args(args)
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build_p1();
        let mut store = Store::new(engine, wasi);
        let mut linker: Linker<WasiP1Ctx> = Linker::new(engine);
        p1::add_to_linker_sync(&mut linker, |ctx| ctx)
            .map_err(|e| anyhow!("adding WASI to the linker: {e}"))?;
        let instance = linker
            .instantiate(&mut store, module)
            .map_err(|e| anyhow!("instantiating: {e:?}"))?;
        let start = instance
            .get_func(&mut store, ENTRY_POINT)
            .with_context(|| format!("the module has no `{ENTRY_POINT}` export"))?;
        Ok(WasiRun {
            store,
            stdout,
            stderr,
            instance,
            start,
            started_at,
        })
    }

    fn finish(self, exit_code: i32, yields: u64, fuel_consumed: Option<u64>) -> Outcome {
        let elapsed = self.started_at.elapsed();
        drop(self.store);
        Outcome {
            stdout: self.stdout.contents().to_vec(),
            stderr: self.stderr.contents().to_vec(),
            exit_code,
            yields,
            fuel_consumed,
            elapsed,
        }
    }

    /// Describes a trap, with the output so far, which usually tells how
    /// far the program got.
    fn trap_report(&self, error: &wasmtime::Error, yields: u64) -> anyhow::Error {
        let stdout = self.stdout.contents();
        let tail_start = stdout.len().saturating_sub(400);
        anyhow!(
            "trapped after {yields} yields: {error:?}\nlast stdout bytes:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&stdout[tail_start..]),
            String::from_utf8_lossy(&self.stderr.contents())
        )
    }
}

/// The exit code carried by an error, if it is a WASI exit.
fn exit_code_of(error: &wasmtime::Error) -> Option<i32> {
    error
        .downcast_ref::<wasmtime_wasi::I32Exit>()
        .map(|exit| exit.0)
}

/// Runs an uninstrumented command module.
pub fn run_original(engine: &Engine, module: &Module, args: &[String]) -> Result<Outcome> {
    let mut run = WasiRun::new(engine, module, args)?;
    let start = run.start;
    let exit_code = match start.call(&mut run.store, &[], &mut []) {
        Ok(()) => 0,
        Err(error) => match exit_code_of(&error) {
            Some(code) => code,
            None => return Err(run.trap_report(&error, 0)),
        },
    };
    Ok(run.finish(exit_code, 0, None))
}

/// Runs an instrumented command module under `driver`.
pub fn run_instrumented(
    engine: &Engine,
    module: &Module,
    info: &ModuleInfo,
    args: &[String],
    driver: Driver,
) -> Result<Outcome> {
    let mut run = WasiRun::new(engine, module, args)?;
    let controls =
        Controls::new(&mut run.store, &run.instance, info).map_err(|e| anyhow!("{e}"))?;
    let fuel_before = controls.fuel(&mut run.store);
    let ended = match driver {
        Driver::Unpreempted => drive(&mut run, &controls, |_, moment| match moment {
            Moment::Before { yields } if yields > 0 => {
                bail!("the call unwound although it was never interrupted")
            }
            _ => Ok(()),
        }),
        Driver::FuelSlices(schedule) => drive_fuel(&mut run, &controls, schedule),
        Driver::FlagRepeated { times } => drive(&mut run, &controls, |store, moment| {
            if let Moment::Before { yields } = moment {
                controls.set_flag(store, yields <= u64::from(times));
            }
            Ok(())
        }),
        Driver::FlagTimer {
            interval,
            max_yields,
        } => drive_flag_timer(&mut run, &controls, interval, max_yields),
    }?;
    let exit_code = match ended.result {
        Ok(()) => 0,
        Err(error) => match exit_code_of(&error) {
            Some(code) => code,
            None => return Err(run.trap_report(&error, ended.yields)),
        },
    };
    let fuel_consumed = match (
        ended.fuel_consumed,
        fuel_before,
        controls.fuel(&mut run.store),
    ) {
        (Some(consumed), _, _) => Some(consumed),
        (None, Some(before), Some(after)) => Some(before.abs_diff(after)),
        _ => None,
    };
    Ok(run.finish(exit_code, ended.yields, fuel_consumed))
}

/// How a driven run ended.
struct Ended {
    /// How many times the call unwound.
    yields: u64,
    /// `Ok` when `_start` returned, or the error it ended with (a WASI exit
    /// or a trap).
    result: Result<(), wasmtime::Error>,
    /// The fuel consumed, when the driver accounts for it itself.
    fuel_consumed: Option<u64>,
}

/// When a driver's hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moment {
    /// Before the call (`yields == 0`) or before a resume.
    Before { yields: u64 },
    /// After the call or a resume returned without an error.
    After,
}

/// Calls `_start`, then resumes it for as long as it unwinds, letting
/// `hook` set the fuel or the flag around every slice.
fn drive(
    run: &mut WasiRun,
    controls: &Controls,
    mut hook: impl FnMut(&mut Store<WasiP1Ctx>, Moment) -> Result<()>,
) -> Result<Ended> {
    let start = run.start;
    let mut yields = 0u64;
    loop {
        hook(&mut run.store, Moment::Before { yields })?;
        let step = if yields == 0 {
            controls.call(&mut run.store, &start, &[], &mut [])
        } else {
            controls.resume(&mut run.store, &start, &mut [])
        };
        match step {
            Ok(step) => {
                hook(&mut run.store, Moment::After)?;
                if step == Step::Finished {
                    return Ok(Ended {
                        yields,
                        result: Ok(()),
                        fuel_consumed: None,
                    });
                }
            }
            Err(error) => {
                return Ok(Ended {
                    yields,
                    result: Err(error),
                    fuel_consumed: None,
                });
            }
        }
        yields += 1;
        ensure!(yields <= MAX_YIELDS, "no end after {MAX_YIELDS} yields");
    }
}

/// Runs in fuel slices and adds up the fuel consumed: each slice consumes
/// what it was given minus what is left when it returns. The counter is
/// negative after an unwind, by the cost of the check that failed; the
/// resume credits that cost back before the check runs again, so the sum
/// equals the consumption of an uninterrupted run.
fn drive_fuel(run: &mut WasiRun, controls: &Controls, schedule: SliceSchedule) -> Result<Ended> {
    let mut slices = schedule.slices();
    let mut current = 0i64;
    let mut consumed = 0i128;
    let mut ended = drive(run, controls, |store, moment| {
        match moment {
            Moment::Before { .. } => {
                let slice = slices.next().context("the slice schedule ended")?;
                current = i64::try_from(slice).context("fuel slice out of range")?;
                controls
                    .set_fuel(&mut *store, current)
                    .map_err(|e| anyhow!("{e}"))?;
            }
            Moment::After => {
                let left = controls
                    .fuel(&mut *store)
                    .context("the module does not count fuel")?;
                consumed += i128::from(current) - i128::from(left);
            }
        }
        Ok(())
    })?;
    // A WASI exit ends the last slice with an error: the counter still
    // holds what was left when the exit was called.
    if ended.result.is_err() {
        let left = controls
            .fuel(&mut run.store)
            .context("the module does not count fuel")?;
        consumed += i128::from(current) - i128::from(left);
    }
    ended.fuel_consumed = Some(u64::try_from(consumed).context("negative fuel consumption")?);
    Ok(ended)
}

fn drive_flag_timer(
    run: &mut WasiRun,
    controls: &Controls,
    interval: Duration,
    max_yields: u64,
) -> Result<Ended> {
    // SAFETY: the flag is a 4-aligned word of the state memory, which stays
    // at the same address for the life of the instance (see
    // `Controls::flag_address`). The instance outlives the scope below, which
    // joins the timer thread before returning. The host only writes the
    // flag through this atomic while the timer thread may run.
    let flag: &AtomicU32 = unsafe { AtomicU32::from_ptr(controls.flag_address(&run.store)) };
    // Incremented at every resume; the timer measures each slice from it.
    let slice_generation = AtomicU64::new(0);
    let finished = AtomicBool::new(false);
    let wait_step = (interval / 4).max(Duration::from_micros(10));

    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut interrupted_generation = u64::MAX;
            while !finished.load(Ordering::Acquire) {
                let generation = slice_generation.load(Ordering::Acquire);
                if generation == interrupted_generation {
                    std::thread::sleep(wait_step);
                    continue;
                }
                std::thread::sleep(interval);
                if slice_generation.load(Ordering::Acquire) == generation
                    && !finished.load(Ordering::Acquire)
                {
                    flag.store(1, Ordering::Release);
                    interrupted_generation = generation;
                }
            }
        });

        let ended = drive(run, controls, |_, moment| {
            match moment {
                // Interrupt at the first check, so that at least one unwind happens.
                Moment::Before { yields: 0 } => flag.store(1, Ordering::Release),
                Moment::Before { yields } => {
                    if yields >= max_yields {
                        finished.store(true, Ordering::Release);
                    }
                    slice_generation.fetch_add(1, Ordering::AcqRel);
                    flag.store(0, Ordering::Release);
                }
                Moment::After => {}
            }
            Ok(())
        });
        finished.store(true, Ordering::Release);
        ended
    })
}

/// A small deterministic generator for slice sizes.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn in_range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}
