//! Deterministic mode: the output of a script depends only on its seed,
//! not on how its run is sliced, snapshotted and restored.

use crate::{config, load, runtime_with};
use std::sync::Arc;
use weft_runtime::{
    Budget, DETERMINISTIC_EPOCH_NANOS, Runtime, RuntimeConfig, Script, ScriptModule, ScriptOptions,
    Status, Stdio,
};

/// Forty times: reads both clocks, draws 8 random bytes, computes NaNs
/// (an f32 square root of a negative number, an f32 sum with a NaN that
/// has a payload, an f64 0/0, an f64 product with a NaN that has a
/// payload), prints all that as a 48-byte record, then does some work of
/// varying length.
const RECORDING: &str = r#"(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $work (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 31)) (local.get $i)))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (local.get $acc))
  (func $main (export "_start") (local $k i32) (local $zero f64)
    (loop $iteration
      (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 0)))
      (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 8)))
      (drop (call $random (i32.const 16) (i32.const 8)))
      (f32.store (i32.const 24)
        (f32.sqrt (f32.convert_i32_s (i32.sub (i32.const -1) (local.get $k)))))
      (f32.store (i32.const 28)
        (f32.add (f32.reinterpret_i32 (i32.or (i32.const 0x7f800001) (i32.shl (local.get $k) (i32.const 1))))
                 (f32.convert_i32_s (local.get $k))))
      (local.set $zero (f64.convert_i32_s (i32.and (local.get $k) (i32.const 0))))
      (f64.store (i32.const 32) (f64.div (local.get $zero) (local.get $zero)))
      (f64.store (i32.const 40)
        (f64.mul (f64.reinterpret_i64 (i64.or (i64.const 0x7ff0000000000003) (i64.extend_i32_u (local.get $k))))
                 (f64.const 2)))
      (i32.store (i32.const 100) (i32.const 0))
      (i32.store (i32.const 104) (i32.const 48))
      (drop (call $fd_write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 108)))
      (drop (call $work (i32.add (i32.const 10) (i32.mul (i32.rem_u (local.get $k) (i32.const 7))
                                                         (i32.const 23)))))
      (br_if $iteration (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1)))
                                  (i32.const 40))))))"#;

const CANONICAL_F32: u32 = 0x7fc0_0000;
const CANONICAL_F64: u64 = 0x7ff8_0000_0000_0000;

struct Record {
    realtime: u64,
    monotonic: u64,
    random: [u8; 8],
    f32s: [u32; 2],
    f64s: [u64; 2],
}

fn parse(stdout: &[u8]) -> Vec<Record> {
    assert_eq!(stdout.len(), 40 * 48, "forty records");
    stdout
        .chunks_exact(48)
        .map(|r| {
            let u32_at = |at: usize| u32::from_le_bytes(r[at..at + 4].try_into().unwrap());
            let u64_at = |at: usize| u64::from_le_bytes(r[at..at + 8].try_into().unwrap());
            Record {
                realtime: u64_at(0),
                monotonic: u64_at(8),
                random: r[16..24].try_into().unwrap(),
                f32s: [u32_at(24), u32_at(28)],
                f64s: [u64_at(32), u64_at(40)],
            }
        })
        .collect()
}

fn deterministic_runtime(canonical_nans: bool) -> Runtime {
    runtime_with(RuntimeConfig {
        canonical_nans,
        ..config()
    })
}

fn options(seed: u64) -> ScriptOptions {
    ScriptOptions {
        deterministic: Some(seed),
        ..ScriptOptions::default()
    }
}

fn straight(runtime: &Runtime, module: &Arc<ScriptModule>, seed: u64) -> Vec<u8> {
    let (stdio, output) = Stdio::captured();
    let mut script = Script::spawn(runtime, module, options(seed), stdio).unwrap();
    assert_eq!(script.run(Budget::Unlimited).unwrap(), &Status::Exited(0));
    output.stdout()
}

/// How a sliced run carries its output across restores.
#[derive(Clone, Copy, Debug)]
enum Sinks {
    /// A new captured `Stdio` for every segment; the outputs concatenated.
    PerSegment,
    /// One `Stdio`, handed on with `take_stdio`.
    HandedOn,
}

/// Runs the script in slices of `budget` fuel; between two slices,
/// snapshots it, encodes and decodes the snapshot and restores it, on
/// `restore_on` (another runtime: another process, as far as the script
/// can tell). Returns the output and the number of restores.
fn sliced(
    runtime: &Runtime,
    restore_on: &Runtime,
    seed: u64,
    budget: u64,
    sinks: Sinks,
) -> (Vec<u8>, u32) {
    let wasm = wat::parse_str(RECORDING).unwrap();
    let module = runtime.load(&wasm).unwrap();
    let other = restore_on.load(&wasm).unwrap();
    let (stdio, first) = Stdio::captured();
    let mut outputs = vec![first];
    let mut script = Script::spawn(runtime, &module, options(seed), stdio).unwrap();
    let mut restores = 0;
    loop {
        match script.run(Budget::Fuel(budget)).unwrap() {
            Status::Paused => {}
            Status::Exited(0) => break,
            other => panic!("slice of {budget}: {other:?}"),
        }
        let bytes = weft_snapshot::encode(&script.snapshot().unwrap()).unwrap();
        let stdio = match sinks {
            Sinks::PerSegment => {
                let (stdio, output) = Stdio::captured();
                outputs.push(output);
                stdio
            }
            Sinks::HandedOn => script.take_stdio(),
        };
        drop(script);
        let snapshot = weft_snapshot::decode(&bytes, &Default::default()).unwrap();
        let target = if restores % 2 == 0 { &other } else { &module };
        let target_runtime = if restores % 2 == 0 {
            restore_on
        } else {
            runtime
        };
        script = Script::restore(target_runtime, target, &snapshot, None, stdio).unwrap();
        restores += 1;
    }
    (outputs.iter().flat_map(|o| o.stdout()).collect(), restores)
}

#[test]
fn sliced_and_restored_runs_print_what_a_straight_run_prints() {
    let runtime = deterministic_runtime(true);
    let restore_on = deterministic_runtime(true);
    let module = load(&runtime, RECORDING);
    let expected = straight(&runtime, &module, 42);
    let records = parse(&expected);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(
            r.realtime,
            DETERMINISTIC_EPOCH_NANOS + r.monotonic,
            "record {i}"
        );
        assert_eq!(r.f32s, [CANONICAL_F32; 2], "record {i}");
        assert_eq!(r.f64s, [CANONICAL_F64; 2], "record {i}");
    }
    for pair in records.windows(2) {
        assert!(pair[1].monotonic > pair[0].monotonic);
    }
    let mut previous_restores = u32::MAX;
    for (budget, sinks) in [
        (7, Sinks::PerSegment),
        (61, Sinks::HandedOn),
        (500, Sinks::PerSegment),
        (1_001, Sinks::HandedOn),
        (4_000, Sinks::PerSegment),
    ] {
        let (output, restores) = sliced(&runtime, &restore_on, 42, budget, sinks);
        assert!(
            output == expected,
            "slices of {budget} fuel ({sinks:?}, {restores} restores) print differently"
        );
        assert!(
            restores > 0 && restores < previous_restores,
            "{restores} restores"
        );
        previous_restores = restores;
    }
}

#[test]
fn pausing_at_every_check_changes_nothing() {
    let runtime = deterministic_runtime(true);
    let module = load(&runtime, RECORDING);
    let expected = straight(&runtime, &module, 3);
    let (stdio, output) = Stdio::captured();
    let mut script = Script::spawn(&runtime, &module, options(3), stdio).unwrap();
    let mut pauses = 0;
    while script.run(Budget::Fuel(1)).unwrap() == &Status::Paused {
        pauses += 1;
    }
    assert_eq!(script.status(), &Status::Exited(0));
    assert!(pauses > 1_000, "{pauses} pauses");
    assert!(output.stdout() == expected);
}

#[test]
fn seeds_choose_the_random_bytes_and_nothing_else() {
    let runtime = deterministic_runtime(true);
    let module = load(&runtime, RECORDING);
    let one = parse(&straight(&runtime, &module, 1));
    let again = parse(&straight(&runtime, &module, 1));
    let two = parse(&straight(&runtime, &module, 2));
    let random = |records: &[Record]| records.iter().map(|r| r.random).collect::<Vec<_>>();
    let clocks = |records: &[Record]| {
        records
            .iter()
            .map(|r| (r.realtime, r.monotonic))
            .collect::<Vec<_>>()
    };
    assert_eq!(random(&one), random(&again));
    assert_ne!(random(&one), random(&two));
    assert_eq!(clocks(&one), clocks(&two));
    // Not a constant: the bytes of one run vary.
    let first = one[0].random;
    assert!(one.iter().any(|r| r.random != first));
}

#[test]
fn without_canonical_nans_the_payloads_show() {
    // The control for the test above: without the setting, at least one of
    // the NaNs is not the canonical one on any hardware weft runs on.
    let runtime = deterministic_runtime(false);
    let module = load(&runtime, RECORDING);
    let records = parse(&straight(&runtime, &module, 1));
    assert!(
        records
            .iter()
            .any(|r| r.f32s != [CANONICAL_F32; 2] || r.f64s != [CANONICAL_F64; 2])
    );
}
