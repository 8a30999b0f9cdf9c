//! Starting scripts: [`Script::spawn`] of a loaded module against
//! Wasmtime's own instantiation of the original module, and
//! [`weft_runtime::Runtime::load`] from a warm disk cache against compiling
//! from scratch.
//!
//! Each instantiation is timed with its store's creation and drop, on both
//! sides. Each load is the first in a fresh runtime, so its memory cache
//! is empty; the disk cache was filled by another runtime before.

use super::{human_ms, medians_ms, runtime, strings, timed};
use crate::bench::table::Table;
use anyhow::{Context, Result};
use indicatif::ProgressBar;
use serde::Serialize;
use std::hint::black_box;
use std::time::{Duration, Instant};
use wasmtime::{InstancePre, Store};
use weft_runtime::{Script, ScriptOptions, Stdio};

/// Instantiations per run.
const SPAWNS: u32 = 500;

/// A small module shaped like clang's output: 17 pages (1 MiB of stack and
/// some data), a stack pointer, a function table and data segments.
const C_LIKE_MODULE: &str = r#"(module
  (type $binary (func (param i32 i32) (result i32)))
  (memory (export "memory") 17)
  (global $__stack_pointer (mut i32) (i32.const 1048576))
  (table 3 3 funcref)
  (elem (i32.const 1) $add $mul)
  (data (i32.const 1048576) "The quick brown fox jumps over the lazy dog.\00")
  (data (i32.const 1048640) "\01\00\00\00\02\00\00\00\03\00\00\00\04\00\00\00")
  (func $add (type $binary) (i32.add (local.get 0) (local.get 1)))
  (func $mul (type $binary) (i32.mul (local.get 0) (local.get 1)))
  (func $strlen (param $s i32) (result i32) (local $at i32)
    (local.set $at (local.get $s))
    (block $done (loop $next
      (br_if $done (i32.eqz (i32.load8_u (local.get $at))))
      (local.set $at (i32.add (local.get $at) (i32.const 1)))
      (br $next)))
    (i32.sub (local.get $at) (local.get $s)))
  (func (export "_start") (local $sp i32)
    (local.set $sp (i32.sub (global.get $__stack_pointer) (i32.const 16)))
    (global.set $__stack_pointer (local.get $sp))
    (i32.store (local.get $sp)
      (call_indirect (type $binary)
        (call $strlen (i32.const 1048576)) (i32.load (i32.const 1048644)) (i32.const 1)))
    (global.set $__stack_pointer (i32.add (local.get $sp) (i32.const 16)))))"#;

#[derive(Serialize)]
pub(super) struct Figures {
    instantiate_us: f64,
    wasmtime_instance_new_us: f64,
    wasmtime_instantiate_us: f64,
    wasmtime_pooled_instantiate_us: f64,
    compile_ms: f64,
    cache_load_ms: f64,
    /// The instrumentation pass alone, which both loads include.
    instrument_ms: f64,
}

/// The original module on a Wasmtime engine of its own, ready to instantiate.
fn wasmtime_module(
    config: &wasmtime::Config,
    wasm: &[u8],
) -> Result<(wasmtime::Module, InstancePre<()>)> {
    let engine = wasmtime::Engine::new(config)?;
    let module = wasmtime::Module::new(&engine, wasm)?;
    let pre = wasmtime::Linker::new(&engine).instantiate_pre(&module)?;
    Ok((module, pre))
}

/// The pooling allocator, with room for the instances alive at a time.
fn pooling_config() -> wasmtime::Config {
    let mut pooling = wasmtime::PoolingAllocationConfig::default();
    pooling
        .total_core_instances(64)
        .total_memories(64)
        .total_tables(64)
        .max_memory_size(64 << 20);
    let mut config = wasmtime::Config::new();
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling));
    config
}

/// The time of one of [`SPAWNS`] calls of `instantiate`.
fn per_spawn(mut instantiate: impl FnMut() -> Result<()>) -> Result<Duration> {
    let started = Instant::now();
    for _ in 0..SPAWNS {
        instantiate()?;
    }
    Ok(started.elapsed() / SPAWNS)
}

fn per_instantiate_pre(pre: &InstancePre<()>) -> Result<Duration> {
    per_spawn(|| {
        let mut store = Store::new(pre.module().engine(), ());
        black_box(pre.instantiate(&mut store)?);
        Ok(())
    })
}

pub(super) fn measure(runs: u32, progress: &ProgressBar) -> Result<Figures> {
    let wasm = wat::parse_str(C_LIKE_MODULE).context("assemble")?;
    let fuel = weft_instrument::Config::fuel;
    let loaded = runtime(None, fuel())?;
    let module = loaded.load(&wasm).context("load")?;
    let (plain, plain_pre) = wasmtime_module(&wasmtime::Config::new(), &wasm)?;
    let (_, pooled_pre) = wasmtime_module(&pooling_config(), &wasm).context("pooling")?;

    let cache = tempfile::Builder::new()
        .prefix("weft-bench-snapshot-")
        .tempdir()
        .context("create a temporary cache directory")?;
    let cached = || runtime(Some(cache.path().to_path_buf()), fuel());
    cached()?.load(&wasm).context("fill the disk cache")?;

    let mut samples: [Vec<Duration>; 7] = Default::default();
    for _ in 0..runs {
        let spawn = per_spawn(|| {
            let script = Script::spawn(&loaded, &module, ScriptOptions::default(), Stdio::null())?;
            drop(black_box(script));
            Ok(())
        })?;
        let instance_new = per_spawn(|| {
            let mut store = Store::new(plain.engine(), ());
            black_box(wasmtime::Instance::new(&mut store, &plain, &[])?);
            Ok(())
        })?;
        let instance_pre = per_instantiate_pre(&plain_pre)?;
        let pooled = per_instantiate_pre(&pooled_pre).context("pooling")?;

        let fresh = runtime(None, fuel())?;
        let (_, compile) = timed(|| Ok(fresh.load(&wasm)?)).context("compile")?;
        let warm = cached()?;
        let (_, cache_load) = timed(|| Ok(warm.load(&wasm)?)).context("load from the cache")?;
        let (_, instrument) = timed(|| Ok(weft_instrument::instrument(&wasm, &fuel())?))?;

        let times = [
            spawn,
            instance_new,
            instance_pre,
            pooled,
            compile,
            cache_load,
            instrument,
        ];
        for (list, sample) in samples.iter_mut().zip(times) {
            list.push(sample);
        }
        progress.inc(1);
    }
    let [
        spawn,
        instance_new,
        instance_pre,
        pooled,
        compile,
        cache_load,
        instrument,
    ] = medians_ms(samples);
    Ok(Figures {
        instantiate_us: spawn * 1e3,
        wasmtime_instance_new_us: instance_new * 1e3,
        wasmtime_instantiate_us: instance_pre * 1e3,
        wasmtime_pooled_instantiate_us: pooled * 1e3,
        compile_ms: compile,
        cache_load_ms: cache_load,
        instrument_ms: instrument,
    })
}

impl Figures {
    pub(super) fn table(&self) -> Table {
        let mut table = Table::default();
        let title = "instantiation, 17-page module with data";
        table.header(strings([title, "per call", "ratio"]));
        let row = |label: &str, ms: f64, baseline_ms: f64| {
            let ratio = format!("{:.2}x", ms / baseline_ms);
            vec![label.to_owned(), human_ms(ms), ratio]
        };
        let base = self.wasmtime_instantiate_us / 1e3;
        for (label, us) in [
            (
                "wasmtime InstancePre::instantiate (baseline)",
                self.wasmtime_instantiate_us,
            ),
            ("wasmtime Instance::new", self.wasmtime_instance_new_us),
            (
                "wasmtime InstancePre, pooling allocator",
                self.wasmtime_pooled_instantiate_us,
            ),
            ("weft Script::spawn of a loaded module", self.instantiate_us),
        ] {
            table.row(row(label, us / 1e3, base));
        }
        for (label, ms) in [
            ("Runtime::load, compiling (baseline)", self.compile_ms),
            ("Runtime::load, warm disk cache", self.cache_load_ms),
            ("  of which the instrumentation pass", self.instrument_ms),
        ] {
            table.footer(row(label, ms, self.compile_ms));
        }
        table
    }
}
