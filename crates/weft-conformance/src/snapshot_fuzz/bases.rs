//! The real snapshots the fuzzer mutates.

use anyhow::{Context, Result, ensure};
use std::sync::Arc;
use weft_runtime::{Budget, Runtime, Script, ScriptModule, ScriptOptions, Status, Stdio};
use weft_snapshot::Snapshot;

/// A module with every kind of state a snapshot holds: a memory with an
/// active and a passive data segment (dropped), mutable `i32`, `i64`,
/// `f64` and `funcref` globals, a funcref table with a maximum, funcref
/// locals live across calls (the funcref stack) and a loop at recursion
/// depth 2, reached through `call_indirect`.
pub const STATEFUL: &str = r#"(module
  (memory (export "memory") 1 4)
  (data (i32.const 0) "weft snapshot fuzz")
  (data $passive "a passive segment")
  (global $counter (mut i32) (i32.const 0))
  (global $wide (mut i64) (i64.const 0))
  (global $float (mut f64) (f64.const 0.5))
  (global $current (mut funcref) (ref.null func))
  (type $step (func (param i32) (result i32)))
  (table $steps 4 8 funcref)
  (elem (table $steps) (i32.const 0) func $double $increment $recurse $spin)
  (func $double (type $step) (i32.mul (local.get 0) (i32.const 2)))
  (func $increment (type $step) (i32.add (local.get 0) (i32.const 1)))
  (func $spin (type $step) (local $i i32) (local $self funcref)
    (local.set $self (table.get $steps (i32.const 3)))
    (loop $again
      (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
      (global.set $wide (i64.add (global.get $wide) (i64.extend_i32_u (global.get $counter))))
      (global.set $float (f64.mul (global.get $float) (f64.const 1.0000001)))
      (i32.store (i32.const 64)
        (call_indirect $steps (type $step) (global.get $counter)
          (i32.and (global.get $counter) (i32.const 1))))
      (global.set $current (local.get $self))
      (br_if $again (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                              (i32.const 1000000))))
    (local.get $i))
  (func $recurse (type $step) (local $next funcref) (local $result i32)
    (local.set $next (table.get $steps (i32.add (i32.const 1) (local.get 0))))
    (local.set $result
      (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
        (then (call_indirect $steps (type $step) (i32.add (local.get 0) (i32.const 1))
                                                 (i32.const 2)))
        (else (call_indirect $steps (type $step) (local.get 0) (i32.const 3)))))
    (if (ref.is_null (local.get $next)) (then unreachable))
    (local.get $result))
  (func $main (export "_start")
    (data.drop $passive)
    (drop (call $recurse (i32.const 1)))))"#;

/// A WASI command: reads its arguments and environment, the clocks and
/// random bytes, writes to stdout, reads stdin, yields and sleeps in a loop.
pub const WASI: &str = r#"(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "sched_yield" (func $sched_yield (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0x7000) (local.get $ptr))
    (i32.store (i32.const 0x7004) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0x7000) (i32.const 1) (i32.const 0x7008))))
  (func $sleep (param $nanos i64)
    ;; A clock in an hour, then one after `nanos`: the second one fires.
    (i64.store (i32.const 0x100) (i64.const 1))
    (i32.store (i32.const 0x110) (i32.const 1))
    (i64.store (i32.const 0x118) (i64.const 3600000000000))
    (i64.store (i32.const 0x130) (i64.const 2))
    (i32.store (i32.const 0x140) (i32.const 1))
    (i64.store (i32.const 0x148) (local.get $nanos))
    (drop (call $poll_oneoff (i32.const 0x100) (i32.const 0x200) (i32.const 2) (i32.const 0x300))))
  (func $main (export "_start") (local $round i32)
    (drop (call $args_sizes_get (i32.const 0x400) (i32.const 0x404)))
    (drop (call $args_get (i32.const 0x500) (i32.const 0x1000)))
    (call $print (i32.const 0x1000) (i32.load (i32.const 0x404)))
    (drop (call $environ_sizes_get (i32.const 0x408) (i32.const 0x40c)))
    (drop (call $environ_get (i32.const 0x600) (i32.const 0x2000)))
    (loop $rounds
      (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 0x3000)))
      (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 0x3008)))
      (drop (call $random_get (i32.const 0x3010) (i32.const 16)))
      (call $print (i32.const 0x3000) (i32.const 32))
      (drop (call $fd_read (i32.const 0) (i32.const 0x7000) (i32.const 1) (i32.const 0x7008)))
      (drop (call $sched_yield))
      (call $sleep (i64.extend_i32_u (i32.mul (local.get $round) (i32.const 1000))))
      (br_if $rounds (i32.lt_u (local.tee $round (i32.add (local.get $round) (i32.const 1)))
                               (i32.const 1000))))
    (drop (call $fd_close (i32.const 1)))
    (call $proc_exit (i32.const 0))))"#;

/// One snapshot to mutate, and the module it belongs to.
pub struct Base {
    /// What it is, for reports.
    pub name: &'static str,
    /// The module the snapshot is restored with.
    pub module: Arc<ScriptModule>,
    /// The snapshot.
    pub snapshot: Snapshot,
    /// Its encoding.
    pub encoded: Vec<u8>,
}

/// The capture time of the real-time bases: 2026-01-01T00:00:00Z.
const FIXED_CAPTURE_NANOS: u64 = 1_767_225_600_000_000_000;

fn base(name: &'static str, module: &Arc<ScriptModule>, script: &mut Script) -> Result<Base> {
    let mut snapshot = script.snapshot().context("snapshot of a base script")?;
    // What depends on the machine and the moment: the same everywhere.
    snapshot.accounting.cpu_nanos = 1_000_000;
    let mut host = weft_runtime::host_state(&snapshot)?;
    if host.deterministic.is_none() {
        host.monotonic = 1_000_000;
        // A fixed capture time: restored, the clock moves on by the time
        // since (never backwards).
        host.captured_at = FIXED_CAPTURE_NANOS;
        snapshot.host = postcard::to_allocvec(&host)?;
    }
    from_snapshot(name, module, snapshot)
}

fn from_snapshot(
    name: &'static str,
    module: &Arc<ScriptModule>,
    snapshot: Snapshot,
) -> Result<Base> {
    let encoded = weft_snapshot::encode(&snapshot)?;
    Ok(Base {
        name,
        module: module.clone(),
        snapshot,
        encoded,
    })
}

fn load(runtime: &Runtime, wat: &str) -> Result<Arc<ScriptModule>> {
    Ok(runtime.load(&wat::parse_str(wat)?)?)
}

/// Runs until the script stops the way `want` says, in slices of `slice`.
fn run_until(script: &mut Script, slice: u64, want: fn(&Status) -> bool) -> Result<()> {
    for _ in 0..1_000 {
        let status = script.run(Budget::Fuel(slice))?;
        if want(status) {
            return Ok(());
        }
        ensure!(status.is_runnable(), "a base script ended: {status:?}");
    }
    anyhow::bail!("a base script never stopped as wanted")
}

/// The snapshots: the stateful module created and paused deep in its
/// loop, the WASI command (in deterministic mode) paused at a yield and
/// parked in a sleep, and parked in real time. They are the same on every
/// machine.
pub fn bases(runtime: &Runtime) -> Result<Vec<Base>> {
    let stateful = load(runtime, STATEFUL)?;
    let wasi = load(runtime, WASI)?;
    let mut out = Vec::new();
    let mut script = Script::spawn(runtime, &stateful, ScriptOptions::default(), Stdio::null())?;
    out.push(base("stateful, created", &stateful, &mut script)?);
    run_until(&mut script, 25_000, |s| *s == Status::Paused)?;
    ensure!(
        script.call_stack()?.len() == 4,
        "the stateful script is not paused at recursion depth 2: {:?}",
        script.call_stack()?
    );
    out.push(base(
        "stateful, paused in its loop",
        &stateful,
        &mut script,
    )?);
    let options = ScriptOptions {
        args: vec!["fuzz".into(), "--flag".into()],
        env: vec![("KEY".into(), "value".into())],
        deterministic: Some(7),
        ..ScriptOptions::default()
    };
    let mut script = Script::spawn(runtime, &wasi, options, Stdio::null())?;
    run_until(&mut script, 1_000_000, |s| *s == Status::Paused)?;
    out.push(base("wasi, deterministic, yielding", &wasi, &mut script)?);
    run_until(&mut script, 1_000_000, |s| matches!(s, Status::Parked(_)))?;
    run_until(&mut script, 1_000_000, |s| matches!(s, Status::Parked(_)))?;
    out.push(base("wasi, deterministic, sleeping", &wasi, &mut script)?);
    // The same script in real time: a snapshot made from a deterministic
    // one, so that the bases are the same on every machine and every run.
    let mut real_time = out[out.len() - 1].snapshot.clone();
    let mut host = weft_runtime::host_state(&real_time)?;
    host.deterministic = None;
    real_time.host = postcard::to_allocvec(&host)?;
    out.push(from_snapshot(
        "wasi, real time, sleeping",
        &wasi,
        real_time,
    )?);
    Ok(out)
}
