//! The cost of one pause plus resume by call depth, against the same work
//! never preempted.
//!
//! A fuel-mode script recurses to the wanted depth and spins at the bottom.
//! Once it is there, a run gives it [`SLICES`] slices of [`SLICE_FUEL`],
//! each ending in a pause (every frame saved to the state memory and
//! returning) and the next resume (every frame rebuilt), then all the fuel
//! those slices used in one slice. The difference per slice is the switch.

use super::{expect_paused, human_bytes, human_ms, medians_ms, run_until_frames, strings, timed};
use crate::bench::table::Table;
use anyhow::{Context, Result};
use indicatif::ProgressBar;
use serde::Serialize;
use std::time::{Duration, Instant};
use weft_runtime::{Budget, Runtime, Script, ScriptOptions, Stdio};

/// Call depths.
pub(super) const DEPTHS: [u32; 3] = [1, 10, 100];
/// Fuel per preempted slice.
const SLICE_FUEL: u64 = 1000;
/// Preempted slices per run.
const SLICES: u32 = 5000;

/// A script whose `_start` recurses `depth` levels into `$descend` and spins
/// at the bottom.
fn descend_module(depth: u32) -> String {
    format!(
        r#"(module
  (memory (export "memory") 1)
  (global $spins (mut i64) (i64.const 0))
  (func $descend (param $depth i32)
    (if (i32.gt_u (local.get $depth) (i32.const 1))
      (then (call $descend (i32.sub (local.get $depth) (i32.const 1))))
      (else (loop $spin
              (global.set $spins (i64.add (global.get $spins) (i64.const 1)))
              (br $spin)))))
  (func (export "_start") (call $descend (i32.const {depth}))))"#
    )
}

/// The figures of one call depth.
#[derive(Serialize)]
pub(super) struct Figures {
    depth: u32,
    /// Frames on the paused call stack (`_start` included).
    frames: usize,
    state_memory_bytes: usize,
    /// One pause plus resume: a preempted slice beyond the unpreempted time
    /// of its fuel (the long slice pauses once too, negligible against
    /// [`SLICES`] pauses).
    switch_us: f64,
    /// One preempted slice of [`SLICE_FUEL`].
    slice_us: f64,
    /// The same fuel within one long slice.
    unpreempted_slice_us: f64,
}

pub(super) fn measure(
    runtime: &Runtime,
    depth: u32,
    runs: u32,
    progress: &ProgressBar,
) -> Result<Figures> {
    let wasm = wat::parse_str(descend_module(depth)).context("assemble")?;
    let module = runtime.load(&wasm).context("load")?;
    let mut script = Script::spawn(runtime, &module, ScriptOptions::default(), Stdio::null())?;
    let frames = depth as usize + 1;
    run_until_frames(&mut script, 100_000, 100, frames)
        .context("reach the bottom of the recursion")?;
    let state_memory_bytes = script.snapshot()?.state_memory.len();

    let mut samples: [Vec<Duration>; 2] = Default::default();
    for _ in 0..runs {
        let fuel_before = script.accounting().fuel_used;
        let started = Instant::now();
        for _ in 0..SLICES {
            expect_paused(script.run(Budget::Fuel(SLICE_FUEL))?)?;
        }
        let sliced = started.elapsed();
        let sliced_fuel = script.accounting().fuel_used - fuel_before;

        let fuel_before = script.accounting().fuel_used;
        let (_, long) = timed(|| expect_paused(script.run(Budget::Fuel(sliced_fuel))?))?;
        let long_fuel = script.accounting().fuel_used - fuel_before;
        // The long slice's time for exactly the sliced fuel.
        let unpreempted = long.mul_f64(sliced_fuel as f64 / long_fuel.max(1) as f64);
        samples[0].push(sliced / SLICES);
        samples[1].push(unpreempted / SLICES);
        progress.inc(1);
    }
    let [slice_ms, unpreempted_ms] = medians_ms(samples);
    Ok(Figures {
        depth,
        frames: script.call_stack()?.len(),
        state_memory_bytes,
        switch_us: (slice_ms - unpreempted_ms) * 1e3,
        slice_us: slice_ms * 1e3,
        unpreempted_slice_us: unpreempted_ms * 1e3,
    })
}

pub(super) fn table(figures: &[Figures]) -> Table {
    let mut table = Table::default();
    let per_slice = format!("per {SLICE_FUEL} fuel");
    table.header(strings([
        "pause + resume, fuel mode",
        "frames",
        "state memory",
        "unpreempted (baseline)",
        "sliced",
        "ratio",
        "pause + resume",
    ]));
    table.header(strings(["", "", "", &per_slice, &per_slice, "", ""]));
    for f in figures {
        table.row(vec![
            format!("call depth {}", f.depth),
            f.frames.to_string(),
            human_bytes(f.state_memory_bytes as u64),
            human_ms(f.unpreempted_slice_us / 1e3),
            human_ms(f.slice_us / 1e3),
            format!("{:.2}x", f.slice_us / f.unpreempted_slice_us),
            human_ms(f.switch_us / 1e3),
        ]);
    }
    table
}
