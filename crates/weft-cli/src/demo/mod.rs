//! `weft demo`: several scripts that never return share one thread by
//! preemption; midway every one of them is captured, dropped, restored into
//! a fresh instance, and continues where it was.

use anyhow::{Context, Result, ensure};
use std::time::{Duration, Instant};
use wasmtime::{AsContextMut, Engine, Instance, Module, Store};
use weft_runtime::{Controls, FunctionsTable, Step};

/// A script that counts primes forever and publishes its progress in memory.
const PRIMES_WAT: &str = include_str!("primes.wat");

struct Script {
    store: Store<()>,
    instance: Instance,
    controls: Controls,
    slices: u64,
    unwound: bool,
}

fn spawn(engine: &Engine, module: &Module, info: &weft_instrument::ModuleInfo) -> Result<Script> {
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, module, &[])?;
    let controls = Controls::new(&mut store, &instance, info)?;
    Ok(Script {
        store,
        instance,
        controls,
        slices: 0,
        unwound: false,
    })
}

impl Script {
    /// Runs one slice of `fuel` units.
    fn run_slice(&mut self, fuel: i64) -> Result<()> {
        let run = self
            .instance
            .get_func(&mut self.store, "run")
            .context("script has no `run` export")?;
        self.controls.set_fuel(&mut self.store, fuel)?;
        let step = if self.unwound {
            self.controls.resume(&mut self.store, &run, &mut [])?
        } else {
            self.controls.call(&mut self.store, &run, &[], &mut [])?
        };
        ensure!(
            step == Step::Unwound,
            "the script returned, but it loops forever"
        );
        self.unwound = true;
        self.slices += 1;
        Ok(())
    }

    /// (primes found, last prime) as published by the script.
    fn progress(&mut self) -> Result<(u32, u32)> {
        let memory = self
            .instance
            .get_memory(&mut self.store, "memory")
            .context("no memory")?;
        let data = memory.data(&self.store);
        let word =
            |at: usize| u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        Ok((word(0), word(4)))
    }
}

pub(crate) fn run(scripts: usize, seconds: f64) -> Result<()> {
    let wasm = wat::parse_str(PRIMES_WAT)?;
    let out = weft_instrument::instrument(&wasm, &weft_instrument::Config::fuel())?;
    let engine = Engine::default();
    let module = Module::new(&engine, &out.wasm)?;
    let mut all: Vec<Script> = (0..scripts)
        .map(|_| spawn(&engine, &module, &out.info))
        .collect::<Result<_>>()?;
    eprintln!("weft demo: {scripts} scripts, each spinning in an endless loop, sharing one thread");
    let fuel_per_slice = 20_000;
    let half = Duration::from_secs_f64(seconds / 2.0);
    let round_robin = |all: &mut Vec<Script>, until: Duration| -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < until {
            for s in all.iter_mut() {
                s.run_slice(fuel_per_slice)?;
            }
        }
        Ok(())
    };
    round_robin(&mut all, half)?;
    println!(
        "{:<8} {:>10} {:>14} {:>12}",
        "script", "slices", "primes found", "last prime"
    );
    let mut before = Vec::new();
    for (i, s) in all.iter_mut().enumerate() {
        let (count, last) = s.progress()?;
        println!("{i:<8} {:>10} {count:>14} {last:>12}", s.slices);
        before.push((count, s.slices));
    }

    // Capture every script mid-loop, drop it, restore it into a fresh instance.
    let mut states = Vec::new();
    for s in &mut all {
        let mut table = FunctionsTable::new(s.store.as_context_mut(), &s.controls)?;
        states.push((
            s.controls.capture(s.store.as_context_mut(), &mut table)?,
            s.slices,
        ));
    }
    let bytes: usize = states
        .iter()
        .map(|(st, _)| st.memories.iter().map(Vec::len).sum::<usize>() + st.state_memory.len())
        .sum();
    drop(all);
    eprintln!(
        "weft demo: captured all {scripts} scripts mid-loop ({bytes} bytes of state), dropped them, restoring"
    );
    let mut all = Vec::new();
    for (state, slices) in states {
        let mut s = spawn(&engine, &module, &out.info)?;
        let mut table = FunctionsTable::new(s.store.as_context_mut(), &s.controls)?;
        s.controls
            .restore(s.store.as_context_mut(), &state, &mut table)?;
        s.unwound = true;
        s.slices = slices;
        all.push(s);
    }
    round_robin(&mut all, half)?;
    println!(
        "{:<8} {:>10} {:>14} {:>12}",
        "script", "slices", "primes found", "last prime"
    );
    for (i, s) in all.iter_mut().enumerate() {
        let (count, last) = s.progress()?;
        ensure!(
            count >= before[i].0,
            "script {i} went backwards after the restore"
        );
        println!("{i:<8} {:>10} {count:>14} {last:>12}", s.slices);
    }
    eprintln!("weft demo: every script continued from where it was captured");
    Ok(())
}
