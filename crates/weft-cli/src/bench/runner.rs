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
use wasmtime::{Engine, InstancePre, Linker, Module, OptLevel, Store, Strategy};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};
use weft_instrument::abi;

/// The most output a benchmark program may write to stdout or stderr.
const OUTPUT_CAPACITY: usize = 64 << 20;

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
    /// instrumented modules add a state memory).
    pub(crate) fn new(mechanism: Mechanism) -> Result<Self> {
        let mut config = wasmtime::Config::new();
        config.strategy(Strategy::Cranelift).cranelift_opt_level(OptLevel::Speed).wasm_multi_memory(true);
        match mechanism {
            Mechanism::None => {}
            Mechanism::ConsumeFuel => {
                config.consume_fuel(true);
            }
            Mechanism::EpochInterruption => {
                config.epoch_interruption(true);
            }
        }
        let engine = Engine::new(&config).map_err(anyhow::Error::from).context("cannot create a Wasmtime engine")?;
        let mut linker = Linker::new(&engine);
        p1::add_to_linker_sync(&mut linker, |cx| cx)
            .map_err(anyhow::Error::from)
            .context("cannot link WASI preview 1")?;
        Ok(Host { mechanism, engine, linker })
    }

    /// Compiles `wasm` and resolves its imports.
    pub(crate) fn load(&self, wasm: &[u8]) -> Result<Runnable> {
        let module =
            Module::new(&self.engine, wasm).map_err(anyhow::Error::from).context("cannot compile the module")?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(anyhow::Error::from)
            .context("cannot link the module with WASI preview 1")?;
        Ok(Runnable { mechanism: self.mechanism, pre })
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
    /// Instantiation and execution.
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
    /// its command line (`args[0]` is the program name).
    pub(crate) fn run(&self, args: &[String]) -> Result<Outcome> {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let wasi = WasiCtxBuilder::new().args(args).stdout(stdout.clone()).stderr(stderr.clone()).build_p1();
        let mut store = Store::new(self.pre.module().engine(), wasi);
        match self.mechanism {
            Mechanism::None => {}
            Mechanism::ConsumeFuel => store.set_fuel(u64::MAX).map_err(anyhow::Error::from)?,
            // The engine's epoch is never incremented, so a deadline this
            // far away is never reached.
            Mechanism::EpochInterruption => store.set_epoch_deadline(u64::MAX / 2),
        }

        let started = Instant::now();
        let ran = self.instantiate_and_run(&mut store);
        let elapsed = started.elapsed();

        let exit_code = match ran {
            Ok(()) => 0,
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(exit) => exit.0,
                None => {
                    let stderr = String::from_utf8_lossy(&stderr.contents()).into_owned();
                    let e = anyhow::Error::from(e);
                    return Err(if stderr.is_empty() { e } else { e.context(format!("stderr:\n{stderr}")) });
                }
            },
        };
        Ok(Outcome { elapsed, exit_code, stdout: stdout.contents().to_vec(), stderr: stderr.contents().to_vec() })
    }

    fn instantiate_and_run(&self, store: &mut Store<WasiP1Ctx>) -> wasmtime::Result<()> {
        let instance = self.pre.instantiate(&mut *store)?;
        if let Some(start) = instance.get_func(&mut *store, abi::START_EXPORT) {
            start.typed::<(), ()>(&*store)?.call(&mut *store, ())?;
        }
        let entry = instance.get_typed_func::<(), ()>(&mut *store, "_start")?;
        let result = entry.call(&mut *store, ());
        // An instrumented module that is never asked to yield must finish in
        // the normal state; anything else is a bug of the pass.
        if let Some(state) = instance.get_global(&mut *store, abi::STATE_GLOBAL) {
            let state = state.get(&mut *store).i32();
            if state != Some(abi::STATE_NORMAL) {
                wasmtime::bail!("the instrumented module ended in state {state:?} without being asked to yield");
            }
        }
        result
    }
}

/// Fails unless `outcome` printed the same and exited the same as `reference`.
pub(crate) fn check_same_behaviour(reference: &Outcome, outcome: &Outcome) -> Result<()> {
    if reference.exit_code != outcome.exit_code {
        bail!("exit code {} instead of {}", outcome.exit_code, reference.exit_code);
    }
    if reference.stdout != outcome.stdout {
        let expected = String::from_utf8_lossy(&reference.stdout);
        let actual = String::from_utf8_lossy(&outcome.stdout);
        let line = expected.lines().zip(actual.lines()).position(|(e, a)| e != a);
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
                outcome.stdout.len(),
                expected.lines().count(),
                reference.stdout.len()
            ),
        };
        bail!("stdout differs from the original's: {detail}");
    }
    Ok(())
}
